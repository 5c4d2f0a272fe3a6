// SPDX-License-Identifier: MIT
// What named pipes offer here, with the two protections that a runtime may lack (Wine
// enforces neither) measured by trying them on private probe pipes.
#include <windows.h>
#include <sddl.h>

#include <atomic>
#include <string>

#include "../common/platform.hpp"

namespace localsock::detail {
namespace {

std::wstring probe_name() {
  static std::atomic<unsigned> counter{0};
  return L"\\\\.\\pipe\\localsock-probe-" + std::to_wstring(::GetCurrentProcessId()) + L"-" +
         std::to_wstring(::GetTickCount64()) + L"-" + std::to_wstring(counter++);
}

HANDLE make_pipe(const std::wstring& name, DWORD extra_flags, PSECURITY_DESCRIPTOR sd) {
  SECURITY_ATTRIBUTES sa{sizeof sa, sd, FALSE};
  return ::CreateNamedPipeW(name.c_str(), PIPE_ACCESS_DUPLEX | extra_flags,
                            PIPE_TYPE_BYTE | PIPE_REJECT_REMOTE_CLIENTS, PIPE_UNLIMITED_INSTANCES,
                            512, 512, 0, &sa);
}

// A pipe whose DACL is empty grants access to nobody: opening it must be refused.
bool dacl_enforced() {
  PSECURITY_DESCRIPTOR sd = nullptr;
  if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(L"D:P", SDDL_REVISION_1, &sd,
                                                              nullptr))
    return false;
  const std::wstring name = probe_name();
  HANDLE server = make_pipe(name, 0, sd);
  ::LocalFree(sd);
  if (server == INVALID_HANDLE_VALUE) return false;
  HANDLE client = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr,
                                OPEN_EXISTING, 0, nullptr);
  const bool refused = client == INVALID_HANDLE_VALUE && ::GetLastError() == ERROR_ACCESS_DENIED;
  if (client != INVALID_HANDLE_VALUE) ::CloseHandle(client);
  ::CloseHandle(server);
  return refused;
}

// A second instance created with FILE_FLAG_FIRST_PIPE_INSTANCE must be refused.
bool first_instance_enforced() {
  const std::wstring name = probe_name();
  HANDLE first = make_pipe(name, FILE_FLAG_FIRST_PIPE_INSTANCE, nullptr);
  if (first == INVALID_HANDLE_VALUE) return false;
  HANDLE second = make_pipe(name, FILE_FLAG_FIRST_PIPE_INSTANCE, nullptr);
  const bool refused = second == INVALID_HANDLE_VALUE;
  if (second != INVALID_HANDLE_VALUE) ::CloseHandle(second);
  ::CloseHandle(first);
  return refused;
}

}  // namespace

Capabilities probe_capabilities() noexcept {
  Capabilities c;
  c.namespaced_names = true;
  c.native_messages = true;
  c.peer_pid = true;
  c.peer_user = true;
  c.remote_clients = true;
  try {
    c.first_instance_enforced = first_instance_enforced();
    c.access_control_enforced = dacl_enforced();
  } catch (...) {  // allocation failure: report the protections as absent
  }
  return c;
}

}  // namespace localsock::detail
