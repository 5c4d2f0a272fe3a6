// SPDX-License-Identifier: MIT
// Per-user names on Windows: pipe names are global across sessions (and users), so the
// name carries the user's SID, and the session id for a per-session name.
#include <localsock/win/named_pipe.hpp>

#include <windows.h>

#include <string>

#include "../common/desktop.hpp"
#include "win_error.hpp"

namespace localsock::detail {
namespace {

// Microsoft's limit for a pipe path, \\.\pipe\ (9 characters) included.
constexpr std::size_t max_pipe_path = 256;
constexpr std::size_t local_prefix = 9;

}  // namespace

PerUserName per_user_name(std::string_view app, bool session, std::error_code& ec) {
  ec.clear();
  const std::string sid = win::current_user_sid(ec);
  if (ec) return {};
  // `localsock-<SID>-<id part>`, and `localsock-<SID>+s<session>-<id part>` for a
  // per-session name: a `+` right after the SID, where no per-user name has one, so
  // that no id's per-user name is another's per-session name.
  std::string prefix = "localsock-" + sid;
  if (session) {
    DWORD id = 0;
    if (!::ProcessIdToSessionId(::GetCurrentProcessId(), &id)) {
      ec = win::detail::last_error();
      return {};
    }
    prefix += "+s" + std::to_string(id);
  }
  prefix += "-";
  const std::size_t used = local_prefix + prefix.size();
  const std::string leaf = per_user_leaf(app, used < max_pipe_path ? max_pipe_path - used : 0);
  if (leaf.empty()) {
    ec = make_error_code(errc::name_too_long);
    return {};
  }
  return {NameKind::namespaced, prefix + leaf};
}

}  // namespace localsock::detail
