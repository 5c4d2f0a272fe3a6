// SPDX-License-Identifier: MIT
// lsock's Unix side: --exec commands (fork, pipes, process groups), signals, raw standard
// streams. The socket listing is in sockets_posix.cpp.
#include <sys/socket.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <localsock/config.hpp>

#include "platform.hpp"

namespace lsock {
namespace {

// The children not yet reaped, each the leader of its own process group (so that a
// pipeline the shell started goes with it): what an interrupt must end.
std::mutex children_mutex;
std::set<pid_t> live_children;
bool children_ended = false;

class PosixChild final : public ChildProcess {
 public:
  // `pid` is in live_children already (start() puts it there as it forks).
  PosixChild(pid_t pid, int in, int out) : pid_(pid), group_(pid), in_(in), out_(out) {}
  ~PosixChild() override {
    close_input();
    if (out_ >= 0) ::close(out_);
    if (pid_ > 0) wait();
  }
  bool write(const std::byte* data, std::size_t n) override {
    while (n > 0 && in_ >= 0) {
      const ssize_t k = ::write(in_, data, n);
      if (k < 0 && errno == EINTR) continue;
      if (k <= 0) return false;
      data += k;
      n -= static_cast<std::size_t>(k);
    }
    return in_ >= 0;
  }
  std::size_t read(std::byte* data, std::size_t n) override {
    for (;;) {
      const ssize_t k = ::read(out_, data, n);
      if (k < 0 && errno == EINTR) continue;
      return k > 0 ? static_cast<std::size_t>(k) : 0;
    }
  }
  void close_input() override {
    if (in_ >= 0) ::close(std::exchange(in_, -1));
  }
  void close_output() override {
    if (out_ >= 0) ::close(std::exchange(out_, -1));
  }
  int wait() override {
    int status = 0;
    if (pid_ <= 0) return status_;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    return reaped(status);
  }
  std::optional<int> wait_for(std::chrono::milliseconds ms) override {
    // Polled: no SIGCHLD handler (sessions on other threads have children too).
    const auto deadline = std::chrono::steady_clock::now() + ms;
    for (;;) {
      if (pid_ <= 0) return status_;
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) return reaped(status);
      if (r < 0 && errno != EINTR) return reaped(0);
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  // Both signal the command's whole process group, whether or not its leader (the
  // command itself) is still there: members it left behind go with it. ESRCH (no one
  // left) is ignored.
  void terminate() override { ::kill(-group_, SIGTERM); }
  void kill() override { ::kill(-group_, SIGKILL); }
  // True while any process of the command's group remains (its leader not yet reaped
  // counts).
  bool group_alive() const { return ::kill(-group_, 0) == 0 || errno == EPERM; }

 private:
  int reaped(int status) {
    {
      std::lock_guard lock(children_mutex);
      live_children.erase(pid_);
    }
    pid_ = 0;
    status_ = WIFEXITED(status)     ? WEXITSTATUS(status)
              : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                    : 0;
    return status_;
  }

  pid_t pid_;
  pid_t group_;  // the process group the command leads; stays once its leader is reaped
  int in_;
  int out_;
  int status_ = 0;
};

// A close-on-exec pipe. Made in one step with pipe2 where it exists; elsewhere (macOS)
// pipe() and fcntl(FD_CLOEXEC) are two, and a fork on another session's thread between
// them would hand this session's pipe to that session's command: pipe creation and fork
// are serialized by one mutex there (PipeForkLock).
#if (defined(__linux__) && !defined(LOCALSOCK_UNIX_GENERIC)) || defined(__FreeBSD__) || \
    defined(__NetBSD__) || defined(__OpenBSD__) || defined(__DragonFly__)
struct PipeForkLock {};

bool cloexec_pipe(int fds[2]) { return ::pipe2(fds, O_CLOEXEC) == 0; }
#else
std::mutex pipe_fork_mutex;

struct PipeForkLock {
  std::lock_guard<std::mutex> lock{pipe_fork_mutex};
};

bool cloexec_pipe(int fds[2]) {
  if (::pipe(fds) < 0) return false;
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return true;
}
#endif

// In a forked child: closes every descriptor above 2, so that the command gets only its
// standard streams (not a descriptor lsock inherited without close-on-exec, nor one
// another thread made between its creation and FD_CLOEXEC). close_range where the system
// has it; else each descriptor up to `limit` (found before fork: getrlimit is not
// async-signal-safe everywhere).
void close_above_stderr(int limit) {
#if defined(__linux__) && !defined(LOCALSOCK_UNIX_GENERIC)
  if (::close_range(3, ~0U, 0) == 0) return;
#endif
  for (int fd = 3; fd < limit; ++fd) ::close(fd);
}

int descriptor_limit() {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY || r.rlim_cur > 65536)
    return 65536;
  return static_cast<int>(r.rlim_cur);
}

}  // namespace

void end_all_children(std::chrono::milliseconds grace) {
  std::set<pid_t> left;
  {
    // No child is started after this (start() forks holding the same lock).
    std::lock_guard lock(children_mutex);
    children_ended = true;
    left = live_children;
  }
  for (const pid_t pid : left) ::kill(-pid, SIGTERM);
  // Each child leads its own process group (its pid is the group's id). A group is done
  // once no process of it remains, its leader reaped: the leader may die of the SIGTERM
  // while a member that ignores it lives on, so the group, not the leader, is waited for.
  std::set<pid_t> unreaped = left;
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (!left.empty()) {
    for (auto it = unreaped.begin(); it != unreaped.end();) {
      // A session thread may reap it first (ECHILD): gone all the same.
      const pid_t r = ::waitpid(*it, nullptr, WNOHANG);
      it = r == 0 || (r < 0 && errno == EINTR) ? std::next(it) : unreaped.erase(it);
    }
    for (auto it = left.begin(); it != left.end();)
      it = ::kill(-*it, 0) == 0 || errno == EPERM ? std::next(it) : left.erase(it);
    if (left.empty() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (const pid_t pid : left) ::kill(-pid, SIGKILL);  // ESRCH (gone meanwhile) ignored
  for (const pid_t pid : unreaped) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

void stop_child(ChildProcess& command, std::chrono::milliseconds grace) {
  auto& child = static_cast<PosixChild&>(command);  // the only kind start() makes
  child.close_input();
  child.wait_for(grace);
  // The session is over: so is the command's process group, whether or not its leader
  // has exited (a job it left in the background, a member that ignores SIGTERM).
  // SIGTERM to the group, then a grace for it to empty, then SIGKILL to what is left.
  if (child.group_alive()) {
    child.terminate();
    const auto deadline = std::chrono::steady_clock::now() + grace;
    while (child.group_alive() && std::chrono::steady_clock::now() < deadline) {
      child.wait_for(std::chrono::milliseconds(0));  // reaps the leader once it exits
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    child.kill();
  }
  child.wait();
}

void end_child(ChildProcess& child, std::chrono::milliseconds grace) {
  child.close_output();
  stop_child(child, grace);
}

bool peer_closed(int handle) {
  // Both directions shut down (the peer closed; a half-close sets POLLRDHUP only).
  pollfd p{handle, 0, 0};
  int r;
  while ((r = ::poll(&p, 1, 0)) < 0 && errno == EINTR) {
  }
  return r > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0;
}

namespace {

// The signals lsock waits for itself (handle_interrupts); blocked in its threads.
sigset_t interrupt_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  return set;
}

void close_both(int (&fds)[2]) {
  for (int& fd : fds) {
    if (fd >= 0) ::close(std::exchange(fd, -1));
  }
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::start(const std::string& command, std::string& error) {
  int to_child[2] = {-1, -1}, from_child[2] = {-1, -1};
  const int limit = descriptor_limit();
  [[maybe_unused]] const PipeForkLock serialized;
  if (!cloexec_pipe(to_child) || !cloexec_pipe(from_child)) {
    error = std::strerror(errno);
    close_both(to_child);
    close_both(from_child);
    return nullptr;
  }
  std::unique_lock registering(children_mutex);
  const pid_t pid = children_ended ? (errno = ECANCELED, -1) : ::fork();
  if (pid < 0) {
    error = std::strerror(errno);
    close_both(to_child);
    close_both(from_child);
    return nullptr;
  }
  if (pid == 0) {
    // Its own process group: an interrupt of lsock ends the whole command (a pipeline).
    ::setpgid(0, 0);
    // Started with standard input or output closed, a pipe end may be fd 0 or 1, where
    // dup2(fd, fd) would keep its close-on-exec flag (and one dup2 could overwrite the
    // other's source): copy both above 2 first. F_DUPFD copies without close-on-exec;
    // dup2 onto 0 and 1 clears it there.
    const int in = ::fcntl(to_child[0], F_DUPFD, 3);
    const int out = ::fcntl(from_child[1], F_DUPFD, 3);
    if (in < 0 || out < 0 || ::dup2(in, 0) < 0 || ::dup2(out, 1) < 0) ::_exit(127);
    close_above_stderr(limit);
    // lsock's own signal settings are not the command's.
    const sigset_t blocked = interrupt_signals();
    ::pthread_sigmask(SIG_UNBLOCK, &blocked, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // as the child does: whichever runs first
  live_children.insert(pid);
  registering.unlock();
  ::close(to_child[0]);
  ::close(from_child[1]);
  return std::make_unique<PosixChild>(pid, to_child[1], from_child[0]);
}

void handle_interrupts(std::function<void(int status)> stop) {
  // A reader that has gone makes write() fail with EPIPE instead of ending lsock.
  ::signal(SIGPIPE, SIG_IGN);
  const sigset_t set = interrupt_signals();
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set, stop = std::move(stop)] {
    int sig = 0;
    while (::sigwait(&set, &sig) != 0) {
    }
    stop(128 + sig);
  }).detach();
}

bool ensure_standard_streams() {
  bool stdout_closed = false;
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    if (fd == 1) stdout_closed = true;
    // The lowest free descriptor: this one.
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0 && null != fd) ::close(null);
  }
  return stdout_closed;
}

const bool has_half_close = true;

std::string reclaim_obstacle(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};
  if (S_ISLNK(st.st_mode)) {
    char target[4096];
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    const std::string to =
        n > 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string("?");
    return "it is a symbolic link (to " + to +
           "), which --reclaim does not take over: remove the link, or use " +
           "the socket file it points to";
  }
  if (!S_ISSOCK(st.st_mode)) return "it is not a socket file";
  return {};
}

void binary_stdio() {}

void write_stderr_raw(std::string_view text) {
  while (!text.empty()) {
    const ssize_t k = ::write(2, text.data(), text.size());
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return;
    text.remove_prefix(static_cast<std::size_t>(k));
  }
}

void exit_now(int status) { ::_exit(status); }

bool reader_left(int err) { return err == EPIPE; }

bool wait_stdout_gone() {
  pollfd p{1, 0, 0};  // no events asked: POLLERR and POLLHUP are always reported
  for (;;) {
    const int r = ::poll(&p, 1, -1);
    if (r < 0 && errno == EINTR) continue;
    return r > 0 && (p.revents & (POLLERR | POLLHUP)) != 0;
  }
}

std::size_t read_stdin(std::byte* data, std::size_t n) {
  for (;;) {
    const ssize_t k = ::read(0, data, n);
    if (k < 0 && errno == EINTR) continue;
    return k > 0 ? static_cast<std::size_t>(k) : 0;
  }
}

}  // namespace lsock
