// SPDX-License-Identifier: MIT
// PipeCore's I/O: reads, writes, messages, and the end of a connection.
#include <localsock/win/pipe_core.hpp>

#include <windows.h>

#include <algorithm>
#include <span>
#include <utility>
#include <vector>

#include "../common/log.hpp"
#include "overlapped.hpp"
#include "sys.hpp"
#include "win_error.hpp"

namespace localsock::win::detail {

PipeCore::PipeCore(void* handle, bool server, localsock::detail::NameText name) noexcept
    : handle_(handle), server_(server), name_(std::move(name)) {}

PipeCore::PipeCore(PipeCore&&) noexcept = default;
// Not defaulted: a stream moved onto itself must stay as it was (a defaulted self-move
// empties the name and the pending message's buffer but keeps its counts). Members are
// assigned in order: the old handle closes before the old slot is given back.
PipeCore& PipeCore::operator=(PipeCore&& other) noexcept {
  if (this == &other) return *this;
  handle_ = std::move(other.handle_);
  server_ = other.server_;
  shut_ = std::move(other.shut_);
  nonblocking_ = other.nonblocking_;
  read_timeout_ = other.read_timeout_;
  write_timeout_ = other.write_timeout_;
  name_ = std::move(other.name_);
  read_event_ = std::move(other.read_event_);
  write_event_ = std::move(other.write_event_);
  assembler_ = std::move(other.assembler_);
  slot_ = std::move(other.slot_);
  write_quota_ = std::exchange(other.write_quota_, std::nullopt);
  send_failed_ = std::move(other.send_failed_);
  recv_failed_ = std::move(other.recv_failed_);
  return *this;
}

PipeCore::~PipeCore() {
  close();
  // Nothing waits on them now: the next streams of this thread take them.
  recycle_event(read_event_);
  recycle_event(write_event_);
}

void PipeCore::cancel_io() noexcept {
  if (handle_) ::CancelIoEx(handle_.get(), nullptr);
}

void* PipeCore::release(std::error_code& ec) noexcept {
  ec.clear();
  if (assembler_.has_message()) {
    // The head of a message is here and its rest in the pipe: the next owner of the
    // handle would take the rest for a whole message.
    ec = std::make_error_code(std::errc::operation_in_progress);
    return nullptr;
  }
  if (send_failed_ || recv_failed_) {
    // A message was cut (see send_message): a new owner of the handle could not know,
    // and what it sent would follow the cut message. Or the rest of a message that
    // could not be put together may be in the pipe: it would pass for a whole one.
    ec = std::make_error_code(std::errc::connection_aborted);
    return nullptr;
  }
  shut_ = false;
  assembler_.reset();
  slot_.reset();
  return handle_.release();
}

std::size_t PipeCore::read(MutableBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (!handle_) {
    if (!shut_) ec = make_error_code(errc::not_connected);
    return 0;
  }
  if (buf.empty()) return 0;
  HANDLE event = ensure_event(read_event_, ec);
  if (ec) return 0;
  // A byte reader on a message pipe reads across message boundaries (`more` is ignored).
  return read_chunk(handle_.get(), event, read_limit(nonblocking_, read_timeout_), buf, ec).n;
}

// The pipe's buffer size for this end's writes (the quota of the data queue they go
// to), read once. GetNamedPipeInfo reports the sizes of the pipe, not of the end asked:
// the outbound buffer carries a server's writes, the inbound one a client's. Reading it
// needs FILE_READ_ATTRIBUTES; without that right the size stays unknown.
std::optional<std::uint32_t> PipeCore::write_quota() noexcept {
  if (!write_quota_) {
    DWORD out = 0;
    DWORD in = 0;
    if (::GetNamedPipeInfo(handle_.get(), nullptr, &out, &in, nullptr))
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
  if (!handle_) {
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
  HANDLE h = handle_.get();
  // A buffer of zero makes every write wait for its reader: one byte at a time is exact.
  // Of a pipe whose size cannot be read (a handle without FILE_READ_ATTRIBUTES), the
  // write goes whole, as before.
  const auto quota = write_quota();
  const DWORD piece = quota ? std::max<DWORD>(*quota, 1) : clamp_length(buf.size());
  const DWORD length = std::min(clamp_length(buf.size()), piece);
  return run_overlapped(
      h, event, limit_of(write_timeout_),
      [&](OVERLAPPED* ov) { return ::WriteFile(h, buf.data(), length, nullptr, ov); }, ec);
}

void PipeCore::send_message(ConstBuffer msg, std::error_code& ec) noexcept {
  ec.clear();
  if (!handle_) {
    ec = make_error_code(shut_ ? errc::peer_closed : errc::not_connected);
    return;
  }
  if (send_failed_) {
    ec = std::make_error_code(std::errc::connection_aborted);
    return;
  }
  // One WriteFile is one message; its length is a DWORD.
  if (msg.size() > max_io_size) {
    ec = make_error_code(errc::message_too_large);
    return;
  }
  HANDLE event = ensure_event(write_event_, ec);
  if (ec) return;
  HANDLE h = handle_.get();
  static const std::byte nothing{};
  const void* data = msg.empty() ? &nothing : msg.data();
  const DWORD n = run_overlapped(
      h, event, limit_of(write_timeout_),
      [&](OVERLAPPED* ov) {
        return ::WriteFile(h, data, static_cast<DWORD>(msg.size()), nullptr, ov);
      },
      ec);
  if (ec == errc::timed_out || ec == std::errc::operation_canceled) {
    // Cancelled while pending (see write()): a message that fits the pipe's buffer was
    // not read at all, and the stream goes on. Of a larger one the reader may hold the
    // head, and the rest is gone: anything sent after it would be read as its rest, or
    // make the reader fail on it. The sending side ends here.
    const auto quota = write_quota();
    if (!msg.empty() && (!quota || msg.size() > *quota)) {
      send_failed_ = true;
      localsock::detail::log(LogLevel::debug,
                             "a message cut by a timeout or cancel_io ends sending on '", name(),
                             "'");
    }
    return;
  }
  if (!ec && n != msg.size()) ec = std::make_error_code(std::errc::io_error);
}

// Message receives take the head of the next message into the caller's buffer (or one
// byte of scratch); the assembler says what comes next. A message that does not fit is
// kept: the head bytes taken, and the size of the rest, which stays in the pipe.
ReceiveResult PipeCore::peek_message(std::error_code& ec) noexcept {
  ec.clear();
  if (!handle_) {
    if (!shut_) ec = make_error_code(errc::not_connected);
    return {0, shut_};
  }
  if (recv_failed_) {
    ec = std::make_error_code(std::errc::connection_aborted);
    return {};
  }
  if (!assembler_.has_message()) {
    HANDLE event = ensure_event(read_event_, ec);
    if (ec) return {};
    HANDLE h = handle_.get();
    std::byte first{};
    const Chunk c = read_chunk(h, event, read_limit(nonblocking_, read_timeout_), {&first, 1}, ec);
    if (ec) return {};
    if (c.end) return {0, true};
    assembler_.first(h, c.n, c.more, SIZE_MAX, ec);
    if (ec) {
      recv_failed_ = true;
      return {};
    }
    assembler_.keep({&first, c.n});
  }
  return {assembler_.size()};
}

ReceiveResult PipeCore::recv_message(MutableBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (!handle_) {
    if (!shut_) ec = make_error_code(errc::not_connected);
    return {0, shut_};
  }
  if (recv_failed_) {
    ec = std::make_error_code(std::errc::connection_aborted);
    return {};
  }
  HANDLE event = ensure_event(read_event_, ec);
  if (ec) return {};
  HANDLE h = handle_.get();
  const Deadline deadline(nonblocking_, read_timeout_);
  if (!assembler_.has_message()) {
    if (buf.empty()) {
      peek_message(ec);
      if (ec || !assembler_.has_message()) return {0, !ec};
    } else {
      const Chunk c = read_chunk(h, event, deadline.left(), sys::message_head(buf), ec);
      if (ec) return {};
      if (c.end) return {0, true};
      const auto step = assembler_.first(h, c.n, c.more, SIZE_MAX, ec);
      if (ec) {
        recv_failed_ = true;
        return {};
      }
      if (step == MessageAssembler::Step::deliver) return {c.n};
      assembler_.keep(buf.first(c.n));
    }
  }
  const std::size_t total = assembler_.size();
  if (buf.size() < total) {
    ec = make_error_code(errc::message_truncated);
    return {total};
  }
  const auto head = assembler_.head();
  std::copy(head.begin(), head.end(), buf.begin());
  read_rest(h, event, deadline, assembler_, buf.subspan(head.size(), assembler_.left()), ec);
  assembler_.reset();
  if (ec) return {};
  return {total};
}

ReceiveResult PipeCore::recv_message(std::vector<std::byte>& out, std::size_t max_size,
                                     std::error_code& ec) {
  using Step = MessageAssembler::Step;
  ec.clear();
  out.clear();
  if (!handle_) {
    if (!shut_) ec = make_error_code(errc::not_connected);
    return {0, shut_};
  }
  if (recv_failed_) {
    ec = std::make_error_code(std::errc::connection_aborted);
    return {};
  }
  HANDLE event = ensure_event(read_event_, ec);
  if (ec) return {};
  HANDLE h = handle_.get();
  const Deadline deadline(nonblocking_, read_timeout_);
  Step step{};
  if (assembler_.has_message()) {
    assembler_.take_head(out);
    step = assembler_.next(max_size);
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
    step = assembler_.first(h, c.n, c.more, max_size, ec);
    if (ec) {
      recv_failed_ = true;
      out.clear();
      return {};
    }
  }
  const std::size_t total = assembler_.size();
  if (step == Step::discard || step == Step::too_large) {
    // Too large: take it off the pipe so that the next message can be received.
    if (step == Step::discard) discard_rest(h, event, deadline, assembler_, ec);
    out.clear();
    if (!ec) ec = make_error_code(errc::message_too_large);
    return {total};
  }
  const std::size_t head = total - assembler_.left();
  out.resize(total);
  read_rest(h, event, deadline, assembler_, std::span(out).subspan(head), ec);
  assembler_.reset();
  if (ec) {
    out.clear();
    return {};
  }
  return {total};
}

std::uint32_t PipeCore::process_id(bool of_client, std::error_code& ec) const noexcept {
  ec.clear();
  ULONG pid = 0;
  HANDLE h = handle_.get();
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
  HANDLE h = handle_.get();
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
  if (!handle_)
    ec = make_error_code(errc::not_connected);
  else if (!server_)
    ec = make_error_code(errc::wrong_end);
  else if (!::ImpersonateNamedPipeClient(handle_.get()))
    ec = last_error();
}
void PipeCore::flush(std::error_code& ec) noexcept {
  ec.clear();
  if (!handle_)
    ec = make_error_code(errc::not_connected);
  else if (!::FlushFileBuffers(handle_.get()))
    ec = last_error();
}

void PipeCore::disconnect(std::error_code& ec) noexcept {
  ec.clear();
  if (!handle_) {
    ec = make_error_code(errc::not_connected);
    return;
  }
  if (!server_) {
    ec = make_error_code(errc::wrong_end);
    return;
  }
  if (!::DisconnectNamedPipe(handle_.get())) ec = last_error();
  close();
}

void PipeCore::shutdown(Shutdown how, std::error_code& ec) noexcept {
  ec.clear();
  if (!handle_ && !shut_) {
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
  assembler_.reset();
  handle_.reset();
  // The instance is gone: give its slot back to the listener's instance limit.
  slot_.reset();
}

}  // namespace localsock::win::detail
