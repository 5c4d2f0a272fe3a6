// SPDX-License-Identifier: MIT
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <filesystem>
#include <thread>
#include <utility>

#include "process.hpp"

namespace localsock::test {

unsigned long current_pid() { return static_cast<unsigned long>(::getpid()); }

std::size_t open_handles() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

std::string self_path() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

Child::Child(Child&& o) noexcept : handle_(std::exchange(o.handle_, 0)) {}
Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    if (handle_ != 0) wait();
    handle_ = std::exchange(o.handle_, 0);
  }
  return *this;
}
Child::~Child() {
  if (handle_ != 0) wait();
}

Child Child::spawn(const std::string& program, const std::vector<std::string>& args) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  Child c;
  c.handle_ = pid;
  return c;
}

int Child::wait(std::chrono::milliseconds deadline) {
  if (handle_ == 0) return -1;
  const auto pid = static_cast<pid_t>(handle_);
  const auto end = std::chrono::steady_clock::now() + deadline;
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (std::chrono::steady_clock::now() > end) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      handle_ = 0;
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  handle_ = 0;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

void Child::kill() {
  if (handle_ != 0) ::kill(static_cast<pid_t>(handle_), SIGKILL);
}

}  // namespace localsock::test
