// SPDX-License-Identifier: MIT
#include <localsock/capabilities.hpp>
#include <localsock/posix/ud_datagram.hpp>
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_seqpacket.hpp>
#include <localsock/posix/ud_stream.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

using localsock::errc;
using localsock::LocalName;
using namespace localsock::posix;

namespace {

localsock::ConstBuffer text(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

std::vector<std::byte> bytes(std::size_t n, unsigned char seed = 1) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(seed + i * 7);
  return v;
}

int open_fd_count() {
  int n = 0;
  for (int fd = 0; fd < 1024; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0) ++n;
  return n;
}

}  // namespace

TEST_CASE("UdSeqpacket: messages of buffer size, 0 bytes and 1 MiB arrive whole") {
  auto [a, b] = UdSeqpacket::pair();
  std::vector<std::byte> buf(100);
  SUBCASE("exactly the buffer size") {
    const auto m = bytes(100);
    a.send(m);
    const auto r = b.recv(buf);
    CHECK(r.size == 100);
    CHECK(buf == m);
  }
  SUBCASE("zero bytes is a message, not the end") {
    a.send({});
    const auto r = b.recv(buf);
    CHECK(r.size == 0);
    // The credentials every seqpacket message carries (SO_PASSCRED, Linux) tell it from
    // the end; without them (the generic flavor, BSD) a zero-length message reads as it.
    CHECK(r.end == !localsock::capabilities().credentials_passing);
    a.close();
    CHECK(b.recv(buf).end);
  }
  SUBCASE("1 MiB") {
    const auto m = bytes(1 << 20, 3);
    std::vector<std::byte> big;
    std::thread t([&] { a.send(m); });
    const auto r = b.recv(big, 4 << 20);
    t.join();
    CHECK(r.size == m.size());
    CHECK(big == m);
  }
}

TEST_CASE("UdSeqpacket: one byte over the buffer reports the needed size and loses nothing") {
  auto [a, b] = UdSeqpacket::pair();
  const auto m = bytes(101, 9);
  a.send(m);
  std::vector<std::byte> small(100);
  std::error_code ec;
  auto r = b.recv(small, ec);
  CHECK(ec == errc::message_truncated);
  CHECK(r.size == 101);
  CHECK(b.peek_size(ec).size == 101);  // still queued
  std::vector<std::byte> right(r.size);
  r = b.recv(right, ec);
  CHECK_FALSE(ec);
  CHECK(right == m);
}

TEST_CASE("UdSeqpacket: the growing receive discards a message over its maximum") {
  auto [a, b] = UdSeqpacket::pair();
  a.send(bytes(5000));
  a.send(bytes(10, 4));
  std::vector<std::byte> out;
  std::error_code ec;
  b.recv(out, 1000, ec);
  CHECK(ec == errc::message_too_large);
  CHECK(out.empty());
  b.recv(out, 1000, ec);  // the connection goes on with the next message
  CHECK_FALSE(ec);
  CHECK(out == bytes(10, 4));
}

TEST_CASE(
    "UdSeqpacket: the growing receive takes each size whole in one call, growing and shrinking") {
  // The receive puts a message into the vector as it stands and the rest into overflow
  // space: every mix of "fits", "longer than the vector", "exactly the maximum", "one
  // over" and "empty" must come out whole, in order, with the next one unharmed.
  auto [a, b] = UdSeqpacket::pair();
  const std::size_t max = 100000;
  const std::size_t sizes[] = {1, 100000, 5, 0, 70000, 70000, 3, 100001, 64, 0, 99999};
  std::thread sender([&, &a = a] {
    unsigned char seed = 1;
    for (std::size_t n : sizes) a.send(bytes(n, seed++));
  });
  std::vector<std::byte> out;
  unsigned char seed = 1;
  for (std::size_t n : sizes) {
    CAPTURE(n);
    std::error_code ec;
    const auto r = b.recv(out, max, ec);
    if (n > max) {
      CHECK(ec == errc::message_too_large);
      CHECK(r.size == n);  // the full length, though the message is gone
      CHECK(out.empty());
    } else {
      REQUIRE_FALSE(ec);
      // A zero-length message reads as the end without SO_PASSCRED (see above).
      CHECK(r.end == (n == 0 && !localsock::capabilities().credentials_passing));
      CHECK(r.size == n);
      CHECK(out == bytes(n, seed));
    }
    ++seed;
  }
  sender.join();
  a.close();
  std::error_code ec;
  CHECK(b.recv(out, max, ec).end);  // the end, told apart from the empty messages
  CHECK_FALSE(ec);
}

TEST_CASE("UdSeqpacketListener: accepts message connections by name") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  auto l = UdSeqpacketListener::bind(name);
  std::thread t([&] {
    UdSeqpacket s = l.accept();
    std::vector<std::byte> m;
    s.recv(m, 1024);
    s.send(m);
  });
  UdSeqpacket c = UdSeqpacket::connect(name);
  c.send(bytes(33));
  std::vector<std::byte> back(64);
  CHECK(c.recv(back).size == 33);
  t.join();
}

TEST_CASE("UdSeqpacketListener: its errors name UdSeqpacketListener, not UdListener") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  auto live = UdSeqpacketListener::bind(name);
  std::string operation;
  try {
    UdSeqpacketListener::bind(name);
  } catch (const localsock::Error& e) {
    operation = e.operation();
  }
  CHECK(operation == "UdSeqpacketListener::bind");
  // A byte-stream listener keeps its own name.
  const LocalName stream_name = LocalName::namespaced(localsock::test::unique_name());
  auto live_stream = UdListener::bind(stream_name);
  try {
    UdListener::bind(stream_name);
  } catch (const localsock::Error& e) {
    operation = e.operation();
  }
  CHECK(operation == "UdListener::bind");
}

TEST_CASE("descriptor passing: a pipe's descriptor crosses a stream and works there") {
  auto [a, b] = UdStream::pair();
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const std::byte tag[1]{std::byte{1}};
  a.write_with_fds(tag, std::span<const int>(&p[1], 1));
  ::close(p[1]);
  std::vector<OwnedFd> fds;
  std::byte got[1];
  const auto r = b.read_with_fds(got, fds, 4);
  REQUIRE(fds.size() == 1);
  CHECK(r.size == 1);
  CHECK_FALSE(r.fds_truncated);
  CHECK((::fcntl(fds[0].get(), F_GETFD) & FD_CLOEXEC) != 0);
  CHECK(::write(fds[0].get(), "hi", 2) == 2);
  fds.clear();
  char buf[2];
  CHECK(::read(p[0], buf, 2) == 2);
  ::close(p[0]);
}

TEST_CASE("descriptor passing: extra descriptors are closed, never leaked, and reported") {
  auto [a, b] = UdSeqpacket::pair();
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const int before = open_fd_count();
  const int send[5] = {p[0], p[1], p[0], p[1], p[0]};
  std::error_code ec;
  a.send_with_fds(bytes(3), send, ec);
  REQUIRE_FALSE(ec);
  std::vector<OwnedFd> fds;
  std::vector<std::byte> buf(16);
  const auto r = b.recv_with_fds(buf, fds, 2, ec);
  CHECK_FALSE(ec);
  CHECK(r.size == 3);
  CHECK(fds.size() == 2);
  CHECK(r.fds_truncated);
  fds.clear();
  CHECK(open_fd_count() == before);
  ::close(p[0]);
  ::close(p[1]);
}

TEST_CASE("UdDatagram: bound and unbound sockets exchange datagrams with the same rule") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdDatagram server = UdDatagram::bind(name);
  UdDatagram client = UdDatagram::unbound();
  client.send_to(bytes(20), name);
  std::vector<std::byte> small(10);
  std::error_code ec;
  LocalName from;
  auto r = server.recv_from(small, from, ec);
  CHECK(ec == errc::message_truncated);
  CHECK(r.size == 20);
  std::vector<std::byte> buf(20);
  r = server.recv_from(buf, from, ec);
  CHECK_FALSE(ec);
  CHECK(buf == bytes(20));
  CHECK(from.empty());  // an unbound sender has no name

  // A bound client can be answered, and connect() sets a default peer.
  const LocalName back_name = LocalName::namespaced(localsock::test::unique_name());
  UdDatagram replier = UdDatagram::bind(back_name);
  replier.connect(name);
  replier.send(bytes(5, 2), ec);
  CHECK_FALSE(ec);
  r = server.recv_from(buf, from, ec);
  CHECK(r.size == 5);
  CHECK(from == back_name);
}

#include <sys/wait.h>

TEST_CASE("peer credentials: a forked child's pid and uid are what the server sees") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  auto l = UdListener::bind(name);
  const pid_t child = ::fork();
  if (child == 0) {
    std::error_code ec;
    UdStream c = UdStream::connect(name, ec);
    std::byte b[1];
    if (!ec) c.read_some(b, ec);  // wait for the parent to finish looking
    ::_exit(ec ? 1 : 0);
  }
  UdStream s = l.accept();
  const auto creds = s.peer_credentials();
  // getpeereid has no pid: macOS adds it (LOCAL_PEERPID), BSD and the generic flavor not.
  if (localsock::capabilities().peer_pid) CHECK(creds.pid == child);
  CHECK(creds.uid == ::geteuid());
  s.close();
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("descriptor passing: another process writes through a pipe descriptor it received") {
  auto [parent_end, child_end] = UdSeqpacket::pair();
  const pid_t child = ::fork();
  if (child == 0) {
    parent_end.close();
    std::vector<OwnedFd> fds;
    std::vector<std::byte> buf(8);
    std::error_code ec;
    child_end.recv_with_fds(buf, fds, 1, ec);
    const bool ok = !ec && fds.size() == 1 && ::write(fds[0].get(), "from child", 10) == 10;
    ::_exit(ok ? 0 : 1);
  }
  child_end.close();
  int p[2];
  REQUIRE(::pipe(p) == 0);
  std::error_code ec;
  parent_end.send_with_fds(bytes(1), std::span<const int>(&p[1], 1), ec);
  REQUIRE_FALSE(ec);
  ::close(p[1]);
  char buf[16]{};
  CHECK(::read(p[0], buf, sizeof buf) == 10);
  CHECK(std::string(buf, 10) == "from child");
  ::close(p[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WEXITSTATUS(status) == 0);
}

#include <filesystem>

TEST_CASE("UdDatagram: close() removes the socket file bind() created") {
  const auto path = std::filesystem::temp_directory_path() / localsock::test::unique_name("dg");
  UdDatagram d = UdDatagram::bind(LocalName::path(path.string()));
  CHECK(std::filesystem::exists(path));
  d.close();
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK_FALSE(d.is_open());
}

// Where credentials do not travel as ancillary data (SCM_CREDENTIALS is Linux's), asking
// for them is refused with a clear error.
bool credentials_refused_here() {
  if (localsock::capabilities().credentials_passing) return false;
  auto [a, b] = UdStream::pair();
  std::error_code ec;
  b.set_pass_credentials(true, ec);
  CHECK(ec == errc::not_supported);
  a.write_with_credentials(text("x"), ec);
  CHECK(ec == errc::not_supported);
  return true;
}

TEST_CASE("credentials as ancillary data: sent with bytes and messages, checked by the kernel") {
  if (credentials_refused_here()) return;
  auto [a, b] = UdStream::pair();
  std::byte buf[8];
  std::optional<PeerCredentials> who;
  std::error_code ec;
  // Without SO_PASSCRED on the receiver, nothing is reported.
  a.write_some(text("x"));
  b.read_with_credentials(buf, who, ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(who.has_value());
  b.set_pass_credentials(true);
  CHECK(a.write_with_credentials(text("hi"), ec) == 2);
  CHECK_FALSE(ec);
  auto r = b.read_with_credentials(buf, who, ec);
  CHECK(r.size == 2);
  REQUIRE(who.has_value());
  CHECK(who->pid == ::getpid());
  CHECK(who->uid == ::geteuid());
  CHECK(who->gid == ::getegid());
  a.write_with_credentials({}, ec);
  CHECK(ec == std::errc::invalid_argument);

  auto [p, q] = UdSeqpacket::pair();
  p.send_with_credentials(text("msg"), ec);
  CHECK_FALSE(ec);
  r = q.recv_with_credentials(buf, who, ec);
  CHECK(r.size == 3);
  REQUIRE(who.has_value());
  CHECK(who->pid == ::getpid());
}

TEST_CASE("credentials as ancillary data: a forked child's pid arrives with its message") {
  if (credentials_refused_here()) return;
  auto [p, q] = UdSeqpacket::pair();
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::error_code ec;
    p.send_with_credentials(text("from child"), ec);
    ::_exit(ec ? 1 : 0);
  }
  std::byte buf[32];
  std::optional<PeerCredentials> who;
  std::error_code ec;
  const auto r = q.recv_with_credentials(buf, who, ec);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(r.size == 10);
  REQUIRE(who.has_value());
  CHECK(who->pid == child);
}

TEST_CASE(
    "UdSeqpacket: adopted descriptors and credentials turned off still tell a zero-length message "
    "from the end") {
  // The credentials every message carries (SO_PASSCRED) are what tells them apart.
  if (credentials_refused_here()) return;
  // End detection must not depend on how the socket came to be: descriptors handed over
  // by a service manager or over SCM_RIGHTS were never prepared by the library, and a
  // user may turn credential passing off.
  std::vector<std::byte> buf(16);
  std::vector<std::byte> grown;
  std::error_code ec;
  auto check_zero_then_end = [&](UdSeqpacket& a, UdSeqpacket& b) {
    a.send({});
    a.send({});
    a.send({});
    auto r = b.peek_size(ec);
    REQUIRE_FALSE(ec);
    CHECK_FALSE(r.end);
    r = b.recv(buf, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.size == 0);
    CHECK_FALSE(r.end);
    r = b.recv(grown, 1000, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.size == 0);
    CHECK_FALSE(r.end);
    std::optional<PeerCredentials> who;
    r = b.recv_with_credentials(buf, who, ec);
    REQUIRE_FALSE(ec);
    CHECK_FALSE(r.end);
    a.close();
    CHECK(b.recv(buf, ec).end);
    CHECK_FALSE(ec);
    CHECK(b.recv(grown, 1000, ec).end);
    CHECK(b.peek_size(ec).end);
  };
  SUBCASE("a socketpair made outside the library, adopted") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds) == 0);
    UdSeqpacket a(fds[0]), b(fds[1]);
    check_zero_then_end(a, b);
  }
  SUBCASE("a descriptor received over SCM_RIGHTS, adopted") {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET, 0, fds) == 0);
    UdSeqpacket a(fds[0]);
    auto [s, r] = UdStream::pair();
    const int raw[] = {fds[1]};
    s.write_with_fds(text("f"), raw);
    ::close(fds[1]);
    std::vector<OwnedFd> got;
    std::byte one[1];
    r.read_with_fds(one, got, 1);
    REQUIRE(got.size() == 1);
    UdSeqpacket b(got[0].release());
    check_zero_then_end(a, b);
  }
  SUBCASE("set_pass_credentials(false) on the receiver") {
    auto [a, b] = UdSeqpacket::pair();
    b.set_pass_credentials(false);
    check_zero_then_end(a, b);
  }
}

TEST_CASE("UdSeqpacket: with credentials turned off, none are reported; on again, they are") {
  if (credentials_refused_here()) return;
  auto [a, b] = UdSeqpacket::pair();
  std::byte buf[8];
  std::optional<PeerCredentials> who;
  std::error_code ec;
  b.set_pass_credentials(false);
  a.send_with_credentials(text("x"), ec);
  REQUIRE_FALSE(ec);
  CHECK(b.recv_with_credentials(buf, who, ec).size == 1);
  CHECK_FALSE(who.has_value());
  b.set_pass_credentials(true);
  a.send(text("y"));
  CHECK(b.recv_with_credentials(buf, who, ec).size == 1);
  REQUIRE(who.has_value());
  CHECK(who->pid == ::getpid());
}

TEST_CASE("UdSeqpacket: the growing receive takes a limit beyond memory as a limit only") {
  // A limit is not a reservation: SIZE_MAX, or more than the machine has, must still
  // receive a 5-byte message, a large one, an empty one and the end.
  auto [a, b] = UdSeqpacket::pair();
  std::vector<std::byte> out;
  std::error_code ec;
  for (const std::size_t limit : {SIZE_MAX, SIZE_MAX - 1, std::size_t{1} << 50}) {
    CAPTURE(limit);
    a.send(bytes(5, 2));
    auto r = b.recv(out, limit, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.size == 5);
    CHECK(out == bytes(5, 2));
    // Without SO_PASSCRED a zero-length message reads as the end (see above).
    if (!localsock::capabilities().credentials_passing) continue;
    a.send({});
    r = b.recv(out, limit, ec);
    REQUIRE_FALSE(ec);
    CHECK(r.size == 0);
    CHECK_FALSE(r.end);
  }
  const auto big = bytes(1 << 20, 5);
  std::thread t([&, &a = a] { a.send(big); });
  const auto r = b.recv(out, SIZE_MAX, ec);
  t.join();
  REQUIRE_FALSE(ec);
  CHECK(r.size == big.size());
  CHECK(out == big);
  a.close();
  CHECK(b.recv(out, SIZE_MAX, ec).end);
  CHECK_FALSE(ec);
}

TEST_CASE(
    "message sockets: a message over the system's limit is message_too_large with the limit in its "
    "text") {
  // Linux carries at most about 4 MiB in one seqpacket message or datagram whatever the
  // send buffer, and less where the send buffer cannot grow (net.core.wmem_max for an
  // unprivileged process): either way the sender learns the message is too large, and
  // how large one may be.
  const auto huge = bytes(8 << 20, 6);
  std::error_code ec;
  SUBCASE("seqpacket") {
    auto [a, b] = UdSeqpacket::pair();
    a.send(huge, ec);
    CHECK(ec == errc::message_too_large);
    try {
      a.send(huge);
      FAIL("no exception");
    } catch (const localsock::Error& e) {
      CHECK(e.code() == errc::message_too_large);
      CHECK(std::string(e.what()).find("limit") != std::string::npos);
    }
    a.send(text("after"), ec);  // the connection goes on
    CHECK_FALSE(ec);
    std::byte buf[8];
    CHECK(b.recv(buf).size == 5);
  }
  SUBCASE("datagram") {
    const LocalName name = LocalName::namespaced(localsock::test::unique_name());
    auto server = UdDatagram::bind(name);
    auto client = UdDatagram::unbound();
    client.send_to(huge, name, ec);
    CHECK(ec == errc::message_too_large);
    try {
      client.send_to(huge, name);
      FAIL("no exception");
    } catch (const localsock::Error& e) {
      CHECK(e.code() == errc::message_too_large);
      CHECK(std::string(e.what()).find("limit") != std::string::npos);
    }
  }
}

TEST_CASE(
    "message sockets: max_message_size() is exact — a message of that size goes, one byte more "
    "does not") {
  std::error_code ec;
  SUBCASE("seqpacket") {
    auto [a, b] = UdSeqpacket::pair();
    const std::size_t limit = a.max_message_size();
    MESSAGE("seqpacket limit: ", limit);
    REQUIRE(limit >= 64 * 1024);
    const auto m = bytes(limit, 8);
    std::vector<std::byte> got;
    std::thread t([&, &b = b] { b.recv(got, SIZE_MAX, ec); });
    a.send(m);
    t.join();
    CHECK_FALSE(ec);
    CHECK(got == m);
    a.send(bytes(limit + 1), ec);
    CHECK(ec == errc::message_too_large);
  }
  SUBCASE("datagram") {
    auto [a, b] = UdDatagram::pair(ec);
    REQUIRE_FALSE(ec);
    const std::size_t limit = a.max_message_size();
    MESSAGE("datagram limit: ", limit);
    REQUIRE(limit >= 64 * 1024);
    a.send(bytes(limit, 9), ec);
    CHECK_FALSE(ec);
    std::vector<std::byte> got(limit);
    CHECK(b.recv(got, ec).size == limit);
    CHECK(got == bytes(limit, 9));
    a.send(bytes(limit + 1), ec);
    CHECK(ec == errc::message_too_large);
  }
}

TEST_CASE("descriptor passing: max_fds limits one receive, whatever the vector already holds") {
  int p[2];
  REQUIRE(::pipe(p) == 0);
  const int two[2] = {p[0], p[1]};
  std::error_code ec;
  std::vector<OwnedFd> fds;
  std::vector<std::byte> buf(16);
  SUBCASE("seqpacket") {
    auto [a, b] = UdSeqpacket::pair();
    a.send_with_fds(bytes(1), std::span<const int>(two, 1), ec);
    a.send_with_fds(bytes(1), two, ec);
    REQUIRE_FALSE(ec);
    auto r = b.recv_with_fds(buf, fds, 1, ec);
    CHECK_FALSE(r.fds_truncated);
    CHECK(fds.size() == 1);
    r = b.recv_with_fds(buf, fds, 2, ec);  // appends two more
    CHECK_FALSE(ec);
    CHECK_FALSE(r.fds_truncated);
    CHECK(fds.size() == 3);
  }
  SUBCASE("stream") {
    auto [a, b] = UdStream::pair();
    a.write_with_fds(bytes(1), std::span<const int>(two, 1), ec);
    std::byte one[1];
    auto r = b.read_with_fds(one, fds, 1, ec);
    CHECK_FALSE(r.fds_truncated);
    a.write_with_fds(bytes(1), two, ec);
    r = b.read_with_fds(one, fds, 2, ec);
    CHECK_FALSE(ec);
    CHECK_FALSE(r.fds_truncated);
    CHECK(fds.size() == 3);
  }
  for (const auto& fd : fds) CHECK(::fcntl(fd.get(), F_GETFD) >= 0);
  fds.clear();
  ::close(p[0]);
  ::close(p[1]);
}
