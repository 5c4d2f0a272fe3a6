// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The Windows named-pipe backend: the full named_pipe module, public API for Windows
/// programs that want the native features, and the base of the facade on Windows.
/// Handles are stored as `void*` so that no header of the module includes `<windows.h>`.
///
/// This umbrella header includes every part of the module, one job per header:
/// - <localsock/win/pipe_types.hpp>: direction, mode, role, stream sides, their Win32
///   flag values, and max_io_size;
/// - <localsock/win/unique_handle.hpp>: the owned HANDLE;
/// - <localsock/win/pipe_core.hpp>, <localsock/win/pipe_ops.hpp>: the handle's I/O and
///   the operations each stream type has;
/// - <localsock/win/pipe_identity.hpp>: current_user_sid, PipeImpersonation;
/// - <localsock/win/pipe_stream.hpp>: BasicPipeStream, its aliases, PipeHalf;
/// - <localsock/win/pipe_listener.hpp>: PipeListenerOptions, PipeListener.

#include <localsock/win/pipe_core.hpp>
#include <localsock/win/pipe_identity.hpp>
#include <localsock/win/pipe_listener.hpp>
#include <localsock/win/pipe_ops.hpp>
#include <localsock/win/pipe_stream.hpp>
#include <localsock/win/pipe_types.hpp>
#include <localsock/win/unique_handle.hpp>
