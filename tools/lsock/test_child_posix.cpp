// SPDX-License-Identifier: MIT
// lsock's ChildProcess (--exec) on Unix, where its faults can be made to happen: the
// descriptors it holds when a pipe cannot be made, and a start with standard input and
// output closed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "doctest_ext.hpp"
#include "platform.hpp"

namespace {

// The open descriptor numbers of this process, up to `below`.
std::vector<int> open_fds(int below = 4096) {
  std::vector<int> fds;
  for (int fd = 0; fd < below; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) fds.push_back(fd);
  }
  return fds;
}

// Lowers the soft descriptor limit for its lifetime.
class NofileLimit {
 public:
  explicit NofileLimit(rlim_t soft) {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  }
  ~NofileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  NofileLimit(const NofileLimit&) = delete;
  NofileLimit& operator=(const NofileLimit&) = delete;

 private:
  rlimit saved_{};
};

}  // namespace

TEST_CASE("ChildProcess::start closes the first pipe when the second cannot be made") {
  const std::vector<int> before = open_fds();
  // Room for exactly one pipe below the limit: the first pipe2 succeeds, the second
  // fails with EMFILE.
  int free_seen = 0, limit = 0;
  for (int fd = 0; free_seen < 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) ++free_seen;
    limit = fd + 1;
  }
  std::string error;
  std::unique_ptr<lsock::ChildProcess> child;
  {
    NofileLimit lowered(static_cast<rlim_t>(limit));
    child = lsock::ChildProcess::start("cat", error);
  }
  CHECK(child == nullptr);
  CHECK(error == std::strerror(EMFILE));
  CHECK(open_fds().size() == before.size());
  CHECK(open_fds() == before);
}

TEST_CASE("ChildProcess::start gives the command its input and output when lsock's are closed") {
  // With descriptors 0 and 1 free, the first pipe is made on 0 and 1: the child's end of
  // its input is descriptor 0 itself.
  const int saved_in = ::fcntl(0, F_DUPFD_CLOEXEC, 10);
  const int saved_out = ::fcntl(1, F_DUPFD_CLOEXEC, 10);
  REQUIRE(saved_in >= 0);
  REQUIRE(saved_out >= 0);
  ::close(0);
  ::close(1);
  // The parent's pipe ends may be on 0 and 1 too: all is done before they are restored
  // (and nothing is checked while doctest's output is closed).
  std::string error, got;
  bool written = false;
  int status = -1;
  if (auto child = lsock::ChildProcess::start("cat", error)) {
    const std::string text = "through cat\n";
    written = child->write(reinterpret_cast<const std::byte*>(text.data()), text.size());
    child->close_input();
    std::byte buf[256];
    while (const std::size_t n = child->read(buf, sizeof buf))
      got.append(reinterpret_cast<const char*>(buf), n);
    status = child->wait();
  }
  ::dup2(saved_in, 0);
  ::dup2(saved_out, 1);
  ::close(saved_in);
  ::close(saved_out);
  CHECK_MESSAGE(error.empty(), error);
  CHECK(written);
  CHECK(got == "through cat\n");
  CHECK(status == 0);
}

TEST_CASE("parse_proc_net_unix: names with newlines neither crash it nor forge records") {
  // Two real listeners: inode 100 ("@evil" whose name holds a newline and a line made to
  // look like a record claiming inode 200, and another with a field that is not hex),
  // inode 200 ("/run/real.sock"); a record for an inode nobody holds (300).
  const std::string text =
      "Num       RefCount Protocol Flags    Type St Inode Path\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01   100 @evil\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01 200 /forged.sock\n"
      "x x x zz 0001 01 1 /x\n"
      "0000000000000000: 00000002 00000000 00010000 0001 01   200 /run/real.sock\n"
      "0000000000000000: 00000002 00000000 00010000 0005 01   300 @nobody-holds-it\n"
      "0000000000000000: 00000003 00000000 00000000 0001 03   400 @connected\n";
  const auto owned = [](unsigned long inode) {
    return inode == 100 || inode == 200 || inode == 400;
  };
  std::vector<lsock::ProcNetUnixRecord> records;
  REQUIRE_NOTHROW(records = lsock::parse_proc_net_unix(text, owned));
  // Inode 200 is listed twice (one of them forged): neither is trusted. The forged line
  // is gone; the line that is no record continues the name it follows.
  REQUIRE(records.size() == 1);
  CHECK(records[0].inode == 100);
  CHECK(records[0].type == 1);
  CHECK(records[0].name == std::string("\0evil", 5));
  // Truncated and empty input: nothing, and no exception.
  for (std::size_t n = 0; n < text.size(); n += 7)
    CHECK_NOTHROW(lsock::parse_proc_net_unix(text.substr(0, n), owned));
}

// Linux: the fallback reads /proc, which other systems do not have.
#if defined(__linux__)
TEST_CASE("ls /proc fallback: a forged record naming a TCP socket's inode is not listed") {
  // A TCP listener this process holds, and an abstract Unix listener whose name holds a
  // newline and a line forged to look like a listening Unix socket with the TCP socket's
  // inode: that inode is held and listed once, so only the socket's type tells them apart.
  const int tcp = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(tcp >= 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(tcp, reinterpret_cast<sockaddr*>(&in), sizeof in) == 0);
  REQUIRE(::listen(tcp, 1) == 0);
  struct stat tcp_st {};
  REQUIRE(::fstat(tcp, &tcp_st) == 0);
  const unsigned long tcp_inode = tcp_st.st_ino;
  const std::string name = std::string(1, '\0') + "lsock-t" + std::to_string(::getpid()) +
                           "\n0000000000000000: 00000002 00000000 00010000 0001 01 " +
                           std::to_string(tcp_inode) + " /forged.sock";
  const int u = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(u >= 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  REQUIRE(name.size() <= sizeof un.sun_path);
  std::memcpy(un.sun_path, name.data(), name.size());
  REQUIRE(::bind(u, reinterpret_cast<sockaddr*>(&un),
                 static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size())) == 0);
  REQUIRE(::listen(u, 1) == 0);
  struct stat u_st {};
  REQUIRE(::fstat(u, &u_st) == 0);

  std::ifstream f("/proc/net/unix", std::ios::binary);
  REQUIRE(f);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto owners = lsock::socket_owners();
  // The real listener is found with its owner; the TCP socket is no Unix socket's owner.
  CHECK(owners.count(u_st.st_ino) == 1);
  CHECK(owners.count(tcp_inode) == 0);
  bool real = false, forged = false;
  for (const auto& r :
       lsock::parse_proc_net_unix(text, [&](unsigned long i) { return owners.count(i) != 0; })) {
    real = real || r.inode == u_st.st_ino;
    forged = forged || r.inode == tcp_inode;
  }
  CHECK(real);
  CHECK_FALSE(forged);
  ::close(u);
  ::close(tcp);
}
#endif
