// SPDX-License-Identifier: MIT
// Per-user names on Unix: where the socket file lives, and how the private directory is
// made and checked (symbolic links, modes, owners, $XDG_RUNTIME_DIR), and that another
// user can neither bind nor connect there.
#include <localsock/localsock.hpp>
#include <localsock/testing_names.hpp>

#include <pwd.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <chrono>
#include <optional>
#include <thread>
#include <string>

#include "child_main.hpp"
#include "doctest_ext.hpp"
#include "process.hpp"
#include "unique_name.hpp"

using localsock::errc;
using localsock::LocalListener;
using localsock::LocalName;
using localsock::LocalSocket;

namespace {

// Sets an environment variable (or unsets it) for one test, and restores it.
class EnvGuard {
 public:
  EnvGuard(const char* var, const char* value) : var_(var) {
    if (const char* old = std::getenv(var)) old_ = old;
    if (value != nullptr)
      ::setenv(var, value, 1);
    else
      ::unsetenv(var);
  }
  ~EnvGuard() {
    if (old_)
      ::setenv(var_, old_->c_str(), 1);
    else
      ::unsetenv(var_);
  }
  EnvGuard(const EnvGuard&) = delete;
  EnvGuard& operator=(const EnvGuard&) = delete;

 private:
  const char* var_;
  std::optional<std::string> old_;
};

// A fresh directory of this user under /tmp, removed with what it holds.
struct TempDir {
  std::string path;
  TempDir() {
    char templ[] = "/tmp/lsput.XXXXXX";
    REQUIRE(::mkdtemp(templ) != nullptr);
    path = templ;
  }
  ~TempDir() { std::system(("rm -rf '" + path + "'").c_str()); }
};

// Per-user names are made in `dir` (as in /tmp) for one test.
#ifdef LOCALSOCK_FAULT_INJECTION  // a test seam, in fault-injection builds only
struct BaseGuard {
  explicit BaseGuard(const std::string& dir) { localsock::testing::set_per_user_base(dir); }
  ~BaseGuard() { localsock::testing::set_per_user_base({}); }
  BaseGuard(const BaseGuard&) = delete;
  BaseGuard& operator=(const BaseGuard&) = delete;
};
#endif  // LOCALSOCK_FAULT_INJECTION

std::string parent_of(const std::string& path) { return path.substr(0, path.rfind('/')); }

std::string private_leaf() { return "localsock-" + std::to_string(::geteuid()); }

}  // namespace

TEST_CASE("per_user (Unix): the socket file lives in a 0700 directory of this user") {
  const LocalName name = LocalName::per_user(localsock::test::unique_name("pux"));
  CHECK(name.kind() == localsock::NameKind::path);
  struct stat st {};
  REQUIRE(::lstat(parent_of(name.str()).c_str(), &st) == 0);
  CHECK(S_ISDIR(st.st_mode));
  CHECK(st.st_uid == ::geteuid());
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(name.str().ends_with(".sock"));
}

TEST_CASE("per_user (Unix): the name follows from the user alone, not from the environment") {
  // A launch from the desktop ($XDG_RUNTIME_DIR set), one from cron, `sudo -u` or
  // `env -i` (unset), one with another $TMPDIR: one user, one name, one primary.
  const std::string plain = LocalName::per_user("app").str();
  TempDir xdg, tmp;
  {
    EnvGuard g1("XDG_RUNTIME_DIR", xdg.path.c_str());
    EnvGuard g2("TMPDIR", tmp.path.c_str());
    CHECK(LocalName::per_user("app").str() == plain);
  }
  {
    EnvGuard g1("XDG_RUNTIME_DIR", nullptr);
    EnvGuard g2("TMPDIR", nullptr);
    CHECK(LocalName::per_user("app").str() == plain);
  }
  // Where: /run/user/<uid> when it is this user's and private (logind's runtime
  // directory), else a directory of the user's own in /tmp.
  const std::string run = "/run/user/" + std::to_string(::geteuid());
  struct stat st {};
  const bool run_ok = ::stat(run.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
                      st.st_uid == ::geteuid() && (st.st_mode & 077) == 0;
  const std::string expected_dir = run_ok ? run + "/localsock" : "/tmp/" + private_leaf();
#if !defined(__APPLE__)
  CHECK(plain == expected_dir + "/app.sock");
#endif
}

#ifdef LOCALSOCK_FAULT_INJECTION  // a test seam (testing::set_per_user_base)
TEST_CASE("per_user (Unix): a symbolic link planted at the private directory is refused") {
  TempDir base, elsewhere;
  BaseGuard g(base.path);
  REQUIRE(::symlink(elsewhere.path.c_str(), (base.path + "/" + private_leaf()).c_str()) == 0);
  std::error_code ec;
  CHECK(LocalName::per_user("app", ec).empty());
  CHECK(ec == errc::access_denied);
  CHECK_THROWS_AS(LocalName::per_user("app"), localsock::Error);
}

TEST_CASE("per_user (Unix): a private directory that others may enter is refused") {
  TempDir base;
  BaseGuard g(base.path);
  const std::string dir = base.path + "/" + private_leaf();
  REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
  REQUIRE(::chmod(dir.c_str(), 0750) == 0);
  std::error_code ec;
  LocalName::per_user("app", ec);
  CHECK(ec == errc::access_denied);
  REQUIRE(::chmod(dir.c_str(), 0700) == 0);
  CHECK_FALSE(LocalName::per_user("app", ec).empty());
  CHECK_FALSE(ec);
}

TEST_CASE(
    "per_user (Unix): the private directory gets mode 0700 whatever the umask, and is repaired") {
  // One launch under a restrictive umask must not leave a directory that its user
  // cannot write, which would make every later per-user listener of the user fail.
  TempDir base;
  BaseGuard g(base.path);
  const std::string dir = base.path + "/" + private_leaf();
  const mode_t old = ::umask(0277);
  std::error_code ec;
  const LocalName name = LocalName::per_user("app", ec);
  ::umask(old);
  REQUIRE_FALSE(ec);
  struct stat st {};
  REQUIRE(::lstat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  {
    LocalListener listener = LocalListener::bind(name, ec);
    CHECK_FALSE(ec);
  }
  // A directory of the user that such a launch left behind (0500) is repaired.
  REQUIRE(::chmod(dir.c_str(), 0500) == 0);
  const LocalName again = LocalName::per_user("app", ec);
  REQUIRE_FALSE(ec);
  REQUIRE(::lstat(dir.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  LocalListener listener = LocalListener::bind(again, ec);
  CHECK_FALSE(ec);
}

TEST_CASE(
    "per_user (Unix): a base directory where others could replace the private one is refused") {
  TempDir base;
  BaseGuard g(base.path);
  REQUIRE(::chmod(base.path.c_str(), 0777) == 0);  // world-writable, not sticky
  std::error_code ec;
  LocalName::per_user("app", ec);
  CHECK(ec == errc::access_denied);
  REQUIRE(::chmod(base.path.c_str(), 01777) == 0);  // sticky, as /tmp
  CHECK_FALSE(LocalName::per_user("app", ec).empty());
  CHECK_FALSE(ec);
}

TEST_CASE("per_user (Unix): the hash keeps the whole path within sun_path") {
  TempDir base;
  // A deep temporary directory leaves little room for the id.
  const std::string deep = base.path + "/" + std::string(45, 'd');
  REQUIRE(::mkdir(deep.c_str(), 0700) == 0);
  BaseGuard g(deep);
  const LocalName name = LocalName::per_user(std::string(80, 'x'));
  CHECK(name.str().size() <= 107);
  LocalListener listener = LocalListener::bind(name);
  CHECK(LocalSocket::connect(name).is_open());
}
#endif  // LOCALSOCK_FAULT_INJECTION

namespace {

// Run as another user: tries to bind and to connect to the path it is given.
// Exit 0: both refused with access denied; 1: bind succeeded or failed otherwise;
// 2: connect succeeded or failed otherwise.
localsock::test::RegisterChild intruder("per_user_intruder", [](const std::vector<std::string>& a) {
  std::error_code ec;
  const LocalName target = LocalName::path(a.at(0));
  LocalListener::bind(target, ec);
  if (ec != errc::access_denied) {
    std::fprintf(stderr, "bind: %s\n", ec.message().c_str());
    return 1;
  }
  LocalSocket::connect(target, ec);
  if (ec != errc::access_denied) {
    std::fprintf(stderr, "connect: %s\n", ec.message().c_str());
    return 2;
  }
  return 0;
});

}  // namespace

TEST_CASE(
    "per_user (Unix): another user can neither bind nor connect to this user's per-user name") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: switching to another user (setpriv to nobody) needs root");
    return;
  }
  const passwd* nobody = ::getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  const LocalName name = LocalName::per_user(localsock::test::unique_name("pui"));
  SUBCASE("while a listener is there") {
    LocalListener listener = LocalListener::bind(name);
    auto child = localsock::test::Child::spawn(
        "/usr/bin/setpriv",
        {"--reuid=" + std::to_string(nobody->pw_uid), "--regid=" + std::to_string(nobody->pw_gid),
         "--clear-groups", localsock::test::self_path(), "--child", "per_user_intruder",
         name.str()});
    CHECK(child.wait() == 0);
  }
  SUBCASE("before any listener: the name cannot be taken first") {
    auto child = localsock::test::Child::spawn(
        "/usr/bin/setpriv",
        {"--reuid=" + std::to_string(nobody->pw_uid), "--regid=" + std::to_string(nobody->pw_gid),
         "--clear-groups", localsock::test::self_path(), "--child", "per_user_intruder",
         name.str()});
    CHECK(child.wait() == 0);
    LocalListener listener = LocalListener::bind(name);  // still free for its user
    CHECK(listener.is_open());
  }
}

namespace {

// Run as another user: squats `name` (a message listener) and reports whether anyone
// talked to it. Exit 0: told to stop, and no client sent anything else; 1: a client
// sent something; 2: never told to stop; 3: the bind failed.
localsock::test::RegisterChild squatter("squatter", [](const std::vector<std::string>& a) {
  const LocalName name =
      a.at(0) == "path" ? LocalName::path(a.at(1)) : LocalName::namespaced(a.at(1));
  std::error_code ec;
  auto listener =
      localsock::LocalMessageListener::bind(localsock::ListenerOptions(name).permissions(0777), ec);
  if (ec) {
    std::fprintf(stderr, "squatter bind: %s\n", ec.message().c_str());
    return 3;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    auto s = listener.accept_for(std::chrono::milliseconds(200), ec);
    if (ec) continue;
    s.set_read_timeout(std::chrono::seconds(2), ec);
    std::string got;
    const auto r = s.recv(got, 64, ec);
    if (ec || r.end) continue;  // a client that left without a word
    return got == "stop" ? 0 : 1;
  }
  return 2;
});

}  // namespace

TEST_CASE("current_user_only (Unix): a squatter of another user is refused, never talked to") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: switching to another user (setpriv to nobody) needs root");
    return;
  }
  const passwd* nobody = ::getpwnam("nobody");
  REQUIRE(nobody != nullptr);
  // A plain name anyone may take first: abstract on Linux; elsewhere a socket file in a
  // shared directory (namespaced names there are already per user).
  const bool abstract = localsock::capabilities().abstract_names;
  const std::string text = abstract ? localsock::test::unique_name("lsq")
                                    : "/tmp/" + localsock::test::unique_name("lsq") + ".sock";
  const LocalName name = abstract ? LocalName::namespaced(text) : LocalName::path(text);
  auto child = localsock::test::Child::spawn(
      "/usr/bin/setpriv",
      {"--reuid=" + std::to_string(nobody->pw_uid), "--regid=" + std::to_string(nobody->pw_gid),
       "--clear-groups", localsock::test::self_path(), "--child", "squatter",
       abstract ? "abstract" : "path", text});
  // Wait for the squatter, with a client that checks nothing (and says nothing).
  bool up = false;
  for (int i = 0; i < 500 && !up; ++i) {
    std::error_code ec;
    localsock::LocalMessageSocket::connect(localsock::ConnectOptions(name).current_user_only(false),
                                           ec);
    up = !ec;
    if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(up);
  std::error_code ec;
  auto refused = localsock::LocalMessageSocket::connect(
      localsock::ConnectOptions(name).current_user_only(true), ec);
  CHECK(ec == errc::access_denied);
  CHECK_FALSE(refused.is_open());
  // A SingleInstance on that name is a secondary (the name is live) and will not hand
  // its message to the squatter.
  localsock::SingleInstance app(
      name, [](std::string, const localsock::PeerInfo&) {}, ec);
  REQUIRE_FALSE(ec);
  CHECK_FALSE(app.is_primary());
  app.send("secret", ec);
  CHECK(ec == errc::access_denied);
  // Tell the squatter to stop: it exits 0 only if nothing else reached it.
  auto stop = localsock::LocalMessageSocket::connect(
      localsock::ConnectOptions(name).current_user_only(false));
  stop.send("stop");
  CHECK(child.wait() == 0);
  if (!abstract) ::unlink((text + ".lock").c_str());
}

TEST_CASE("per_session (Unix): a per-session name is never the per-user name of another id") {
  EnvGuard g("XDG_SESSION_ID", "7");
  const std::string app = localsock::test::unique_name("pss");
  const LocalName session = LocalName::per_session(app);
  const std::string text = session.str();
  const std::string dir = parent_of(text) + "/";
  // The file name without ".sock", as an id given to per_user().
  const std::string as_id = text.substr(dir.size(), text.size() - dir.size() - 5);
  INFO("per-session name: ", text);
  CHECK_FALSE(session == LocalName::per_user(app));
  CHECK_FALSE(session == LocalName::per_user(as_id));
  localsock::LocalListener listener = localsock::LocalListener::bind(session);
  CHECK(LocalSocket::connect(session).is_open());
}
