// SPDX-License-Identifier: MIT
// What localsock-bench needs from Windows besides its transports.
#include <windows.h>
// After windows.h, which it needs.
#include <psapi.h>

#include <string>
#include <vector>

#include "bench.hpp"

namespace bench {

unsigned long current_pid() { return ::GetCurrentProcessId(); }

void ignore_broken_pipes() {}

double rss_kb() {
  PROCESS_MEMORY_COUNTERS pmc{};
  ::GetProcessMemoryInfo(::GetCurrentProcess(), &pmc, sizeof pmc);
  return static_cast<double>(pmc.WorkingSetSize) / 1024.0;
}

std::string uv_pipe_path(const std::string& name) { return "\\\\.\\pipe\\" + name; }

// Windows has no fork: the child is this executable started again with the same
// arguments and --echo-for, which main() hands to run_echo_child. It shares the
// parent's standard handles, so that its errors reach the same stderr.
Child start_echo_child(const Args& a, const std::string& name) {
  std::vector<wchar_t> exe(32768);
  const DWORD n = ::GetModuleFileNameW(nullptr, exe.data(), static_cast<DWORD>(exe.size()));
  if (n == 0 || n >= exe.size()) fail("GetModuleFileName");
  const std::string args = " --scenario " + a.scenario + " --impl " + a.impl + " --size " +
                           std::to_string(a.size) + " --count " + std::to_string(a.count) +
                           " --clients 1 --echo-for " + name;
  // Arguments and names are plain ASCII: widened character by character.
  std::wstring cmd =
      L"\"" + std::wstring(exe.data(), n) + L"\"" + std::wstring(args.begin(), args.end());
  STARTUPINFOW si{};
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = ::GetStdHandle(STD_INPUT_HANDLE);
  si.hStdOutput = ::GetStdHandle(STD_OUTPUT_HANDLE);
  si.hStdError = ::GetStdHandle(STD_ERROR_HANDLE);
  PROCESS_INFORMATION pi{};
  if (!::CreateProcessW(exe.data(), cmd.data(), nullptr, nullptr, TRUE, 0, nullptr, nullptr, &si,
                        &pi))
    fail("CreateProcess: error " + std::to_string(::GetLastError()));
  ::CloseHandle(pi.hThread);
  return Child{reinterpret_cast<long long>(pi.hProcess)};
}

bool wait_child(Child& c) {
  HANDLE h = reinterpret_cast<HANDLE>(c.id);
  DWORD code = 1;
  const bool ok = ::WaitForSingleObject(h, INFINITE) == WAIT_OBJECT_0 &&
                  ::GetExitCodeProcess(h, &code) && code == 0;
  ::CloseHandle(h);
  c.id = -1;
  return ok;
}

}  // namespace bench
