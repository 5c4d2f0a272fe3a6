// SPDX-License-Identifier: MIT
#include <localsock/localsock.hpp>
#include <localsock/logging.hpp>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "doctest_ext.hpp"
#include "unique_name.hpp"

#if LOCALSOCK_TEST_SPDLOG
#include <localsock/spdlog.hpp>
#include <spdlog/sinks/ostream_sink.h>

#include <sstream>
#endif

using localsock::LogLevel;

namespace {

// One listener, one connection, both closed: the lifecycle the library logs.
void lifecycle(const localsock::LocalName& name) {
  auto listener = localsock::LocalListener::bind(name);
  std::thread t([&] { listener.accept(); });
  auto c = localsock::LocalSocket::connect(name);
  t.join();
  listener.close();
  std::error_code ec;
  localsock::LocalSocket::connect(
      localsock::ConnectOptions(name).timeout(std::chrono::milliseconds(100)), ec);
}

bool any_contains(const std::vector<std::string>& lines, const std::string& what) {
  for (const auto& l : lines)
    if (l.find(what) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("logging: a callback receives the lifecycle at debug level, and can be removed") {
  std::mutex m;
  std::vector<std::string> lines;
  localsock::set_log_callback([&](LogLevel level, std::string_view text) {
    std::lock_guard lock(m);
    CHECK(level == LogLevel::debug);
    lines.emplace_back(text);
  });
  CHECK(localsock::log_level() == LogLevel::debug);
  const auto name = localsock::LocalName::namespaced(localsock::test::unique_name("llg"));
  lifecycle(name);
  CAPTURE(lines.size());
  CHECK(any_contains(lines, "listen on '" + name.str() + "'"));
  CHECK(any_contains(lines, "accept on '" + name.str() + "'"));
  CHECK(any_contains(lines, "connect to '" + name.str() + "'"));
  CHECK(any_contains(lines, "closed listener '" + name.str() + "'"));
  CHECK(any_contains(lines, "connect to '" + name.str() + "' failed: "));  // after the close

  // Above debug, nothing; an empty callback silences the library.
  lines.clear();
  localsock::set_log_callback([&](LogLevel, std::string_view text) { lines.emplace_back(text); },
                              LogLevel::info);
  lifecycle(localsock::LocalName::namespaced(localsock::test::unique_name("llg")));
  CHECK(lines.empty());
  localsock::set_log_callback({});
  CHECK(localsock::log_level() == LogLevel::off);
}

#if LOCALSOCK_TEST_SPDLOG
TEST_CASE("logging: an spdlog logger receives the lines, filtered by its level") {
  std::ostringstream out;
  auto logger = std::make_shared<spdlog::logger>(
      "localsock", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
  logger->set_level(spdlog::level::debug);
  localsock::set_logger(logger);
  const auto name = localsock::LocalName::namespaced(localsock::test::unique_name("llg"));
  lifecycle(name);
  CHECK(out.str().find("listen on '" + name.str() + "'") != std::string::npos);
  out.str("");
  logger->set_level(spdlog::level::info);
  lifecycle(localsock::LocalName::namespaced(localsock::test::unique_name("llg")));
  CHECK(out.str().empty());
  localsock::set_logger(nullptr);
  CHECK(localsock::log_level() == LogLevel::off);
}
#endif
