// SPDX-License-Identifier: MIT
// Per-user and per-session names, on every platform: a listener and a client of the
// same user meet there; any application id gives a valid name; such names default to
// current-user-only listeners.
#include <localsock/localsock.hpp>

#include <string>
#include <thread>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

using localsock::errc;
using localsock::ListenerOptions;
using localsock::LocalListener;
using localsock::LocalName;
using localsock::LocalSocket;

namespace {

// One client connects to `name` and sends a word the server reads back.
void meet(const LocalName& name) {
  LocalListener listener = LocalListener::bind(name);
  LocalSocket server;
  std::thread t([&] { server = listener.accept(); });
  LocalSocket client = LocalSocket::connect(name);
  t.join();
  client.write_all("hello");
  char got[5];
  server.read_exact(std::as_writable_bytes(std::span(got)));
  CHECK(std::string_view(got, 5) == "hello");
}

}  // namespace

TEST_CASE("per_user: a listener and a client of the same user meet on a per-user name") {
  const std::string app = localsock::test::unique_name("pu");
  const LocalName name = LocalName::per_user(app);
  CHECK(name.is_per_user());
  CHECK(name == LocalName::per_user(app));  // every process of the user computes the same
  CHECK(name.str().find(app) != std::string::npos);
  CHECK_FALSE(LocalName::namespaced(app).is_per_user());
  meet(name);
}

TEST_CASE("per_session: a listener and a client of the same session meet on a per-session name") {
  const std::string app = localsock::test::unique_name("ps");
  const LocalName name = LocalName::per_session(app);
  CHECK(name.is_per_user());
  CHECK(name == LocalName::per_session(app));
  meet(name);
}

TEST_CASE("per_user: listeners on per-user names are current-user-only unless told otherwise") {
  const LocalName name = LocalName::per_user(localsock::test::unique_name("pd"));
  CHECK(ListenerOptions(name).current_user_only());
  CHECK_FALSE(ListenerOptions(name).current_user_only(false).current_user_only());
  CHECK_FALSE(ListenerOptions(LocalName::namespaced("x")).current_user_only());
}

TEST_CASE("per_user: a long or unusual application id still gives a valid name, hashed") {
  const std::string long_id(400, 'a');
  const LocalName a = LocalName::per_user(long_id);
  CHECK(a.str().size() < 260);
  CHECK(a.str().find(long_id) == std::string::npos);
  // Deterministic, and distinct ids stay distinct (the hash is of the whole id).
  CHECK(a == LocalName::per_user(long_id));
  CHECK_FALSE(a == LocalName::per_user(long_id + "b"));
  // Separators and other bytes never reach the name as they are.
  const LocalName odd = LocalName::per_user("../a/b\\c:d e");
  CHECK(odd.str().find("../") == std::string::npos);
  CHECK(odd.str().find("\\c") == std::string::npos);
  CHECK_FALSE(odd == LocalName::per_user("../a/b\\c:d f"));
  meet(odd);
  // An id of safe characters that fits is kept as it is.
  CHECK(LocalName::per_user("org.example.editor").str().find("org.example.editor") !=
        std::string::npos);
}

TEST_CASE("per_user: an empty or NUL-holding id is an invalid name") {
  std::error_code ec;
  CHECK(LocalName::per_user("", ec).empty());
  CHECK(ec == errc::invalid_name);
  CHECK(LocalName::per_session(std::string_view("a\0b", 3), ec).empty());
  CHECK(ec == errc::invalid_name);
  CHECK_THROWS_AS(LocalName::per_user(""), localsock::Error);
}

namespace {

// The part of a per-user name that stands for the id given to per_user(): what the
// platform puts around an id is measured on the id "x".
std::string id_part(const LocalName& n) {
  const std::string probe = LocalName::per_user("x").str();
  const std::size_t before = probe.rfind('x');
  const std::size_t after = probe.size() - before - 1;
  return n.str().substr(before, n.str().size() - before - after);
}

}  // namespace

TEST_CASE("per_user: distinct application ids never share a name") {
  // The hashed form of an id is not itself an id that is used as it is.
  const LocalName hashed = LocalName::per_user("org.example editor");
  const std::string leaf = id_part(hashed);
  INFO("hashed form: ", leaf);
  CHECK_FALSE(hashed == LocalName::per_user(leaf));
  // A per-session name is not the per-user name of some other id.
  const LocalName session = LocalName::per_session("app");
  if (!(session == LocalName::per_user("app"))) {  // a session is known here
    INFO("per-session name: ", session.str());
    CHECK_FALSE(session == LocalName::per_user(id_part(session)));
  }
}

TEST_CASE(
    "per_user: ids that differ only in case or end in dots are valid, distinct names everywhere") {
  // Pipe names are case-insensitive on Windows, socket files are not: the rule must be
  // the same on every platform, and so must the names an id is allowed to give.
  for (const char* id : {"org.example.app.", "editor..", "a ", "Editor"}) {
    std::error_code ec;
    const LocalName n = LocalName::per_user(id, ec);
    INFO("id: '", std::string(id), "'");
    CHECK_FALSE(ec);
    CHECK_FALSE(n.empty());
  }
  CHECK_FALSE(LocalName::per_user("Editor") == LocalName::per_user("editor"));
  CHECK_FALSE(LocalName::per_user("org.example.app.") == LocalName::per_user("org.example.app"));
  meet(LocalName::per_user(localsock::test::unique_name("pe") + "."));
}
