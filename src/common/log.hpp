// SPDX-License-Identifier: MIT
#pragma once

// The library's side of logging: a cheap level check, then one formatted line.

#include <localsock/logging.hpp>

#include <atomic>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>

namespace localsock::detail {

/// The lowest level anyone receives, as an int; LogLevel::off when nobody listens.
extern std::atomic<int> log_threshold;

void emit_log(LogLevel level, const std::string& line);

/// Logs the parts, streamed together, when `level` is wanted; costs one relaxed load
/// when it is not. Never throws: a line that cannot be made is dropped.
template <typename... Parts>
void log(LogLevel level, Parts&&... parts) noexcept {
  if (static_cast<int>(level) < log_threshold.load(std::memory_order_relaxed)) return;
  try {
    std::ostringstream line;
    (line << ... << std::forward<Parts>(parts));
    emit_log(level, line.str());
  } catch (...) {
  }
}

/// Logs the outcome of a lifecycle step at debug level: "what 'name'" or, on error,
/// "what 'name' failed: message".
inline void log_step(const char* what, const std::string& name,
                     const std::error_code& ec) noexcept {
  if (ec)
    log(LogLevel::debug, what, " '", name, "' failed: ", ec.message());
  else
    log(LogLevel::debug, what, " '", name, "'");
}

}  // namespace localsock::detail
