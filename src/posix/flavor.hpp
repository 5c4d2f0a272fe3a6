// SPDX-License-Identifier: MIT
#pragma once

// The one switch between the Unix flavors. LOCALSOCK_POSIX_LINUX is 1 when the backend
// uses what only Linux offers (abstract names, SO_PASSCRED / SCM_CREDENTIALS,
// SO_PEERCRED, accept4, SOCK_CLOEXEC / SOCK_NONBLOCK, pipe2, statx, O_PATH,
// SO_SNDBUFFORCE, a blocking accept woken by shutdown), 0 in the generic flavor, which
// config.hpp records (the unix_flavor build option, and every system but Linux).
// Every Linux-only path in src/posix tests this macro, never __linux__ itself.

#include <localsock/config.hpp>

#if defined(__linux__) && !defined(LOCALSOCK_UNIX_GENERIC)
#define LOCALSOCK_POSIX_LINUX 1
#else
#define LOCALSOCK_POSIX_LINUX 0
#endif
