// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The server side: PipeListenerOptions, PipeListener and the instance machinery.

#include <localsock/error.hpp>
#include <localsock/export.hpp>
#include <localsock/incoming.hpp>
#include <localsock/name.hpp>
#include <localsock/types.hpp>
#include <localsock/win/pipe_core.hpp>
#include <localsock/win/pipe_types.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

namespace localsock::win {

/// Settings of a PipeListener, set builder-style:
/// `PipeListenerOptions().name(n).instance_limit(4).create<DuplexBytePipeStream>()`.
class LOCALSOCK_API PipeListenerOptions {
 public:
  /// The pipe's name (`\\.\pipe\` is added to a bare name).
  PipeListenerOptions& name(LocalName n) {
    name_ = std::move(n);
    return *this;
  }
  /// Bytes or messages; must fit the stream type given to create().
  PipeListenerOptions& mode(PipeMode m) noexcept {
    mode_ = m;
    return *this;
  }
  /// Whether accept() returns `errc::would_block` instead of waiting.
  PipeListenerOptions& nonblocking(bool on) noexcept {
    nonblocking_ = on;
    return *this;
  }
  /// The most connections (pipe instances) alive at once; unset means unlimited. Further
  /// clients wait within their connect timeout. Under a limit the listener also keeps
  /// one instance of its own, connected to itself and outside the limit, so that the name
  /// never disappears between one connection closing and the next accept: a client
  /// arriving in that moment waits like one that found the pipe busy, while a name that
  /// nobody serves still fails at once. That instance is made only with first_instance
  /// on (the default): on a name shared with other servers its client end could reach
  /// their waiting instance instead, so a sharing listener keeps none.
  PipeListenerOptions& instance_limit(std::optional<std::uint8_t> n) noexcept {
    instance_limit_ = n;
    return *this;
  }
  /// Writes return only once the data reached the other end (no write-behind buffering).
  PipeListenerOptions& write_through(bool on) noexcept {
    write_through_ = on;
    return *this;
  }
  /// Accept clients from other machines. Off by default (PIPE_REJECT_REMOTE_CLIENTS).
  PipeListenerOptions& accept_remote(bool on) noexcept {
    accept_remote_ = on;
    return *this;
  }
  /// The size the system should reserve for the incoming buffer (a hint). Default 64 KiB,
  /// enough for a pipe to stream at full speed.
  PipeListenerOptions& input_buffer_size_hint(std::uint32_t n) noexcept {
    input_buffer_ = n;
    return *this;
  }
  /// As input_buffer_size_hint, for the outgoing buffer. Default 64 KiB.
  PipeListenerOptions& output_buffer_size_hint(std::uint32_t n) noexcept {
    output_buffer_ = n;
    return *this;
  }
  /// How long clients that wait for a free instance with the default timeout
  /// (WaitNamedPipe with NMPWAIT_USE_DEFAULT_WAIT) wait. Default 50 ms.
  PipeListenerOptions& wait_timeout(Timeout t) noexcept {
    wait_timeout_ = t;
    return *this;
  }
  /// A security descriptor in SDDL, applied to every instance, such as
  /// `D:P(A;;GA;;;OW)` (the owner only). Empty: the default descriptor.
  PipeListenerOptions& security_descriptor(std::string sddl) {
    sddl_ = std::move(sddl);
    return *this;
  }
  /// Whether the pipe handles are inherited by child processes. Default false.
  PipeListenerOptions& inheritable(bool on) noexcept {
    inheritable_ = on;
    return *this;
  }
  /// Only this process's user may connect: the descriptor grants access to that user
  /// alone (it cannot be combined with security_descriptor), and accept checks every
  /// client's user and disconnects others — which also holds where DACLs are not
  /// enforced (Wine). Default false.
  PipeListenerOptions& current_user_only(bool on) noexcept {
    current_user_only_ = on;
    return *this;
  }
  /// Refuse to serve a name another server already serves (FILE_FLAG_FIRST_PIPE_INSTANCE:
  /// protection against a squatter that created the pipe first). Default true; turn off
  /// only to let several server processes share one pipe name on purpose.
  PipeListenerOptions& first_instance(bool on) noexcept {
    first_instance_ = on;
    return *this;
  }

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
class LOCALSOCK_API PipeListenerCore {
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
                                          bool message_read, bool message_write,
                                          std::error_code& ec);
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
    const LocalName name = core_.name();  // shares its text
    return localsock::detail::or_throw("PipeListener::accept", name.str(),
                                       [&](std::error_code& ec) { return accept(ec); });
  }
  /// Waits at most `timeout` for a client; `errc::timed_out` after it. The timeout
  /// covers every wait of the accept: its turn beside accepts in other threads, a free
  /// place under the instance limit, and the client.
  Stream accept_for(Timeout timeout, std::error_code& ec) {
    return Stream(core_.accept(timeout, ec));
  }
  Stream accept_for(Timeout timeout) {
    // A copy, as in accept().
    const LocalName name = core_.name();  // shares its text
    return localsock::detail::or_throw(
        "PipeListener::accept_for", name.str(),
        [&](std::error_code& ec) { return accept_for(timeout, ec); });
  }

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
