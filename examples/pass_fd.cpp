// SPDX-License-Identifier: MIT
// Unix only: passing an open file to another process. The parent opens a file the
// child could not open itself (it is unlinked at once) and sends the descriptor with a
// message over a seqpacket socket pair; the child reads the file through it.
//
//   pass_fd
#include <localsock/posix/ud_seqpacket.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

int main() {
  using namespace localsock::posix;
  auto [parent, child] = UdSeqpacket::pair();

  const pid_t pid = ::fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    parent.close();
    std::byte header[64];
    std::vector<OwnedFd> fds;
    std::error_code ec;
    const auto r = child.recv_with_fds(header, fds, 1, ec);
    if (ec || fds.size() != 1) return 1;
    char text[128] = {};
    const ssize_t n = ::pread(fds[0].get(), text, sizeof text - 1, 0);
    std::printf("child: message '%.*s', file says '%.*s'\n", static_cast<int>(r.size),
                reinterpret_cast<const char*>(header), static_cast<int>(n > 0 ? n : 0), text);
    return n > 0 && std::string(text).find("secret") != std::string::npos ? 0 : 1;
  }
  child.close();
  char path[] = "/tmp/localsock-pass-fd-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return 1;
  ::unlink(path);  // nobody else can open it now; only the descriptor reaches it
  const std::string content = "a secret only the descriptor reaches\n";
  if (::write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) return 1;
  const std::string message = "here is the file";
  std::error_code ec;
  parent.send_with_fds(std::as_bytes(std::span(message)), std::span<const int>(&fd, 1), ec);
  if (ec) {
    std::fprintf(stderr, "pass_fd: %s\n", ec.message().c_str());
    return 1;
  }
  ::close(fd);
  int status = 0;
  ::waitpid(pid, &status, 0);
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  std::printf("parent: %s\n", ok ? "the child read the file" : "FAILED");
  return ok ? 0 : 1;
}
