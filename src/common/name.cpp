// SPDX-License-Identifier: MIT
#include <localsock/name.hpp>

#include "platform.hpp"

namespace localsock {
namespace {

// The checks every platform shares, then the platform's own.
std::error_code check(NameKind kind, std::string_view name) noexcept {
  if (name.empty() || name.find('\0') != std::string_view::npos)
    return make_error_code(errc::invalid_name);
  return detail::validate_name(kind, name);
}

}  // namespace

LocalName LocalName::path(std::string_view path, std::error_code& ec) {
  ec = check(NameKind::path, path);
  return ec ? LocalName{} : LocalName(NameKind::path, std::string(path));
}

LocalName LocalName::path(std::string_view path) {
  std::error_code ec;
  LocalName name = LocalName::path(path, ec);
  detail::throw_if(ec, "LocalName::path", path);
  return name;
}

LocalName LocalName::namespaced(std::string_view name, std::error_code& ec) {
  ec = check(NameKind::namespaced, name);
  return ec ? LocalName{} : LocalName(NameKind::namespaced, std::string(name));
}

LocalName LocalName::namespaced(std::string_view name) {
  std::error_code ec;
  LocalName result = LocalName::namespaced(name, ec);
  detail::throw_if(ec, "LocalName::namespaced", name);
  return result;
}

NameSupport LocalName::supported() noexcept { return detail::name_support(); }

std::string LocalName::native() const { return detail::native_name(kind_, str()); }

const std::string& LocalName::empty_text() noexcept {
  static const std::string empty;
  return empty;
}

bool operator==(const LocalName& a, const LocalName& b) {
  return a.kind_ == b.kind_ && detail::same_name(a.kind_, a.str(), b.str());
}

}  // namespace localsock
