// SPDX-License-Identifier: MIT
#pragma once
// The bare system calls localsock is measured against on Unix: socket, bind, listen,
// accept, connect, read, write (abstract names).
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bench.hpp"

namespace bench {

struct RawImpl {
  struct Fd {
    int fd = -1;
    Fd() = default;
    explicit Fd(int f) : fd(f) {}
    Fd(Fd&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
      std::swap(fd, o.fd);
      return *this;
    }
    ~Fd() {
      if (fd >= 0) ::close(fd);
    }
  };
  using Listener = Fd;
  using Conn = Fd;
  using MsgListener = Fd;
  using MsgConn = Fd;

  static socklen_t address(const std::string& n, sockaddr_un& a) {
    a = {};
    a.sun_family = AF_UNIX;
    std::memcpy(a.sun_path + 1, n.data(), n.size());  // abstract: a leading NUL
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n.size());
  }
  static Fd listen_type(const std::string& n, int type) {
    Fd l(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    sockaddr_un a;
    const socklen_t len = address(n, a);
    if (::bind(l.fd, reinterpret_cast<sockaddr*>(&a), len) < 0 || ::listen(l.fd, 128) < 0)
      fail("bind/listen");
    return l;
  }
  static Fd connect_type(const std::string& n, int type) {
    Fd c(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    sockaddr_un a;
    const socklen_t len = address(n, a);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), len) < 0) fail("connect");
    return c;
  }
  // A client of the socket file at `path` (bare libuv's names).
  static Fd connect_path(const std::string& path) {
    Fd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) fail("connect");
    return c;
  }
  static Fd listen(const std::string& n) { return listen_type(n, SOCK_STREAM); }
  static Fd connect(const std::string& n) { return connect_type(n, SOCK_STREAM); }
  static Fd accept(Fd& l) { return Fd(::accept4(l.fd, nullptr, nullptr, SOCK_CLOEXEC)); }
  static Fd listen_msg(const std::string& n) { return listen_type(n, SOCK_SEQPACKET); }
  static Fd connect_msg(const std::string& n) { return connect_type(n, SOCK_SEQPACKET); }
  static Fd accept_msg(Fd& l) { return accept(l); }
  static void write_all(Fd& c, const std::byte* p, std::size_t n) {
    while (n > 0) {
      const ssize_t k = ::write(c.fd, p, n);
      if (k <= 0) fail("write");
      p += k;
      n -= static_cast<std::size_t>(k);
    }
  }
  static void read_exact(Fd& c, std::byte* p, std::size_t n) {
    while (n > 0) {
      const ssize_t k = ::read(c.fd, p, n);
      if (k <= 0) fail("read");
      p += k;
      n -= static_cast<std::size_t>(k);
    }
  }
  static std::size_t read_some(Fd& c, std::byte* p, std::size_t n) {
    const ssize_t k = ::read(c.fd, p, n);
    return k > 0 ? static_cast<std::size_t>(k) : 0;
  }
  static void send(Fd& c, const std::byte* p, std::size_t n) {
    if (::send(c.fd, p, n, 0) != static_cast<ssize_t>(n)) fail("send");
  }
  static std::size_t recv(Fd& c, std::vector<std::byte>& buf, std::size_t max) {
    if (buf.size() < max) buf.resize(max);
    const ssize_t k = ::recv(c.fd, buf.data(), max, 0);
    return k > 0 ? static_cast<std::size_t>(k) : 0;
  }
};

}  // namespace bench
