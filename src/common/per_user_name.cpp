// SPDX-License-Identifier: MIT
// Per-user and per-session names: the portable part (validation, the length rule);
// the platform computes where the name lives (src/*/per_user_name.cpp).
#include <localsock/name.hpp>

#include <cstdio>

#include "desktop.hpp"
#include "platform.hpp"

namespace localsock {
namespace detail {
namespace {

bool safe_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

bool hex_digit(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// The hash stands for the whole id; the prefix only helps a person reading `ls` or a
// pipe listing.
constexpr std::size_t hash_digits = 16;
constexpr std::size_t max_prefix = 32;

// Whether `app` ends as the hashed form does: `-` and 16 lowercase hex digits.
bool looks_hashed(std::string_view app) noexcept {
  if (app.size() < hash_digits + 1 || app[app.size() - hash_digits - 1] != '-') return false;
  for (const char c : app.substr(app.size() - hash_digits)) {
    if (!hex_digit(c)) return false;
  }
  return true;
}

// Whether `app` is used in a name as it is. Only lowercase ASCII letters, digits, `.`,
// `_` and `-`: no uppercase, since Windows pipe names ignore case and socket files do
// not (so that `Editor` and `editor` are two names on every platform); not starting or
// ending with `.` (Win32 drops a trailing dot: `app.` would reach the pipe `app`); and
// not of the hashed form, which only hashing makes, so that no id is taken for another.
bool used_as_is(std::string_view app) noexcept {
  if (app.empty() || app.front() == '.' || app.back() == '.' || looks_hashed(app)) return false;
  for (const char c : app) {
    if (!safe_char(c) || (c >= 'A' && c <= 'Z')) return false;
  }
  return true;
}

}  // namespace

std::uint64_t fnv1a64(std::string_view data) noexcept {
  std::uint64_t h = 14695981039346656037ull;
  for (const char c : data) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string per_user_leaf(std::string_view app, std::size_t room) {
  if (used_as_is(app) && app.size() <= room) return std::string(app);
  if (room < hash_digits) return {};
  std::string prefix;
  for (const char c : app) {
    if (prefix.size() >= max_prefix || prefix.size() + 1 + hash_digits >= room) break;
    if (safe_char(c) && !(prefix.empty() && c == '.')) prefix += c;
  }
  char digits[hash_digits + 1];
  std::snprintf(digits, sizeof digits, "%016llx", static_cast<unsigned long long>(fnv1a64(app)));
  return prefix.empty() ? std::string(digits) : prefix + "-" + digits;
}

}  // namespace detail

namespace {

LocalName make_per_user(std::string_view app, bool session, std::error_code& ec,
                        LocalName (*make)(NameKind, std::string)) {
  ec.clear();
  if (app.empty() || app.find('\0') != std::string_view::npos) {
    ec = make_error_code(errc::invalid_name);
    return {};
  }
  detail::PerUserName n = detail::per_user_name(app, session, ec);
  if (!ec) ec = detail::validate_name(n.kind, n.name);
  return ec ? LocalName{} : make(n.kind, std::move(n.name));
}

}  // namespace

LocalName LocalName::per_user(std::string_view app, std::error_code& ec) {
  return make_per_user(app, false, ec, [](NameKind kind, std::string name) {
    LocalName result(kind, std::move(name));
    result.per_user_ = true;
    return result;
  });
}

LocalName LocalName::per_user(std::string_view app) {
  return detail::or_throw("LocalName::per_user", app, [&](auto& ec) { return per_user(app, ec); });
}

LocalName LocalName::per_session(std::string_view app, std::error_code& ec) {
  return make_per_user(app, true, ec, [](NameKind kind, std::string name) {
    LocalName result(kind, std::move(name));
    result.per_user_ = true;
    return result;
  });
}

LocalName LocalName::per_session(std::string_view app) {
  return detail::or_throw("LocalName::per_session", app,
                          [&](auto& ec) { return per_session(app, ec); });
}

}  // namespace localsock
