// SPDX-License-Identifier: MIT
#include <localsock/error.hpp>

#include "platform.hpp"

namespace localsock {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "localsock"; }

  std::string message(int value) const override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_name:
        return "invalid name";
      case errc::name_too_long:
        return "name too long (" + detail::name_limit_text() + ")";
      case errc::name_in_use:
        return "name in use by another listener";
      case errc::no_listener:
        return "no listener at this name";
      case errc::peer_closed:
        return "peer closed the connection";
      case errc::timed_out:
        return "timed out";
      case errc::pipe_busy:
        return "all pipe instances are busy";
      case errc::message_truncated:
        return "message larger than the buffer";
      case errc::message_too_large:
        return "message larger than the allowed maximum";
      case errc::not_supported:
        return "not supported on this platform";
      case errc::listener_closed:
        return "listener closed";
      case errc::would_block:
        return "operation would block";
      case errc::not_connected:
        return "not connected";
      case errc::stale_name:
        return "a stale socket file is in the way (nobody listens on it)";
      case errc::not_a_socket:
        return "something that is not a socket is in the way";
      case errc::mode_mismatch:
        return "the mode does not fit the stream type (bytes versus messages)";
      case errc::wrong_end:
        return "not possible on this end of the connection (server or client only)";
      case errc::access_denied:
        return detail::access_denied_text();
      case errc::out_of_resources:
        return "out of descriptors or handles";
      case errc::shut_down:
        return "the socket was shut down for sending";
      case errc::no_such_directory:
        return "the directory for the socket file does not exist";
      case errc::directory_access_denied:
        return "access denied on the directory for the socket file";
    }
    return "unknown localsock error " + std::to_string(value);
  }

  // Lets library codes compare equal to the std::errc condition with the same meaning.
  std::error_condition default_error_condition(int value) const noexcept override {
    switch (static_cast<errc>(value)) {
      case errc::invalid_name:
        return std::errc::invalid_argument;
      case errc::name_too_long:
        return std::errc::filename_too_long;
      case errc::name_in_use:
        return std::errc::address_in_use;
      case errc::no_listener:
        return std::errc::connection_refused;
      case errc::peer_closed:
        return std::errc::broken_pipe;
      case errc::timed_out:
        return std::errc::timed_out;
      case errc::pipe_busy:
        return std::errc::device_or_resource_busy;
      case errc::message_truncated:
      case errc::message_too_large:
        return std::errc::message_size;
      case errc::not_supported:
        return std::errc::not_supported;
      case errc::listener_closed:
        return std::errc::operation_canceled;
      case errc::would_block:
        return std::errc::operation_would_block;
      case errc::not_connected:
        return std::errc::not_connected;
      case errc::stale_name:
        return std::errc::address_in_use;
      case errc::not_a_socket:
        return std::errc::not_a_socket;
      case errc::mode_mismatch:
        return std::errc::invalid_argument;
      case errc::wrong_end:
        return std::errc::operation_not_permitted;
      case errc::access_denied:
        return std::errc::permission_denied;
      case errc::out_of_resources:
        return std::errc::too_many_files_open;
      case errc::shut_down:
        return std::errc::broken_pipe;
      case errc::no_such_directory:
        return std::errc::no_such_file_or_directory;
      case errc::directory_access_denied:
        return std::errc::permission_denied;
    }
    return {value, *this};
  }

  // `ec == localsock::errc::X` holds for the library's own code X and for every native
  // error the platform's table says means X.
  bool equivalent(const std::error_code& code, int condition) const noexcept override {
    if (code.category() == *this) {
      // Refinements still match the broader condition a caller may test: a stale socket
      // file is a name nobody listens on; a directory refused is access refused.
      const auto c = static_cast<errc>(condition);
      const auto v = static_cast<errc>(code.value());
      return code.value() == condition || (c == errc::no_listener && v == errc::stale_name) ||
             (c == errc::access_denied && v == errc::directory_access_denied);
    }
    if (code.category() == std::system_category())
      return detail::system_error_means(code.value(), static_cast<errc>(condition));
    return false;
  }
};

// A native error that means one of localsock's conditions is described by that
// condition first, so that one failure reads the same on every platform, then by the
// system's own text: "no listener at this name (Connection refused)".
}  // namespace

std::string describe(const std::error_code& ec) {
  if (ec.category() != std::system_category()) return ec.message();
  std::string native = detail::system_message(ec.value());
  for (int v = static_cast<int>(errc::invalid_name);
       v <= static_cast<int>(errc::directory_access_denied); ++v) {
    if (detail::system_error_means(ec.value(), static_cast<errc>(v)))
      return category().message(v) + " (" + native + ")";
  }
  return native;
}

namespace {

std::string compose(const std::error_code& ec, std::string_view operation, std::string_view name) {
  std::string text(operation);
  if (!name.empty()) {
    text += " '";
    text += name;
    text += '\'';
  }
  text += ": ";
  text += describe(ec);
  return text;
}

}  // namespace

const std::error_category& category() noexcept {
  static const Category instance;
  return instance;
}

std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), category()}; }

std::error_condition make_error_condition(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

// The message is built here rather than by std::system_error so that native errors are
// described by the platform (libstdc++ on Windows does not know Win32 error texts).
Error::Error(std::error_code ec, std::string_view operation, std::string_view name)
    : std::system_error(ec),
      operation_(operation),
      name_(name),
      what_(compose(ec, operation, name)) {}

}  // namespace localsock
