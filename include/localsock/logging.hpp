// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Where localsock's log lines go. The library logs the life of listeners and
/// connections (bound, accepted, connected, closed) and the errors it reports, at debug
/// level; per-message paths log nothing above trace. Nothing is logged until the
/// application asks for it: with spdlog (the `logging` build feature), set_logger; in
/// any build, set_log_callback.

#include <localsock/config.hpp>

#include <functional>
#include <string_view>

#if LOCALSOCK_WITH_SPDLOG
#include <memory>
#include <spdlog/logger.h>
#endif

namespace localsock {

enum class LogLevel { trace, debug, info, warn, error, off };

/// Receives each log line with its level; must be thread-safe (the library logs from
/// whichever thread does the work).
using LogCallback = std::function<void(LogLevel level, std::string_view message)>;

/// Sends log lines at `level` and above to `cb`; an empty callback silences the library.
/// Replaces a logger set before. Thread-safe.
void set_log_callback(LogCallback cb, LogLevel level = LogLevel::debug);

/// The level below which nothing is even formatted (`off` while nobody listens).
LogLevel log_level() noexcept;

#if LOCALSOCK_WITH_SPDLOG
/// Sends log lines to an spdlog logger, filtered by the logger's own level; nullptr
/// silences the library. Replaces a callback set before. Thread-safe.
void set_logger(std::shared_ptr<spdlog::logger> logger);
#endif

}  // namespace localsock
