// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/error.hpp>
#include <localsock/incoming.hpp>
#include <localsock/name.hpp>
#include <localsock/types.hpp>
#include <localsock/win/unique_handle.hpp>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

/// The Windows named-pipe backend: the full named_pipe module, public API for Windows
/// programs that want the native features, and the base of the facade on Windows.
///
/// Handles are stored as `void*` so that this header does not include `<windows.h>`.
namespace localsock::win {

/// The direction of a pipe connection, absolute: `ClientToServer` means client → server
/// for both ends.
enum class PipeDirection { ClientToServer, ServerToClient, Duplex };

/// How a pipe carries data: a byte stream, or messages whose boundaries are kept.
enum class PipeMode { Bytes, Messages };

/// The role of a stream, relative to its own end: `Reader` is ServerToClient on a
/// client and ClientToServer on a server.
enum class PipeStreamRole { Reader, Writer, ReaderAndWriter };

/// The role a server end plays on a pipe of direction `d` (ClientToServer: Reader).
constexpr PipeStreamRole server_role(PipeDirection d) noexcept {
  return d == PipeDirection::ClientToServer   ? PipeStreamRole::Reader
         : d == PipeDirection::ServerToClient ? PipeStreamRole::Writer
                                              : PipeStreamRole::ReaderAndWriter;
}
/// The role a client end plays on a pipe of direction `d` (ClientToServer: Writer).
constexpr PipeStreamRole client_role(PipeDirection d) noexcept {
  return d == PipeDirection::ClientToServer   ? PipeStreamRole::Writer
         : d == PipeDirection::ServerToClient ? PipeStreamRole::Reader
                                              : PipeStreamRole::ReaderAndWriter;
}
/// The direction of a pipe whose server end has role `r`.
constexpr PipeDirection direction_as_server(PipeStreamRole r) noexcept {
  return r == PipeStreamRole::Reader   ? PipeDirection::ClientToServer
         : r == PipeStreamRole::Writer ? PipeDirection::ServerToClient
                                       : PipeDirection::Duplex;
}
/// The direction of a pipe whose client end has role `r`.
constexpr PipeDirection direction_as_client(PipeStreamRole r) noexcept {
  return r == PipeStreamRole::Reader   ? PipeDirection::ServerToClient
         : r == PipeStreamRole::Writer ? PipeDirection::ClientToServer
                                       : PipeDirection::Duplex;
}

// The Win32 values, spelled out so that this header needs no <windows.h>; src/win
// checks them against the system headers.
namespace detail {
inline constexpr std::uint32_t pipe_access_inbound = 0x1;   // PIPE_ACCESS_INBOUND
inline constexpr std::uint32_t pipe_access_outbound = 0x2;  // PIPE_ACCESS_OUTBOUND
inline constexpr std::uint32_t pipe_access_duplex = 0x3;    // PIPE_ACCESS_DUPLEX
inline constexpr std::uint32_t pipe_type_byte = 0x0;        // PIPE_TYPE_BYTE
inline constexpr std::uint32_t pipe_type_message = 0x4;     // PIPE_TYPE_MESSAGE
inline constexpr std::uint32_t pipe_readmode_byte = 0x0;    // PIPE_READMODE_BYTE
inline constexpr std::uint32_t pipe_readmode_message = 0x2; // PIPE_READMODE_MESSAGE
}  // namespace detail

/// The PIPE_ACCESS_* value of a direction (as given to CreateNamedPipe).
constexpr std::uint32_t to_pipe_access(PipeDirection d) noexcept {
  return d == PipeDirection::ClientToServer   ? detail::pipe_access_inbound
         : d == PipeDirection::ServerToClient ? detail::pipe_access_outbound
                                              : detail::pipe_access_duplex;
}
/// The direction of a PIPE_ACCESS_* value (other open-mode flags are ignored);
/// `std::errc::invalid_argument` for a value that names no direction.
PipeDirection direction_from_pipe_access(std::uint32_t access, std::error_code& ec) noexcept;

/// The PIPE_TYPE_* value of a mode (as given to CreateNamedPipe).
constexpr std::uint32_t to_pipe_type(PipeMode m) noexcept {
  return m == PipeMode::Messages ? detail::pipe_type_message : detail::pipe_type_byte;
}
/// The PIPE_READMODE_* value of a mode (CreateNamedPipe, SetNamedPipeHandleState).
constexpr std::uint32_t to_read_mode(PipeMode m) noexcept {
  return m == PipeMode::Messages ? detail::pipe_readmode_message : detail::pipe_readmode_byte;
}
/// The mode of a PIPE_TYPE_* value (PIPE_TYPE_BYTE or PIPE_TYPE_MESSAGE exactly);
/// `std::errc::invalid_argument` for any other value.
PipeMode pipe_mode_from_pipe_type(std::uint32_t type, std::error_code& ec) noexcept;

/// This process's user as a SID string (`S-1-5-21-...`), to compare with a peer's.
std::string current_user_sid(std::error_code& ec);

/// The read or the write side of a stream type: absent, bytes or messages.
enum class StreamMode { None, Bytes, Messages };

namespace detail {

/// The Win32 pipe handle and the overlapped I/O on it, shared by every stream type.
/// Defined in src/win; the typed PipeStream templates forward to it.
class PipeCore {
 public:
  PipeCore() noexcept = default;
  PipeCore(void* handle, bool server, std::string name) noexcept;
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
  std::uint32_t peer_process_id(std::error_code& ec) const noexcept { return process_id(is_server(), ec); }
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
  /// message is held, which the handle's next owner could not receive.
  void* release(std::error_code& ec) noexcept;

  bool is_open() const noexcept { return static_cast<bool>(handle_); }
  bool is_server() const noexcept { return server_; }
  void* native_handle() const noexcept { return handle_.get(); }
  const std::string& name() const noexcept { return name_; }
  /// Ties the server end to a slot of the listener's instance limit, given back when the
  /// handle closes.
  void hold_slot(std::shared_ptr<void> slot) noexcept { slot_ = std::move(slot); }

 private:
  static PipeCore connect_unlogged(const LocalName& name, bool read, bool write, bool message_read,
                                   bool message_type, Timeout busy_timeout, std::error_code& ec);
  UniqueHandle handle_;
  bool server_ = false;
  ResetOnMove<bool> shut_;  // shutdown(both) closed the handle; reads report end of stream.
  bool nonblocking_ = false;
  Timeout read_timeout_ = infinite;
  Timeout write_timeout_ = infinite;
  std::string name_;
  // One event per direction, so that a read and a write may wait at the same time.
  UniqueHandle read_event_;
  UniqueHandle write_event_;
  // A message whose head was taken from the pipe but not yet delivered (the caller's
  // buffer was too small, or its size was peeked): the head bytes and how many bytes
  // of it are still in the pipe.
  ResetOnMove<bool> holding_;
  std::vector<std::byte> held_;
  std::size_t held_left_ = 0;
  std::shared_ptr<void> slot_;
  // The most one WriteFile carries: the pipe's buffer size (quota) in this end's
  // direction, read once; unset until the first write. A write no larger than the quota
  // is never read in part while it is still pending, so cancelling it (timeout,
  // cancel_io) leaves an exact count.
  std::optional<std::uint32_t> write_quota_;
  // A message larger than the quota was cancelled after the peer may have read part of
  // it: nothing more may be sent on this connection.
  ResetOnMove<bool> send_failed_;
  std::optional<std::uint32_t> write_quota() noexcept;
};

/// The receiving operations of a pipe stream whose read mode is `Mode`; a CRTP base of
/// BasicPipeStream and of the read half of a split stream.
template <typename Derived, StreamMode Mode>
class PipeReadOps {
 public:
  /// Reads at least one byte; returns 0 at end of stream (`errc::would_block` when
  /// nonblocking and nothing is there).
  std::size_t read_some(MutableBuffer buf, std::error_code& ec) noexcept
    requires(Mode == StreamMode::Bytes)
  {
    return core().read(buf, ec);
  }
  std::size_t read_some(MutableBuffer buf)
    requires(Mode == StreamMode::Bytes)
  {
    return localsock::detail::or_throw("PipeStream::read_some", core().name(),
                                       [&](std::error_code& ec) { return core().read(buf, ec); });
  }

  /// Receives one message into `buf`. A message larger than `buf` fails with
  /// `errc::message_truncated`, returns the size it needs and stays queued: nothing is
  /// lost. A zero-length message returns size 0; end of stream sets `end`.
  ReceiveResult recv(MutableBuffer buf, std::error_code& ec) noexcept
    requires(Mode == StreamMode::Messages)
  {
    return core().recv_message(buf, ec);
  }
  ReceiveResult recv(MutableBuffer buf)
    requires(Mode == StreamMode::Messages)
  {
    return localsock::detail::or_throw("PipeStream::recv", core().name(),
                                       [&](std::error_code& ec) { return core().recv_message(buf, ec); });
  }
  /// Receives one message into `out`, resized to fit it. A message larger than
  /// `max_size` is read off the pipe, discarded and reported as `errc::message_too_large`
  /// (with its size), so the next message can be received.
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size, std::error_code& ec)
    requires(Mode == StreamMode::Messages)
  {
    return core().recv_message(out, max_size, ec);
  }
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size)
    requires(Mode == StreamMode::Messages)
  {
    return localsock::detail::or_throw("PipeStream::recv", core().name(), [&](std::error_code& ec) {
      return core().recv_message(out, max_size, ec);
    });
  }
  /// Waits for the next message and returns its size without taking it.
  ReceiveResult peek_size(std::error_code& ec) noexcept
    requires(Mode == StreamMode::Messages)
  {
    return core().peek_message(ec);
  }

 private:
  detail::PipeCore& core() noexcept { return static_cast<Derived*>(this)->pipe_core(); }
};

/// The sending operations of a pipe stream whose write mode is `Mode`.
template <typename Derived, StreamMode Mode>
class PipeWriteOps {
 public:
  /// Writes at least one byte and at most the pipe's buffer size; waits until the pipe
  /// takes them. A call that times out or is cancelled (cancel_io) took nothing: the
  /// bytes counted so far are exactly what the peer can read, so resuming after them
  /// keeps the stream intact.
  std::size_t write_some(ConstBuffer buf, std::error_code& ec) noexcept
    requires(Mode == StreamMode::Bytes)
  {
    return core().write(buf, ec);
  }
  std::size_t write_some(ConstBuffer buf)
    requires(Mode == StreamMode::Bytes)
  {
    return localsock::detail::or_throw("PipeStream::write_some", core().name(),
                                       [&](std::error_code& ec) { return core().write(buf, ec); });
  }

  /// Sends `msg` as one message, whole or not at all: one WriteFile, whose length this
  /// library limits to 2 GiB − 1 bytes (0x7fffffff); a longer message is
  /// `errc::message_too_large`. Zero-length messages are allowed.
  void send(ConstBuffer msg, std::error_code& ec) noexcept
    requires(Mode == StreamMode::Messages)
  {
    core().send_message(msg, ec);
  }
  void send(ConstBuffer msg)
    requires(Mode == StreamMode::Messages)
  {
    localsock::detail::or_throw("PipeStream::send", core().name(),
                                [&](std::error_code& ec) { core().send_message(msg, ec); });
  }

  /// Waits until the peer has read everything written (FlushFileBuffers). It waits as
  /// long as the peer neither reads nor closes.
  void flush(std::error_code& ec) noexcept { core().flush(ec); }
  void flush() {
    localsock::detail::or_throw("PipeStream::flush", core().name(),
                                [&](std::error_code& ec) { core().flush(ec); });
  }

 private:
  detail::PipeCore& core() noexcept { return static_cast<Derived*>(this)->pipe_core(); }
};

/// Nothing to add for an absent side.
template <typename Derived>
class PipeReadOps<Derived, StreamMode::None> {};
template <typename Derived>
class PipeWriteOps<Derived, StreamMode::None> {};

}  // namespace detail

/// Compile-time properties of a pipe stream type.
template <typename T>
concept PipeStream = requires {
  { T::role } -> std::convertible_to<PipeStreamRole>;
  { T::read_mode } -> std::convertible_to<StreamMode>;
  { T::write_mode } -> std::convertible_to<StreamMode>;
};

/// While alive, the calling thread acts as the client of a server pipe stream
/// (ImpersonateNamedPipeClient); the destructor gives the thread back the token it had
/// before (none: RevertToSelf). Create and destroy it on the same thread. Guards nest:
/// an inner guard's end returns the thread to the outer guard's client, and assigning a
/// new guard to an active one (`g = s.impersonate_client()`) leaves the thread acting as
/// the new client, and returns it, when `g` ends, to what it had before `g`. The level of access is what the client allowed when it
/// connected: localsock clients allow identification only unless they opt in.
/// Other calls on the thread keep the impersonation: `client_user_sid()` and
/// `peer_user_sid()` give the thread back the token it had.
/// @note A failed RevertToSelf leaves the thread acting as the client. `revert(ec)`
/// reports it and stays active (try again, or stop the thread); the destructor, which
/// cannot report, calls std::terminate, as Microsoft says a process must not go on in
/// the client's context.
class [[nodiscard]] PipeImpersonation {
 public:
  PipeImpersonation() noexcept = default;
  PipeImpersonation(PipeImpersonation&& other) noexcept = default;
  PipeImpersonation& operator=(PipeImpersonation&& other) noexcept {
    if (this == &other) return *this;
    if (active_ && other.active_) {
      // `other` began while this one was active (the usual `g = s.impersonate_client()`):
      // the thread acts as its client now, and what it saved is this guard's client.
      // Ending this guard first would drop the new impersonation; instead this guard
      // goes on with the new client and still returns the thread to what it saved.
      other.saved_.reset();
      other.active_ = false;
      return *this;
    }
    revert_or_terminate();
    active_ = std::move(other.active_);
    saved_ = std::move(other.saved_);
    return *this;
  }
  PipeImpersonation(const PipeImpersonation&) = delete;
  PipeImpersonation& operator=(const PipeImpersonation&) = delete;
  ~PipeImpersonation() { revert_or_terminate(); }

  /// Ends the impersonation now. Idempotent. On failure `ec` is set and active() stays
  /// true: the thread still acts as the client.
  void revert(std::error_code& ec) noexcept;
  /// As revert(ec); @throws localsock::Error when RevertToSelf fails.
  void revert() {
    localsock::detail::or_throw("PipeImpersonation::revert", {},
                                [&](std::error_code& ec) { revert(ec); });
  }
  bool active() const noexcept { return active_; }

 private:
  template <StreamMode, StreamMode>
  friend class BasicPipeStream;
  PipeImpersonation(bool active, void* saved) noexcept : active_(active), saved_(saved) {}
  void revert_or_terminate() noexcept;
  detail::ResetOnMove<bool> active_;
  UniqueHandle saved_;  // the thread's token before this guard, or none
};

template <StreamMode Read, StreamMode Write>
class BasicPipeStream;

/// One side of a split duplex pipe stream: the receiving half (`Read` set, `Write` None)
/// or the sending half. Each half owns a share of the connection and may be used from its
/// own thread; the connection closes when both halves are gone, or `reunite` them.
/// Move-only, as the facade's halves: a copy would share the half's event and held
/// message with no synchronisation.
template <StreamMode Read, StreamMode Write>
class PipeHalf : public detail::PipeReadOps<PipeHalf<Read, Write>, Read>,
                 public detail::PipeWriteOps<PipeHalf<Read, Write>, Write> {
 public:
  PipeHalf() noexcept = default;
  explicit PipeHalf(std::shared_ptr<detail::PipeCore> core) noexcept : core_(std::move(core)) {}
  PipeHalf(PipeHalf&&) noexcept = default;
  PipeHalf& operator=(PipeHalf&&) noexcept = default;
  PipeHalf(const PipeHalf&) = delete;
  PipeHalf& operator=(const PipeHalf&) = delete;
  ~PipeHalf() = default;

  bool is_open() const noexcept { return core_ && core_->is_open(); }
  const std::string& name() const noexcept { return core_->name(); }
  detail::PipeCore& pipe_core() noexcept { return *core_; }
  /// The shared connection (used by `reunite`).
  const std::shared_ptr<detail::PipeCore>& shared_core() const noexcept { return core_; }

 private:
  std::shared_ptr<detail::PipeCore> core_;
};

/// A connected named-pipe stream whose read and write modes are part of its type.
///
/// Reading from a writer-only stream, or writing to a reader-only one, does not compile.
/// Use the aliases below (`DuplexBytePipeStream`, ...). Mixed modes exist too:
/// `BasicPipeStream<StreamMode::Bytes, StreamMode::Messages>` receives bytes and sends
/// messages. Move-only; the destructor closes without blocking, and what was written
/// stays readable by the peer (the handle is closed, not disconnected).
/// @par Thread Safety: one thread may read while another writes (every handle is
/// overlapped; see also `split`); other concurrent use of one object needs external
/// synchronisation.
template <StreamMode Read, StreamMode Write>
class BasicPipeStream
    : public detail::PipeReadOps<BasicPipeStream<Read, Write>, Read>,
      public detail::PipeWriteOps<BasicPipeStream<Read, Write>, Write> {
  static_assert(Read != StreamMode::None || Write != StreamMode::None,
                "a pipe stream reads, writes or both");

 public:
  static constexpr StreamMode read_mode = Read;
  static constexpr StreamMode write_mode = Write;
  static constexpr PipeStreamRole role = Read == StreamMode::None    ? PipeStreamRole::Writer
                                         : Write == StreamMode::None ? PipeStreamRole::Reader
                                                                     : PipeStreamRole::ReaderAndWriter;
  /// Whether the pipe carries messages (PIPE_TYPE_MESSAGE).
  static constexpr PipeMode pipe_mode =
      Read == StreamMode::Messages || Write == StreamMode::Messages ? PipeMode::Messages
                                                                    : PipeMode::Bytes;

  BasicPipeStream() noexcept = default;
  /// Wraps a core made by PipeListener or connect.
  explicit BasicPipeStream(detail::PipeCore core) noexcept : core_(std::move(core)) {}

  /// Connects to the pipe `name`: a bare name gets `\\.\pipe\`, a full path
  /// (`\\.\pipe\x`, `\\server\pipe\x`) is used as is. When every instance is busy, waits
  /// up to `busy_timeout` for one to come free.
  /// @throws localsock::Error: `errc::no_listener` when no such pipe exists (at once),
  /// `errc::timed_out` when the instances stay busy, `errc::mode_mismatch` when the
  /// pipe's type (bytes or messages) is not the stream type's `pipe_mode`: a message
  /// client on a byte pipe, or a byte client on a message pipe (whose boundaries it
  /// would lose).
  static BasicPipeStream connect(const LocalName& name, Timeout busy_timeout,
                                 std::error_code& ec) {
    return BasicPipeStream(detail::PipeCore::connect(name, Read != StreamMode::None,
                                                     Write != StreamMode::None,
                                                     Read == StreamMode::Messages,
                                                     pipe_mode == PipeMode::Messages,
                                                     busy_timeout, ec));
  }
  static BasicPipeStream connect(const LocalName& name, Timeout busy_timeout = default_busy_timeout) {
    return localsock::detail::or_throw("PipeStream::connect", name.str(), [&](std::error_code& ec) {
      return connect(name, busy_timeout, ec);
    });
  }

  /// Takes ownership of a pipe HANDLE (either end, opened for overlapped I/O). A handle
  /// that is not a pipe is `std::errc::invalid_argument`, a byte pipe given to a message
  /// stream type `errc::mode_mismatch`, a handle opened without FILE_FLAG_OVERLAPPED
  /// (synchronous I/O, which would break timeouts, cancel_io, nonblocking mode and split)
  /// `std::errc::operation_not_supported`, and a handle without FILE_READ_ATTRIBUTES
  /// access, which reading the pipe's type needs, `errc::access_denied`; on error the
  /// handle stays the caller's. Every handle localsock opens as a client has that right;
  /// the server end of an outbound pipe (a writer-only server stream) does not, because
  /// Windows creates it with write access only, so it cannot be adopted back.
  static BasicPipeStream adopt(void* handle, std::error_code& ec) noexcept {
    return BasicPipeStream(detail::PipeCore::adopt(handle, Read == StreamMode::Messages,
                                                   Write == StreamMode::Messages, ec));
  }
  /// Gives up ownership of the HANDLE (nullptr when closed); the stream becomes empty.
  /// While the stream holds the head of a message (taken by peek_size, or by a recv
  /// whose buffer was too small), release fails with `std::errc::operation_in_progress`
  /// and keeps the handle and the message: a new owner would otherwise receive the rest
  /// of that message as if it were a whole one. Receive the message, then release.
  /// After a message send was cut by its timeout or cancel_io (the sending side has
  /// failed, see send), release fails with `std::errc::connection_aborted`: a new owner
  /// would send behind the cut message.
  /// A released server end keeps its pipe instance until the handle is closed: under an
  /// instance limit, the listener waits for it as for a live connection.
  [[nodiscard]] void* release(std::error_code& ec) noexcept { return core_.release(ec); }
  [[nodiscard]] void* release() {
    return localsock::detail::or_throw("PipeStream::release", core_.name(),
                                       [&](std::error_code& ec) { return core_.release(ec); });
  }

  /// In nonblocking mode a read or receive with nothing to take fails with
  /// `errc::would_block` (never end of stream). Writes always wait for the pipe to take
  /// the data. Set it before sharing the stream between threads.
  void set_nonblocking(bool on) noexcept { core_.set_nonblocking(on); }
  bool nonblocking() const noexcept { return core_.nonblocking(); }

  /// The longest a read or receive waits for data; `errc::timed_out` after it (nothing
  /// is lost: a later read gets the data). The limit covers the whole receive, also
  /// the rest of a message taken in several reads; a message whose sender abandoned it
  /// midway (its send timed out) is dropped with `errc::timed_out`. `infinite` (the
  /// default) waits forever.
  void set_read_timeout(Timeout t) noexcept { core_.set_read_timeout(t); }
  /// The longest a write or send waits for the peer to make room; `errc::timed_out`
  /// after it. A byte write carries at most the pipe's buffer size per call and returns
  /// exactly how much the pipe took, also when it timed out (resume from there). A
  /// message that fits the pipe's buffer is sent whole or not at all. A larger message
  /// may already be partly read when its send times out or is cancelled: then the
  /// sending side fails for good (later writes and sends report
  /// `std::errc::connection_aborted`), so the peer never receives anything after a cut
  /// message; close the stream, and the peer sees the end.
  void set_write_timeout(Timeout t) noexcept { core_.set_write_timeout(t); }
  Timeout read_timeout() const noexcept { return core_.read_timeout(); }
  Timeout write_timeout() const noexcept { return core_.write_timeout(); }

  /// Wakes reads and writes blocked in other threads on this stream; they fail with
  /// `std::errc::operation_canceled`. Safe from any thread while the stream is open.
  void cancel_io() noexcept { core_.cancel_io(); }

  /// Named pipes have no half-close: `Shutdown::both` ends the connection (the peer
  /// reads end of stream); `read` or `write` alone report `errc::not_supported`.
  void shutdown(Shutdown how, std::error_code& ec) noexcept { core_.shutdown(how, ec); }
  void shutdown(Shutdown how) {
    localsock::detail::or_throw("PipeStream::shutdown", core_.name(),
                                [&](std::error_code& ec) { core_.shutdown(how, ec); });
  }

  /// Server only (`errc::wrong_end` on a client): ends the connection at once, discarding what the client has not read
  /// (DisconnectNamedPipe), and closes the handle.
  void disconnect_without_flushing(std::error_code& ec) noexcept { core_.disconnect(ec); }

  /// Closes the handle. Idempotent; never blocks. Data already written stays readable
  /// by the peer; call `flush()` first to wait until it has been read. A message whose
  /// head the stream holds (see `release`) is discarded with the connection.
  void close() noexcept { core_.close(); }

  // ---- identity -------------------------------------------------------------------

  /// The process id of the client end (GetNamedPipeClientProcessId).
  std::uint32_t client_process_id(std::error_code& ec) const noexcept { return core_.process_id(true, ec); }
  /// The process id of the server end.
  std::uint32_t server_process_id(std::error_code& ec) const noexcept { return core_.process_id(false, ec); }
  /// The Terminal Services session id of the client end.
  std::uint32_t client_session_id(std::error_code& ec) const noexcept { return core_.session_id(true, ec); }
  /// The Terminal Services session id of the server end.
  std::uint32_t server_session_id(std::error_code& ec) const noexcept { return core_.session_id(false, ec); }
  /// The process id of the other end.
  std::uint32_t peer_process_id(std::error_code& ec) const noexcept { return core_.peer_process_id(ec); }
  std::uint32_t peer_process_id() const {
    return localsock::detail::or_throw("PipeStream::peer_process_id", core_.name(),
                                       [&](std::error_code& ec) { return peer_process_id(ec); });
  }
  /// Server only: the client's user as a SID string (`S-1-5-21-...`).
  std::string client_user_sid(std::error_code& ec) const { return core_.client_user_sid(ec); }
  std::string client_user_sid() const {
    return localsock::detail::or_throw("PipeStream::client_user_sid", core_.name(),
                                       [&](std::error_code& ec) { return core_.client_user_sid(ec); });
  }
  /// The user of the process at the other end, as a SID string: on a client, the
  /// server's user (so a client can check whom it talks to), on a server the client's.
  std::string peer_user_sid(std::error_code& ec) const { return core_.peer_user_sid(ec); }
  std::string peer_user_sid() const {
    return localsock::detail::or_throw("PipeStream::peer_user_sid", core_.name(),
                                       [&](std::error_code& ec) { return core_.peer_user_sid(ec); });
  }
  /// Server only: the calling thread acts as the client until the guard goes away.
  /// Windows impersonates the sender of the last data read, so read first.
  PipeImpersonation impersonate_client(std::error_code& ec) const noexcept {
    void* saved = core_.impersonate_client_saving(ec);
    return ec ? PipeImpersonation() : PipeImpersonation(true, saved);
  }

  bool is_open() const noexcept { return core_.is_open(); }
  bool is_server() const noexcept { return core_.is_server(); }
  bool is_client() const noexcept { return !core_.is_server(); }
  /// The pipe HANDLE.
  void* native_handle() const noexcept { return core_.native_handle(); }
  const std::string& name() const noexcept { return core_.name(); }

  // ---- splitting ------------------------------------------------------------------

  using ReadHalf = PipeHalf<Read, StreamMode::None>;
  using WriteHalf = PipeHalf<StreamMode::None, Write>;

  /// Splits a duplex stream into a receiving and a sending half, each usable from its
  /// own thread. The stream becomes empty.
  std::pair<ReadHalf, WriteHalf> split()
    requires(Read != StreamMode::None && Write != StreamMode::None)
  {
    auto shared = std::make_shared<detail::PipeCore>(std::move(core_));
    return {ReadHalf(shared), WriteHalf(shared)};
  }
  /// Joins the two halves of one stream again. Halves of different streams are
  /// `std::errc::invalid_argument`, and both stay as they were.
  static BasicPipeStream reunite(ReadHalf& r, WriteHalf& w, std::error_code& ec) noexcept
    requires(Read != StreamMode::None && Write != StreamMode::None)
  {
    ec.clear();
    if (!r.shared_core() || r.shared_core() != w.shared_core()) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return {};
    }
    BasicPipeStream s(std::move(*r.shared_core()));
    r = ReadHalf();
    w = WriteHalf();
    return s;
  }

  /// How long connect waits for a busy pipe by default.
  static constexpr Timeout default_busy_timeout{10'000};

  detail::PipeCore& pipe_core() noexcept { return core_; }

 private:
  detail::PipeCore core_;
};

using ByteReaderPipeStream = BasicPipeStream<StreamMode::Bytes, StreamMode::None>;
using ByteWriterPipeStream = BasicPipeStream<StreamMode::None, StreamMode::Bytes>;
using DuplexBytePipeStream = BasicPipeStream<StreamMode::Bytes, StreamMode::Bytes>;
using MsgReaderPipeStream = BasicPipeStream<StreamMode::Messages, StreamMode::None>;
using MsgWriterPipeStream = BasicPipeStream<StreamMode::None, StreamMode::Messages>;
using DuplexMsgPipeStream = BasicPipeStream<StreamMode::Messages, StreamMode::Messages>;

/// Connects to `name` like `Stream::connect`, but returns at once when every instance is
/// busy (`errc::timed_out`).
template <PipeStream Stream>
[[deprecated("use Stream::connect(name, busy_timeout)")]] Stream connect(const LocalName& name) {
  return Stream::connect(name, Timeout::zero());
}

/// Settings of a PipeListener, set builder-style:
/// `PipeListenerOptions().name(n).instance_limit(4).create<DuplexBytePipeStream>()`.
class PipeListenerOptions {
 public:
  /// The pipe's name (`\\.\pipe\` is added to a bare name).
  PipeListenerOptions& name(LocalName n) { name_ = std::move(n); return *this; }
  /// Bytes or messages; must fit the stream type given to create().
  PipeListenerOptions& mode(PipeMode m) noexcept { mode_ = m; return *this; }
  /// Whether accept() returns `errc::would_block` instead of waiting.
  PipeListenerOptions& nonblocking(bool on) noexcept { nonblocking_ = on; return *this; }
  /// The most connections (pipe instances) alive at once; unset means unlimited. Further
  /// clients wait within their connect timeout. Under a limit the listener also keeps
  /// one instance of its own, connected to itself and outside the limit, so that the name
  /// never disappears between one connection closing and the next accept: a client
  /// arriving in that moment waits like one that found the pipe busy, while a name that
  /// nobody serves still fails at once. That instance is made only with first_instance
  /// on (the default): on a name shared with other servers its client end could reach
  /// their waiting instance instead, so a sharing listener keeps none.
  PipeListenerOptions& instance_limit(std::optional<std::uint8_t> n) noexcept { instance_limit_ = n; return *this; }
  /// Writes return only once the data reached the other end (no write-behind buffering).
  PipeListenerOptions& write_through(bool on) noexcept { write_through_ = on; return *this; }
  /// Accept clients from other machines. Off by default (PIPE_REJECT_REMOTE_CLIENTS).
  PipeListenerOptions& accept_remote(bool on) noexcept { accept_remote_ = on; return *this; }
  /// The size the system should reserve for the incoming buffer (a hint). Default 64 KiB,
  /// enough for a pipe to stream at full speed.
  PipeListenerOptions& input_buffer_size_hint(std::uint32_t n) noexcept { input_buffer_ = n; return *this; }
  /// As input_buffer_size_hint, for the outgoing buffer. Default 64 KiB.
  PipeListenerOptions& output_buffer_size_hint(std::uint32_t n) noexcept { output_buffer_ = n; return *this; }
  /// How long clients that wait for a free instance with the default timeout
  /// (WaitNamedPipe with NMPWAIT_USE_DEFAULT_WAIT) wait. Default 50 ms.
  PipeListenerOptions& wait_timeout(Timeout t) noexcept { wait_timeout_ = t; return *this; }
  /// A security descriptor in SDDL, applied to every instance, such as
  /// `D:P(A;;GA;;;OW)` (the owner only). Empty: the default descriptor.
  PipeListenerOptions& security_descriptor(std::string sddl) { sddl_ = std::move(sddl); return *this; }
  /// Whether the pipe handles are inherited by child processes. Default false.
  PipeListenerOptions& inheritable(bool on) noexcept { inheritable_ = on; return *this; }
  /// Only this process's user may connect: the descriptor grants access to that user
  /// alone (it cannot be combined with security_descriptor), and accept checks every
  /// client's user and disconnects others — which also holds where DACLs are not
  /// enforced (Wine). Default false.
  PipeListenerOptions& current_user_only(bool on) noexcept { current_user_only_ = on; return *this; }
  /// Refuse to serve a name another server already serves (FILE_FLAG_FIRST_PIPE_INSTANCE:
  /// protection against a squatter that created the pipe first). Default true; turn off
  /// only to let several server processes share one pipe name on purpose.
  PipeListenerOptions& first_instance(bool on) noexcept { first_instance_ = on; return *this; }

  const LocalName& name() const noexcept { return name_; }
  PipeMode mode() const noexcept { return mode_; }
  bool nonblocking() const noexcept { return nonblocking_; }
  std::optional<std::uint8_t> instance_limit() const noexcept { return instance_limit_; }
  bool write_through() const noexcept { return write_through_; }
  bool accept_remote() const noexcept { return accept_remote_; }
  std::uint32_t input_buffer_size_hint() const noexcept { return input_buffer_; }
  std::uint32_t output_buffer_size_hint() const noexcept { return output_buffer_; }
  Timeout wait_timeout() const noexcept { return wait_timeout_; }
  const std::string& security_descriptor() const noexcept { return sddl_; }
  bool inheritable() const noexcept { return inheritable_; }
  bool current_user_only() const noexcept { return current_user_only_; }
  bool first_instance() const noexcept { return first_instance_; }

  /// Creates a listener producing streams of type `Stream`.
  /// @throws localsock::Error: `errc::name_in_use` when a live pipe has this name,
  /// `errc::mode_mismatch` when the mode does not fit `Stream`.
  template <PipeStream Stream>
  auto create(std::error_code& ec) const;
  template <PipeStream Stream>
  auto create() const;

 private:
  LocalName name_;
  PipeMode mode_ = PipeMode::Bytes;
  bool nonblocking_ = false;
  std::optional<std::uint8_t> instance_limit_;
  bool write_through_ = false;
  bool accept_remote_ = false;
  std::uint32_t input_buffer_ = 64 * 1024;
  std::uint32_t output_buffer_ = 64 * 1024;
  Timeout wait_timeout_{50};
  std::string sddl_;
  bool inheritable_ = false;
  bool current_user_only_ = false;
  bool first_instance_ = true;
};

namespace detail {

/// The listening side shared by every PipeListener type: creates pipe instances and
/// waits for clients. Defined in src/win.
class PipeListenerCore {
 public:
  PipeListenerCore() noexcept;
  PipeListenerCore(PipeListenerCore&&) noexcept;
  PipeListenerCore& operator=(PipeListenerCore&&) noexcept;
  ~PipeListenerCore();

  /// `read`/`write` are the server's access (its role); `message_read` /
  /// `message_write` the pipe's read mode and type.
  static PipeListenerCore create(const PipeListenerOptions& options, bool read, bool write,
                                 bool message_read, bool message_write, std::error_code& ec);

  PipeCore accept(Timeout timeout, std::error_code& ec);
  /// For overlapped accepting elsewhere (the async API): hands out the instance that
  /// waits for the next client, not yet connected, holding its place under the instance
  /// limit (`errc::would_block` when the limit is reached). Not to be mixed with accept().
  PipeCore take_instance(std::error_code& ec);
  /// Whether the listener's current_user_only policy admits the client of `server`.
  bool admits(const PipeCore& server) const;
  void set_nonblocking(bool on) noexcept;
  void close() noexcept;
  bool is_open() const noexcept;
  const LocalName& name() const noexcept;

 private:
  static PipeListenerCore create_unlogged(const PipeListenerOptions& options, bool read, bool write,
                                          bool message_read, bool message_write, std::error_code& ec);
  PipeCore accept_one(Timeout timeout, std::error_code& ec);
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace detail

/// The server of a named pipe: creates instances and accepts clients as `Stream`s.
/// @par Thread Safety: `close()` may be called from any thread, also while another
/// thread is blocked in `accept()`, which then fails with `errc::listener_closed`; once
/// close() has returned, the listener may be destroyed at once, even while that accept
/// is still on its way out.
template <PipeStream Stream>
class PipeListener {
 public:
  PipeListener() noexcept = default;
  explicit PipeListener(detail::PipeListenerCore core) noexcept : core_(std::move(core)) {}

  /// Waits for a client (or fails with `errc::would_block` when nonblocking). A client
  /// that connected and left before it was accepted is skipped. With an instance limit
  /// of N, accept waits while N connections are alive.
  Stream accept(std::error_code& ec) { return Stream(core_.accept(infinite, ec)); }
  Stream accept() {
    // A copy: once accept returns, another thread may have closed and destroyed this
    // listener.
    const std::string name = core_.name().str();
    return localsock::detail::or_throw("PipeListener::accept", name,
                                       [&](std::error_code& ec) { return accept(ec); });
  }
  /// Waits at most `timeout` for a client; `errc::timed_out` after it. The timeout
  /// covers every wait of the accept: its turn beside accepts in other threads, a free
  /// place under the instance limit, and the client.
  Stream accept_for(Timeout timeout, std::error_code& ec) { return Stream(core_.accept(timeout, ec)); }

  /// Endless accepting for a range-for: `for (auto& s : listener.incoming())`, until the
  /// listener is closed.
  Incoming<PipeListener> incoming() noexcept { return Incoming<PipeListener>(*this); }

  /// Switches accept() between waiting and returning `errc::would_block`.
  void set_nonblocking(bool on) noexcept { core_.set_nonblocking(on); }
  /// Stops the listener; wakes blocked accepts. Safe from any thread; idempotent.
  void close() noexcept { core_.close(); }
  bool is_open() const noexcept { return core_.is_open(); }
  const LocalName& name() const noexcept { return core_.name(); }
  /// The instance machinery, for the async API.
  detail::PipeListenerCore& core() noexcept { return core_; }

 private:
  detail::PipeListenerCore core_;
};

template <PipeStream Stream>
auto PipeListenerOptions::create(std::error_code& ec) const {
  ec.clear();
  const bool message_read = Stream::read_mode == StreamMode::Messages;
  const bool message_write = Stream::write_mode == StreamMode::Messages;
  if (Stream::pipe_mode != mode_) {
    ec = make_error_code(errc::mode_mismatch);
    return PipeListener<Stream>();
  }
  return PipeListener<Stream>(detail::PipeListenerCore::create(
      *this, Stream::read_mode != StreamMode::None, Stream::write_mode != StreamMode::None,
      message_read, message_write, ec));
}

template <PipeStream Stream>
auto PipeListenerOptions::create() const {
  std::error_code ec;
  auto listener = create<Stream>(ec);
  localsock::detail::throw_if(ec, "PipeListenerOptions::create", name_.str());
  return listener;
}

}  // namespace localsock::win
