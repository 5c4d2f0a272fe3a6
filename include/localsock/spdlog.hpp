// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Optional: sends localsock's log lines to an spdlog logger. Header only, built on
/// set_log_callback: the library itself never includes nor links spdlog, so an installed
/// localsock is usable where spdlog is absent; only a program that includes this header
/// needs spdlog (and links it as spdlog asks).

#include <localsock/logging.hpp>

#include <memory>
#include <string_view>
#include <utility>

#include <spdlog/logger.h>

namespace localsock {

namespace detail {
/// localsock's level as spdlog's.
inline spdlog::level::level_enum to_spdlog_level(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::trace:
      return spdlog::level::trace;
    case LogLevel::debug:
      return spdlog::level::debug;
    case LogLevel::info:
      return spdlog::level::info;
    case LogLevel::warn:
      return spdlog::level::warn;
    case LogLevel::error:
      return spdlog::level::err;
    case LogLevel::off:
      break;
  }
  return spdlog::level::off;
}
}  // namespace detail

/// Sends log lines to an spdlog logger, filtered by the logger's own level; nullptr
/// silences the library. Replaces a callback or logger set before.
/// Lines below debug are produced only when the logger's level is trace at this call.
/// @param logger the logger (localsock never touches spdlog's default logger).
/// @par Thread Safety: safe to call from any thread; the logger must be thread-safe
/// (an `_mt` sink), as the library logs from whichever thread does the work.
inline void set_logger(std::shared_ptr<spdlog::logger> logger) {
  if (!logger) {
    set_log_callback({});
    return;
  }
  const LogLevel threshold =
      logger->level() <= spdlog::level::trace ? LogLevel::trace : LogLevel::debug;
  set_log_callback(
      [logger = std::move(logger)](LogLevel level, std::string_view line) {
        logger->log(detail::to_spdlog_level(level), "{}", line);
      },
      threshold);
}

}  // namespace localsock
