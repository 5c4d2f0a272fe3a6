// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/export.hpp>

#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace localsock {

/// Conditions that localsock reports or recognises, portable across Windows and Unix.
///
/// `errc` is an error *condition* enum, like `std::errc`: compare any `std::error_code`
/// the library returns against it (`ec == localsock::errc::no_listener`). Operating-system
/// errors keep their original value in `std::system_category()`; they still compare
/// equal to the matching condition here (ECONNREFUSED and ERROR_FILE_NOT_FOUND at connect
/// are both `errc::no_listener`). Conditions the OS has no code for (an invalid name, a
/// truncated message) are produced by the library in `localsock::category()`; those
/// codes also compare equal to the matching `std::errc` where one exists.
enum class errc {
  invalid_name = 1,         ///< The name is empty, holds a NUL or a forbidden character.
  name_too_long,            ///< The name exceeds the platform's limit (the message states it).
  name_in_use,              ///< Another live listener holds the name.
  no_listener,              ///< Nobody listens on the name.
  peer_closed,              ///< The peer closed the connection or went away.
  timed_out,                ///< The operation did not complete within its timeout.
  pipe_busy,                ///< Every instance of the Windows pipe is busy.
  message_truncated,        ///< A message is larger than the buffer offered for it.
  message_too_large,        ///< A message exceeds the configured maximum size.
  not_supported,            ///< The operation is not supported on this platform.
  listener_closed,          ///< The listener was closed, possibly by another thread.
  would_block,              ///< A nonblocking operation cannot complete now.
  not_connected,            ///< The object holds no open connection.
  stale_name,               ///< A socket file exists at the name but nobody listens on it.
  not_a_socket,             ///< Something that is not a socket exists at the name.
  mode_mismatch,            ///< Bytes where messages are needed, or the reverse.
  wrong_end,                ///< The operation belongs to the other end (server or client).
  access_denied,            ///< This user may not reach the listener (Unix: the socket file
                            ///< or a directory on its path refuses it, the errno cannot
                            ///< tell which; Windows: the pipe's DACL), or a check of the
                            ///< peer's identity refused the connection.
  out_of_resources,         ///< The process or system ran out of descriptors or handles (or
                            ///< kernel memory for them).
  shut_down,                ///< This end shut down sending (shutdown()): nothing more can be
                            ///< written. Compares equal to `std::errc::broken_pipe`, but not to
                            ///< `peer_closed`.
  no_such_directory,        ///< bind: the directory that would hold the socket file does not
                            ///< exist. Compares equal to `std::errc::no_such_file_or_directory`.
  directory_access_denied,  ///< bind: the directory that would hold the socket file may not
                            ///< be written by this process. Compares equal to
                            ///< `errc::access_denied` and `std::errc::permission_denied`.
                            ///< (Last: see describe() in error.cpp.)
};

/// The error category of localsock's own codes and conditions.
/// @par Thread Safety: safe to call from any thread.
LOCALSOCK_API const std::error_category& category() noexcept;

/// Makes an error code in localsock's category.
LOCALSOCK_API std::error_code make_error_code(errc e) noexcept;

/// Makes an error condition in localsock's category (used by `ec == errc::...`).
LOCALSOCK_API std::error_condition make_error_condition(errc e) noexcept;

/// A text a user understands for any error code the library reports: the localsock
/// condition the error means, then the system's own text, for example
/// `no listener at this name (Connection refused)`; localsock's own codes read as their
/// message. The error_code overloads read as well as `Error::what()` through it (which
/// adds the operation and the name): `std::puts(localsock::describe(ec).c_str())`.
/// @par Thread Safety: safe to call from any thread.
LOCALSOCK_API std::string describe(const std::error_code& ec);

/// The exception every throwing overload of localsock throws.
///
/// `what()` reads `Operation 'name': message`, for example
/// `LocalSocket::connect 'ipc-demo': no listener at this name`.
class LOCALSOCK_API Error : public std::system_error {
 public:
  /// @param ec the error; @param operation the operation that failed;
  /// @param name the local name involved (may be empty).
  Error(std::error_code ec, std::string_view operation, std::string_view name);

  /// The operation that failed, for example `LocalListener::bind`.
  const std::string& operation() const noexcept { return operation_; }
  /// The local name involved, or an empty string.
  const std::string& name() const noexcept { return name_; }
  /// `Operation 'name': message`.
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string operation_;
  std::string name_;
  std::string what_;
};

namespace detail {
/// Throws `localsock::Error` when `ec` holds an error.
inline void throw_if(const std::error_code& ec, std::string_view operation, std::string_view name) {
  if (ec) throw Error(ec, operation, name);
}

/// Calls `f(ec)` and throws localsock::Error when it reports an error: the throwing
/// overload of every operation is its `std::error_code&` overload run through this.
template <typename F>
auto or_throw(std::string_view operation, std::string_view name, F&& f) {
  std::error_code ec;
  if constexpr (std::is_void_v<decltype(f(ec))>) {
    f(ec);
    throw_if(ec, operation, name);
  } else {
    auto result = f(ec);
    throw_if(ec, operation, name);
    return result;
  }
}
}  // namespace detail

}  // namespace localsock

template <>
struct std::is_error_condition_enum<localsock::errc> : std::true_type {};
