// SPDX-License-Identifier: MIT
#include "faults.hpp"

#include <localsock/testing_names.hpp>

#include <mutex>
#include <string>

#include "desktop.hpp"

namespace localsock::detail {

std::atomic<bool> faults_armed{false};

namespace {
constexpr int kinds = static_cast<int>(Fault::out_of_handles) + 1;
std::atomic<int> armed[kinds];

void update_armed() noexcept {
  bool any = false;
  for (auto& a : armed) any = any || a.load() > 0;
  faults_armed = any;
}
}  // namespace

bool take_fault(Fault fault) noexcept {
  auto& left = armed[static_cast<int>(fault)];
  int n = left.load();
  while (n > 0 && !left.compare_exchange_weak(n, n - 1)) {
  }
  if (n <= 0) return false;
  if (n == 1) update_armed();
  return true;
}

std::atomic<bool> hooks_set{false};

namespace {
constexpr int hook_kinds = static_cast<int>(Hook::socket_linked) + 1;
std::mutex hook_mutex;
std::function<void()> hooks[hook_kinds];
}  // namespace

void call_hook(Hook hook) {
  std::function<void()> fn;
  {
    std::lock_guard lock(hook_mutex);
    fn = hooks[static_cast<int>(hook)];
  }
  if (fn) fn();  // outside the lock: the hook may call into the library
}

namespace {
std::mutex base_mutex;
std::string per_user_base;
}  // namespace

std::string per_user_base_override() {
  std::lock_guard lock(base_mutex);
  return per_user_base;
}

}  // namespace localsock::detail

namespace localsock::testing {

void set_per_user_base(std::string dir) {
  std::lock_guard lock(detail::base_mutex);
  detail::per_user_base = std::move(dir);
}

void set_hook(Hook hook, std::function<void()> fn) {
  std::lock_guard lock(detail::hook_mutex);
  detail::hooks[static_cast<int>(hook)] = std::move(fn);
  bool any = false;
  for (const auto& h : detail::hooks) any = any || static_cast<bool>(h);
  detail::hooks_set = any;
}

void arm_fault(Fault fault, int times) noexcept {
  detail::armed[static_cast<int>(fault)] += times;
  detail::update_armed();
}

int faults_left(Fault fault) noexcept { return detail::armed[static_cast<int>(fault)].load(); }

void clear_faults() noexcept {
  for (auto& a : detail::armed) a = 0;
  detail::faults_armed = false;
}

}  // namespace localsock::testing
