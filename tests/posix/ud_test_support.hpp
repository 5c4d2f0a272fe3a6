// SPDX-License-Identifier: MIT
#pragma once

// What the Unix socket tests share: a private directory for socket files, stale and
// half-made sockets, another user, and signals that interrupt a thread.
#include <localsock/capabilities.hpp>
#include <localsock/posix/ud_datagram.hpp>
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_stream.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <localsock/config.hpp>
#include <localsock/testing.hpp>
#include <localsock/logging.hpp>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

using localsock::errc;
using localsock::LocalName;
using localsock::posix::UdListener;
using localsock::posix::UdListenerOptions;
using localsock::posix::UdStream;
namespace fs = std::filesystem;

namespace ud_test {

// A private directory for socket files, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / localsock::test::unique_name("lsd");
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  LocalName name(const char* leaf) const { return LocalName::path((path / leaf).string()); }
};

// A name another user's client can reach: an abstract name where there are such, else a
// socket file in `dir` (opened to others): a namespaced name's file lies in this user's
// private directory, which keeps every other user out already.
// Options for a listener at such a name that refuses other users at accept only
// (current_user_only): a socket file must then be writable by them (mode 0666).
inline UdListenerOptions refused_at_accept() {
  UdListenerOptions o;
  o.current_user_only = true;
  if (!localsock::capabilities().abstract_names) o.permissions = 0666;
  return o;
}

inline LocalName reachable_by_others(const TempDir& dir) {
  if (localsock::capabilities().abstract_names)
    return LocalName::namespaced(localsock::test::unique_name());
  ::chmod(dir.path.c_str(), 0755);
  return dir.name("others");
}

inline bool is_socket(const fs::path& p) {
  struct stat st {};
  return ::lstat(p.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Leaves a socket file behind as a crashed server would: bound, then closed without
// unlinking.
inline void make_stale_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  ::close(fd);
}

inline bool is_cloexec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

inline std::atomic<int> signals_seen{0};
inline void count_signal(int) { ++signals_seen; }

// Interrupts `thread` with SIGUSR1 (installed without SA_RESTART, so every blocking
// system call it is in fails with EINTR) until `stop` is set.
inline void pester(pthread_t thread, const std::atomic<bool>& stop) {
  while (!stop) {
    ::pthread_kill(thread, SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

// Runs `body` in a child process switched to another user ("nobody", or the uid below it
// when this process already is nobody); its exit code, 99 when the switch is not allowed.
template <typename Body>
inline int as_other_user(Body body) {
  const unsigned other = ::geteuid() == 65534 ? 65533 : 65534;
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(other) != 0 || ::setuid(other) != 0) ::_exit(99);
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

inline struct stat stat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

// A socket bound at `path` that does not listen yet: a server between bind and listen.
inline int bound_not_listening(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

}  // namespace ud_test

using namespace ud_test;
