// SPDX-License-Identifier: MIT
#include "log.hpp"

#include <memory>
#include <mutex>

namespace localsock::detail {

std::atomic<int> log_threshold{static_cast<int>(LogLevel::off)};

namespace {

struct Sink {
  std::mutex mutex;
  LogCallback callback;
#if LOCALSOCK_WITH_SPDLOG
  std::shared_ptr<spdlog::logger> logger;
#endif
};

Sink& sink() {
  static Sink s;
  return s;
}

#if LOCALSOCK_WITH_SPDLOG
spdlog::level::level_enum to_spdlog(LogLevel l) {
  switch (l) {
    case LogLevel::trace: return spdlog::level::trace;
    case LogLevel::debug: return spdlog::level::debug;
    case LogLevel::info: return spdlog::level::info;
    case LogLevel::warn: return spdlog::level::warn;
    case LogLevel::error: return spdlog::level::err;
    case LogLevel::off: break;
  }
  return spdlog::level::off;
}
#endif

}  // namespace

void emit_log(LogLevel level, const std::string& line) {
  Sink& s = sink();
  // Copies under the lock, calls outside it: a callback may log or change the sink.
  LogCallback cb;
#if LOCALSOCK_WITH_SPDLOG
  std::shared_ptr<spdlog::logger> logger;
#endif
  {
    std::lock_guard lock(s.mutex);
    cb = s.callback;
#if LOCALSOCK_WITH_SPDLOG
    logger = s.logger;
#endif
  }
  if (cb) cb(level, line);
#if LOCALSOCK_WITH_SPDLOG
  if (logger) logger->log(to_spdlog(level), "{}", line);
#endif
}

}  // namespace localsock::detail

namespace localsock {

void set_log_callback(LogCallback cb, LogLevel level) {
  detail::Sink& s = detail::sink();
  std::lock_guard lock(s.mutex);
  const bool on = static_cast<bool>(cb);
  s.callback = std::move(cb);
#if LOCALSOCK_WITH_SPDLOG
  s.logger.reset();
#endif
  detail::log_threshold = static_cast<int>(on ? level : LogLevel::off);
}

LogLevel log_level() noexcept { return static_cast<LogLevel>(detail::log_threshold.load()); }

#if LOCALSOCK_WITH_SPDLOG
void set_logger(std::shared_ptr<spdlog::logger> logger) {
  detail::Sink& s = detail::sink();
  std::lock_guard lock(s.mutex);
  s.callback = {};
  // spdlog filters by the logger's level; below debug only when the logger wants it.
  int threshold = static_cast<int>(LogLevel::off);
  if (logger) threshold = logger->level() <= spdlog::level::trace ? static_cast<int>(LogLevel::trace)
                                                                  : static_cast<int>(LogLevel::debug);
  s.logger = std::move(logger);
  detail::log_threshold = threshold;
}
#endif

}  // namespace localsock
