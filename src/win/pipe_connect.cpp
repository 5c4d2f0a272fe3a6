// SPDX-License-Identifier: MIT
// Opening the client end of a pipe (connect) and taking over a handle (adopt).
#include <localsock/win/pipe_core.hpp>

#include <windows.h>
#include <winternl.h>

#include <algorithm>
#include <chrono>

#include "../common/deadline.hpp"
#include "../common/log.hpp"
#include "pipe_name.hpp"
#include "sys.hpp"
#include "win_error.hpp"

namespace localsock::win::detail {
namespace {

// Reading the pipe's type and state (GetNamedPipeInfo, GetNamedPipeHandleState: the
// mode check below, and adopt() of a released handle) needs FILE_READ_ATTRIBUTES,
// which GENERIC_WRITE alone does not give; a message-reading client switches its
// handle to message read mode, which needs FILE_WRITE_ATTRIBUTES, which GENERIC_READ
// alone does not give. Both are in the default pipe DACL's grant to everyone's read.
DWORD client_access(bool read, bool write, bool message_read) noexcept {
  return (read ? GENERIC_READ : 0) | (write ? GENERIC_WRITE : 0) | FILE_READ_ATTRIBUTES |
         (message_read ? FILE_WRITE_ATTRIBUTES : 0);
}

// One attempt to open the client end: the handle, or nullptr and the system's error.
HANDLE open_client_end(const std::wstring& path, DWORD access, DWORD& err) noexcept {
  // Identification only: the server may learn who the client is, but not act as it.
  const DWORD flags = FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION;
  const HANDLE h = sys::create_file(path.c_str(), access, flags);
  if (h != INVALID_HANDLE_VALUE) return h;
  err = ::GetLastError();
  return nullptr;
}

// Every instance is busy: waits a while for one within the caller's timeout, after
// which the caller tries again (a free instance may be taken by another client before
// this one gets it); `errc::timed_out` once the timeout is over. The wait goes in
// slices: a waiter is only woken by the pipe object it started waiting on, and when a
// server with an instance limit of one replaces its last instance, Wine makes a new
// object and never wakes the old waiters.
bool wait_for_instance(const std::wstring& path, Timeout busy_timeout,
                       std::chrono::steady_clock::time_point deadline,
                       std::error_code& ec) noexcept {
  DWORD slice = 50;
  if (busy_timeout >= Timeout::zero()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= Timeout::zero()) {
      ec = make_error_code(errc::timed_out);
      return false;
    }
    slice = static_cast<DWORD>(std::min<Timeout::rep>(left.count(), slice));
  }
  if (!::WaitNamedPipeW(path.c_str(), slice) && ::GetLastError() == ERROR_FILE_NOT_FOUND) {
    // Between the last instance closing and the next being created the name is
    // briefly gone; a server that was busy a moment ago gets the rest of the timeout.
    ::Sleep(std::min<DWORD>(slice, 5));
  }
  return true;
}

// Opens the client end, waiting up to `busy_timeout` while every instance is busy.
UniqueHandle open_waiting(const std::wstring& path, DWORD access, Timeout busy_timeout,
                          std::error_code& ec) noexcept {
  const auto deadline = localsock::detail::deadline_after(busy_timeout);
  bool was_busy = false;
  for (;;) {
    DWORD err = 0;
    if (HANDLE h = open_client_end(path, access, err)) return UniqueHandle(h);
    // No such pipe is a prompt error, unless the pipe was busy a moment ago (see
    // wait_for_instance).
    if (err != ERROR_PIPE_BUSY && !(err == ERROR_FILE_NOT_FOUND && was_busy)) {
      ec = error_of(err);
      return {};
    }
    was_busy = true;
    if (!wait_for_instance(path, busy_timeout, deadline, ec)) return {};
  }
}

// The pipe's type must be the stream's: a message client on a byte pipe would have
// its read mode refused (a raw ERROR_INVALID_PARAMETER) or, writing only, send
// "messages" that arrive as one byte stream; a byte client on a message pipe would
// lose the boundaries. (The client took an instance; the server skips it.)
void check_pipe_type(HANDLE h, bool message_type, std::error_code& ec) noexcept {
  DWORD pipe_flags = 0;
  if (!::GetNamedPipeInfo(h, &pipe_flags, nullptr, nullptr, nullptr))
    ec = last_error();
  else if (((pipe_flags & PIPE_TYPE_MESSAGE) != 0) != message_type)
    ec = make_error_code(errc::mode_mismatch);
}

void enter_message_read(HANDLE h, std::error_code& ec) noexcept {
  DWORD mode = to_read_mode(PipeMode::Messages);
  if (!::SetNamedPipeHandleState(h, &mode, nullptr, nullptr)) ec = last_error();
}

// Every operation here is overlapped: a handle opened without FILE_FLAG_OVERLAPPED
// would make timeouts, cancel_io, nonblocking mode and split silently wrong. The
// handle's mode (FileModeInformation) needs no access right to read.
void check_overlapped(HANDLE h, std::error_code& ec) noexcept {
  IO_STATUS_BLOCK io{};
  ULONG file_mode = 0;
  const NTSTATUS status =
      ::NtQueryInformationFile(h, &io, &file_mode, sizeof file_mode, FileModeInformation);
  if (status < 0)
    ec = error_of(::RtlNtStatusToDosError(status));
  else if ((file_mode & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT)) != 0)
    ec = std::make_error_code(std::errc::operation_not_supported);
}

}  // namespace

PipeCore PipeCore::connect(const LocalName& name, bool read, bool write, bool message_read,
                           bool message_type, Timeout busy_timeout, std::error_code& ec) {
  PipeCore core = connect_unlogged(name, read, write, message_read, message_type, busy_timeout, ec);
  localsock::detail::log_step("connect to", name.str(), ec);
  return core;
}

PipeCore PipeCore::connect_unlogged(const LocalName& name, bool read, bool write, bool message_read,
                                    bool message_type, Timeout busy_timeout, std::error_code& ec) {
  ec.clear();
  if (name.empty() || name.kind() != NameKind::namespaced) {
    ec = make_error_code(name.empty() ? errc::invalid_name : errc::not_supported);
    return {};
  }
  const std::wstring path = widen(pipe_path(name.str()));
  UniqueHandle pipe =
      open_waiting(path, client_access(read, write, message_read), busy_timeout, ec);
  if (!ec) check_pipe_type(pipe.get(), message_type, ec);
  if (!ec && message_read) enter_message_read(pipe.get(), ec);
  if (ec) return {};
  return PipeCore(pipe.release(), false, localsock::detail::NameText(name));
}

PipeCore PipeCore::adopt(void* handle, bool message_read, bool message_write,
                         std::error_code& ec) noexcept {
  ec.clear();
  HANDLE h = static_cast<HANDLE>(handle);
  if (h == nullptr || h == INVALID_HANDLE_VALUE || ::GetFileType(h) != FILE_TYPE_PIPE) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  check_overlapped(h, ec);
  if (ec) return {};
  // Reading the type and state needs FILE_READ_ATTRIBUTES (part of GENERIC_READ): the
  // server end of an outbound pipe, which Windows opens with write access only, lacks it.
  const auto refused = [](DWORD err) {
    return err == ERROR_ACCESS_DENIED ? make_error_code(errc::access_denied)
                                      : std::make_error_code(std::errc::invalid_argument);
  };
  DWORD flags = 0;
  if (!::GetNamedPipeInfo(h, &flags, nullptr, nullptr, nullptr)) {
    ec = refused(::GetLastError());
    return {};
  }
  DWORD state = 0;
  if (!::GetNamedPipeHandleStateW(h, &state, nullptr, nullptr, nullptr, nullptr, 0)) {
    ec = refused(::GetLastError());
    return {};
  }
  // A message stream type needs a message pipe, and a message reader a handle in
  // message read mode; a byte reader on a message pipe is fine (it reads across messages).
  const bool message_type = (flags & PIPE_TYPE_MESSAGE) != 0;
  const bool reads_messages = (state & PIPE_READMODE_MESSAGE) != 0;
  if (((message_read || message_write) && !message_type) || message_read != reads_messages) {
    ec = make_error_code(errc::mode_mismatch);
    return {};
  }
  return PipeCore(h, (flags & PIPE_SERVER_END) != 0, {});
}
}  // namespace localsock::win::detail
