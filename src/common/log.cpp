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
};

Sink& sink() {
  static Sink s;
  return s;
}

}  // namespace

void emit_log(LogLevel level, const std::string& line) {
  Sink& s = sink();
  // Copies under the lock, calls outside it: a callback may log or change the sink.
  LogCallback cb;
  {
    std::lock_guard lock(s.mutex);
    cb = s.callback;
  }
  if (cb) cb(level, line);
}

}  // namespace localsock::detail

namespace localsock {

void set_log_callback(LogCallback cb, LogLevel level) {
  detail::Sink& s = detail::sink();
  std::lock_guard lock(s.mutex);
  const bool on = static_cast<bool>(cb);
  s.callback = std::move(cb);
  detail::log_threshold = static_cast<int>(on ? level : LogLevel::off);
}

LogLevel log_level() noexcept { return static_cast<LogLevel>(detail::log_threshold.load()); }

}  // namespace localsock
