// SPDX-License-Identifier: MIT
#pragma once

// Process helpers for tests, declared portably and defined per platform.

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace localsock::test {

/// This process's id.
unsigned long current_pid();

/// The path of the running test executable.
std::string self_path();

/// How many descriptors (Unix: entries of /proc/self/fd) or handles (Windows: this
/// process's entries in the system's handle table, see handles_in_table) this process
/// holds: leak checks compare it before and after.
std::size_t open_handles();

#if defined(_WIN32)
/// Windows: this process's entries in the system's handle table
/// (NtQuerySystemInformation, SystemHandleInformation), or -1 when the table cannot be
/// read. Wine answers GetProcessHandleCount with 0 but keeps this table; open_handles()
/// falls back to GetProcessHandleCount only when this is -1.
long handles_in_table();
#endif
/// Lets go of what the library keeps for reuse and no connection holds (Windows: the
/// events a thread keeps for its next blocking streams), so that open_handles() counts
/// what connections hold. The suites of the public API alone cannot reach it: there it
/// does nothing (test_loop_public.cpp).
void release_library_caches() noexcept;

/// A child process running a program with arguments; the destructor waits for it
/// (killing it after a deadline, so that no test hangs).
class Child {
 public:
  Child() = default;
  Child(Child&&) noexcept;
  Child& operator=(Child&&) noexcept;
  ~Child();

  static Child spawn(const std::string& program, const std::vector<std::string>& args);

  /// Waits at most `deadline` for the child to exit and returns its exit code, or -1
  /// after killing it when the deadline passed.
  int wait(std::chrono::milliseconds deadline = std::chrono::seconds(30));
  /// Kills the child at once (SIGKILL / TerminateProcess).
  void kill();
  bool running() const noexcept { return handle_ != 0; }

 private:
  long long handle_ = 0;  // pid on Unix, HANDLE on Windows
};

}  // namespace localsock::test
