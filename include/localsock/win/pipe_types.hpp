// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The words of the named-pipe module: direction, mode, role, the read and write sides
/// of a stream type, and their Win32 flag values.

#include <localsock/export.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <system_error>

namespace localsock::win {

/// The direction of a pipe connection, absolute: `ClientToServer` means client → server
/// for both ends.
enum class PipeDirection { ClientToServer, ServerToClient, Duplex };

/// How a pipe carries data: a byte stream, or messages whose boundaries are kept.
enum class PipeMode { Bytes, Messages };

/// The role of a stream, relative to its own end: `Reader` is ServerToClient on a
/// client and ClientToServer on a server.
enum class PipeStreamRole { Reader, Writer, ReaderAndWriter };

/// The role a server end plays on a pipe of direction `d` (ClientToServer: Reader).
constexpr PipeStreamRole server_role(PipeDirection d) noexcept {
  return d == PipeDirection::ClientToServer   ? PipeStreamRole::Reader
         : d == PipeDirection::ServerToClient ? PipeStreamRole::Writer
                                              : PipeStreamRole::ReaderAndWriter;
}
/// The role a client end plays on a pipe of direction `d` (ClientToServer: Writer).
constexpr PipeStreamRole client_role(PipeDirection d) noexcept {
  return d == PipeDirection::ClientToServer   ? PipeStreamRole::Writer
         : d == PipeDirection::ServerToClient ? PipeStreamRole::Reader
                                              : PipeStreamRole::ReaderAndWriter;
}
/// The direction of a pipe whose server end has role `r`.
constexpr PipeDirection direction_as_server(PipeStreamRole r) noexcept {
  return r == PipeStreamRole::Reader   ? PipeDirection::ClientToServer
         : r == PipeStreamRole::Writer ? PipeDirection::ServerToClient
                                       : PipeDirection::Duplex;
}
/// The direction of a pipe whose client end has role `r`.
constexpr PipeDirection direction_as_client(PipeStreamRole r) noexcept {
  return r == PipeStreamRole::Reader   ? PipeDirection::ServerToClient
         : r == PipeStreamRole::Writer ? PipeDirection::ClientToServer
                                       : PipeDirection::Duplex;
}

// The Win32 values, spelled out so that this header needs no <windows.h>; src/win
// checks them against the system headers.
namespace detail {
inline constexpr std::uint32_t pipe_access_inbound = 0x1;    // PIPE_ACCESS_INBOUND
inline constexpr std::uint32_t pipe_access_outbound = 0x2;   // PIPE_ACCESS_OUTBOUND
inline constexpr std::uint32_t pipe_access_duplex = 0x3;     // PIPE_ACCESS_DUPLEX
inline constexpr std::uint32_t pipe_type_byte = 0x0;         // PIPE_TYPE_BYTE
inline constexpr std::uint32_t pipe_type_message = 0x4;      // PIPE_TYPE_MESSAGE
inline constexpr std::uint32_t pipe_readmode_byte = 0x0;     // PIPE_READMODE_BYTE
inline constexpr std::uint32_t pipe_readmode_message = 0x2;  // PIPE_READMODE_MESSAGE
}  // namespace detail

/// The PIPE_ACCESS_* value of a direction (as given to CreateNamedPipe).
constexpr std::uint32_t to_pipe_access(PipeDirection d) noexcept {
  return d == PipeDirection::ClientToServer   ? detail::pipe_access_inbound
         : d == PipeDirection::ServerToClient ? detail::pipe_access_outbound
                                              : detail::pipe_access_duplex;
}
/// The direction of a PIPE_ACCESS_* value (other open-mode flags are ignored);
/// `std::errc::invalid_argument` for a value that names no direction.
LOCALSOCK_API PipeDirection direction_from_pipe_access(std::uint32_t access,
                                                       std::error_code& ec) noexcept;

/// The PIPE_TYPE_* value of a mode (as given to CreateNamedPipe).
constexpr std::uint32_t to_pipe_type(PipeMode m) noexcept {
  return m == PipeMode::Messages ? detail::pipe_type_message : detail::pipe_type_byte;
}
/// The PIPE_READMODE_* value of a mode (CreateNamedPipe, SetNamedPipeHandleState).
constexpr std::uint32_t to_read_mode(PipeMode m) noexcept {
  return m == PipeMode::Messages ? detail::pipe_readmode_message : detail::pipe_readmode_byte;
}
/// The mode of a PIPE_TYPE_* value (PIPE_TYPE_BYTE or PIPE_TYPE_MESSAGE exactly);
/// `std::errc::invalid_argument` for any other value.
LOCALSOCK_API PipeMode pipe_mode_from_pipe_type(std::uint32_t type, std::error_code& ec) noexcept;

/// The read or the write side of a stream type: absent, bytes or messages.
enum class StreamMode { None, Bytes, Messages };

/// The most one ReadFile or WriteFile on a pipe carries, 2 GiB − 1 bytes (a DWORD length
/// kept below 2^31, as the system's pipe code expects): the largest message a pipe stream
/// sends, and the largest piece of any read or write.
inline constexpr std::size_t max_io_size = 0x7fffffff;

/// Compile-time properties of a pipe stream type.
template <typename T>
concept PipeStream = requires {
  { T::role } -> std::convertible_to<PipeStreamRole>;
  { T::read_mode } -> std::convertible_to<StreamMode>;
  { T::write_mode } -> std::convertible_to<StreamMode>;
};

}  // namespace localsock::win
