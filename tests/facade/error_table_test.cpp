// SPDX-License-Identifier: MIT
// The error table, case by case: each row makes one failure happen through the portable
// facade (bind, connect, write) and checks the condition a user would test and the text
// a user would read, through both overload styles (describe(ec) for the error_code
// overloads, Error::what() for the throwing ones). The same rows run natively and under
// Wine; rows that need socket files (path names) run where the platform has them.
#include <localsock/localsock.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

#include "connected.hpp"
#include "doctest_ext.hpp"
#include "unique_name.hpp"

using localsock::ConnectOptions;
using localsock::errc;
using localsock::ListenerOptions;
using localsock::LocalListener;
using localsock::LocalName;
using localsock::LocalSocket;
namespace fs = std::filesystem;

namespace {

struct Row {
  const char* what;
  bool needs_paths;                       // socket files: Unix only
  std::function<std::error_code()> fail;  // makes the failure happen, returns its code
  errc condition;                         // what `ec == condition` must hold for
  const char* text;                       // what describe(ec) must say
};

// A fresh directory for the rows that need socket files, removed afterwards.
struct TempDir {
  fs::path path = fs::temp_directory_path() / localsock::test::unique_name("lerr");
  TempDir() { fs::create_directory(path); }
  ~TempDir() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, ec);
    fs::remove_all(path, ec);
  }
};

std::error_code connect_to(const LocalName& name) {
  std::error_code ec;
  LocalSocket::connect(ConnectOptions(name), ec);
  return ec;
}

std::error_code bind_at(const LocalName& name) {
  std::error_code ec;
  LocalListener::bind(ListenerOptions(name), ec);
  return ec;
}

LocalName path_name(const fs::path& p) { return LocalName::path(p.string()); }

}  // namespace

TEST_CASE("errors: each failure names what happened, in both overload styles") {
  const bool paths = LocalName::supported().path;
  TempDir dir;
  const std::vector<Row> rows = {
      {"connect: nobody listens at a namespaced name", false,
       [] { return connect_to(LocalName::namespaced(localsock::test::unique_name("lerr"))); },
       errc::no_listener, "no listener at this name"},
      {"bind: a live listener holds the name", false,
       [] {
         const LocalName name = LocalName::namespaced(localsock::test::unique_name("lerr"));
         auto held = LocalListener::bind(ListenerOptions(name));
         return bind_at(name);
       },
       errc::name_in_use, "name in use"},
      {"write: the peer has gone", false,
       [] {
         auto p = localsock::test::connect_pair<localsock::Mode::bytes>();
         p.server.close();
         const std::byte byte{1};
         std::error_code ec;
         // The first write after the peer left may still be taken by the system.
         for (int i = 0; i < 4 && !ec; ++i) p.client.write_all(std::span(&byte, 1), ec);
         return ec;
       },
       errc::peer_closed, "peer closed the connection"},
      {"connect: nothing at the path", true,
       [&] { return connect_to(path_name(dir.path / "none.sock")); }, errc::no_listener,
       "no listener at this name"},
      {"bind: the directory does not exist", true,
       [&] { return bind_at(path_name(dir.path / "missing" / "s.sock")); }, errc::no_such_directory,
       "directory for the socket file does not exist"},
      {"connect: a stale socket file (its listener is gone)", true,
       [&] {
         // A listener removes only its own file: moved aside, the socket file stays
         // behind when the listener closes, as after a crash.
         const fs::path live = dir.path / "live.sock", stale = dir.path / "stale.sock";
         {
           auto l = LocalListener::bind(ListenerOptions(path_name(live)));
           fs::rename(live, stale);
         }
         return connect_to(path_name(stale));
       },
       errc::stale_name, "stale socket file"},
      {"connect: a regular file", true,
       [&] {
         const fs::path file = dir.path / "regular";
         std::ofstream(file) << "not a socket";
         return connect_to(path_name(file));
       },
       errc::not_a_socket, "not a socket"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    if (row.needs_paths && !paths) continue;  // Windows: no socket files (not_supported)
    const std::error_code ec = row.fail();
    CHECK(ec == row.condition);
    const std::string text = localsock::describe(ec);
    CHECK_MESSAGE(text.find(row.text) != std::string::npos, text);
    // The throwing overloads say the same, with the operation and the name.
    const localsock::Error error(ec, "op", "name");
    CHECK(std::string(error.what()) == "op 'name': " + text);
  }
}

TEST_CASE("errors: refinements still match the broader condition") {
  using localsock::make_error_code;
  // A stale socket file is a name nobody listens on: retry loops that test no_listener
  // keep working.
  CHECK(make_error_code(errc::stale_name) == errc::no_listener);
  CHECK(make_error_code(errc::directory_access_denied) == errc::access_denied);
  CHECK(make_error_code(errc::directory_access_denied) == std::errc::permission_denied);
  CHECK(make_error_code(errc::no_such_directory) == std::errc::no_such_file_or_directory);
  CHECK(make_error_code(errc::no_listener) != errc::stale_name);
}

TEST_CASE("errors: bind in a directory this process may not write is access denied on it") {
  if (!LocalName::supported().path) return;  // Windows: no socket files
  TempDir dir;
  fs::permissions(dir.path, fs::perms::owner_read | fs::perms::owner_exec);
  // Root (or CAP_DAC_OVERRIDE) writes anyway: the row needs an unprivileged run
  // (scripts/test-unprivileged runs this suite so).
  if (std::ofstream(dir.path / "probe")) {
    MESSAGE("the directory is writable for this process (privileged): not checked here");
    return;
  }
  std::error_code ec = bind_at(path_name(dir.path / "s.sock"));
  CHECK(ec == errc::directory_access_denied);
  CHECK(ec == errc::access_denied);
  CHECK(localsock::describe(ec).find("access denied on the directory") != std::string::npos);
}

TEST_CASE(
    "errors: connect refused by a directory on the path or by the socket file is access "
    "denied, described as either") {
  if (!LocalName::supported().path) return;  // Windows: no socket files
  TempDir dir;
  const fs::path inner = dir.path / "inner";
  fs::create_directory(inner);
  auto behind_dir =
      LocalListener::bind(ListenerOptions(path_name(inner / "s.sock")).permissions(0777));
  auto closed_file =
      LocalListener::bind(ListenerOptions(path_name(dir.path / "f.sock")).permissions(0400));
  // A directory this user may not search keeps it from the open socket file inside.
  fs::permissions(inner, fs::perms::owner_read | fs::perms::owner_write);
  const std::error_code by_dir = connect_to(path_name(inner / "s.sock"));
  const std::error_code by_file = connect_to(path_name(dir.path / "f.sock"));
  fs::permissions(inner, fs::perms::owner_all);
  // Root (or CAP_DAC_OVERRIDE) goes through anyway: the row needs an unprivileged run
  // (scripts/test-unprivileged runs this suite so; tests/posix checks it as root).
  if (!by_dir && !by_file) {
    MESSAGE("permissions do not hold this process back (privileged): not checked here");
    return;
  }
  for (const std::error_code& ec : {by_dir, by_file}) {
    CHECK(ec == errc::access_denied);
    const std::string text = localsock::describe(ec);
    CHECK_MESSAGE(text.find("its file or a directory on its path") != std::string::npos, text);
    CHECK_MESSAGE(text.find("listener's permissions") == std::string::npos, text);
  }
}
