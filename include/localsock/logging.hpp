// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Where localsock's log lines go. The library logs the life of listeners and
/// connections (bound, accepted, connected, closed) and the errors it reports, at debug
/// level; per-message paths log nothing above trace. Nothing is logged until the
/// application asks for it: set_log_callback, or set_logger from the optional header
/// <localsock/spdlog.hpp> for an spdlog logger (only that header needs spdlog).

#include <localsock/export.hpp>

#include <functional>
#include <string_view>

namespace localsock {

enum class LogLevel { trace, debug, info, warn, error, off };

/// Receives each log line with its level; must be thread-safe (the library logs from
/// whichever thread does the work).
using LogCallback = std::function<void(LogLevel level, std::string_view message)>;

/// Sends log lines at `level` and above to `cb`; an empty callback silences the library.
/// Replaces a logger set before. Thread-safe.
LOCALSOCK_API void set_log_callback(LogCallback cb, LogLevel level = LogLevel::debug);

/// The level below which nothing is even formatted (`off` while nobody listens).
LOCALSOCK_API LogLevel log_level() noexcept;

}  // namespace localsock
