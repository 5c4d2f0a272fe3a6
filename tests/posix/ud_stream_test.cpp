// SPDX-License-Identifier: MIT
// UdStream: connections, their options and their failures.
#include <localsock/local_listener.hpp>
#include <localsock/local_socket.hpp>
#include <localsock/posix/facade.hpp>
#include <localsock/posix/framed_stream.hpp>
#include <localsock/posix/ud_datagram.hpp>
#include <localsock/posix/ud_seqpacket.hpp>
#include <localsock/posix/ud_stream.hpp>

#include <cstdint>
#include <span>
#include <string>

#include "ud_test_support.hpp"

TEST_CASE("UdStream: a 107-byte path works end to end") {
  TempDir dir;
  std::string path = (dir.path / "").string();
  path += std::string(107 - path.size(), 'x');
  REQUIRE(path.size() == 107);
  const LocalName name = LocalName::path(path);
  UdListener l = UdListener::bind(name);
  std::thread t([&] {
    UdStream s = l.accept();
    std::byte b[1]{std::byte{42}};
    s.write_some(b);
  });
  UdStream c = UdStream::connect(name);
  std::byte b[1]{};
  CHECK(c.read_some(b) == 1);
  CHECK(b[0] == std::byte{42});
  t.join();
}

TEST_CASE("UdStream: shutdown(write) gives the peer end of stream while reading goes on") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener l = UdListener::bind(name);
  std::thread t([&] {
    UdStream s = l.accept();
    std::byte b[8];
    std::error_code ec;
    CHECK(s.read_some(b, ec) == 0);  // end of stream after the client's shutdown
    CHECK_FALSE(ec);
    std::byte reply[1]{std::byte{7}};
    s.write_some(reply);
  });
  UdStream c = UdStream::connect(name);
  c.shutdown(localsock::Shutdown::write);
  std::byte b[1]{};
  CHECK(c.read_some(b) == 1);
  CHECK(b[0] == std::byte{7});
  t.join();
}

TEST_CASE("UdStream: release gives up the descriptor") {
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  UdStream a(sv[0]);
  CHECK(a.release() == sv[0]);
  CHECK_FALSE(a.is_open());
  CHECK(::fcntl(sv[0], F_GETFD) >= 0);  // still open: the stream did not close it
  ::close(sv[0]);
  ::close(sv[1]);
}

TEST_CASE("errc: errno values keep their category and match their condition") {
  const std::error_code refused(ECONNREFUSED, std::system_category());
  CHECK(refused == errc::no_listener);
  CHECK(std::error_code(ENOENT, std::system_category()) == errc::no_listener);
  CHECK(std::error_code(EPIPE, std::system_category()) == errc::peer_closed);
  CHECK(std::error_code(ECONNRESET, std::system_category()) == errc::peer_closed);
  CHECK(std::error_code(EADDRINUSE, std::system_category()) == errc::name_in_use);
  CHECK(std::error_code(EPIPE, std::system_category()) != errc::no_listener);
  const localsock::Error e(refused, "LocalSocket::connect", "x");
  CHECK(std::string(e.what()) ==
        "LocalSocket::connect 'x': no listener at this name (Connection refused)");
}

TEST_CASE("UdStream: peer credentials of both ends are this process's") {
  auto [a, b] = UdStream::pair();
  const auto c = a.peer_credentials();
  // getpeereid has no pid (BSD, the generic flavor); Linux and macOS tell it.
  if (localsock::capabilities().peer_pid) CHECK(c.pid == ::getpid());
  CHECK(c.uid == ::geteuid());
  CHECK(c.gid == ::getegid());
}

TEST_CASE("UdStream: local and peer addresses, nonblocking reads and pending errors") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener l = UdListener::bind(name);
  UdStream c = UdStream::connect(name, std::chrono::seconds(5));
  UdStream s = l.accept();  // kept open: a closed peer would read as end of stream
  CHECK(s.local_address() == name);
  CHECK(c.peer_address() == name);
  c.set_nonblocking(true);
  std::byte b[4];
  std::error_code ec;
  c.read_some(b, ec);
  CHECK(ec == errc::would_block);
  CHECK_FALSE(c.take_error());
}

TEST_CASE("UdStream: vectored writes and reads keep the order of the pieces") {
  auto [a, b] = UdStream::pair();
  const char x[] = "abc", y[] = "defg";
  const localsock::ConstBuffer out[2] = {std::as_bytes(std::span(x, 3)),
                                         std::as_bytes(std::span(y, 4))};
  std::error_code ec;
  CHECK(a.write_vectored(out, ec) == 7);
  char p[2], q[5];
  const localsock::MutableBuffer in[2] = {std::as_writable_bytes(std::span(p)),
                                          std::as_writable_bytes(std::span(q))};
  CHECK(b.read_vectored(in, ec) == 7);
  CHECK(std::string(p, 2) + std::string(q, 5) == "abcdefg");
}

TEST_CASE("UdStream::connect: a full backlog is waited for within the timeout, then timed_out") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListenerOptions opts;
  opts.backlog = 1;
  UdListener l = UdListener::bind(name, opts);  // never accepts
  std::vector<UdStream> queued;
  std::error_code ec;
  // Fill the backlog with attempts that do not wait.
  for (int i = 0; i < 16; ++i) {
    UdStream s = UdStream::connect(name, std::chrono::milliseconds(0), ec);
    if (ec) break;
    queued.push_back(std::move(s));
  }
  REQUIRE(ec == errc::timed_out);
  REQUIRE_FALSE(queued.empty());
  const auto start = std::chrono::steady_clock::now();
  UdStream::connect(name, std::chrono::milliseconds(150), ec);
  const auto waited = std::chrono::steady_clock::now() - start;
  CHECK(ec == errc::timed_out);
  CHECK(waited >= std::chrono::milliseconds(140));
  CHECK(waited < std::chrono::seconds(10));
  // Once the listener takes one connection, a waiting connect gets in.
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    queued.push_back(l.accept());
  });
  UdStream late = UdStream::connect(name, std::chrono::seconds(5), ec);
  t.join();
  CHECK_FALSE(ec);
  CHECK(late.is_open());
}

TEST_CASE("EINTR: signals during accept, connect, read and write never surface as errors") {
  struct sigaction sa {};
  sa.sa_handler = count_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART
  struct sigaction old {};
  REQUIRE(::sigaction(SIGUSR1, &sa, &old) == 0);
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener listener = UdListener::bind(name);
  std::atomic<bool> stop{false};
  std::error_code accept_ec, read_ec;
  std::size_t got = 0;
  std::vector<std::byte> data(4 * 1024 * 1024, std::byte{7});
  std::thread server([&] {
    UdStream s = listener.accept(accept_ec);
    std::vector<std::byte> buf(64 * 1024);
    while (!read_ec) {
      const std::size_t n = s.read_some(buf, read_ec);
      if (n == 0) break;
      got += n;
    }
    stop = true;  // while this thread still exists, so pthread_kill stays valid
  });
  std::thread interrupter([&] { pester(server.native_handle(), stop); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // accept is interrupted
  UdStream c = UdStream::connect(name);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // so is the read
  localsock::ConstBuffer rest = data;
  while (!rest.empty()) rest = rest.subspan(c.write_some(rest));
  c.close();
  interrupter.join();
  server.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  CHECK(signals_seen > 10);
  CHECK_FALSE(accept_ec);
  CHECK_FALSE(read_ec);
  CHECK(got == data.size());
}

TEST_CASE("faults: descriptor exhaustion gives clear errors, and recovery once they free up") {
  rlimit old{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &old) == 0);
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener listener = UdListener::bind(name);
  const auto in_use = static_cast<rlim_t>(localsock::test::open_handles());
  rlimit tight = old;
  tight.rlim_cur = in_use + 8;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &tight) == 0);
  std::vector<UdStream> held;
  std::error_code ec;
  for (int i = 0; i < 64 && !ec; ++i) {
    UdStream c = UdStream::connect(name, std::chrono::seconds(1), ec);
    if (ec) break;
    held.push_back(std::move(c));
    UdStream s = listener.accept_for(std::chrono::seconds(1), ec);
    if (!ec) held.push_back(std::move(s));
  }
  CHECK(ec == std::errc::too_many_files_open);
  CHECK(ec == localsock::errc::out_of_resources);
  const std::string text = localsock::Error(ec, "UdStream::connect", name.str()).what();
  CAPTURE(text);
  CHECK(text.find("out of descriptors or handles") != std::string::npos);
  // Descriptors free up: the same calls work again.
  held.clear();
  UdStream again = UdStream::connect(name, std::chrono::seconds(1), ec);
  CHECK_FALSE(ec);
  ::setrlimit(RLIMIT_NOFILE, &old);
}

TEST_CASE(
    "from_native: a socket on a relative path without '/' keeps its path name, and name() "
    "reconnects") {
  TempDir dir;
  const auto saved = std::filesystem::current_path();
  std::filesystem::current_path(dir.path);
  {
    const LocalName name = LocalName::path("x.sock");
    localsock::LocalListener l = localsock::LocalListener::bind(name);
    localsock::LocalSocket c = localsock::LocalSocket::connect(name);
    localsock::LocalSocket a = l.accept();
    localsock::LocalSocket c2 =
        localsock::posix::from_native(localsock::posix::take_native(std::move(c)));
    CHECK(c2.name().kind() == localsock::NameKind::path);
    CHECK(c2.name() == name);
    // The accepted end, too: its name is the listener's.
    localsock::LocalSocket a2 =
        localsock::posix::from_native(localsock::posix::take_native(std::move(a)));
    CHECK(a2.name() == name);
    std::error_code ec;
    localsock::LocalSocket again = localsock::LocalSocket::connect(c2.name(), ec);
    CHECK_FALSE(ec);
  }
  std::filesystem::current_path(saved);
}

// EACCES at connect comes from the socket file (no write permission) or from a directory
// on its path (no search permission): the text must be true for both, and blame neither
// the listener's permissions alone.
TEST_CASE(
    "connect (Unix): access refused by a directory on the path or by the socket file is "
    "described as either") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: a client of another user needs root to switch users");
    return;
  }
  TempDir dir;
  ::chmod(dir.path.c_str(), 0755);
  const fs::path closed_dir = dir.path / "closed";
  fs::create_directory(closed_dir);
  ::chmod(closed_dir.c_str(), 0700);
  // The socket file is open to everybody; its directory keeps other users out.
  const LocalName behind_dir = LocalName::path((closed_dir / "s").string());
  localsock::LocalListener open_file =
      localsock::LocalListener::bind(localsock::ListenerOptions(behind_dir).permissions(0777));
  // The directory is open; the socket file keeps other users out.
  const LocalName closed_file_name = dir.name("f");
  localsock::LocalListener closed_file = localsock::LocalListener::bind(
      localsock::ListenerOptions(closed_file_name).permissions(0600));
  for (const LocalName& name : {behind_dir, closed_file_name}) {
    CAPTURE(name.str());
    const int result = as_other_user([&] {
      std::error_code ec;
      localsock::LocalSocket::connect(localsock::ConnectOptions(name), ec);
      const std::string text = localsock::describe(ec);
      if (ec != errc::access_denied) return 1;
      if (text.find("its file or a directory on its path") == std::string::npos) return 2;
      if (text.find("listener's permissions") != std::string::npos) return 3;
      return 0;
    });
    CHECK(result == 0);
  }
}

namespace {

// Where the system has it, the peer's process id; else nothing to compare.
bool same_pid_or_untold(const localsock::PeerInfo& p, pid_t pid) {
  return !localsock::capabilities().peer_pid || p.pid == pid;
}

}  // namespace

// SO_PEERCRED and getpeereid report the credentials the peer had when the connection
// was made (connect or accept), not who the process is now: a peer that changes its uid
// afterwards still shows the uid of the connect, and is_current_user() compares that.
TEST_CASE(
    "peer_info (Unix): the peer's credentials are those it had when the connection was made") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: a peer that changes its uid after connecting needs root");
    return;
  }
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  localsock::LocalListener listener = localsock::LocalListener::bind(name);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::error_code ec;
    localsock::LocalSocket s = localsock::LocalSocket::connect(localsock::ConnectOptions(name), ec);
    if (ec) ::_exit(2);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);  // root: all three ids
    // Tells the uid it runs as now, then waits until the parent has asked.
    const std::uint32_t now = ::getuid();
    s.write_all(std::as_bytes(std::span(&now, 1)), ec);
    char done = 0;
    s.read_some(std::as_writable_bytes(std::span(&done, 1)), ec);
    ::_exit(ec ? 4 : 0);
  }
  std::error_code ec;
  localsock::LocalSocket server = listener.accept_for(std::chrono::seconds(10), ec);
  REQUIRE_FALSE(ec);
  std::uint32_t peer_now = 0;
  server.read_exact(std::as_writable_bytes(std::span(&peer_now, 1)), ec);
  REQUIRE_FALSE(ec);
  CHECK(peer_now == 65534);  // the peer runs as another user now
  const localsock::PeerInfo peer = server.peer_info();
  CHECK(peer.uid == ::geteuid());  // the uid it had when it connected
  CHECK(peer.gid == ::getegid());
  CHECK(same_pid_or_untold(peer, child));
  CHECK(peer.is_current_user());
  const char done = 1;
  server.write_all(std::as_bytes(std::span(&done, 1)));
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("UdStream: sockets are named by the LocalName they came through, its text shared") {
  // Connected and accepted sockets, and a descriptor adopted with a LocalName, show the
  // name's text; a descriptor adopted with a text of its own keeps that text.
  const auto name =
      localsock::LocalName::namespaced(localsock::test::unique_name("uname-longer-than-fifteen"));
  auto listener = UdListener::bind(name);
  UdStream client = UdStream::connect(name);
  UdStream server = listener.accept();
  CHECK(client.name() == name.str());
  CHECK(server.name() == name.str());
  auto [a, b] = UdStream::pair();
  UdStream adopted(a.release(), name);
  CHECK(adopted.name() == name.str());
  UdStream texted(b.release(), std::string("a text of its own"));
  CHECK(texted.name() == "a text of its own");
  UdStream moved(std::move(texted));
  CHECK(moved.name() == "a text of its own");
  CHECK(texted.name().empty());  // NOLINT(bugprone-use-after-move): moved-from is unnamed
  // `{}` for the name still means no name (the LocalName overloads are templates, which
  // a braced list cannot choose), for every socket type.
  const UdStream s1(-1, {});
  const localsock::posix::UdSeqpacket s2(-1, {});
  const localsock::posix::UdDatagram s3(-1, {});
  const localsock::posix::FramedStream s4(-1, {});
  const auto s5 = localsock::posix::FramedStream::accepted(-1, {});
  CHECK(s1.name().empty());
  CHECK(s2.name().empty());
  CHECK(s3.name().empty());
  CHECK(s4.stream().name().empty());
  CHECK(s5.stream().name().empty());
}
