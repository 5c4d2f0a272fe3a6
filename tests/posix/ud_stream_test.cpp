// SPDX-License-Identifier: MIT
#include <localsock/capabilities.hpp>
#include <localsock/posix/ud_datagram.hpp>
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_stream.hpp>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <localsock/testing.hpp>
#include <localsock/logging.hpp>

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

// A name another user's client can reach: an abstract name where there are such, else a
// socket file in `dir` (opened to others): a namespaced name's file lies in this user's
// private directory, which keeps every other user out already.
// Options for a listener at such a name that refuses other users at accept only
// (current_user_only): a socket file must then be writable by them (mode 0666).
UdListenerOptions refused_at_accept() {
  UdListenerOptions o;
  o.current_user_only = true;
  if (!localsock::capabilities().abstract_names) o.permissions = 0666;
  return o;
}

LocalName reachable_by_others(const TempDir& dir) {
  if (localsock::capabilities().abstract_names)
    return LocalName::namespaced(localsock::test::unique_name());
  ::chmod(dir.path.c_str(), 0755);
  return dir.name("others");
}

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
  CHECK(std::string(e.what()) == "LocalSocket::connect 'x': no listener at this name (Connection refused)");
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
  struct stat st{};
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
  struct stat st{};
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
  struct stat st{};
  REQUIRE(::lstat(name.str().c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0660);
}

TEST_CASE("UdListener: nonblocking accept and accept with a timeout") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListenerOptions opts;
  opts.nonblocking = true;
  UdListener l = UdListener::bind(name, opts);
  std::error_code ec;
  l.accept(ec);
  CHECK(ec == errc::would_block);
  l.set_nonblocking(false);
  const auto start = std::chrono::steady_clock::now();
  l.accept_for(std::chrono::milliseconds(100), ec);
  CHECK(ec == errc::timed_out);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(90));
  UdStream c = UdStream::connect(name);
  UdStream s = l.accept_for(std::chrono::seconds(5), ec);
  CHECK_FALSE(ec);
  CHECK(s.is_open());
}

TEST_CASE("UdListener: concurrent accepts with different timeouts keep their deadlines; close wakes all") {
  // On Linux accepts wait in the kernel under the socket's one SO_RCVTIMEO: an accept
  // that wants another timeout than a waiting one must still end by its deadline.
  using namespace std::chrono_literals;
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener l = UdListener::bind(name);
  std::error_code forever_ec, short_ec, same_a, same_b;
  std::thread forever([&] { l.accept(forever_ec); });
  std::this_thread::sleep_for(50ms);  // waiting, with no timeout
  const auto start = std::chrono::steady_clock::now();
  l.accept_for(200ms, short_ec);
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(short_ec == errc::timed_out);
  CHECK(took >= 190ms);
  CHECK(took < 2s);
  // A client still goes to one of the waiting accepts.
  {
    UdStream c = UdStream::connect(name);
    forever.join();
    CHECK_FALSE(forever_ec);
  }
  // Two accepts with the same timeout wait together; close() ends both at once.
  std::thread a([&] { l.accept_for(30s, same_a); });
  std::thread b([&] { l.accept_for(30s, same_b); });
  std::this_thread::sleep_for(100ms);
  const auto closing = std::chrono::steady_clock::now();
  l.close();
  a.join();
  b.join();
  CHECK(std::chrono::steady_clock::now() - closing < 5s);
  CHECK(same_a == errc::listener_closed);
  CHECK(same_b == errc::listener_closed);
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

TEST_CASE("UdListener: 200 concurrent clients are all served") {
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener l = UdListener::bind(name);
  constexpr int clients = 200;
  std::thread server([&] {
    std::vector<UdStream> conns;
    for (int i = 0; i < clients; ++i) conns.push_back(l.accept());
    for (auto& s : conns) {
      std::byte b[4];
      std::size_t n = s.read_some(b);
      s.write_some(std::span(b).first(n));
    }
  });
  std::vector<UdStream> cs;
  for (int i = 0; i < clients; ++i) cs.push_back(UdStream::connect(name));
  for (int i = 0; i < clients; ++i) {
    const std::byte v[4] = {std::byte(i), std::byte(i >> 8), std::byte{1}, std::byte{2}};
    cs[static_cast<std::size_t>(i)].write_some(v);
  }
  for (int i = 0; i < clients; ++i) {
    std::byte b[4];
    std::size_t got = 0;
    while (got < 4) got += cs[static_cast<std::size_t>(i)].read_some(std::span(b).subspan(got));
    CHECK(b[0] == std::byte(i));
  }
  server.join();
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

namespace {
std::atomic<int> signals_seen{0};
void count_signal(int) { ++signals_seen; }

// Interrupts `thread` with SIGUSR1 (installed without SA_RESTART, so every blocking
// system call it is in fails with EINTR) until `stop` is set.
void pester(pthread_t thread, const std::atomic<bool>& stop) {
  while (!stop) {
    ::pthread_kill(thread, SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}
}  // namespace

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

namespace {
// Runs `body` in a child process switched to another user ("nobody", or the uid below it
// when this process already is nobody); its exit code, 99 when the switch is not allowed.
template <typename Body>
int as_other_user(Body body) {
  const unsigned other = ::geteuid() == 65534 ? 65533 : 65534;
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(other) != 0 || ::setuid(other) != 0) ::_exit(99);
    ::_exit(body());
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("access control: another user is kept out by permissions and by current_user_only") {
  // Only a privileged process can run a client as another user: probe for that.
  if (as_other_user([] { return 0; }) == 99) {
    MESSAGE("cannot run a client as another user here (unprivileged); skipped");
    return;
  }
  TempDir dir;
  ::chmod(dir.path.c_str(), 0755);  // let the other user reach the socket file
  const LocalName path = LocalName::path((dir.path / "s").string());
  UdListener by_mode = UdListener::bind(path, {.permissions = 0600});
  CHECK(as_other_user([&] {
          std::error_code ec;
          UdStream::connect(path, ec);
          return ec == errc::access_denied ? 0 : 1;
        }) == 0);

  // An abstract name has no permissions: current_user_only refuses the other user at accept
  // (where there is none, a socket file the other user may reach stands in for it).
  const LocalName abstract = reachable_by_others(dir);
  UdListener by_uid = UdListener::bind(abstract, refused_at_accept());
  // The other user's client connects and leaves its connection in the backlog (fork
  // happens before any thread exists, so the child may allocate).
  const int code = as_other_user([&] {
    std::error_code connect_ec;
    UdStream c = UdStream::connect(abstract, connect_ec);
    return connect_ec ? 2 : 0;
  });
  CHECK(code == 0);
  // accept takes that connection, sees the uid, drops it, and times out waiting for more.
  std::error_code ec;
  UdStream nobody = by_uid.accept_for(std::chrono::milliseconds(300), ec);
  CHECK(ec == errc::timed_out);
  CHECK_FALSE(nobody.is_open());
  // This user's client still gets in.
  UdStream me = UdStream::connect(abstract);
  CHECK(by_uid.accept_for(std::chrono::seconds(5), ec).is_open());
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

namespace {
struct stat stat_of(const std::string& path) {
  struct stat st{};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

// A socket bound at `path` that does not listen yet: a server between bind and listen.
int bound_not_listening(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}
}  // namespace

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

TEST_CASE("socket files bound to a relative path are removed at close after the process changed directory") {
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

TEST_CASE("UdListener: an accept_for that waited its turn waits only the time it has left") {
  // The socket's one SO_RCVTIMEO is shared: an accept with another timeout waits until
  // the waiting one is done, then must set what is left of its own timeout.
  using namespace std::chrono_literals;
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener l = UdListener::bind(name);
  std::error_code first_ec, second_ec;
  std::thread first([&] { l.accept_for(900ms, first_ec); });
  std::this_thread::sleep_for(50ms);
  const auto start = std::chrono::steady_clock::now();
  l.accept_for(800ms, second_ec);
  const auto took = std::chrono::steady_clock::now() - start;
  first.join();
  CHECK(first_ec == errc::timed_out);
  CHECK(second_ec == errc::timed_out);
  CHECK(took >= 790ms);
  CHECK(took < 1250ms);  // not 850 ms of waiting its turn plus the full 800 ms
}

TEST_CASE("UdListener: accept_for returns by its deadline across EINTR") {
  using namespace std::chrono_literals;
  struct sigaction sa {};
  sa.sa_handler = count_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART
  struct sigaction old {};
  REQUIRE(::sigaction(SIGUSR1, &sa, &old) == 0);
  const LocalName name = LocalName::namespaced(localsock::test::unique_name());
  UdListener l = UdListener::bind(name);
  std::error_code ec;
  std::chrono::steady_clock::duration took{};
  const auto start = std::chrono::steady_clock::now();
  std::thread waiter([&] {
    l.accept_for(1000ms, ec);
    took = std::chrono::steady_clock::now() - start;
  });
  const pthread_t target = waiter.native_handle();
  std::this_thread::sleep_for(800ms);  // one signal late in the wait
  ::pthread_kill(target, SIGUSR1);
  waiter.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  CHECK(ec == errc::timed_out);
  CHECK(took >= 990ms);
  CHECK(took < 1500ms);  // not 800 ms plus the full 1000 ms again
}

TEST_CASE("UdListener: accept_for returns by its deadline while refusing other users (current_user_only)") {
  using namespace std::chrono_literals;
  if (as_other_user([] { return 0; }) == 99) {
    MESSAGE("cannot run a client as another user here (unprivileged); skipped");
    return;
  }
  TempDir dir;
  const LocalName name = reachable_by_others(dir);
  UdListener l = UdListener::bind(name, refused_at_accept());
  std::error_code ec;
  std::chrono::steady_clock::duration took{};
  const auto start = std::chrono::steady_clock::now();
  std::thread waiter([&] {
    l.accept_for(1000ms, ec);
    took = std::chrono::steady_clock::now() - start;
  });
  std::this_thread::sleep_for(800ms);
  // Another user's client, refused at accept late in the wait (fork with a thread
  // running: the child only connects and exits).
  CHECK(as_other_user([&] {
          std::error_code connect_ec;
          UdStream c = UdStream::connect(name, connect_ec);
          return connect_ec ? 2 : 0;
        }) == 0);
  waiter.join();
  CHECK(ec == errc::timed_out);
  CHECK(took >= 990ms);
  CHECK(took < 1500ms);  // not 800 ms plus the full 1000 ms again
}

TEST_CASE("UdListener: destroyed right after close from another thread while accept waits") {
  // Run under AddressSanitizer (build/asan): the waiting accept logs its failure on its
  // way out; the hook holds it there until the listener is destroyed (or 300 ms passed,
  // for a library that logs while close() still waits for the accept), so that anything
  // accept touches afterwards is freed memory.
  const LocalName name = LocalName::namespaced(localsock::test::unique_name("lsg"));
  std::mutex m;
  std::condition_variable cv;
  bool destroyed = false;
  localsock::set_log_callback([&](localsock::LogLevel, std::string_view line) {
    if (line.find("accept on") == std::string_view::npos) return;
    std::unique_lock lock(m);
    cv.wait_for(lock, std::chrono::milliseconds(300), [&] { return destroyed; });
  });
  auto listener = std::make_unique<UdListener>(UdListener::bind(name));
  std::string what;
  std::thread t([&, l = listener.get()] {
    try {
      l->accept();
    } catch (const localsock::Error& e) {
      what = e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  listener->close();
  listener.reset();
  {
    std::lock_guard lock(m);
    destroyed = true;
  }
  cv.notify_all();
  t.join();
  localsock::set_log_callback({});
  CHECK(what.find(name.str()) != std::string::npos);
  CHECK(what.find("UdListener::accept") != std::string::npos);
}
