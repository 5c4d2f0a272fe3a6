// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/error.hpp>
#include <localsock/name.hpp>
#include <localsock/types.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

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
PipeStreamRole server_role(PipeDirection d) noexcept;
/// The role a client end plays on a pipe of direction `d` (ClientToServer: Writer).
PipeStreamRole client_role(PipeDirection d) noexcept;
/// The direction of a pipe whose server end has role `r`.
PipeDirection direction_as_server(PipeStreamRole r) noexcept;
/// The direction of a pipe whose client end has role `r`.
PipeDirection direction_as_client(PipeStreamRole r) noexcept;

/// The PIPE_ACCESS_* value of a direction (as given to CreateNamedPipe).
std::uint32_t to_pipe_access(PipeDirection d) noexcept;
/// The direction of a PIPE_ACCESS_* value (other open-mode flags are ignored);
/// `std::errc::invalid_argument` for a value that names no direction.
PipeDirection direction_from_pipe_access(std::uint32_t access, std::error_code& ec) noexcept;

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

  /// Opens the client end of the pipe `name` with the given access.
  static PipeCore connect(const LocalName& name, bool read, bool write, bool message_read,
                          Timeout busy_timeout, std::error_code& ec);

  std::size_t read(MutableBuffer buf, std::error_code& ec) noexcept;
  std::size_t write(ConstBuffer buf, std::error_code& ec) noexcept;
  void shutdown(Shutdown how, std::error_code& ec) noexcept;
  void close() noexcept;

  bool is_open() const noexcept { return handle_ != nullptr; }
  bool is_server() const noexcept { return server_; }
  void* native_handle() const noexcept { return handle_; }
  const std::string& name() const noexcept { return name_; }

 private:
  void* handle_ = nullptr;
  bool server_ = false;
  bool shut_ = false;  // shutdown(both) closed the handle; reads report end of stream.
  std::string name_;
  // One event per direction, so that a read and a write may wait at the same time.
  void* read_event_ = nullptr;
  void* write_event_ = nullptr;
};

}  // namespace detail

/// Compile-time properties of a pipe stream type.
template <typename T>
concept PipeStream = requires {
  { T::role } -> std::convertible_to<PipeStreamRole>;
  { T::read_mode } -> std::convertible_to<StreamMode>;
  { T::write_mode } -> std::convertible_to<StreamMode>;
};

/// A connected named-pipe stream whose read and write modes are part of its type.
///
/// Reading from a writer-only stream, or writing to a reader-only one, does not compile.
/// Use the aliases below (`DuplexBytePipeStream`, ...). Move-only; the destructor closes.
/// @par Thread Safety: one thread may read while another writes (every handle is
/// overlapped); other concurrent use of one object needs external synchronisation.
template <StreamMode Read, StreamMode Write>
  requires(Read != StreamMode::None || Write != StreamMode::None)
class BasicPipeStream {
 public:
  static constexpr StreamMode read_mode = Read;
  static constexpr StreamMode write_mode = Write;
  static constexpr PipeStreamRole role = Read == StreamMode::None    ? PipeStreamRole::Writer
                                         : Write == StreamMode::None ? PipeStreamRole::Reader
                                                                     : PipeStreamRole::ReaderAndWriter;

  BasicPipeStream() noexcept = default;
  /// Wraps a core made by PipeListener or connect.
  explicit BasicPipeStream(detail::PipeCore core) noexcept : core_(std::move(core)) {}

  /// Connects to the pipe `name` (`\\.\pipe\` is added for a bare name). When every
  /// instance is busy, waits up to `busy_timeout` for one to come free.
  /// @throws localsock::Error: `errc::no_listener` when no such pipe exists,
  /// `errc::timed_out` when the instances stay busy.
  static BasicPipeStream connect(const LocalName& name, Timeout busy_timeout,
                                 std::error_code& ec) {
    return BasicPipeStream(detail::PipeCore::connect(name, Read != StreamMode::None,
                                                     Write != StreamMode::None,
                                                     Read == StreamMode::Messages,
                                                     busy_timeout, ec));
  }
  static BasicPipeStream connect(const LocalName& name, Timeout busy_timeout = default_busy_timeout) {
    std::error_code ec;
    auto s = connect(name, busy_timeout, ec);
    localsock::detail::throw_if(ec, "PipeStream::connect", name.str());
    return s;
  }

  /// Reads at least one byte; returns 0 at end of stream.
  std::size_t read_some(MutableBuffer buf, std::error_code& ec) noexcept
    requires(Read == StreamMode::Bytes)
  {
    return core_.read(buf, ec);
  }
  std::size_t read_some(MutableBuffer buf)
    requires(Read == StreamMode::Bytes)
  {
    std::error_code ec;
    std::size_t n = core_.read(buf, ec);
    localsock::detail::throw_if(ec, "PipeStream::read_some", core_.name());
    return n;
  }

  /// Writes at least one byte.
  std::size_t write_some(ConstBuffer buf, std::error_code& ec) noexcept
    requires(Write == StreamMode::Bytes)
  {
    return core_.write(buf, ec);
  }
  std::size_t write_some(ConstBuffer buf)
    requires(Write == StreamMode::Bytes)
  {
    std::error_code ec;
    std::size_t n = core_.write(buf, ec);
    localsock::detail::throw_if(ec, "PipeStream::write_some", core_.name());
    return n;
  }

  /// Named pipes have no half-close: `Shutdown::both` ends the connection (the peer
  /// reads end of stream); `read` or `write` alone report `errc::not_supported`.
  void shutdown(Shutdown how, std::error_code& ec) noexcept { core_.shutdown(how, ec); }
  void shutdown(Shutdown how) {
    std::error_code ec;
    core_.shutdown(how, ec);
    localsock::detail::throw_if(ec, "PipeStream::shutdown", core_.name());
  }

  /// Closes the handle. Idempotent; never blocks.
  void close() noexcept { core_.close(); }

  bool is_open() const noexcept { return core_.is_open(); }
  bool is_server() const noexcept { return core_.is_server(); }
  bool is_client() const noexcept { return !core_.is_server(); }
  /// The pipe HANDLE.
  void* native_handle() const noexcept { return core_.native_handle(); }
  const std::string& name() const noexcept { return core_.name(); }

  /// How long connect waits for a busy pipe by default.
  static constexpr Timeout default_busy_timeout{10'000};

 private:
  detail::PipeCore core_;
};

using ByteReaderPipeStream = BasicPipeStream<StreamMode::Bytes, StreamMode::None>;
using ByteWriterPipeStream = BasicPipeStream<StreamMode::None, StreamMode::Bytes>;
using DuplexBytePipeStream = BasicPipeStream<StreamMode::Bytes, StreamMode::Bytes>;
using MsgReaderPipeStream = BasicPipeStream<StreamMode::Messages, StreamMode::None>;
using MsgWriterPipeStream = BasicPipeStream<StreamMode::None, StreamMode::Messages>;
using DuplexMsgPipeStream = BasicPipeStream<StreamMode::Messages, StreamMode::Messages>;

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
  /// The most connections (pipe instances) alive at once; unset means unlimited.
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

  /// Creates a listener producing streams of type `Stream`.
  /// @throws localsock::Error: `errc::name_in_use` when a live pipe has this name,
  /// `std::errc::invalid_argument` when the mode does not fit `Stream`.
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
  void set_nonblocking(bool on) noexcept;
  void close() noexcept;
  bool is_open() const noexcept;
  const LocalName& name() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace detail

/// The server of a named pipe: creates instances and accepts clients as `Stream`s.
/// @par Thread Safety: `close()` may be called from any thread, also while another
/// thread is blocked in `accept()`, which then fails with `errc::listener_closed`.
template <PipeStream Stream>
class PipeListener {
 public:
  PipeListener() noexcept = default;
  explicit PipeListener(detail::PipeListenerCore core) noexcept : core_(std::move(core)) {}

  /// Waits for a client (or fails with `errc::would_block` when nonblocking).
  Stream accept(std::error_code& ec) { return Stream(core_.accept(infinite, ec)); }
  Stream accept() {
    std::error_code ec;
    Stream s = accept(ec);
    localsock::detail::throw_if(ec, "PipeListener::accept", core_.name().str());
    return s;
  }
  /// Waits at most `timeout` for a client; `errc::timed_out` after it.
  Stream accept_for(Timeout timeout, std::error_code& ec) { return Stream(core_.accept(timeout, ec)); }

  /// Switches accept() between waiting and returning `errc::would_block`.
  void set_nonblocking(bool on) noexcept { core_.set_nonblocking(on); }
  /// Stops the listener; wakes blocked accepts. Safe from any thread; idempotent.
  void close() noexcept { core_.close(); }
  bool is_open() const noexcept { return core_.is_open(); }
  const LocalName& name() const noexcept { return core_.name(); }

 private:
  detail::PipeListenerCore core_;
};

template <PipeStream Stream>
auto PipeListenerOptions::create(std::error_code& ec) const {
  ec.clear();
  const bool message_read = Stream::read_mode == StreamMode::Messages;
  const bool message_write = Stream::write_mode == StreamMode::Messages;
  if ((message_read || message_write) != (mode_ == PipeMode::Messages)) {
    ec = std::make_error_code(std::errc::invalid_argument);
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
