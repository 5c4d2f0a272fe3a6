// SPDX-License-Identifier: MIT
// Identity and SIDs: who the current user is, who is at the other end of a pipe, and
// acting as a pipe's client (impersonation).
#include "security.hpp"

#include <localsock/win/pipe_core.hpp>
#include <localsock/win/pipe_identity.hpp>

#include <windows.h>
#include <aclapi.h>
#include <sddl.h>

#include <cstddef>
#include <exception>
#include <vector>

#include "pipe_name.hpp"
#include "sys.hpp"
#include "win_error.hpp"

namespace localsock::win {

void PipeImpersonation::revert(std::error_code& ec) noexcept {
  ec.clear();
  if (!active_) return;
  // The token the thread had before (an outer guard's client), or none: RevertToSelf.
  if (!sys::revert_to(saved_.get())) {
    // The thread still acts as the client: say so, and stay active.
    ec = detail::last_error();
    return;
  }
  saved_.reset();
  active_ = false;
}

void PipeImpersonation::revert_or_terminate() noexcept {
  std::error_code ec;
  revert(ec);
  // Going on in the client's security context is not an option (Microsoft's advice for
  // a failed RevertToSelf is to end the process).
  if (ec) std::terminate();
}

}  // namespace localsock::win

namespace localsock::win::detail {

std::string token_user_sid(HANDLE token, std::error_code& ec) {
  DWORD len = 0;
  ::GetTokenInformation(token, TokenUser, nullptr, 0, &len);
  std::vector<std::byte> info(len);
  char* text = nullptr;
  if (len == 0 || !::GetTokenInformation(token, TokenUser, info.data(), len, &len) ||
      !::ConvertSidToStringSidA(reinterpret_cast<TOKEN_USER*>(info.data())->User.Sid, &text)) {
    ec = last_error();
    return {};
  }
  std::string sid = text;
  ::LocalFree(text);
  return sid;
}

namespace {

// The user a process runs as.
std::string process_user_sid(DWORD pid, std::error_code& ec) {
  const UniqueHandle process(::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid));
  if (!process) {
    ec = last_error();
    return {};
  }
  HANDLE token = nullptr;
  if (!::OpenProcessToken(process.get(), TOKEN_QUERY, &token)) {
    ec = last_error();
    return {};
  }
  const UniqueHandle owned(token);
  return token_user_sid(token, ec);
}

// The owner of a kernel object: for a pipe, the server's user that created it.
std::string owner_sid(HANDLE h, std::error_code& ec) {
  PSID owner = nullptr;
  PSECURITY_DESCRIPTOR sd = nullptr;
  const DWORD err = ::GetSecurityInfo(h, SE_KERNEL_OBJECT, OWNER_SECURITY_INFORMATION, &owner,
                                      nullptr, nullptr, nullptr, &sd);
  if (err != ERROR_SUCCESS) {
    ec = error_of(err);
    return {};
  }
  std::string sid;
  char* text = nullptr;
  if (::ConvertSidToStringSidA(owner, &text)) {
    sid = text;
    ::LocalFree(text);
  } else {
    ec = last_error();
  }
  ::LocalFree(sd);
  return sid;
}

}  // namespace

void* PipeCore::impersonate_client_saving(std::error_code& ec) const noexcept {
  ec.clear();
  if (!handle_ || !server_) {
    ec = make_error_code(!handle_ ? errc::not_connected : errc::wrong_end);
    return nullptr;
  }
  // The caller may be impersonating already (a PipeImpersonation guard): keep the token
  // the thread has, to give it back afterwards, where RevertToSelf would end the
  // caller's impersonation behind its back.
  HANDLE saved = nullptr;
  if (!::OpenThreadToken(::GetCurrentThread(), TOKEN_IMPERSONATE, TRUE, &saved)) {
    if (::GetLastError() != ERROR_NO_TOKEN) {
      ec = last_error();
      return nullptr;
    }
    saved = nullptr;
  }
  UniqueHandle owned(saved);
  impersonate_client(ec);
  if (ec) return nullptr;
  return owned.release();
}

std::string PipeCore::client_user_sid(std::error_code& ec) const {
  const UniqueHandle saved(impersonate_client_saving(ec));
  if (ec) return {};
  HANDLE token = nullptr;
  const BOOL opened = ::OpenThreadToken(::GetCurrentThread(), TOKEN_QUERY, TRUE, &token);
  const DWORD err = ::GetLastError();
  // SetThreadToken with no token is RevertToSelf. Failing to restore would leave the
  // thread in the client's context: as with a failed RevertToSelf, end the process.
  if (!::SetThreadToken(nullptr, saved.get())) std::terminate();
  if (!opened) {
    ec = error_of(err);
    return {};
  }
  const UniqueHandle owned(token);
  return token_user_sid(token, ec);
}

std::string PipeCore::peer_user_sid(std::error_code& ec) const {
  ec.clear();
  const DWORD pid = process_id(server_, ec);
  if (ec) return {};
  // The peer process's user. When its token may not be read (a more privileged peer),
  // a server asks the client's identity through impersonation, and a client takes the
  // pipe's owner: the user whose server created it.
  std::string sid = process_user_sid(pid, ec);
  if (!ec) return sid;
  ec.clear();
  return server_ ? client_user_sid(ec) : owner_sid(handle_.get(), ec);
}

LocalMemory descriptor_from_sddl(const std::string& sddl, std::error_code& ec) {
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(widen(sddl).c_str(), SDDL_REVISION_1,
                                                              &descriptor, nullptr)) {
    ec = last_error();
    return {};
  }
  return LocalMemory(descriptor);
}

std::string user_only_sddl(const std::string& sid) { return "D:P(A;;GA;;;" + sid + ")"; }

// Without a descriptor of its own, a pipe gets the default DACL of the creator's token,
// which (for pipes) grants read access to Everyone and Anonymous Logon: another user's
// process could open a read-only client, take a free instance of a duplex byte pipe and
// read what the server writes. So the library's default admits only the creating user,
// SYSTEM and Administrators; access for others is asked for explicitly, with a
// descriptor.
bool default_pipe_sddl(std::string& out, std::error_code& ec) {
  const std::string user = current_user_sid(ec);
  if (ec) return false;
  // GA: GENERIC_ALL, which the pipe file system maps to FILE_ALL_ACCESS (and with it
  // FILE_CREATE_PIPE_INSTANCE, which the server's further instances need).
  out = "D:P(A;;GA;;;" + user + ")(A;;GA;;;SY)(A;;GA;;;BA)";
  return true;
}

}  // namespace localsock::win::detail

namespace localsock::win {

std::string current_user_sid(std::error_code& ec) {
  ec.clear();
  HANDLE token = nullptr;
  if (!::OpenProcessToken(::GetCurrentProcess(), TOKEN_QUERY, &token)) {
    ec = detail::last_error();
    return {};
  }
  const UniqueHandle owned(token);
  return detail::token_user_sid(token, ec);
}

}  // namespace localsock::win
