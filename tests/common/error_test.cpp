// SPDX-License-Identifier: MIT
#include <localsock/error.hpp>

#include <string>

#include "doctest_ext.hpp"

using localsock::errc;

TEST_CASE("errc: library codes compare equal to their condition and to std::errc") {
  const std::error_code ec = localsock::make_error_code(errc::timed_out);
  CHECK(ec.category() == localsock::category());
  CHECK(ec == errc::timed_out);
  CHECK(ec != errc::peer_closed);
  CHECK(ec == std::errc::timed_out);
  CHECK(localsock::make_error_code(errc::name_in_use) == std::errc::address_in_use);
  CHECK(localsock::make_error_code(errc::invalid_name) == std::errc::invalid_argument);
  CHECK(localsock::make_error_code(errc::name_too_long) == std::errc::filename_too_long);
  CHECK(localsock::make_error_code(errc::message_truncated) == std::errc::message_size);
  CHECK(localsock::make_error_code(errc::would_block) == std::errc::operation_would_block);
  CHECK(localsock::make_error_code(errc::listener_closed) == std::errc::operation_canceled);
  CHECK(localsock::make_error_code(errc::out_of_resources) == std::errc::too_many_files_open);
  CHECK(localsock::make_error_code(errc::shut_down) == std::errc::broken_pipe);
  CHECK_FALSE(localsock::make_error_code(errc::shut_down) == errc::peer_closed);
}

TEST_CASE("errc: every code has a message of its own") {
  CHECK(std::string(localsock::category().name()) == "localsock");
  for (int v = static_cast<int>(errc::invalid_name); v <= static_cast<int>(errc::shut_down); ++v) {
    const std::string m = localsock::category().message(v);
    CAPTURE(v);
    CHECK_FALSE(m.empty());
    CHECK(m.find("unknown") == std::string::npos);
  }
  CHECK(localsock::category().message(999).find("unknown") != std::string::npos);
}

TEST_CASE("errc: the name-too-long message states the platform's limit") {
  const std::string m = localsock::make_error_code(errc::name_too_long).message();
  CHECK(m.find_first_of("0123456789") != std::string::npos);
}

TEST_CASE("Error: the message names the operation and the local name") {
  const localsock::Error e(localsock::make_error_code(errc::no_listener), "LocalSocket::connect",
                           "ipc-demo");
  CHECK(std::string(e.what()) == "LocalSocket::connect 'ipc-demo': no listener at this name");
  CHECK(e.code() == errc::no_listener);
  CHECK(e.operation() == "LocalSocket::connect");
  CHECK(e.name() == "ipc-demo");
  // It is a std::system_error, catchable as such.
  const std::system_error& base = e;
  CHECK(base.code() == std::errc::connection_refused);
}

TEST_CASE("Error: without a name the message has no empty quotes") {
  const localsock::Error e(localsock::make_error_code(errc::timed_out), "op", "");
  CHECK(std::string(e.what()) == "op: timed out");
}

TEST_CASE("throw_if: throws only for an error") {
  CHECK_NOTHROW(localsock::detail::throw_if({}, "op", "n"));
  CHECK_THROWS_AS(
      localsock::detail::throw_if(localsock::make_error_code(errc::timed_out), "op", "n"),
      localsock::Error);
}

TEST_CASE("errc: codes of other categories never match a localsock condition") {
  CHECK(std::make_error_code(std::errc::timed_out) != errc::timed_out);
  CHECK(std::make_error_code(std::io_errc::stream) != errc::peer_closed);
}
