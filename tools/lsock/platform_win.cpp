// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <io.h>
#include <windows.h>

#include <cstdio>
#include <mutex>
#include <utility>
#include <vector>

#include "platform.hpp"

namespace lsock {
namespace {

std::string narrow(const wchar_t* w) {
  const int n = ::WideCharToMultiByte(CP_UTF8, 0, w, -1, nullptr, 0, nullptr, nullptr);
  std::string s(static_cast<std::size_t>(n > 0 ? n - 1 : 0), '\0');
  if (n > 1) ::WideCharToMultiByte(CP_UTF8, 0, w, -1, s.data(), n, nullptr, nullptr);
  return s;
}

std::string last_error_text() {
  char* text = nullptr;
  ::FormatMessageA(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, ::GetLastError(), 0, reinterpret_cast<char*>(&text), 0, nullptr);
  std::string s = text != nullptr ? text : "Windows error";
  if (text != nullptr) ::LocalFree(text);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class WinChild final : public ChildProcess {
 public:
  WinChild(HANDLE process, HANDLE in, HANDLE out) : process_(process), in_(in), out_(out) {}
  ~WinChild() override {
    close_input();
    if (out_ != nullptr) ::CloseHandle(out_);
    if (process_ != nullptr) {
      wait();
      ::CloseHandle(process_);
    }
  }
  bool write(const std::byte* data, std::size_t n) override {
    while (n > 0 && in_ != nullptr) {
      DWORD k = 0;
      if (!::WriteFile(in_, data, static_cast<DWORD>(n), &k, nullptr)) return false;
      data += k;
      n -= k;
    }
    return in_ != nullptr;
  }
  std::size_t read(std::byte* data, std::size_t n) override {
    DWORD k = 0;
    if (!::ReadFile(out_, data, static_cast<DWORD>(n), &k, nullptr)) return 0;
    return k;
  }
  void close_input() override {
    if (in_ != nullptr) ::CloseHandle(std::exchange(in_, nullptr));
  }
  void close_output() override {
    if (out_ != nullptr) ::CloseHandle(std::exchange(out_, nullptr));
  }
  int wait() override { return *wait_for_ms(INFINITE); }
  std::optional<int> wait_for(std::chrono::milliseconds ms) override {
    return wait_for_ms(static_cast<DWORD>(ms.count()));
  }
  void terminate() override { ::TerminateProcess(process_, 1); }
  void kill() override { ::TerminateProcess(process_, 1); }

 private:
  std::optional<int> wait_for_ms(DWORD ms) {
    if (::WaitForSingleObject(process_, ms) == WAIT_TIMEOUT) return std::nullopt;
    DWORD code = 0;
    ::GetExitCodeProcess(process_, &code);
    return static_cast<int>(code);
  }

  HANDLE process_;
  HANDLE in_;
  HANDLE out_;
};

}  // namespace

namespace {

// The job object every child joins: KILL_ON_JOB_CLOSE ends them when lsock ends, however
// it ends (its handles close with it); nullptr if it cannot be made. Creating a child
// and putting it in the job hold `job_mutex`, and an interrupt's end_all_children takes
// it too, so no child is between the two when the job is terminated, and none is
// started after.
std::mutex job_mutex;
bool job_ended = false;

HANDLE children_job() {
  static const HANDLE job = [] {
    const HANDLE j = ::CreateJobObjectW(nullptr, nullptr);
    if (j == nullptr) return j;
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits{};
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    ::SetInformationJobObject(j, JobObjectExtendedLimitInformation, &limits, sizeof limits);
    return j;
  }();
  return job;
}

}  // namespace

void end_all_children(std::chrono::milliseconds) {
  std::lock_guard lock(job_mutex);
  job_ended = true;
  if (const HANDLE job = children_job()) ::TerminateJobObject(job, 1);
}

void stop_child(ChildProcess& child, std::chrono::milliseconds grace) {
  child.close_input();
  if (child.wait_for(grace)) return;
  // TerminateProcess ends it at once; there is no gentler request for a console command.
  child.terminate();
  child.wait();
}

void end_child(ChildProcess& child, std::chrono::milliseconds grace) {
  child.close_output();
  stop_child(child, grace);
}

bool peer_closed(void* handle) {
  // A pipe whose other end has closed: ERROR_BROKEN_PIPE (or no longer connected).
  if (PeekNamedPipe(handle, nullptr, 0, nullptr, nullptr, nullptr)) return false;
  const DWORD e = GetLastError();
  return e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED || e == ERROR_NO_DATA;
}

namespace {

// The handles a new process may inherit, and only those: a PROC_THREAD_ATTRIBUTE_HANDLE_LIST
// for STARTUPINFOEX. CreateProcess with bInheritHandles otherwise hands over every
// inheritable handle of lsock (its own standard streams, and another session's pipe
// ends while that session makes them).
class HandleList {
 public:
  explicit HandleList(std::vector<HANDLE> handles) : handles_(std::move(handles)) {
    SIZE_T size = 0;
    ::InitializeProcThreadAttributeList(nullptr, 1, 0, &size);
    storage_.resize(size);
    auto* list = reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(storage_.data());
    if (!::InitializeProcThreadAttributeList(list, 1, 0, &size)) return;
    initialized_ = true;
    if (!::UpdateProcThreadAttribute(list, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles_.data(),
                                     handles_.size() * sizeof(HANDLE), nullptr, nullptr))
      return;
    list_ = list;
  }
  ~HandleList() {
    if (initialized_)
      ::DeleteProcThreadAttributeList(
          reinterpret_cast<LPPROC_THREAD_ATTRIBUTE_LIST>(storage_.data()));
  }
  HandleList(const HandleList&) = delete;
  HandleList& operator=(const HandleList&) = delete;
  /// The attribute list; nullptr when it could not be made.
  LPPROC_THREAD_ATTRIBUTE_LIST get() const { return list_; }

 private:
  std::vector<HANDLE> handles_;  // must outlive the list
  std::vector<char> storage_;
  bool initialized_ = false;
  LPPROC_THREAD_ATTRIBUTE_LIST list_ = nullptr;
};

// An inheritable copy of `h` for a child, or nullptr (no such handle).
HANDLE inheritable_copy(HANDLE h) {
  HANDLE copy = nullptr;
  if (h == nullptr || h == INVALID_HANDLE_VALUE ||
      !::DuplicateHandle(::GetCurrentProcess(), h, ::GetCurrentProcess(), &copy, 0, TRUE,
                         DUPLICATE_SAME_ACCESS))
    return nullptr;
  return copy;
}

}  // namespace

std::unique_ptr<ChildProcess> ChildProcess::start(const std::string& command, std::string& error) {
  // The pipes are made non-inheritable; the child's ends become inheritable only to be
  // named in the handle list, so no other CreateProcess (each passes its own list) takes them.
  HANDLE child_in = nullptr, in = nullptr, out = nullptr, child_out = nullptr;
  const auto close_all = [&] {
    for (HANDLE h : {child_in, in, out, child_out}) {
      if (h != nullptr) ::CloseHandle(h);
    }
  };
  if (!::CreatePipe(&child_in, &in, nullptr, 0) || !::CreatePipe(&out, &child_out, nullptr, 0) ||
      !::SetHandleInformation(child_in, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) ||
      !::SetHandleInformation(child_out, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
    error = last_error_text();
    close_all();
    return nullptr;
  }
  const HANDLE child_err = inheritable_copy(::GetStdHandle(STD_ERROR_HANDLE));
  std::vector<HANDLE> inherited{child_in, child_out};
  if (child_err != nullptr) inherited.push_back(child_err);
  const HandleList handles(inherited);
  STARTUPINFOEXA si{};
  si.StartupInfo.cb = sizeof si;
  si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
  si.StartupInfo.hStdInput = child_in;
  si.StartupInfo.hStdOutput = child_out;
  si.StartupInfo.hStdError = child_err;
  si.lpAttributeList = handles.get();
  PROCESS_INFORMATION pi{};
  std::string line = "cmd.exe /c " + command;
  std::unique_lock job_lock(job_mutex);
  // Created suspended and put into the job before it runs, so that nothing it starts
  // escapes the job either.
  BOOL ok = !job_ended && handles.get() != nullptr &&
            ::CreateProcessA(nullptr, line.data(), nullptr, nullptr, TRUE,
                             EXTENDED_STARTUPINFO_PRESENT | CREATE_SUSPENDED, nullptr, nullptr,
                             &si.StartupInfo, &pi);
  if (!ok) {
    error = job_ended ? "lsock is ending" : last_error_text();
  } else {
    if (const HANDLE job = children_job()) ::AssignProcessToJobObject(job, pi.hProcess);
    ::ResumeThread(pi.hThread);
  }
  job_lock.unlock();
  ::CloseHandle(std::exchange(child_in, nullptr));
  ::CloseHandle(std::exchange(child_out, nullptr));
  if (child_err != nullptr) ::CloseHandle(child_err);
  if (!ok) {
    close_all();
    return nullptr;
  }
  ::CloseHandle(pi.hThread);
  return std::make_unique<WinChild>(pi.hProcess, in, out);
}

std::vector<SocketEntry> list_sockets(std::string& error) {
  // The pipe file system lists every pipe in \\.\pipe\.
  std::vector<SocketEntry> out;
  WIN32_FIND_DATAW data;
  HANDLE find = ::FindFirstFileW(L"\\\\.\\pipe\\*", &data);
  if (find == INVALID_HANDLE_VALUE) {
    error = "cannot list \\\\.\\pipe\\: " + last_error_text();
    return out;
  }
  do {
    out.push_back({"pipe", narrow(data.cFileName), {}, {}, {}});
  } while (::FindNextFileW(find, &data));
  ::FindClose(find);
  return out;
}

namespace {

std::function<void(int)>* interrupt_stop = nullptr;

// Runs on a thread the system starts for the event.
BOOL WINAPI on_console_event(DWORD event) {
  switch (event) {
    case CTRL_C_EVENT:
    case CTRL_BREAK_EVENT:
      (*interrupt_stop)(130);  // as a shell reports Ctrl-C (128 + SIGINT)
      return TRUE;
    case CTRL_CLOSE_EVENT:
    case CTRL_LOGOFF_EVENT:
    case CTRL_SHUTDOWN_EVENT:
      (*interrupt_stop)(129);  // the console went away: as SIGHUP
      return TRUE;
    default:
      return FALSE;
  }
}

}  // namespace

void handle_interrupts(std::function<void(int status)> stop) {
  // Set once, for the life of the process: the handler may run at any time after.
  interrupt_stop = new std::function<void(int)>(std::move(stop));
  ::SetConsoleCtrlHandler(on_console_event, TRUE);
}

bool ensure_standard_streams() {
  // A process started without standard handles gets none (GetStdHandle returns null);
  // no handle lsock opens takes their place, so there is nothing to do; writes to a
  // missing standard output fail by themselves.
  return false;
}

const bool has_half_close = false;

std::string reclaim_obstacle(const std::string&) { return {}; }

void binary_stdio() {
  _setmode(_fileno(stdin), _O_BINARY);
  _setmode(_fileno(stdout), _O_BINARY);
}

void write_stderr_raw(std::string_view text) {
  DWORD k = 0;
  ::WriteFile(::GetStdHandle(STD_ERROR_HANDLE), text.data(), static_cast<DWORD>(text.size()), &k,
              nullptr);
}

void exit_now(int status) {
  ::TerminateProcess(::GetCurrentProcess(), static_cast<UINT>(status));
  ::ExitProcess(static_cast<UINT>(status));  // not reached
}

bool reader_left(int err) {
  // The C runtime maps ERROR_NO_DATA (a pipe being closed by its reader) and
  // ERROR_PIPE_NOT_CONNECTED (Wine: a Unix pipe without reader) to EINVAL: the
  // system's own code says what happened.
  const DWORD e = GetLastError();
  return err == EPIPE || e == ERROR_NO_DATA || e == ERROR_BROKEN_PIPE ||
         e == ERROR_PIPE_NOT_CONNECTED;
}

bool wait_stdout_gone() { return false; }

std::size_t read_stdin(std::byte* data, std::size_t n) {
  // ReadFile returns what a pipe or console has, without waiting to fill the buffer.
  DWORD k = 0;
  if (!::ReadFile(::GetStdHandle(STD_INPUT_HANDLE), data, static_cast<DWORD>(n), &k, nullptr))
    return 0;
  return k;
}

}  // namespace lsock
