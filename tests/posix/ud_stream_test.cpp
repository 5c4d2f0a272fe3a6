// SPDX-License-Identifier: MIT
#include <localsock/posix/ud_stream.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

using localsock::errc;
using localsock::LocalName;
using localsock::posix::UdListener;
using localsock::posix::UdListenerOptions;
using localsock::posix::UdStream;
namespace fs = std::filesystem;

namespace {

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

bool is_socket(const fs::path& p) {
  struct stat st{};
  return ::lstat(p.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// Leaves a socket file behind as a crashed server would: bound, then closed without
// unlinking.
void make_stale_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  ::close(fd);
}

bool is_cloexec(int fd) { return (::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0; }

}  // namespace

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

TEST_CASE("UdListener: an abstract name leaves nothing in the filesystem") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener l = UdListener::bind(name);
  CHECK(name.native().front() == '@');
  std::thread t([&] {
    UdStream s = l.accept();
    CHECK(is_cloexec(s.native_handle()));
  });
  UdStream c = UdStream::connect(name);
  t.join();
  CHECK(is_cloexec(c.native_handle()));
}

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
  CHECK(std::string(e.what()) == "LocalSocket::connect 'x': Connection refused");
}
