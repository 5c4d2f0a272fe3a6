// SPDX-License-Identifier: MIT
#pragma once

// How lsock speaks on stderr: progress (note(), silenced by --quiet) and errors
// (say_error(), always), one line each; and the exit status of a command whose output
// may not all have been written.

#include <cstdio>
#include <mutex>

namespace lsock {

/// --quiet: no progress messages.
extern bool quiet;
/// Held while a line goes to stderr, so that lines of different threads do not mix.
extern std::mutex stderr_mutex;
/// lsock was started with standard output closed (Unix: the null device holds its
/// place, so that no socket or pipe takes it): output written there is lost, a write
/// error.
extern bool stdout_closed;

template <typename... A>
void note(const char* fmt, A... a) {
  if (quiet) return;
  std::lock_guard lock(stderr_mutex);
  std::fprintf(stderr, "lsock: ");
  if constexpr (sizeof...(A) == 0)
    std::fputs(fmt, stderr);
  else
    std::fprintf(stderr, fmt, a...);
  std::fprintf(stderr, "\n");
}

// An error: always shown (--quiet hides progress only).
template <typename... A>
void say_error(const char* fmt, A... a) {
  std::lock_guard lock(stderr_mutex);
  std::fprintf(stderr, "lsock: ");
  if constexpr (sizeof...(A) == 0)
    std::fputs(fmt, stderr);
  else
    std::fprintf(stderr, fmt, a...);
  std::fprintf(stderr, "\n");
}

/// What a command that prints returns: `status`, or 1 (with a message) when its output
/// could not all be written (a full disk, a reader that has gone, a closed stdout).
int output_status(int status);

}  // namespace lsock
