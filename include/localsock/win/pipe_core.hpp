// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The pipe handle and its overlapped I/O, shared by every pipe stream type.

#include <localsock/error.hpp>
#include <localsock/export.hpp>
#include <localsock/name.hpp>
#include <localsock/types.hpp>
#include <localsock/win/message_assembler.hpp>
#include <localsock/win/pipe_types.hpp>
#include <localsock/win/unique_handle.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace localsock::win {

namespace detail {

/// A server instance's place under its listener's instance limit, given back (the
/// limit's semaphore released) when this is reset or destroyed. Taking one allocates
/// nothing: it shares the ownership of the listener's limit.
class LOCALSOCK_API InstanceSlot {
 public:
  InstanceSlot() noexcept = default;
  /// A place of the limit whose semaphore is `semaphore`, kept alive by `owner`.
  InstanceSlot(std::shared_ptr<const void> owner, void* semaphore) noexcept
      : owner_(std::move(owner)), semaphore_(semaphore) {}
  InstanceSlot(InstanceSlot&& other) noexcept
      : owner_(std::move(other.owner_)), semaphore_(std::exchange(other.semaphore_, nullptr)) {}
  InstanceSlot& operator=(InstanceSlot&& other) noexcept {
    if (this != &other) {
      reset();
      owner_ = std::move(other.owner_);
      semaphore_ = std::exchange(other.semaphore_, nullptr);
    }
    return *this;
  }
  InstanceSlot(const InstanceSlot&) = delete;
  InstanceSlot& operator=(const InstanceSlot&) = delete;
  ~InstanceSlot() { reset(); }
  /// Gives the place back (nothing for an empty slot).
  void reset() noexcept;

 private:
  std::shared_ptr<const void> owner_;
  void* semaphore_ = nullptr;
};

/// The Win32 pipe handle and the overlapped I/O on it, shared by every stream type.
/// Defined in src/win; the typed PipeStream templates forward to it.
class LOCALSOCK_API PipeCore {
 public:
  PipeCore() noexcept = default;
  /// `name`: the text of the pipe's name, shared with the LocalName it came through.
  PipeCore(void* handle, bool server, localsock::detail::NameText name) noexcept;
  PipeCore(PipeCore&& other) noexcept;
  PipeCore& operator=(PipeCore&& other) noexcept;
  PipeCore(const PipeCore&) = delete;
  PipeCore& operator=(const PipeCore&) = delete;
  ~PipeCore();

  /// Opens the client end of the pipe `name` with the given access; `message_type`:
  /// the stream expects a message pipe (`errc::mode_mismatch` when the pipe's type is
  /// the other one).
  static PipeCore connect(const LocalName& name, bool read, bool write, bool message_read,
                          bool message_type, Timeout busy_timeout, std::error_code& ec);
  /// Takes ownership of a pipe HANDLE after checking that it is one and fits the modes.
  static PipeCore adopt(void* handle, bool message_read, bool message_write,
                        std::error_code& ec) noexcept;

  std::size_t read(MutableBuffer buf, std::error_code& ec) noexcept;
  std::size_t write(ConstBuffer buf, std::error_code& ec) noexcept;
  void send_message(ConstBuffer msg, std::error_code& ec) noexcept;
  ReceiveResult recv_message(MutableBuffer buf, std::error_code& ec) noexcept;
  ReceiveResult recv_message(std::vector<std::byte>& out, std::size_t max_size,
                             std::error_code& ec);
  ReceiveResult peek_message(std::error_code& ec) noexcept;

  void set_nonblocking(bool on) noexcept { nonblocking_ = on; }
  bool nonblocking() const noexcept { return nonblocking_; }
  void set_read_timeout(Timeout t) noexcept { read_timeout_ = t; }
  void set_write_timeout(Timeout t) noexcept { write_timeout_ = t; }
  Timeout read_timeout() const noexcept { return read_timeout_; }
  Timeout write_timeout() const noexcept { return write_timeout_; }
  void cancel_io() noexcept;
  std::uint32_t process_id(bool of_client, std::error_code& ec) const noexcept;
  /// The process id of the other end.
  std::uint32_t peer_process_id(std::error_code& ec) const noexcept {
    return process_id(is_server(), ec);
  }
  std::uint32_t session_id(bool of_client, std::error_code& ec) const noexcept;
  std::string client_user_sid(std::error_code& ec) const;
  std::string peer_user_sid(std::error_code& ec) const;
  void impersonate_client(std::error_code& ec) const noexcept;
  /// As impersonate_client, and returns the token the thread had before (an owned
  /// HANDLE to give back with SetThreadToken, or nullptr for none).
  void* impersonate_client_saving(std::error_code& ec) const noexcept;
  void flush(std::error_code& ec) noexcept;
  void disconnect(std::error_code& ec) noexcept;
  void shutdown(Shutdown how, std::error_code& ec) noexcept;
  void close() noexcept;
  /// Gives up the handle; fails (`std::errc::operation_in_progress`) while the head of a
  /// message is pending, which the handle's next owner could not receive.
  void* release(std::error_code& ec) noexcept;

  bool is_open() const noexcept { return static_cast<bool>(handle_); }
  bool is_server() const noexcept { return server_; }
  void* native_handle() const noexcept { return handle_.get(); }
  const std::string& name() const noexcept { return name_.str(); }
  /// Hands over the instance's slot under its listener's instance limit (empty without
  /// a limit): for a new owner of the handle (see release()), which gives the slot back
  /// once it has closed the handle.
  InstanceSlot release_slot() noexcept { return std::move(slot_); }
  /// Ties the server end to a slot of the listener's instance limit, given back when the
  /// handle closes.
  void hold_slot(InstanceSlot slot) noexcept { slot_ = std::move(slot); }

 private:
  static PipeCore connect_unlogged(const LocalName& name, bool read, bool write, bool message_read,
                                   bool message_type, Timeout busy_timeout, std::error_code& ec);
  UniqueHandle handle_;
  bool server_ = false;
  ResetOnMove<bool> shut_;  // shutdown(both) closed the handle; reads report end of stream.
  bool nonblocking_ = false;
  Timeout read_timeout_ = infinite;
  Timeout write_timeout_ = infinite;
  localsock::detail::NameText name_;
  // One event per direction, so that a read and a write may wait at the same time.
  UniqueHandle read_event_;
  UniqueHandle write_event_;
  // The message being received, and one whose head was taken from the pipe but not
  // yet delivered (the caller's buffer was too small, or its size was peeked).
  MessageAssembler assembler_;
  InstanceSlot slot_;
  // The most one WriteFile carries: the pipe's buffer size (quota) in this end's
  // direction, read once; unset until the first write. A write no larger than the quota
  // is never read in part while it is still pending, so cancelling it (timeout,
  // cancel_io) leaves an exact count.
  std::optional<std::uint32_t> write_quota_;
  // A message larger than the quota was cancelled after the peer may have read part of
  // it: nothing more may be sent on this connection.
  ResetOnMove<bool> send_failed_;
  // A message could not be put together (PeekNamedPipe failed, or gave a size the pipe
  // did not keep to): its rest may be in the pipe, and would pass for a message of its
  // own. Receiving has ended on this connection (std::errc::connection_aborted).
  ResetOnMove<bool> recv_failed_;
  std::optional<std::uint32_t> write_quota() noexcept;
};

}  // namespace detail

}  // namespace localsock::win
