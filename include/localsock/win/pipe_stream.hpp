// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// Connected pipe streams: BasicPipeStream and its aliases, and the halves of a split one.

#include <localsock/error.hpp>
#include <localsock/name.hpp>
#include <localsock/types.hpp>
#include <localsock/win/pipe_core.hpp>
#include <localsock/win/pipe_identity.hpp>
#include <localsock/win/pipe_ops.hpp>
#include <localsock/win/pipe_types.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <system_error>
#include <utility>

namespace localsock::win {

template <StreamMode Read, StreamMode Write>
class BasicPipeStream;

/// One side of a split duplex pipe stream: the receiving half (`Read` set, `Write` None)
/// or the sending half. Each half owns a share of the connection and may be used from its
/// own thread; the connection closes when both halves are gone, or `reunite` them.
/// Move-only, as the facade's halves: a copy would share the half's event and pending
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
  /// The pipe's name; empty for an empty half (default-constructed, or after
  /// `reunite`), on which every operation reports `errc::not_connected`.
  const std::string& name() const noexcept { return detail::name_of(core_.get()); }
  /// The shared connection (used by `reunite`); null for an empty half.
  const std::shared_ptr<detail::PipeCore>& shared_core() const noexcept { return core_; }

 private:
  friend class detail::PipeReadOps<PipeHalf, Read>;
  friend class detail::PipeWriteOps<PipeHalf, Write>;
  detail::PipeCore* connection() noexcept { return core_.get(); }

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
class BasicPipeStream : public detail::PipeReadOps<BasicPipeStream<Read, Write>, Read>,
                        public detail::PipeWriteOps<BasicPipeStream<Read, Write>, Write> {
  static_assert(Read != StreamMode::None || Write != StreamMode::None,
                "a pipe stream reads, writes or both");

 public:
  static constexpr StreamMode read_mode = Read;
  static constexpr StreamMode write_mode = Write;
  static constexpr PipeStreamRole role = Read == StreamMode::None ? PipeStreamRole::Writer
                                         : Write == StreamMode::None
                                             ? PipeStreamRole::Reader
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
  static BasicPipeStream connect(const LocalName& name, Timeout busy_timeout, std::error_code& ec) {
    return BasicPipeStream(detail::PipeCore::connect(
        name, Read != StreamMode::None, Write != StreamMode::None, Read == StreamMode::Messages,
        pipe_mode == PipeMode::Messages, busy_timeout, ec));
  }
  static BasicPipeStream connect(const LocalName& name,
                                 Timeout busy_timeout = default_busy_timeout) {
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

  /// Server only (`errc::wrong_end` on a client): ends the connection at once, discarding what the
  /// client has not read (DisconnectNamedPipe), and closes the handle.
  void disconnect_without_flushing(std::error_code& ec) noexcept { core_.disconnect(ec); }

  /// Closes the handle. Idempotent; never blocks. Data already written stays readable
  /// by the peer; call `flush()` first to wait until it has been read. A message whose
  /// head the stream holds (see `release`) is discarded with the connection.
  void close() noexcept { core_.close(); }

  // ---- identity -------------------------------------------------------------------

  /// The process id of the client end (GetNamedPipeClientProcessId).
  std::uint32_t client_process_id(std::error_code& ec) const noexcept {
    return core_.process_id(true, ec);
  }
  /// The process id of the server end.
  std::uint32_t server_process_id(std::error_code& ec) const noexcept {
    return core_.process_id(false, ec);
  }
  /// The Terminal Services session id of the client end.
  std::uint32_t client_session_id(std::error_code& ec) const noexcept {
    return core_.session_id(true, ec);
  }
  /// The Terminal Services session id of the server end.
  std::uint32_t server_session_id(std::error_code& ec) const noexcept {
    return core_.session_id(false, ec);
  }
  /// The process id of the other end.
  std::uint32_t peer_process_id(std::error_code& ec) const noexcept {
    return core_.peer_process_id(ec);
  }
  std::uint32_t peer_process_id() const {
    return localsock::detail::or_throw("PipeStream::peer_process_id", core_.name(),
                                       [&](std::error_code& ec) { return peer_process_id(ec); });
  }
  /// Server only: the client's user as a SID string (`S-1-5-21-...`).
  std::string client_user_sid(std::error_code& ec) const { return core_.client_user_sid(ec); }
  std::string client_user_sid() const {
    return localsock::detail::or_throw(
        "PipeStream::client_user_sid", core_.name(),
        [&](std::error_code& ec) { return core_.client_user_sid(ec); });
  }
  /// The user of the process at the other end, as a SID string: on a client, the
  /// server's user (so a client can check whom it talks to), on a server the client's.
  std::string peer_user_sid(std::error_code& ec) const { return core_.peer_user_sid(ec); }
  std::string peer_user_sid() const {
    return localsock::detail::or_throw(
        "PipeStream::peer_user_sid", core_.name(),
        [&](std::error_code& ec) { return core_.peer_user_sid(ec); });
  }
  /// Server only: the calling thread acts as the client until the guard goes away.
  /// Windows impersonates the sender of the last data read, so read first.
  [[nodiscard]] PipeImpersonation impersonate_client(std::error_code& ec) const noexcept {
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
  std::pair<ReadHalf, WriteHalf> split() requires(Read != StreamMode::None &&
                                                  Write != StreamMode::None) {
    auto shared = std::make_shared<detail::PipeCore>(std::move(core_));
    return {ReadHalf(shared), WriteHalf(shared)};
  }
  /// Joins the two halves of one stream again. Halves of different streams are
  /// `std::errc::invalid_argument`, and both stay as they were. Two empty halves (of an
  /// empty stream, or after an earlier reunite) give an empty stream, as the facade's do.
  static BasicPipeStream reunite(ReadHalf& r, WriteHalf& w, std::error_code& ec) noexcept
      requires(Read != StreamMode::None && Write != StreamMode::None) {
    ec.clear();
    if (r.shared_core() != w.shared_core()) {
      ec = std::make_error_code(std::errc::invalid_argument);
      return {};
    }
    if (!r.shared_core()) return {};
    BasicPipeStream s(std::move(*r.shared_core()));
    r = ReadHalf();
    w = WriteHalf();
    return s;
  }

  /// How long connect waits for a busy pipe by default.
  static constexpr Timeout default_busy_timeout{10'000};

  detail::PipeCore& pipe_core() noexcept { return core_; }

 private:
  friend class detail::PipeReadOps<BasicPipeStream, Read>;
  friend class detail::PipeWriteOps<BasicPipeStream, Write>;
  detail::PipeCore* connection() noexcept { return &core_; }

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

}  // namespace localsock::win
