// SPDX-License-Identifier: MIT
// The named-pipe module's words as Win32 flag values, and back.
#include <localsock/win/pipe_types.hpp>

#include <windows.h>

namespace localsock::win {

// The header spells the Win32 values out; they must be the system's.
static_assert(detail::pipe_access_inbound == PIPE_ACCESS_INBOUND);
static_assert(detail::pipe_access_outbound == PIPE_ACCESS_OUTBOUND);
static_assert(detail::pipe_access_duplex == PIPE_ACCESS_DUPLEX);
static_assert(detail::pipe_type_byte == PIPE_TYPE_BYTE);
static_assert(detail::pipe_type_message == PIPE_TYPE_MESSAGE);
static_assert(detail::pipe_readmode_byte == PIPE_READMODE_BYTE);
static_assert(detail::pipe_readmode_message == PIPE_READMODE_MESSAGE);

PipeMode pipe_mode_from_pipe_type(std::uint32_t type, std::error_code& ec) noexcept {
  ec.clear();
  switch (type) {
    case PIPE_TYPE_BYTE:
      return PipeMode::Bytes;
    case PIPE_TYPE_MESSAGE:
      return PipeMode::Messages;
    default:
      ec = std::make_error_code(std::errc::invalid_argument);
      return PipeMode::Bytes;
  }
}

PipeDirection direction_from_pipe_access(std::uint32_t access, std::error_code& ec) noexcept {
  ec.clear();
  switch (access & PIPE_ACCESS_DUPLEX) {
    case PIPE_ACCESS_INBOUND:
      return PipeDirection::ClientToServer;
    case PIPE_ACCESS_OUTBOUND:
      return PipeDirection::ServerToClient;
    case PIPE_ACCESS_DUPLEX:
      return PipeDirection::Duplex;
    default:
      ec = std::make_error_code(std::errc::invalid_argument);
      return PipeDirection::Duplex;
  }
}
}  // namespace localsock::win
