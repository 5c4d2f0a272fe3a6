// SPDX-License-Identifier: MIT
// UdListener and its socket files: creation, removal, stale files, modes, reclaiming.
#include <localsock/local_listener.hpp>
#include <localsock/local_socket.hpp>
#include <localsock/posix/framed_stream.hpp>
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_seqpacket.hpp>

#include <thread>

#include "ud_test_support.hpp"

TEST_CASE("UdListener: a path listener creates its socket file and removes it when closed") {
  TempDir dir;
  const LocalName name = dir.name("s");
  UdListener l = UdListener::bind(name);
  CHECK(is_socket(name.str()));
  CHECK(is_cloexec(l.native_handle()));
  l.close();
  CHECK_FALSE(fs::exists(name.str()));
}

TEST_CASE("UdListener: never removes a file that replaced its socket") {
  TempDir dir;
  const LocalName name = dir.name("s");
  {
    UdListener l = UdListener::bind(name);
    fs::remove(name.str());
    std::ofstream(name.str()) << "someone else's";
  }
  REQUIRE(fs::exists(name.str()));
  CHECK(fs::file_size(name.str()) == 14);
}

TEST_CASE("UdListener: never removes another listener's socket at the same path") {
  TempDir dir;
  const LocalName name = dir.name("s");
  UdListener first = UdListener::bind(name);
  fs::remove(name.str());  // someone removed it; a second listener takes the path
  UdListener second = UdListener::bind(name);
  first.close();
  CHECK(is_socket(name.str()));
  UdStream c = UdStream::connect(name);  // the second listener is reachable
  CHECK(c.is_open());
}

TEST_CASE("UdListener: a stale socket file is reported, and reclaimed only when asked") {
  TempDir dir;
  const LocalName name = dir.name("s");
  make_stale_socket(name.str());
  std::error_code ec;
  UdListener::bind(name, {}, ec);
  CHECK(ec == errc::stale_name);
  CHECK(is_socket(name.str()));  // left alone
  UdListenerOptions opts;
  opts.reclaim_stale = true;
  UdListener l = UdListener::bind(name, opts, ec);
  REQUIRE_FALSE(ec);
  std::thread t([&] { l.accept(); });
  UdStream c = UdStream::connect(name);
  t.join();
  CHECK(c.is_open());
}

TEST_CASE("UdListener: a path that is not a socket is never removed") {
  TempDir dir;
  const LocalName name = dir.name("f");
  std::ofstream(name.str()) << "data";
  UdListenerOptions opts;
  opts.reclaim_stale = true;
  std::error_code ec;
  UdListener::bind(name, opts, ec);
  CHECK(ec == errc::not_a_socket);
  CHECK(fs::file_size(name.str()) == 4);
}

TEST_CASE("UdListener: a live listener's socket is never reclaimed") {
  TempDir dir;
  const LocalName name = dir.name("s");
  UdListener live = UdListener::bind(name);
  UdListenerOptions opts;
  opts.reclaim_stale = true;
  std::error_code ec;
  UdListener::bind(name, opts, ec);
  CHECK(ec == errc::name_in_use);
  CHECK(is_socket(name.str()));
  std::thread t([&] { live.accept(); });
  UdStream c = UdStream::connect(name);
  t.join();
}

TEST_CASE(
    "UdListener: an abstract name is refused to listeners of the other socket type; its clients "
    "are told mode_mismatch") {
  // Linux keeps one abstract namespace per socket type: without more, a byte or framed
  // (SOCK_STREAM) listener could bind the name of a live seqpacket listener (and the
  // reverse), and clients would reach whichever server their transport picks.
  if (!localsock::capabilities().abstract_names) {
    MESSAGE("no abstract names here: a socket file is one name for every socket type");
    return;
  }
  using localsock::posix::BasicUdListener;
  using localsock::posix::FramedStream;
  using localsock::posix::UdSeqpacket;
  using localsock::posix::UdSeqpacketListener;
  using localsock::posix::UdStream;
  const LocalName name = LocalName::namespaced(localsock::test::unique_name("lab"));
  const localsock::Timeout wait(2000);
  std::error_code ec;
  SUBCASE("a seqpacket listener holds the name") {
    UdSeqpacketListener live = UdSeqpacketListener::bind(name);
    UdListener::bind(name, {}, ec);
    CHECK(ec == errc::name_in_use);
    BasicUdListener<FramedStream>::bind(name, {}, ec);
    CHECK(ec == errc::name_in_use);
    UdStream::connect(name, wait, ec);
    CHECK(ec == errc::mode_mismatch);
    FramedStream::connect(name, wait, ec);
    CHECK(ec == errc::mode_mismatch);
    // The live listener is untouched.
    UdSeqpacket c = UdSeqpacket::connect(name, wait, ec);
    REQUIRE_FALSE(ec);
    UdSeqpacket s = live.accept_for(wait);
    CHECK(s.is_open());
    // Gone, it leaves the name free for every type.
    live.close();
    UdListener next = UdListener::bind(name, {}, ec);
    CHECK_FALSE(ec);
  }
  SUBCASE("a byte listener holds the name") {
    UdListener live = UdListener::bind(name);
    UdSeqpacketListener::bind(name, {}, ec);
    CHECK(ec == errc::name_in_use);
    UdSeqpacket::connect(name, wait, ec);
    CHECK(ec == errc::mode_mismatch);
    UdStream c = UdStream::connect(name, wait, ec);
    REQUIRE_FALSE(ec);
    UdStream s = live.accept_for(wait);
    CHECK(s.is_open());
    live.close();
    UdSeqpacketListener next = UdSeqpacketListener::bind(name, {}, ec);
    CHECK_FALSE(ec);
  }
  SUBCASE("nobody holds the name") {
    UdStream::connect(name, wait, ec);
    CHECK(ec == errc::no_listener);
    UdSeqpacket::connect(name, wait, ec);
    CHECK(ec == errc::no_listener);
  }
}

TEST_CASE("UdListener: an abstract name leaves nothing in the filesystem") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener l = UdListener::bind(name);
  // Without an abstract namespace (macOS, BSD, the generic flavor) the name is a socket
  // file in this user's private runtime directory, mode 0700.
  const bool abstract = localsock::capabilities().abstract_names;
  CHECK((name.native().front() == '@') == abstract);
  if (!abstract) {
    struct stat st {};
    const std::string dir = name.native().substr(0, name.native().rfind('/'));
    REQUIRE(::lstat(dir.c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK((st.st_mode & 0777) == 0700);
    CHECK(st.st_uid == ::geteuid());
    CHECK(is_socket(name.native()));
  }
  std::thread t([&] {
    UdStream s = l.accept();
    CHECK(is_cloexec(s.native_handle()));
  });
  UdStream c = UdStream::connect(name);
  t.join();
  CHECK(is_cloexec(c.native_handle()));
}

TEST_CASE("UdListener: a path of the longest length binds with a mode too") {
  // sun_path holds 107 bytes and a NUL. With a mode, the socket is bound in a private
  // directory next to the path first: a path that fits must not fail because that
  // detour is longer than the path itself.
  TempDir dir;
  const std::size_t max_path = sizeof(sockaddr_un{}.sun_path) - 1;
  const std::string base = dir.path.string() + "/";
  REQUIRE(base.size() + 20 < max_path);
  const fs::path sub = base + std::string(max_path - base.size() - 2, 'd');
  fs::create_directory(sub);
  const std::string path = sub.string() + "/s";
  REQUIRE(path.size() == max_path);
  std::error_code ec;
  UdListener plain = UdListener::bind(LocalName::path(path), {}, ec);
  REQUIRE_FALSE(ec);  // the path itself fits
  plain.close();
  REQUIRE_FALSE(fs::exists(path));
  UdListenerOptions opts;
  opts.permissions = 0600;
  UdListener l = UdListener::bind(LocalName::path(path), opts, ec);
  REQUIRE_FALSE(ec);
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  int entries = 0;  // the private directory is gone
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(sub)) ++entries;
  CHECK(entries == 1);
  std::thread t([&] { l.accept(); });
  UdStream c = UdStream::connect(LocalName::path(path));
  t.join();
  l.close();
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("UdListener: a socket file is created with exactly the requested mode") {
  TempDir dir;
  const LocalName name = dir.name("s");
  UdListenerOptions opts;
  opts.permissions = 0600;
  UdListener l = UdListener::bind(name, opts);
  struct stat st {};
  REQUIRE(::lstat(name.str().c_str(), &st) == 0);
  CHECK(S_ISSOCK(st.st_mode));
  CHECK((st.st_mode & 07777) == 0600);
  // The private directory used for the bind is gone.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path)) ++entries;
  CHECK(entries == 1);
  std::thread t([&] { l.accept(); });
  UdStream c = UdStream::connect(name);
  t.join();
  l.close();
  CHECK_FALSE(fs::exists(name.str()));
}

TEST_CASE("UdListener: a mode bind refuses a live name and reclaims a stale one on request") {
  TempDir dir;
  const LocalName name = dir.name("s");
  UdListenerOptions opts;
  opts.permissions = 0660;
  {
    UdListener live = UdListener::bind(name);
    std::error_code ec;
    UdListener::bind(name, opts, ec);
    CHECK(ec == errc::name_in_use);
  }
  make_stale_socket(name.str());
  opts.reclaim_stale = true;
  UdListener l = UdListener::bind(name, opts);
  struct stat st {};
  REQUIRE(::lstat(name.str().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0660);
}

TEST_CASE("UdListener: a server between bind and listen is never reclaimed as stale") {
  // Connecting to it is refused, as to a stale file; it is alive all the same.
  TempDir dir;
  const LocalName name = dir.name("s");
  const int other = bound_not_listening(name.str());
  const auto before = stat_of(name.str());
  UdListenerOptions opts;
  opts.reclaim_stale = true;
  SUBCASE("plain bind") {}
  SUBCASE("bind with a mode") { opts.permissions = 0600; }
  std::error_code ec;
  UdListener l = UdListener::bind(name, opts, ec);
  CHECK(ec == errc::name_in_use);
  CHECK_FALSE(l.is_open());
  const auto after = stat_of(name.str());
  CHECK(after.st_ino == before.st_ino);
  // The other server goes on to listen, and is reachable at its name.
  REQUIRE(::listen(other, 4) == 0);
  UdStream c = UdStream::connect(name, std::chrono::seconds(1), ec);
  CHECK_FALSE(ec);
  ::close(other);
}

#ifdef LOCALSOCK_FAULT_INJECTION  // a test hook (testing::set_hook)
TEST_CASE("UdListener: reclaim never removes a live socket that replaced the stale one") {
  // Two servers start at once and both find the same stale file: the first removes it
  // and binds; the second must not then remove the first one's socket.
  TempDir dir;
  const LocalName name = dir.name("s");
  make_stale_socket(name.str());
  UdListener first;
  localsock::testing::set_hook(localsock::testing::Hook::reclaim_unlink, [&] {
    localsock::testing::set_hook(localsock::testing::Hook::reclaim_unlink, {});
    ::unlink(name.str().c_str());
    first = UdListener::bind(name);
  });
  UdListenerOptions opts;
  opts.reclaim_stale = true;
  SUBCASE("plain bind") {}
  SUBCASE("bind with a mode") { opts.permissions = 0600; }
  std::error_code ec;
  UdListener second = UdListener::bind(name, opts, ec);
  localsock::testing::set_hook(localsock::testing::Hook::reclaim_unlink, {});
  REQUIRE(first.is_open());
  CHECK(ec == errc::name_in_use);
  CHECK_FALSE(second.is_open());
  // The first server's socket is still at the name and reachable.
  std::thread t([&] { first.accept_for(std::chrono::seconds(2), ec); });
  UdStream c = UdStream::connect(name, std::chrono::seconds(1));
  t.join();
  CHECK_FALSE(ec);
}
#endif  // LOCALSOCK_FAULT_INJECTION

#ifdef LOCALSOCK_FAULT_INJECTION  // a test hook (testing::set_hook)
TEST_CASE("UdListener: a socket file bound with a mode is listening the moment it appears") {
  TempDir dir;
  const LocalName name = dir.name("s");
  std::error_code probe_ec{std::make_error_code(std::errc::invalid_argument)};
  localsock::testing::set_hook(localsock::testing::Hook::socket_linked, [&] {
    UdStream c = UdStream::connect(name, localsock::Timeout::zero(), probe_ec);
  });
  UdListenerOptions opts;
  opts.permissions = 0600;
  UdListener l = UdListener::bind(name, opts);
  localsock::testing::set_hook(localsock::testing::Hook::socket_linked, {});
  CHECK_FALSE(probe_ec);
}
#endif  // LOCALSOCK_FAULT_INJECTION

TEST_CASE(
    "socket files bound to a relative path are removed at close after the process changed "
    "directory") {
  TempDir dir, elsewhere;
  const fs::path start = fs::current_path();
  struct Back {
    fs::path to;
    ~Back() { fs::current_path(to); }
  } back{start};
  fs::current_path(dir.path);
  UdListener l = UdListener::bind(LocalName::path("l.sock"));
  UdListenerOptions with_mode;
  with_mode.permissions = 0600;
  UdListener m = UdListener::bind(LocalName::path("m.sock"), with_mode);
  localsock::posix::UdDatagram d = localsock::posix::UdDatagram::bind(LocalName::path("d.sock"));
  REQUIRE(::is_socket(dir.path / "l.sock"));
  fs::current_path(elsewhere.path);
  // Files of the same names in the new directory are not the listeners' own.
  make_stale_socket("l.sock");
  make_stale_socket("d.sock");
  l.close();
  m.close();
  d.close();
  CHECK_FALSE(fs::exists(dir.path / "l.sock"));
  CHECK_FALSE(fs::exists(dir.path / "m.sock"));
  CHECK_FALSE(fs::exists(dir.path / "d.sock"));
  CHECK(::is_socket(elsewhere.path / "l.sock"));
  CHECK(::is_socket(elsewhere.path / "d.sock"));
}

// The same guarantees through the portable facade (LocalListener / ListenerOptions).
TEST_CASE(
    "LocalListener: a stale socket file is stale_name, reclaimed with reclaim_stale; a file that "
    "is not a socket stays") {
  TempDir dir;
  const LocalName name = dir.name("s");
  make_stale_socket(name.str());
  std::error_code ec;
  localsock::LocalListener::bind(localsock::ListenerOptions(name), ec);
  CHECK(ec == errc::stale_name);
  CHECK(is_socket(name.str()));
  auto l = localsock::LocalListener::bind(localsock::ListenerOptions(name).reclaim_stale(true));
  std::thread t([&] { (void)l.accept(); });
  auto c = localsock::LocalSocket::connect(name);
  t.join();
  CHECK(c.is_open());
  const LocalName plain = dir.name("plain");
  { std::ofstream(plain.str()) << "data"; }
  localsock::LocalListener::bind(localsock::ListenerOptions(plain).reclaim_stale(true), ec);
  CHECK(ec == errc::not_a_socket);
  CHECK(fs::is_regular_file(plain.str()));
}

TEST_CASE("LocalListener: current_user_only gives a socket file mode 0600") {
  TempDir dir;
  const LocalName name = dir.name("s");
  auto l = localsock::LocalListener::bind(localsock::ListenerOptions(name).current_user_only(true));
  struct stat st {};
  REQUIRE(::stat(name.str().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  // Without it, the mode comes from the umask (here 022: 0755 for a socket file).
  const LocalName open_name = dir.name("open");
  const mode_t old = ::umask(022);
  auto o = localsock::LocalListener::bind(localsock::ListenerOptions(open_name));
  ::umask(old);
  REQUIRE(::stat(open_name.str().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0755);
}
