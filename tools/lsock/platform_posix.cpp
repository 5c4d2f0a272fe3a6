// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include <localsock/config.hpp>

#include "platform.hpp"

namespace lsock {
namespace {

class PosixChild final : public ChildProcess {
 public:
  PosixChild(pid_t pid, int in, int out) : pid_(pid), in_(in), out_(out) {}
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
  void terminate() override {
    if (pid_ > 0) ::kill(pid_, SIGTERM);
  }
  void kill() override {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

 private:
  int reaped(int status) {
    pid_ = 0;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 0;
    return status_;
  }

  pid_t pid_;
  int in_;
  int out_;
  int status_ = 0;
};

// A close-on-exec pipe. Made in one step with pipe2 where it exists; elsewhere (macOS)
// pipe() and fcntl(FD_CLOEXEC) are two, and a fork on another session's thread between
// them would hand this session's pipe to that session's command: pipe creation and fork
// are serialized by one mutex there (PipeForkLock).
#if (defined(__linux__) && !defined(LOCALSOCK_UNIX_GENERIC)) || defined(__FreeBSD__) || defined(__NetBSD__) || \
    defined(__OpenBSD__) || defined(__DragonFly__)
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
  if (::getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY || r.rlim_cur > 65536) return 65536;
  return static_cast<int>(r.rlim_cur);
}

}  // namespace

void end_child(ChildProcess& child, std::chrono::milliseconds grace) {
  child.close_input();
  child.close_output();
  if (child.wait_for(grace)) return;
  child.terminate();
  if (child.wait_for(grace)) return;
  child.kill();
  child.wait();
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
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = std::strerror(errno);
    close_both(to_child);
    close_both(from_child);
    return nullptr;
  }
  if (pid == 0) {
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
  ::close(to_child[0]);
  ::close(from_child[1]);
  return std::make_unique<PosixChild>(pid, to_child[1], from_child[0]);
}

namespace {

// The processes holding each socket inode: /proc/PID/fd links read "socket:[INODE]".
// Only the processes this user may look into are found.
std::map<unsigned long, long long> socket_owners() {
  std::map<unsigned long, long long> owners;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return owners;
  while (const dirent* p = ::readdir(proc)) {
    char* end = nullptr;
    const long long pid = std::strtoll(p->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    const std::string dir = std::string("/proc/") + p->d_name + "/fd";
    DIR* fds = ::opendir(dir.c_str());
    if (fds == nullptr) continue;
    while (const dirent* f = ::readdir(fds)) {
      char target[64];
      const ssize_t n = ::readlink((dir + "/" + f->d_name).c_str(), target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = '\0';
      unsigned long inode = 0;
      if (std::sscanf(target, "socket:[%lu]", &inode) == 1) owners.emplace(inode, pid);
    }
    ::closedir(fds);
  }
  ::closedir(proc);
  return owners;
}

std::string command_of(long long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

std::string user_of(long long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Uid:", 0) != 0) continue;
    const uid_t uid = static_cast<uid_t>(std::strtoul(line.c_str() + 4, nullptr, 10));
    passwd pw{};
    passwd* found = nullptr;
    char buf[1024];
    if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found != nullptr) return found->pw_name;
    return std::to_string(uid);
  }
  return {};
}

}  // namespace

std::vector<SocketEntry> list_sockets(std::string& error) {
  // /proc/net/unix: Num RefCount Protocol Flags Type St Inode [Path]. A listening socket
  // has __SO_ACCEPTCON (0x10000) in Flags. The path is the rest of the line (it may hold
  // spaces); abstract names start with '@'.
  std::ifstream in("/proc/net/unix");
  if (!in) {
    error = "/proc/net/unix cannot be read (listing needs Linux)";
    return {};
  }
  const auto owners = socket_owners();
  std::vector<SocketEntry> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string num, refs, proto, flags, type, state;
    unsigned long inode = 0;
    f >> num >> refs >> proto >> flags >> type >> state >> inode;
    std::string path;
    std::getline(f >> std::ws, path);
    if (path.empty() || (std::stoul(flags, nullptr, 16) & 0x10000) == 0) continue;
    const unsigned t = static_cast<unsigned>(std::stoul(type, nullptr, 16));
    SocketEntry e{t == 1 ? "stream" : t == 5 ? "seqpacket" : t == 2 ? "dgram" : "other", path, {}, {}, {}};
    if (const auto owner = owners.find(inode); owner != owners.end()) {
      e.pid = owner->second;
      e.command = command_of(owner->second);
      e.user = user_of(owner->second);
    }
    out.push_back(std::move(e));
  }
  return out;
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

void ensure_standard_streams() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0 || errno != EBADF) continue;
    // The lowest free descriptor: this one.
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0 && null != fd) ::close(null);
  }
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

std::size_t read_stdin(std::byte* data, std::size_t n) {
  for (;;) {
    const ssize_t k = ::read(0, data, n);
    if (k < 0 && errno == EINTR) continue;
    return k > 0 ? static_cast<std::size_t>(k) : 0;
  }
}

}  // namespace lsock
