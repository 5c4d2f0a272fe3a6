// SPDX-License-Identifier: MIT
#include <windows.h>
#include <winternl.h>

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "process.hpp"

namespace localsock::test {

unsigned long current_pid() { return ::GetCurrentProcessId(); }

long handles_in_table() {
  // One entry of SystemHandleInformation (class 16): the owner's id comes first.
  struct Entry {
    ULONG owner_pid;
    BYTE object_type;
    BYTE flags;
    USHORT value;
    PVOID object;
    ULONG access;
  };
  struct Table {
    ULONG count;
    Entry entries[1];
  };
  constexpr auto system_handle_information = static_cast<SYSTEM_INFORMATION_CLASS>(16);
  constexpr auto info_length_mismatch = static_cast<NTSTATUS>(0xC0000004L);
  const ULONG self = ::GetCurrentProcessId();
  std::vector<std::byte> buf(std::size_t{1} << 20);
  // The table grows between calls: try again with room for what it needed.
  for (int attempt = 0; attempt < 8; ++attempt) {
    ULONG needed = 0;
    const NTSTATUS status = ::NtQuerySystemInformation(system_handle_information, buf.data(),
                                                       static_cast<ULONG>(buf.size()), &needed);
    if (status == info_length_mismatch) {
      buf.resize(std::max<std::size_t>(buf.size() * 2, std::size_t{needed} + 4096));
      continue;
    }
    if (status < 0) return -1;
    const auto* table = reinterpret_cast<const Table*>(buf.data());
    long n = 0;
    for (ULONG k = 0; k < table->count; ++k) n += table->entries[k].owner_pid == self;
    return n;
  }
  return -1;
}

std::size_t open_handles() {
  // Events kept for this thread's next streams are not held by any stream.
  release_library_caches();
  // The system's table, where Wine keeps handles too (its GetProcessHandleCount says 0,
  // which would make every leak check pass); GetProcessHandleCount if it cannot be read.
  if (const long n = handles_in_table(); n >= 0) return static_cast<std::size_t>(n);
  DWORD n = 0;
  ::GetProcessHandleCount(::GetCurrentProcess(), &n);
  return n;
}

std::string self_path() {
  char buf[MAX_PATH];
  DWORD n = ::GetModuleFileNameA(nullptr, buf, MAX_PATH);
  return std::string(buf, n);
}

namespace {
HANDLE as_handle(long long h) { return reinterpret_cast<HANDLE>(static_cast<intptr_t>(h)); }

std::string quote(const std::string& s) {
  if (!s.empty() && s.find_first_of(" \t\"") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '\\';
    q += c;
  }
  return q + "\"";
}
}  // namespace

Child::Child(Child&& o) noexcept : handle_(std::exchange(o.handle_, 0)) {}
Child& Child::operator=(Child&& o) noexcept {
  if (this != &o) {
    if (handle_ != 0) wait();
    handle_ = std::exchange(o.handle_, 0);
  }
  return *this;
}
Child::~Child() {
  if (handle_ != 0) wait();
}

Child Child::spawn(const std::string& program, const std::vector<std::string>& args) {
  std::string cmd = quote(program);
  for (const auto& a : args) cmd += " " + quote(a);
  STARTUPINFOA si{};
  si.cb = sizeof si;
  PROCESS_INFORMATION pi{};
  Child c;
  if (::CreateProcessA(program.c_str(), cmd.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr,
                       &si, &pi)) {
    ::CloseHandle(pi.hThread);
    c.handle_ = reinterpret_cast<intptr_t>(pi.hProcess);
  }
  return c;
}

int Child::wait(std::chrono::milliseconds deadline) {
  if (handle_ == 0) return -1;
  HANDLE h = as_handle(std::exchange(handle_, 0));
  int code = -1;
  if (::WaitForSingleObject(h, static_cast<DWORD>(deadline.count())) == WAIT_OBJECT_0) {
    DWORD c = 0;
    ::GetExitCodeProcess(h, &c);
    code = static_cast<int>(c);
  } else {
    ::TerminateProcess(h, 1);
    ::WaitForSingleObject(h, INFINITE);
  }
  ::CloseHandle(h);
  return code;
}

void Child::kill() {
  if (handle_ != 0) ::TerminateProcess(as_handle(handle_), 9);
}

}  // namespace localsock::test
