// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// LOCALSOCK_API: the mark on every class and function the library exports.
///
/// What it expands to depends on how this copy of the library was built, which
/// <localsock/config.hpp> records (LOCALSOCK_SHARED), so that the library and its users
/// cannot disagree:
/// - a shared library on Windows (a DLL): `__declspec(dllexport)` while the DLL itself is
///   compiled, `__declspec(dllimport)` in every program that uses it. The DLL is linked
///   without automatic export, so an entity without the mark is not reachable from
///   outside it (the rule an MSVC build follows anyway);
/// - a shared library elsewhere (ELF, Mach-O): `visibility("default")`, while the library
///   is compiled with -fvisibility=hidden: only marked entities are exported;
/// - a static library: nothing.
///
/// Exception types carry the mark too: their type information must be the same on both
/// sides for `catch (localsock::Error&)` in a program to catch what the library throws.

#include <localsock/config.hpp>

// LOCALSOCK_INTERNAL_STATIC is the library's own build of an internal static copy for
// the tests that reach its internals; users never define it.
#if defined(LOCALSOCK_SHARED) && !defined(LOCALSOCK_INTERNAL_STATIC)
#if defined(_WIN32)
#if defined(LOCALSOCK_BUILDING_DLL)
#define LOCALSOCK_API __declspec(dllexport)
#else
#define LOCALSOCK_API __declspec(dllimport)
#endif
#else
#define LOCALSOCK_API __attribute__((visibility("default")))
#endif
#else
#define LOCALSOCK_API
#endif
