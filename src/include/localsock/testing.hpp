// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Fault injection, for tests: make the library's next system calls fail the way the
/// system sometimes does (EINTR, EAGAIN, short writes, ECONNREFUSED, ERROR_PIPE_BUSY,
/// ERROR_NO_DATA, ERROR_PIPE_CONNECTED, ERROR_MORE_DATA, handle exhaustion), deterministically
/// instead of by timing races. When nothing is armed, the cost is one relaxed atomic load per call
/// site.
///
/// The fault seam is built into the library only with the `fault_injection` build option
/// (on in the test builds; <localsock/config.hpp> then defines LOCALSOCK_FAULT_INJECTION).
/// Without it, every fault and hook point compiles to nothing, and arm_fault, faults_left
/// and set_hook do not exist; clear_faults always does (it has nothing to clear then).
/// Not installed: for the library and its own tests (src/include).

#include <cstddef>
#include <functional>

namespace localsock {
class AsyncSocket;
}

namespace localsock::testing {

enum class Fault {
  eintr,                  ///< Unix: a system call fails with EINTR (and is retried).
  eagain,                 ///< Unix: a socket read or write would block (EAGAIN).
  short_write,            ///< Unix: a stream write takes only half of what it was given.
  connect_refused,        ///< Unix: a connect fails with ECONNREFUSED.
  pipe_busy,              ///< Windows: opening a pipe finds every instance busy.
  accept_no_data,         ///< Windows: a client connected and left before accept.
  accept_pipe_connected,  ///< Windows: ConnectNamedPipe reports ERROR_PIPE_CONNECTED (arm it
                          ///< once a client has connected, as the system does).
  more_data,              ///< Windows: a message read returns ERROR_MORE_DATA.
  peek_fails,             ///< Windows: PeekNamedPipe, asked for the size of the rest of a
                          ///< message, fails (ERROR_NOT_ENOUGH_MEMORY).
  revert_to_self,         ///< Windows: RevertToSelf fails (ending an impersonation).
  foreign_user,           ///< Windows: the current_user_only check on accept sees the client
                          ///< as another user and refuses it (Wine has one user only).
                          ///< (Keep out_of_handles last: src/common/faults.cpp counts to it.)
  out_of_handles,         ///< Windows: creating a pipe instance or opening a pipe fails with
                          ///< ERROR_NO_SYSTEM_RESOURCES, as when handles run out (Windows
                          ///< has no RLIMIT_NOFILE to lower for a real test).
};

/// The next `times` occurrences of `fault`'s call site fail that way. Thread-safe.
void arm_fault(Fault fault, int times = 1) noexcept;
/// How many armed occurrences of `fault` have not happened yet.
int faults_left(Fault fault) noexcept;
/// Disarms everything.
void clear_faults() noexcept;

/// Points inside the library where a test may run its own code, to reproduce a race
/// between processes deterministically.
enum class Hook {
  reclaim_unlink,  ///< Unix: a socket file was found stale and is about to be removed.
  socket_linked,   ///< Unix: a listener's socket file, bound with a mode, has just
                   ///< appeared at its name.
};

/// Runs `fn()` each time the library reaches `hook`, until set to an empty function.
/// Thread-safe; `fn` runs on the thread that reached the hook. When no hook is set, the
/// cost is one relaxed atomic load per hook point.
void set_hook(Hook hook, std::function<void()> fn);
/// The bytes of receive buffers an async connection keeps between reads (capacity, not
/// size), so that tests can check what a connection holds after a large message.
/// Loop thread only.
std::size_t kept_read_buffer(const AsyncSocket& socket) noexcept;

}  // namespace localsock::testing
