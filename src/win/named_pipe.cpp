// SPDX-License-Identifier: MIT
#include <localsock/win/named_pipe.hpp>

#include <windows.h>
#include <winternl.h>
#include <aclapi.h>
#include <sddl.h>

#include <algorithm>
#include <exception>
#include <span>
#include <vector>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "../common/accept_gate.hpp"
#include "../common/faults.hpp"
#include "../common/log.hpp"
#include "default_security.hpp"
#include "pipe_name.hpp"
#include "win_error.hpp"

namespace localsock::win {

// The header spells the Win32 values out; they must be the system's.
static_assert(detail::pipe_access_inbound == PIPE_ACCESS_INBOUND);
static_assert(detail::pipe_access_outbound == PIPE_ACCESS_OUTBOUND);
static_assert(detail::pipe_access_duplex == PIPE_ACCESS_DUPLEX);
static_assert(detail::pipe_type_byte == PIPE_TYPE_BYTE);
static_assert(detail::pipe_type_message == PIPE_TYPE_MESSAGE);
static_assert(detail::pipe_readmode_byte == PIPE_READMODE_BYTE);
static_assert(detail::pipe_readmode_message == PIPE_READMODE_MESSAGE);

PipeMode pipe_mode_from_pipe_type(std::uint32_t type, std::error_code& ec) noexcept {
  ec.clear();
  switch (type) {
    case PIPE_TYPE_BYTE:
      return PipeMode::Bytes;
    case PIPE_TYPE_MESSAGE:
      return PipeMode::Messages;
    default:
      ec = std::make_error_code(std::errc::invalid_argument);
      return PipeMode::Bytes;
  }
}

PipeDirection direction_from_pipe_access(std::uint32_t access, std::error_code& ec) noexcept {
  ec.clear();
  switch (access & PIPE_ACCESS_DUPLEX) {
    case PIPE_ACCESS_INBOUND:
      return PipeDirection::ClientToServer;
    case PIPE_ACCESS_OUTBOUND:
      return PipeDirection::ServerToClient;
    case PIPE_ACCESS_DUPLEX:
      return PipeDirection::Duplex;
    default:
      ec = std::make_error_code(std::errc::invalid_argument);
      return PipeDirection::Duplex;
  }
}

void PipeImpersonation::revert(std::error_code& ec) noexcept {
  ec.clear();
  if (!active_) return;
  const bool failed = localsock::detail::inject(testing::Fault::revert_to_self);
  // The token the thread had before (an outer guard's client), or none: RevertToSelf.
  if (failed || !::SetThreadToken(nullptr, static_cast<HANDLE>(saved_))) {
    // The thread still acts as the client: say so, and stay active.
    ec = failed ? detail::error_of(ERROR_ACCESS_DENIED) : detail::last_error();
    return;
  }
  close_token(std::exchange(saved_, nullptr));
  active_ = false;
}

void PipeImpersonation::close_token(void* token) noexcept {
  if (token != nullptr) ::CloseHandle(static_cast<HANDLE>(token));
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
namespace {

// Manual-reset events for overlapped operations; created when first needed.
HANDLE ensure_event(void*& slot, std::error_code& ec) noexcept {
  if (slot == nullptr) {
    slot = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (slot == nullptr) ec = last_error();
  }
  return static_cast<HANDLE>(slot);
}

void close_handle(void*& h) noexcept {
  if (h != nullptr) ::CloseHandle(static_cast<HANDLE>(std::exchange(h, nullptr)));
}

DWORD clamp_length(std::size_t n) noexcept {
  return static_cast<DWORD>(std::min<std::size_t>(n, 0x7fffffff));
}

// How long an overlapped operation may wait, and what it is when it waited too long.
struct Limit {
  DWORD ms = INFINITE;
  errc on_expiry = errc::timed_out;
};
constexpr Limit no_limit{};

// Runs one overlapped ReadFile or WriteFile. An operation still pending when its limit
// expires is cancelled and reported as the limit says (`would_block` for nonblocking
// mode, `timed_out` for a timeout), unless it completed in the meantime; one cancelled
// by cancel_io() from another thread is `operation_canceled`. A message read into a
// too-small buffer completes with ERROR_MORE_DATA and the bytes it did transfer.
template <typename Start>
DWORD run_overlapped(HANDLE handle, HANDLE event, Limit limit, Start start,
                     std::error_code& ec) noexcept {
  OVERLAPPED ov{};
  ov.hEvent = event;
  DWORD n = 0;
  bool expired = false;
  if (!start(&ov)) {
    const DWORD err = ::GetLastError();
    if (err != ERROR_IO_PENDING && err != ERROR_MORE_DATA) {
      ec = error_of(err);
      return 0;
    }
    if (err == ERROR_IO_PENDING && limit.ms != INFINITE &&
        ::WaitForSingleObject(event, limit.ms) == WAIT_TIMEOUT) {
      ::CancelIoEx(handle, &ov);
      expired = true;
    }
  }
  if (!::GetOverlappedResult(handle, &ov, &n, TRUE)) {
    ec = last_error();
    if (ec.value() == ERROR_OPERATION_ABORTED)
      ec = expired ? make_error_code(limit.on_expiry)
                   : std::make_error_code(std::errc::operation_canceled);
  }
  return n;
}

DWORD timeout_ms(Timeout t) noexcept {
  if (t < Timeout::zero()) return INFINITE;
  return static_cast<DWORD>(std::min<Timeout::rep>(t.count(), INFINITE - 1));
}

// The longest finite wait (a longer timeout is that long, as in timeout_ms).
constexpr Timeout longest_wait{INFINITE - 1};

Limit limit_of(Timeout t) noexcept {
  return t < Timeout::zero() ? no_limit : Limit{timeout_ms(t), errc::timed_out};
}

// Reads wait for the read timeout, or not at all in nonblocking mode.
Limit read_limit(bool nonblocking, Timeout t) noexcept {
  return nonblocking ? Limit{0, errc::would_block} : limit_of(t);
}

// The end of a receive's time: a receive that takes several reads (the rest of a message
// after ERROR_MORE_DATA, or discarding one too large) gives each of them only the time
// left, so that the whole receive honours the read timeout.
class Deadline {
 public:
  Deadline(bool nonblocking, Timeout t) noexcept
      : limit_(read_limit(nonblocking, t)), start_(std::chrono::steady_clock::now()) {}

  Limit left() const noexcept {
    if (limit_.ms == INFINITE || limit_.ms == 0) return limit_;
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start_);
    const auto ms = static_cast<std::chrono::milliseconds::rep>(limit_.ms) - spent.count();
    return {static_cast<DWORD>(std::max<std::chrono::milliseconds::rep>(ms, 0)), limit_.on_expiry};
  }

 private:
  Limit limit_;
  std::chrono::steady_clock::time_point start_;
};

// One ReadFile: how much it took, whether the message goes on, or end of stream.
struct Chunk {
  std::size_t n = 0;
  bool more = false;
  bool end = false;
};

Chunk read_chunk(HANDLE h, HANDLE event, Limit limit, MutableBuffer buf,
                 std::error_code& ec) noexcept {
  const DWORD n = run_overlapped(h, event, limit, [&](OVERLAPPED* ov) {
    return ::ReadFile(h, buf.data(), clamp_length(buf.size()), nullptr, ov);
  }, ec);
  if (!ec) return {n, false, false};
  if (ec.value() == ERROR_MORE_DATA) {
    ec.clear();
    return {n, true, false};
  }
  if (ends_stream(static_cast<DWORD>(ec.value()))) {
    ec.clear();
    return {0, false, true};
  }
  return {};
}

// Reads the `left` bytes that remain of the current message into `into`, which holds
// exactly that many. A message that can be read at all is whole in the pipe, so the rest
// is there at once, unless its sender cancelled it after our first read (a send that
// timed out): then the rest never comes, and the deadline ends the wait.
void read_rest(HANDLE h, HANDLE event, const Deadline& deadline, MutableBuffer into,
               std::error_code& ec) noexcept {
  std::size_t done = 0;
  while (done < into.size() && !ec) {
    const Chunk c = read_chunk(h, event, deadline.left(), into.subspan(done), ec);
    if (c.end) ec = make_error_code(errc::peer_closed);
    done += c.n;
    if (!c.more && done < into.size() && !ec) ec = std::make_error_code(std::errc::io_error);
  }
}

// Reads the rest of the current message and throws it away.
void discard_rest(HANDLE h, HANDLE event, const Deadline& deadline, std::error_code& ec) noexcept {
  std::byte scratch[16 * 1024];
  for (;;) {
    const Chunk c = read_chunk(h, event, deadline.left(), scratch, ec);
    if (ec || c.end || !c.more) return;
  }
}

// The bytes of the current message not yet read.
std::size_t bytes_left(HANDLE h, std::error_code& ec) noexcept {
  DWORD left = 0;
  if (!::PeekNamedPipe(h, nullptr, 0, nullptr, nullptr, &left)) ec = last_error();
  return left;
}

}  // namespace

// ---- PipeCore ---------------------------------------------------------------------

PipeCore::PipeCore(void* handle, bool server, std::string name) noexcept
    : handle_(handle), server_(server), name_(std::move(name)) {}

PipeCore::PipeCore(PipeCore&& other) noexcept { *this = std::move(other); }

PipeCore& PipeCore::operator=(PipeCore&& other) noexcept {
  if (this != &other) {
    close();
    close_handle(read_event_);
    close_handle(write_event_);
    handle_ = std::exchange(other.handle_, nullptr);
    server_ = other.server_;
    shut_ = std::exchange(other.shut_, false);
    nonblocking_ = other.nonblocking_;
    read_timeout_ = other.read_timeout_;
    write_timeout_ = other.write_timeout_;
    name_ = std::move(other.name_);
    read_event_ = std::exchange(other.read_event_, nullptr);
    write_event_ = std::exchange(other.write_event_, nullptr);
    holding_ = std::exchange(other.holding_, false);
    held_ = std::move(other.held_);
    held_left_ = other.held_left_;
    slot_ = std::move(other.slot_);
    write_quota_ = std::exchange(other.write_quota_, std::nullopt);
    send_failed_ = std::exchange(other.send_failed_, false);
  }
  return *this;
}

PipeCore::~PipeCore() {
  close();
  close_handle(read_event_);
  close_handle(write_event_);
}

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
  // Reading the pipe's type and state (GetNamedPipeInfo, GetNamedPipeHandleState: the
  // mode check below, and adopt() of a released handle) needs FILE_READ_ATTRIBUTES,
  // which GENERIC_WRITE alone does not give; a message-reading client switches its
  // handle to message read mode, which needs FILE_WRITE_ATTRIBUTES, which GENERIC_READ
  // alone does not give. Both are in the default pipe DACL's grant to everyone's read.
  const DWORD access = (read ? GENERIC_READ : 0) | (write ? GENERIC_WRITE : 0) |
                       FILE_READ_ATTRIBUTES | (message_read ? FILE_WRITE_ATTRIBUTES : 0);
  // Identification only: the server may learn who the client is, but not act as it.
  const DWORD flags = FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION;
  const auto deadline = std::chrono::steady_clock::now() + busy_timeout;
  HANDLE h = INVALID_HANDLE_VALUE;
  bool was_busy = false;
  for (;;) {
    const bool busy = localsock::detail::inject(testing::Fault::pipe_busy);
    const bool exhausted = !busy && localsock::detail::inject(testing::Fault::out_of_handles);
    h = busy || exhausted
            ? INVALID_HANDLE_VALUE
            : ::CreateFileW(path.c_str(), access, 0, nullptr, OPEN_EXISTING, flags, nullptr);
    if (h != INVALID_HANDLE_VALUE) break;
    const DWORD err = busy ? ERROR_PIPE_BUSY : exhausted ? ERROR_NO_SYSTEM_RESOURCES : ::GetLastError();
    // No such pipe is a prompt error, unless the pipe was busy a moment ago (see below).
    if (err != ERROR_PIPE_BUSY && !(err == ERROR_FILE_NOT_FOUND && was_busy)) {
      ec = error_of(err);
      return {};
    }
    was_busy = true;
    // Every instance is busy: wait for one within the caller's timeout, then retry (a
    // free instance may be taken by another client before this one gets it). The wait
    // goes in slices: a waiter is only woken by the pipe object it started waiting on,
    // and when a server with an instance limit of one replaces its last instance, Wine
    // makes a new object and never wakes the old waiters.
    DWORD slice = 50;
    if (busy_timeout >= Timeout::zero()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left <= Timeout::zero()) {
        ec = make_error_code(errc::timed_out);
        return {};
      }
      slice = static_cast<DWORD>(std::min<Timeout::rep>(left.count(), slice));
    }
    if (!::WaitNamedPipeW(path.c_str(), slice) && ::GetLastError() == ERROR_FILE_NOT_FOUND) {
      // Between the last instance closing and the next being created the name is
      // briefly gone; a server that was busy a moment ago gets the rest of the timeout.
      ::Sleep(std::min<DWORD>(slice, 5));
    }
  }
  // The pipe's type must be the stream's: a message client on a byte pipe would have
  // its read mode refused (a raw ERROR_INVALID_PARAMETER) or, writing only, send
  // "messages" that arrive as one byte stream; a byte client on a message pipe would
  // lose the boundaries. (The client took an instance; the server skips it.)
  DWORD pipe_flags = 0;
  if (!::GetNamedPipeInfo(h, &pipe_flags, nullptr, nullptr, nullptr)) {
    ec = last_error();
    ::CloseHandle(h);
    return {};
  }
  if (((pipe_flags & PIPE_TYPE_MESSAGE) != 0) != message_type) {
    ec = make_error_code(errc::mode_mismatch);
    ::CloseHandle(h);
    return {};
  }
  if (message_read) {
    DWORD mode = to_read_mode(PipeMode::Messages);
    if (!::SetNamedPipeHandleState(h, &mode, nullptr, nullptr)) {
      ec = last_error();
      ::CloseHandle(h);
      return {};
    }
  }
  return PipeCore(h, false, name.str());
}

PipeCore PipeCore::adopt(void* handle, bool message_read, bool message_write,
                         std::error_code& ec) noexcept {
  ec.clear();
  HANDLE h = static_cast<HANDLE>(handle);
  if (h == nullptr || h == INVALID_HANDLE_VALUE || ::GetFileType(h) != FILE_TYPE_PIPE) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return {};
  }
  // Every operation here is overlapped: a handle opened without FILE_FLAG_OVERLAPPED
  // would make timeouts, cancel_io, nonblocking mode and split silently wrong. The
  // handle's mode (FileModeInformation) needs no access right to read.
  IO_STATUS_BLOCK io{};
  ULONG file_mode = 0;
  const NTSTATUS status =
      ::NtQueryInformationFile(h, &io, &file_mode, sizeof file_mode, FileModeInformation);
  if (status < 0) {
    ec = error_of(::RtlNtStatusToDosError(status));
    return {};
  }
  if ((file_mode & (FILE_SYNCHRONOUS_IO_ALERT | FILE_SYNCHRONOUS_IO_NONALERT)) != 0) {
    ec = std::make_error_code(std::errc::operation_not_supported);
    return {};
  }
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

void PipeCore::cancel_io() noexcept {
  if (handle_ != nullptr) ::CancelIoEx(static_cast<HANDLE>(handle_), nullptr);
}

void* PipeCore::release(std::error_code& ec) noexcept {
  ec.clear();
  if (holding_) {
    // The head of a message is here and its rest in the pipe: the next owner of the
    // handle would take the rest for a whole message.
    ec = std::make_error_code(std::errc::operation_in_progress);
    return nullptr;
  }
  if (send_failed_) {
    // A message was cut (see send_message): a new owner of the handle could not know,
    // and what it sent would follow the cut message.
    ec = std::make_error_code(std::errc::connection_aborted);
    return nullptr;
  }
  shut_ = false;
  holding_ = false;
  held_.clear();
  slot_.reset();
  return std::exchange(handle_, nullptr);
}

std::size_t PipeCore::read(MutableBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (handle_ == nullptr) {
    if (!shut_) ec = make_error_code(errc::not_connected);
    return 0;
  }
  if (buf.empty()) return 0;
  HANDLE event = ensure_event(read_event_, ec);
  if (ec) return 0;
  // A byte reader on a message pipe reads across message boundaries (`more` is ignored).
  return read_chunk(static_cast<HANDLE>(handle_), event, read_limit(nonblocking_, read_timeout_), buf, ec).n;
}

// The pipe's buffer size for this end's writes (the quota of the data queue they go
// to), read once. GetNamedPipeInfo reports the sizes of the pipe, not of the end asked:
// the outbound buffer carries a server's writes, the inbound one a client's. Reading it
// needs FILE_READ_ATTRIBUTES; without that right the size stays unknown.
std::optional<std::uint32_t> PipeCore::write_quota() noexcept {
  if (!write_quota_) {
    DWORD out = 0;
    DWORD in = 0;
    if (::GetNamedPipeInfo(static_cast<HANDLE>(handle_), nullptr, &out, &in, nullptr))
      write_quota_ = server_ ? out : in;
  }
  return write_quota_;
}

// A write that the pipe cannot take at once stays pending, and when it is cancelled
// (the write timeout, cancel_io) the system completes it with no byte count, though the
// reader may already have taken part of it: the writer could not know where to resume.
// A pending write is only ever read in part if it is larger than the pipe's buffer (the
// data before it is gone once the reader reaches it, so a write that fits completes at
// that moment, on Windows as under Wine). So a byte write carries at most one buffer's
// worth; one that was cancelled took nothing, and the count is exact.
std::size_t PipeCore::write(ConstBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (handle_ == nullptr) {
    ec = make_error_code(shut_ ? errc::peer_closed : errc::not_connected);
    return 0;
  }
  if (send_failed_) {
    ec = std::make_error_code(std::errc::connection_aborted);
    return 0;
  }
  if (buf.empty()) return 0;
  HANDLE event = ensure_event(write_event_, ec);
  if (ec) return 0;
  HANDLE h = static_cast<HANDLE>(handle_);
  // A buffer of zero makes every write wait for its reader: one byte at a time is exact.
  // Of a pipe whose size cannot be read (a handle without FILE_READ_ATTRIBUTES), the
  // write goes whole, as before.
  const auto quota = write_quota();
  const DWORD piece = quota ? std::max<DWORD>(*quota, 1) : clamp_length(buf.size());
  const DWORD length = std::min(clamp_length(buf.size()), piece);
  return run_overlapped(h, event, limit_of(write_timeout_), [&](OVERLAPPED* ov) {
    return ::WriteFile(h, buf.data(), length, nullptr, ov);
  }, ec);
}

void PipeCore::send_message(ConstBuffer msg, std::error_code& ec) noexcept {
  ec.clear();
  if (handle_ == nullptr) {
    ec = make_error_code(shut_ ? errc::peer_closed : errc::not_connected);
    return;
  }
  if (send_failed_) {
    ec = std::make_error_code(std::errc::connection_aborted);
    return;
  }
  // One WriteFile is one message; its length is a DWORD.
  if (msg.size() > 0x7fffffff) {
    ec = make_error_code(errc::message_too_large);
    return;
  }
  HANDLE event = ensure_event(write_event_, ec);
  if (ec) return;
  HANDLE h = static_cast<HANDLE>(handle_);
  static const std::byte nothing{};
  const void* data = msg.empty() ? &nothing : msg.data();
  const DWORD n = run_overlapped(h, event, limit_of(write_timeout_), [&](OVERLAPPED* ov) {
    return ::WriteFile(h, data, static_cast<DWORD>(msg.size()), nullptr, ov);
  }, ec);
  if (ec == errc::timed_out || ec == std::errc::operation_canceled) {
    // Cancelled while pending (see write()): a message that fits the pipe's buffer was
    // not read at all, and the stream goes on. Of a larger one the reader may hold the
    // head, and the rest is gone: anything sent after it would be read as its rest, or
    // make the reader fail on it. The sending side ends here.
    const auto quota = write_quota();
    if (!msg.empty() && (!quota || msg.size() > *quota)) {
      send_failed_ = true;
      localsock::detail::log(LogLevel::debug, "a message cut by a timeout or cancel_io ends sending on '",
                             name_, "'");
    }
    return;
  }
  if (!ec && n != msg.size()) ec = std::make_error_code(std::errc::io_error);
}

// Message receives take the head of the next message into the caller's buffer (or one
// byte of scratch). A message that does not fit is kept as "held": the head bytes taken
// and the size of the rest, which PeekNamedPipe reports and which stays in the pipe.
ReceiveResult PipeCore::peek_message(std::error_code& ec) noexcept {
  ec.clear();
  if (handle_ == nullptr) {
    if (!shut_) ec = make_error_code(errc::not_connected);
    return {0, shut_};
  }
  if (!holding_) {
    HANDLE event = ensure_event(read_event_, ec);
    if (ec) return {};
    HANDLE h = static_cast<HANDLE>(handle_);
    std::byte first{};
    const Chunk c = read_chunk(h, event, read_limit(nonblocking_, read_timeout_), {&first, 1}, ec);
    if (ec) return {};
    if (c.end) return {0, true};
    const std::size_t left = c.more ? bytes_left(h, ec) : 0;
    if (ec) return {};
    held_.assign(&first, &first + c.n);
    held_left_ = left;
    holding_ = true;
  }
  return {held_.size() + held_left_};
}

ReceiveResult PipeCore::recv_message(MutableBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (handle_ == nullptr) {
    if (!shut_) ec = make_error_code(errc::not_connected);
    return {0, shut_};
  }
  HANDLE event = ensure_event(read_event_, ec);
  if (ec) return {};
  HANDLE h = static_cast<HANDLE>(handle_);
  const Deadline deadline(nonblocking_, read_timeout_);
  if (!holding_) {
    if (buf.empty()) {
      peek_message(ec);
      if (ec || !holding_) return {0, !ec};
    } else {
      // An injected ERROR_MORE_DATA: the real one, from a read of one byte.
      const MutableBuffer into = localsock::detail::inject(testing::Fault::more_data) ? buf.first(1) : buf;
      const Chunk c = read_chunk(h, event, deadline.left(), into, ec);
      if (ec) return {};
      if (c.end) return {0, true};
      if (!c.more) return {c.n};
      const std::size_t left = bytes_left(h, ec);
      if (ec) return {};
      held_.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(c.n));
      held_left_ = left;
      holding_ = true;
    }
  }
  const std::size_t total = held_.size() + held_left_;
  if (buf.size() < total) {
    ec = make_error_code(errc::message_truncated);
    return {total};
  }
  std::copy(held_.begin(), held_.end(), buf.begin());
  read_rest(h, event, deadline, buf.subspan(held_.size(), held_left_), ec);
  holding_ = false;
  held_.clear();
  if (ec) return {};
  return {total};
}

ReceiveResult PipeCore::recv_message(std::vector<std::byte>& out, std::size_t max_size,
                                     std::error_code& ec) {
  ec.clear();
  out.clear();
  if (handle_ == nullptr) {
    if (!shut_) ec = make_error_code(errc::not_connected);
    return {0, shut_};
  }
  HANDLE event = ensure_event(read_event_, ec);
  if (ec) return {};
  HANDLE h = static_cast<HANDLE>(handle_);
  const Deadline deadline(nonblocking_, read_timeout_);
  std::size_t head = 0;  // bytes of the message already in `out`
  std::size_t left = 0;  // bytes of it still in the pipe
  if (holding_) {
    out.swap(held_);
    head = out.size();
    left = held_left_;
    holding_ = false;
    held_.clear();
  } else {
    // Most messages fit the first read: use what `out` already holds, at least 4 KiB
    // (at least one byte, and no more than the maximum plus one).
    const std::size_t first = std::min(std::max<std::size_t>(out.capacity(), 4096),
                                       max_size == SIZE_MAX ? max_size : max_size + 1);
    out.resize(first);
    const Chunk c = read_chunk(h, event, deadline.left(), out, ec);
    if (ec || c.end) {
      out.clear();
      return {0, c.end};
    }
    head = c.n;
    left = c.more ? bytes_left(h, ec) : 0;
    if (ec) {
      out.clear();
      return {};
    }
  }
  const std::size_t total = head + left;
  if (total > max_size) {
    // Too large: take it off the pipe so that the next message can be received.
    if (left > 0) discard_rest(h, event, deadline, ec);
    out.clear();
    if (!ec) ec = make_error_code(errc::message_too_large);
    return {total};
  }
  out.resize(total);
  read_rest(h, event, deadline, std::span(out).subspan(head), ec);
  if (ec) {
    out.clear();
    return {};
  }
  return {total};
}

std::uint32_t PipeCore::process_id(bool of_client, std::error_code& ec) const noexcept {
  ec.clear();
  ULONG pid = 0;
  HANDLE h = static_cast<HANDLE>(handle_);
  if (h == nullptr) {
    ec = make_error_code(errc::not_connected);
  } else if (!(of_client ? ::GetNamedPipeClientProcessId(h, &pid)
                         : ::GetNamedPipeServerProcessId(h, &pid))) {
    ec = last_error();
  }
  return pid;
}

std::uint32_t PipeCore::session_id(bool of_client, std::error_code& ec) const noexcept {
  ec.clear();
  ULONG id = 0;
  HANDLE h = static_cast<HANDLE>(handle_);
  if (h == nullptr) {
    ec = make_error_code(errc::not_connected);
  } else if (!(of_client ? ::GetNamedPipeClientSessionId(h, &id)
                         : ::GetNamedPipeServerSessionId(h, &id))) {
    ec = last_error();
  }
  return id;
}

void PipeCore::impersonate_client(std::error_code& ec) const noexcept {
  ec.clear();
  if (handle_ == nullptr)
    ec = make_error_code(errc::not_connected);
  else if (!server_)
    ec = make_error_code(errc::wrong_end);
  else if (!::ImpersonateNamedPipeClient(static_cast<HANDLE>(handle_)))
    ec = last_error();
}

namespace {

// The SID string of a token's user.
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

// The user a process runs as.
std::string process_user_sid(DWORD pid, std::error_code& ec) {
  HANDLE process = ::OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
  if (process == nullptr) {
    ec = last_error();
    return {};
  }
  HANDLE token = nullptr;
  std::string sid;
  if (::OpenProcessToken(process, TOKEN_QUERY, &token)) {
    sid = token_user_sid(token, ec);
    ::CloseHandle(token);
  } else {
    ec = last_error();
  }
  ::CloseHandle(process);
  return sid;
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
  if (handle_ == nullptr || !server_) {
    ec = make_error_code(handle_ == nullptr ? errc::not_connected : errc::wrong_end);
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
  impersonate_client(ec);
  if (ec) {
    if (saved != nullptr) ::CloseHandle(saved);
    return nullptr;
  }
  return saved;
}

std::string PipeCore::client_user_sid(std::error_code& ec) const {
  HANDLE saved = static_cast<HANDLE>(impersonate_client_saving(ec));
  if (ec) return {};
  HANDLE token = nullptr;
  const BOOL opened = ::OpenThreadToken(::GetCurrentThread(), TOKEN_QUERY, TRUE, &token);
  const DWORD err = ::GetLastError();
  // SetThreadToken with no token is RevertToSelf. Failing to restore would leave the
  // thread in the client's context: as with a failed RevertToSelf, end the process.
  if (!::SetThreadToken(nullptr, saved)) std::terminate();
  if (saved != nullptr) ::CloseHandle(saved);
  if (!opened) {
    ec = error_of(err);
    return {};
  }
  std::string sid = token_user_sid(token, ec);
  ::CloseHandle(token);
  return sid;
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
  return server_ ? client_user_sid(ec) : owner_sid(static_cast<HANDLE>(handle_), ec);
}

void PipeCore::flush(std::error_code& ec) noexcept {
  ec.clear();
  if (handle_ == nullptr)
    ec = make_error_code(errc::not_connected);
  else if (!::FlushFileBuffers(static_cast<HANDLE>(handle_)))
    ec = last_error();
}

void PipeCore::disconnect(std::error_code& ec) noexcept {
  ec.clear();
  if (handle_ == nullptr) {
    ec = make_error_code(errc::not_connected);
    return;
  }
  if (!server_) {
    ec = make_error_code(errc::wrong_end);
    return;
  }
  if (!::DisconnectNamedPipe(static_cast<HANDLE>(handle_))) ec = last_error();
  close();
}

void PipeCore::shutdown(Shutdown how, std::error_code& ec) noexcept {
  ec.clear();
  if (handle_ == nullptr && !shut_) {
    ec = make_error_code(errc::not_connected);
    return;
  }
  // A pipe cannot end one direction only; ending both is closing the handle while the
  // object stays usable for reads that report end of stream.
  if (how != Shutdown::both) {
    ec = make_error_code(errc::not_supported);
    return;
  }
  close();
  shut_ = true;
}

void PipeCore::close() noexcept {
  shut_ = false;
  holding_ = false;
  held_.clear();
  close_handle(handle_);
  // The instance is gone: give its slot back to the listener's instance limit.
  slot_.reset();
}

// ---- PipeListenerCore -------------------------------------------------------------

namespace {

// The free places under an instance limit: a semaphore counting the instances that may
// still be created. An instance takes a place when it is created and gives it back when
// its handle closes, in the listener or in the server stream it became.
struct InstanceSlots {
  HANDLE semaphore = nullptr;
  explicit InstanceSlots(LONG n) noexcept : semaphore(::CreateSemaphoreW(nullptr, n, n, nullptr)) {}
  InstanceSlots(const InstanceSlots&) = delete;
  InstanceSlots& operator=(const InstanceSlots&) = delete;
  ~InstanceSlots() {
    if (semaphore != nullptr) ::CloseHandle(semaphore);
  }
};

// What a server stream holds to give its place back when it closes.
std::shared_ptr<void> slot_token(const std::shared_ptr<InstanceSlots>& slots) {
  if (!slots) return {};
  return {slots.get(), [keep = slots](void*) { ::ReleaseSemaphore(keep->semaphore, 1, nullptr); }};
}

}  // namespace

struct PipeListenerCore::State {
  LocalName name;
  std::wstring path;
  DWORD open_mode = 0;
  DWORD pipe_mode = 0;
  DWORD max_instances = PIPE_UNLIMITED_INSTANCES;
  DWORD in_buffer = 0;
  DWORD out_buffer = 0;
  DWORD default_timeout = 0;
  PSECURITY_DESCRIPTOR descriptor = nullptr;
  bool inheritable = false;
  std::shared_ptr<InstanceSlots> slots;  // set when there is an instance limit
  bool first_instance = true;
  std::string user_sid;  // set when only this user's clients are accepted
  std::atomic<bool> nonblocking{false};

  // The instance waiting for the next client, and its overlapped ConnectNamedPipe.
  HANDLE pending = nullptr;
  OVERLAPPED connect_ov{};
  bool connecting = false;
  HANDLE connect_event = nullptr;
  HANDLE stop_event = nullptr;

  // One accept at a time works on `pending`. Timed: an accept_for waiting for its turn
  // beside an accept() that waits for a client gives up at its own deadline.
  std::timed_mutex accept_mutex;
  localsock::detail::AcceptGate gate;

  ~State() {
    shut();
    if (descriptor != nullptr) ::LocalFree(descriptor);
    if (connect_event != nullptr) ::CloseHandle(connect_event);
    if (stop_event != nullptr) ::CloseHandle(stop_event);
  }

  HANDLE create_instance(bool first, std::error_code& ec) noexcept {
    SECURITY_ATTRIBUTES sa{sizeof sa, descriptor, inheritable ? TRUE : FALSE};
    first = first && first_instance;
    const DWORD mode = open_mode | (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
    const bool exhausted = localsock::detail::inject(testing::Fault::out_of_handles);
    HANDLE h = exhausted ? INVALID_HANDLE_VALUE
                         : ::CreateNamedPipeW(path.c_str(), mode, pipe_mode, max_instances,
                                              out_buffer, in_buffer, default_timeout, &sa);
    if (h != INVALID_HANDLE_VALUE) return h;
    const DWORD err = exhausted ? ERROR_NO_SYSTEM_RESOURCES : ::GetLastError();
    // For the first instance, access denied means another process owns the name
    // (FILE_FLAG_FIRST_PIPE_INSTANCE) and busy means its instance limit is reached.
    if (first && (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY))
      ec = make_error_code(errc::name_in_use);
    else
      ec = error_of(err);
    return nullptr;
  }

  void shut() noexcept {
    const bool closing = gate.close([this] {
      if (stop_event != nullptr) ::SetEvent(stop_event);
    });
    if (!closing) return;
    localsock::detail::log(LogLevel::debug, "closed listener '", name.str(), "'");
    if (pending != nullptr) {
      if (connecting) {
        ::CancelIoEx(pending, &connect_ov);
        DWORD n = 0;
        ::GetOverlappedResult(pending, &connect_ov, &n, TRUE);
        connecting = false;
      }
      ::CloseHandle(std::exchange(pending, nullptr));
      if (slots) ::ReleaseSemaphore(slots->semaphore, 1, nullptr);
    }
    drop_keeper();
  }

  // Under an instance limit, the instance a connection used closes with it, and the
  // next is created only when an accept gets a free place: in between the pipe had no
  // instance at all, its name was gone, and a client arriving then got "no listener"
  // (ERROR_FILE_NOT_FOUND) at once, though the listener lives and its connect timeout
  // promised a wait. The keeper is one more instance, outside the limit, connected to a
  // client end the listener holds itself: while the listener lives the pipe always has
  // an instance, so such a client finds it busy and waits (WaitNamedPipe) like the
  // others, and a name nobody serves still fails at once. Creating it first makes it
  // the first instance (FILE_FLAG_FIRST_PIPE_INSTANCE); its client must be this
  // process's, or it is tried again (a client racing for the new name, or a server
  // sharing it, could take it). Without a keeper (its client end refused by the
  // descriptor, say), the listener works as before.
  // Only a listener that owns its name makes one (first_instance, the default): where
  // servers share a name on purpose, the keeper's client end could reach another
  // server's waiting instance, which would accept a client nobody made.
  HANDLE keeper_server = nullptr;
  HANDLE keeper_client = nullptr;

  void keep_name(std::error_code& ec) noexcept {
    for (int attempt = 0; attempt < 3; ++attempt) {
      // Every attempt is a first instance: the previous one is closed, and the name is
      // free for anyone until this one exists. (Windows enforces the flag; Wine does not.)
      HANDLE server = create_instance(true, ec);
      if (server == nullptr) {
        if (ec != errc::name_in_use) ec.clear();  // a failure here is the listener's only as a squatter
        return;
      }
      // The client end is never used, only held: it asks for as little as the pipe's
      // descriptor may grant (an access check that asks for nothing may be refused), then
      // for the data access of the pipe's direction.
      HANDLE client = ::CreateFileW(path.c_str(), FILE_READ_ATTRIBUTES, 0, nullptr, OPEN_EXISTING, 0, nullptr);
      if (client == INVALID_HANDLE_VALUE && ::GetLastError() == ERROR_ACCESS_DENIED) {
        const DWORD data = (open_mode & PIPE_ACCESS_DUPLEX) == PIPE_ACCESS_INBOUND ? GENERIC_WRITE : GENERIC_READ;
        client = ::CreateFileW(path.c_str(), data, 0, nullptr, OPEN_EXISTING, 0, nullptr);
      }
      ULONG pid = 0;
      if (client != INVALID_HANDLE_VALUE && ::GetNamedPipeClientProcessId(server, &pid) &&
          pid == ::GetCurrentProcessId()) {
        keeper_server = server;
        keeper_client = client;
        return;
      }
      if (client != INVALID_HANDLE_VALUE) ::CloseHandle(client);
      ::CloseHandle(server);
    }
    localsock::detail::log(LogLevel::debug, "no keeper instance for '", name.str(),
                           "': its name may be gone between connections");
  }

  void drop_keeper() noexcept {
    if (keeper_client != nullptr) ::CloseHandle(std::exchange(keeper_client, nullptr));
    if (keeper_server != nullptr) ::CloseHandle(std::exchange(keeper_server, nullptr));
  }

  // Takes a place under the instance limit, waiting up to `wait` ms for one; false with
  // `ec` set when none came (or the listener was closed meanwhile).
  bool take_slot(DWORD wait, std::error_code& ec) noexcept {
    if (!slots) return true;
    HANDLE events[2] = {stop_event, slots->semaphore};
    const DWORD r = ::WaitForMultipleObjects(2, events, FALSE, wait);
    if (r == WAIT_OBJECT_0 + 1) return true;
    if (r == WAIT_OBJECT_0)
      ec = make_error_code(errc::listener_closed);
    else if (r == WAIT_TIMEOUT)
      ec = make_error_code(nonblocking ? errc::would_block : errc::timed_out);
    else
      ec = last_error();
    return false;
  }

  // Creates the instance that waits for the next client, if a place is free within
  // `wait` ms.
  void make_pending(bool first, DWORD wait, std::error_code& ec) noexcept {
    const ULONGLONG start = ::GetTickCount64();
    if (!take_slot(wait, ec)) return;
    pending = create_instance(first, ec);
    // Windows counts the instances itself: a server handle given away by release() (or
    // a server sharing the name, with first_instance(false)) holds its instance until
    // that handle is closed, though our count has it free. Wait for it, in slices, as
    // long as this accept may wait, rather than fail with ERROR_PIPE_BUSY.
    while (pending == nullptr && !first && ec == std::error_code(ERROR_PIPE_BUSY, std::system_category())) {
      const ULONGLONG waited = ::GetTickCount64() - start;
      const DWORD slice = wait == INFINITE ? 20
                          : waited >= wait ? 0
                                           : static_cast<DWORD>(std::min<ULONGLONG>(20, wait - waited));
      if (slice == 0) {
        ec = make_error_code(nonblocking ? errc::would_block : errc::timed_out);
        break;
      }
      if (::WaitForSingleObject(stop_event, slice) == WAIT_OBJECT_0) {
        ec = make_error_code(errc::listener_closed);
        break;
      }
      ec.clear();
      pending = create_instance(false, ec);
    }
    if (pending == nullptr && slots) ::ReleaseSemaphore(slots->semaphore, 1, nullptr);
  }
};

PipeListenerCore::PipeListenerCore() noexcept = default;
PipeListenerCore::PipeListenerCore(PipeListenerCore&&) noexcept = default;
PipeListenerCore& PipeListenerCore::operator=(PipeListenerCore&&) noexcept = default;
PipeListenerCore::~PipeListenerCore() = default;

PipeListenerCore PipeListenerCore::create(const PipeListenerOptions& options, bool read,
                                          bool write, bool message_read, bool message_write,
                                          std::error_code& ec) {
  PipeListenerCore core = create_unlogged(options, read, write, message_read, message_write, ec);
  localsock::detail::log_step("listen on", options.name().str(), ec);
  return core;
}

PipeListenerCore PipeListenerCore::create_unlogged(const PipeListenerOptions& options, bool read,
                                                   bool write, bool message_read, bool message_write,
                                                   std::error_code& ec) {
  ec.clear();
  const LocalName& name = options.name();
  if (name.empty() || name.kind() != NameKind::namespaced) {
    ec = make_error_code(name.empty() ? errc::invalid_name : errc::not_supported);
    return {};
  }
  auto s = std::make_unique<State>();
  s->name = name;
  s->path = widen(pipe_path(name.str()));
  const PipeStreamRole role = read && write ? PipeStreamRole::ReaderAndWriter
                              : read        ? PipeStreamRole::Reader
                                            : PipeStreamRole::Writer;
  s->open_mode = FILE_FLAG_OVERLAPPED | (options.write_through() ? FILE_FLAG_WRITE_THROUGH : 0) |
                 to_pipe_access(direction_as_server(role));
  const bool message_type = message_read || message_write;
  const auto mode_of = [](bool messages) { return messages ? PipeMode::Messages : PipeMode::Bytes; };
  s->pipe_mode = to_pipe_type(mode_of(message_type)) | to_read_mode(mode_of(message_read)) | PIPE_WAIT |
                 (options.accept_remote() ? PIPE_ACCEPT_REMOTE_CLIENTS : PIPE_REJECT_REMOTE_CLIENTS);
  if (auto limit = options.instance_limit()) {
    if (*limit == 0) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return {};
    }
    // One instance more than the limit: the keeper (see State::keep_name).
    s->max_instances = *limit + 1u < PIPE_UNLIMITED_INSTANCES ? *limit + 1u : PIPE_UNLIMITED_INSTANCES;
    s->slots = std::make_shared<InstanceSlots>(*limit);
    if (s->slots->semaphore == nullptr) {
      ec = last_error();
      return {};
    }
  }
  s->in_buffer = options.input_buffer_size_hint();
  s->out_buffer = options.output_buffer_size_hint();
  s->default_timeout = std::max<DWORD>(1, timeout_ms(options.wait_timeout()));
  s->inheritable = options.inheritable();
  s->nonblocking = options.nonblocking();
  std::string sddl = options.security_descriptor();
  if (options.current_user_only()) {
    if (!sddl.empty()) {  // two access policies: say so rather than pick one
      ec = std::make_error_code(std::errc::invalid_argument);
      return {};
    }
    s->user_sid = current_user_sid(ec);
    if (ec) return {};
    sddl = "D:P(A;;GA;;;" + s->user_sid + ")";
  }
  if (sddl.empty() && !default_pipe_sddl(sddl, ec)) return {};
  if (!sddl.empty()) {
    if (!::ConvertStringSecurityDescriptorToSecurityDescriptorW(
            widen(sddl).c_str(), SDDL_REVISION_1, &s->descriptor, nullptr)) {
      ec = last_error();
      return {};
    }
  }
  s->connect_event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  s->stop_event = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  if (s->connect_event == nullptr || s->stop_event == nullptr) {
    ec = last_error();
    return {};
  }
  // FILE_FLAG_FIRST_PIPE_INSTANCE makes Windows refuse a name another process already
  // serves. Wine does not enforce that flag, so ask first whether a pipe of this name
  // exists: WaitNamedPipe fails with ERROR_FILE_NOT_FOUND only when none does, and
  // unlike opening the pipe it takes no instance from the live server.
  // Only a pipe that exists makes the name in use: WaitNamedPipe succeeds (an instance
  // is free) or times out (every instance is busy). Any other failure (a bad path, a
  // remote name) is reported as it is.
  s->first_instance = options.first_instance();
  if (s->first_instance) {
    const DWORD err = ::WaitNamedPipeW(s->path.c_str(), 1) ? ERROR_SUCCESS : ::GetLastError();
    if (err == ERROR_SUCCESS || err == ERROR_SEM_TIMEOUT || err == ERROR_PIPE_BUSY) {
      ec = make_error_code(errc::name_in_use);
      return {};
    }
    if (err != ERROR_FILE_NOT_FOUND) {
      ec = error_of(err);
      return {};
    }
  }
  if (s->slots && s->first_instance) s->keep_name(ec);
  if (ec) return {};
  s->make_pending(s->keeper_server == nullptr, 0, ec);
  if (ec) return {};
  PipeListenerCore core;
  core.state_ = std::move(s);
  return core;
}

PipeCore PipeListenerCore::take_instance(std::error_code& ec) {
  ec.clear();
  State* s = state_.get();
  if (s == nullptr || s->gate.closed()) {
    ec = make_error_code(errc::listener_closed);
    return {};
  }
  std::lock_guard serial(s->accept_mutex);
  if (s->pending == nullptr) {
    s->make_pending(false, 0, ec);
    if (ec) {
      if (ec == errc::timed_out) ec = make_error_code(errc::would_block);
      return {};
    }
  }
  PipeCore core(std::exchange(s->pending, nullptr), true, s->name.str());
  core.hold_slot(slot_token(s->slots));
  return core;
}

bool PipeListenerCore::admits(const PipeCore& server) const {
  if (!state_ || state_->user_sid.empty()) return true;
  if (localsock::detail::inject(testing::Fault::foreign_user)) return false;
  std::error_code ec;
  return server.peer_user_sid(ec) == state_->user_sid && !ec;
}

PipeCore PipeListenerCore::accept(Timeout timeout, std::error_code& ec) {
  ec.clear();
  State* s = state_.get();
  if (s == nullptr) {
    ec = make_error_code(errc::listener_closed);
    return {};
  }
  // Everything below, the returned core and the log lines included, happens inside the
  // gate: once the pass is gone, a close() from another thread may return and the
  // listener be destroyed.
  localsock::detail::AcceptGate::Pass pass(s->gate);
  if (!pass) {
    ec = make_error_code(errc::listener_closed);
    return {};
  }
  // One deadline for the whole accept: a refused client (current_user_only) does not
  // restart the timeout, however many come.
  const auto deadline = std::chrono::steady_clock::now() + std::clamp(timeout, Timeout::zero(), longest_wait);
  for (;;) {
    const Timeout left = timeout < Timeout::zero()
                             ? timeout
                             : std::max(std::chrono::ceil<Timeout>(deadline - std::chrono::steady_clock::now()),
                                        Timeout::zero());
    PipeCore core = accept_one(left, ec);
    if (ec != errc::would_block && ec != errc::timed_out)
      localsock::detail::log_step("accept on", s->name.str(), ec);
    // current_user_only: the descriptor keeps others out where DACLs are enforced; this
    // check also holds where they are not.
    if (ec || admits(core)) return core;
    localsock::detail::log(LogLevel::debug, "refused a client of another user on '", s->name.str(),
                           "' (current_user_only)");
    std::error_code ignored;
    core.disconnect(ignored);
  }
}

// Called inside the gate (by accept).
PipeCore PipeListenerCore::accept_one(Timeout timeout, std::error_code& ec) {
  ec.clear();
  State* s = state_.get();
  HANDLE connected = nullptr;
  // Every wait of this accept (its turn, a place under the instance limit, a client)
  // takes only the time left before one deadline.
  using Clock = std::chrono::steady_clock;
  const bool forever = !s->nonblocking && timeout < Timeout::zero();
  const Clock::time_point deadline =
      Clock::now() + (s->nonblocking ? Timeout::zero() : std::clamp(timeout, Timeout::zero(), longest_wait));
  const auto left_ms = [&]() -> DWORD {
    if (forever) return INFINITE;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<DWORD>(std::clamp<std::chrono::milliseconds::rep>(left.count(), 0, INFINITE - 1));
  };
  std::unique_lock serial(s->accept_mutex, std::defer_lock);
  if (forever) {
    serial.lock();
  } else if (!serial.try_lock_until(deadline)) {
    ec = make_error_code(s->nonblocking ? errc::would_block : errc::timed_out);
  }
  if (!ec && s->gate.closed()) ec = make_error_code(errc::listener_closed);
  if (!ec) {
    while (connected == nullptr && !ec) {
      if (s->pending == nullptr) {
        // Under an instance limit, this waits until a live connection closes.
        s->make_pending(false, left_ms(), ec);
        if (ec) break;
      }
      if (!s->connecting) {
        s->connect_ov = OVERLAPPED{};
        s->connect_ov.hEvent = s->connect_event;
        ::ResetEvent(s->connect_event);
        DWORD err = 0;
        if (localsock::detail::inject(testing::Fault::accept_no_data)) {
          err = ERROR_NO_DATA;
        } else if (localsock::detail::inject(testing::Fault::accept_pipe_connected)) {
          err = ERROR_PIPE_CONNECTED;
        } else if (::ConnectNamedPipe(s->pending, &s->connect_ov)) {
          connected = std::exchange(s->pending, nullptr);
          break;
        } else {
          err = ::GetLastError();
        }
        if (err == ERROR_PIPE_CONNECTED) {
          // The client connected between CreateNamedPipe and ConnectNamedPipe.
          connected = std::exchange(s->pending, nullptr);
          break;
        }
        if (err == ERROR_NO_DATA) {
          // A client connected and left before we got to it: reset the instance.
          ::DisconnectNamedPipe(s->pending);
          continue;
        }
        if (err != ERROR_IO_PENDING) {
          ec = error_of(err);
          break;
        }
        s->connecting = true;
      }
      HANDLE events[2] = {s->connect_event, s->stop_event};
      const DWORD r = ::WaitForMultipleObjects(2, events, FALSE, left_ms());
      if (r == WAIT_OBJECT_0 + 1) {
        ec = make_error_code(errc::listener_closed);
      } else if (r == WAIT_TIMEOUT) {
        // The connect stays pending; the next accept goes on waiting for it.
        ec = make_error_code(s->nonblocking ? errc::would_block : errc::timed_out);
      } else if (r != WAIT_OBJECT_0) {
        ec = last_error();
      } else {
        s->connecting = false;
        DWORD n = 0;
        if (::GetOverlappedResult(s->pending, &s->connect_ov, &n, FALSE)) {
          connected = std::exchange(s->pending, nullptr);
        } else if (::GetLastError() == ERROR_NO_DATA) {
          ::DisconnectNamedPipe(s->pending);
        } else {
          ec = last_error();
        }
      }
    }
    // Have the next instance ready before handing this one over, so that clients keep
    // finding the pipe. If that fails, the next accept tries again.
    if (connected != nullptr && s->pending == nullptr) {
      std::error_code ignored;
      s->make_pending(false, 0, ignored);
    }
  }
  if (serial.owns_lock()) serial.unlock();
  if (connected == nullptr) return {};
  PipeCore core(connected, true, s->name.str());
  core.hold_slot(slot_token(s->slots));
  return core;
}

void PipeListenerCore::set_nonblocking(bool on) noexcept {
  if (state_) state_->nonblocking = on;
}

void PipeListenerCore::close() noexcept {
  if (state_) state_->shut();
}

bool PipeListenerCore::is_open() const noexcept { return state_ && !state_->gate.closed(); }

const LocalName& PipeListenerCore::name() const noexcept {
  static const LocalName none;
  return state_ ? state_->name : none;
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
  std::string sid = detail::token_user_sid(token, ec);
  ::CloseHandle(token);
  return sid;
}

}  // namespace localsock::win
