// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

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
  int wait() override {
    int status = 0;
    if (pid_ <= 0) return status_;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = 0;
    status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return status_;
  }
  void kill() override {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
  }

 private:
  pid_t pid_;
  int in_;
  int out_;
  int status_ = 0;
};

// A close-on-exec pipe: pipe and fcntl, as macOS has no pipe2.
bool cloexec_pipe(int fds[2]) {
  if (::pipe(fds) < 0) return false;
  ::fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  ::fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return true;
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::start(const std::string& command, std::string& error) {
  int to_child[2], from_child[2];
  if (!cloexec_pipe(to_child) || !cloexec_pipe(from_child)) {
    error = std::strerror(errno);
    return nullptr;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    error = std::strerror(errno);
    return nullptr;
  }
  if (pid == 0) {
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], 1);
    ::execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  return std::make_unique<PosixChild>(pid, to_child[1], from_child[0]);
}

std::vector<SocketEntry> list_sockets(std::string& error) {
  // /proc/net/unix: Num RefCount Protocol Flags Type St Inode [Path]. A listening socket
  // has __SO_ACCEPTCON (0x10000) in Flags.
  std::ifstream in("/proc/net/unix");
  if (!in) {
    error = "/proc/net/unix cannot be read (listing needs Linux)";
    return {};
  }
  std::vector<SocketEntry> out;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string num, refs, proto, flags, type, state, inode, path;
    f >> num >> refs >> proto >> flags >> type >> state >> inode >> path;
    if (path.empty() || (std::stoul(flags, nullptr, 16) & 0x10000) == 0) continue;
    const unsigned t = static_cast<unsigned>(std::stoul(type, nullptr, 16));
    out.push_back({t == 1 ? "stream" : t == 5 ? "seqpacket" : t == 2 ? "dgram" : "other", path});
  }
  return out;
}

void binary_stdio() {}

std::size_t read_stdin(std::byte* data, std::size_t n) {
  for (;;) {
    const ssize_t k = ::read(0, data, n);
    if (k < 0 && errno == EINTR) continue;
    return k > 0 ? static_cast<std::size_t>(k) : 0;
  }
}

}  // namespace lsock
