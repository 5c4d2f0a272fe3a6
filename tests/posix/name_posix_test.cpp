// SPDX-License-Identifier: MIT
#include <localsock/capabilities.hpp>
#include <localsock/error.hpp>
#include <localsock/name.hpp>
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_stream.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

using localsock::errc;
using localsock::LocalName;

// sun_path is 108 bytes on Linux: 107 bytes of path and the terminating NUL.
TEST_CASE("LocalName::path: 107 bytes fit, 108 do not, and the message says 107") {
  std::error_code ec;
  const std::string fits = "/" + std::string(106, 'p');
  CHECK(LocalName::path(fits, ec).str() == fits);
  CHECK_FALSE(ec);
  const std::string too_long = "/" + std::string(107, 'p');
  LocalName::path(too_long, ec);
  CHECK(ec == errc::name_too_long);
  CHECK(ec.message().find("107") != std::string::npos);
  try {
    LocalName::path(too_long);
    FAIL("no exception");
  } catch (const localsock::Error& e) {
    CHECK(std::string(e.what()).find("107") != std::string::npos);
    CHECK(e.name() == too_long);
  }
}

TEST_CASE("LocalName: Unix supports filesystem names; Linux also abstract names") {
  CHECK(LocalName::supported().path);
  if (localsock::capabilities().abstract_names) {
    CHECK(LocalName::supported().namespaced);
    CHECK(LocalName::namespaced("svc").native() == "@svc");
    std::error_code ec;
    LocalName::namespaced(std::string(107, 'a'), ec);
    CHECK_FALSE(ec);
    LocalName::namespaced(std::string(108, 'a'), ec);
    CHECK(ec == errc::name_too_long);
  } else {
    // macOS, BSD, the generic flavor: a socket file in this user's private directory.
    CHECK_FALSE(LocalName::supported().namespaced);
    const std::string native = LocalName::namespaced("svc").native();
    CHECK(native.ends_with("/localsock-" + std::to_string(::geteuid()) + "/svc.sock"));
    std::error_code ec;
    LocalName::namespaced("a/b", ec);
    CHECK(ec == errc::invalid_name);
  }
}

TEST_CASE("LocalName: a backslash is an ordinary character on Unix") {
  std::error_code ec;
  LocalName::namespaced("a\\b", ec);
  CHECK_FALSE(ec);
  CHECK(LocalName::path("/tmp/a\\b").native() == "/tmp/a\\b");
}

namespace {
// Sets an environment variable for the life of the object, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* var, const std::string& value) : var_(var) {
    if (const char* old = std::getenv(var)) old_ = old;
    ::setenv(var, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(var_, old_->c_str(), 1);
    else
      ::unsetenv(var_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* var_;
  std::optional<std::string> old_;
};

mode_t mode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}
}  // namespace

TEST_CASE(
    "namespaced names without an abstract namespace: the runtime directory is 0700 whatever the "
    "umask, and one of ours left without owner rights is repaired") {
  if (localsock::capabilities().abstract_names) {
    MESSAGE("abstract names: no runtime directory (run in the generic flavor)");
    return;
  }
  // A private base ($XDG_RUNTIME_DIR), so that the user's own runtime directory is left
  // alone.
  const std::string base =
      (std::filesystem::temp_directory_path() / localsock::test::unique_name("lrd")).string();
  REQUIRE(::mkdir(base.c_str(), 0700) == 0);
  ScopedEnv env("XDG_RUNTIME_DIR", base);
  const LocalName name = LocalName::namespaced(localsock::test::unique_name("n"));
  const std::string dir = name.native().substr(0, name.native().rfind('/'));
  REQUIRE(dir.starts_with(base + "/"));
  SUBCASE("made by a listener") {
    const mode_t old = ::umask(0277);
    std::error_code ec;
    {
      auto l = localsock::posix::UdListener::bind(name, {}, ec);
      CHECK_FALSE(ec);
    }
    ::umask(old);
    CHECK(mode_of(dir) == 0700);
  }
  SUBCASE("made by a mere connect") {
    const mode_t old = ::umask(0277);
    std::error_code ec;
    localsock::posix::UdStream::connect(name, ec);
    ::umask(old);
    CHECK(ec == errc::no_listener);
    CHECK(mode_of(dir) == 0700);
  }
  SUBCASE("an existing one of ours without owner rights is repaired") {
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    REQUIRE(::chmod(dir.c_str(), 0500) == 0);  // what a launch under umask 0277 left
    std::error_code ec;
    auto l = localsock::posix::UdListener::bind(name, {}, ec);
    CHECK_FALSE(ec);
    CHECK(mode_of(dir) == 0700);
  }
  SUBCASE("one open to others is refused, and left as it is") {
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    REQUIRE(::chmod(dir.c_str(), 0755) == 0);
    std::error_code ec;
    auto l = localsock::posix::UdListener::bind(name, {}, ec);
    CHECK(ec == errc::access_denied);
    CHECK(mode_of(dir) == 0755);
  }
  std::error_code ignored;
  std::filesystem::remove_all(base, ignored);
}
