// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/posix/framed_stream.hpp>
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_seqpacket.hpp>

#include <memory>
#include <utility>

namespace localsock::posix {

/// Whether this system has SOCK_SEQPACKET Unix sockets for the library: Linux in the
/// native flavor; never in the generic flavor (which builds the paths of macOS, where
/// there are none).
bool seqpacket_supported() noexcept;

/// The transport `t` stands for here: `automatic` is seqpacket where
/// seqpacket_supported(), else framed. An explicit seqpacket where it is not supported
/// is `errc::not_supported` (and the result is `t` unchanged).
MessageTransport resolve_transport(MessageTransport t, std::error_code& ec) noexcept;

/// A Unix message connection whose transport is chosen at run time (per connection):
/// a UdSeqpacket or a FramedStream (see MessageTransport). The portable
/// LocalMessageSocket holds one. Each operation is the transport's own; seqpacket()
/// and framed() reach the transport object for what only one has (descriptor passing
/// on seqpacket, UdStream features under a framed one).
/// A framed transport is held on the heap (one allocation, made with the connection),
/// so that a MessageSocket, and every connection object that holds one, is the size of
/// a seqpacket socket and not of the framing state. When that allocation fails, the
/// error_code connect and accept report ENOMEM (it matches `errc::out_of_resources` and
/// `std::errc::not_enough_memory`) and close the connection. A MessageSocket that is
/// moved from, default-constructed or returned by a failed connect or accept is a
/// closed seqpacket socket, whatever the transport asked for.
/// @par Thread Safety: as the transport's (one thread may receive while another sends).
class MessageSocket {
 public:
  MessageSocket() noexcept = default;
  MessageSocket(UdSeqpacket s) noexcept : seqpacket_(std::move(s)) {}  // NOLINT: implicit
  /// Allocates the framed transport's place (may throw std::bad_alloc).
  MessageSocket(FramedStream s)  // NOLINT: implicit on purpose
      : framed_(std::make_unique<FramedStream>(std::move(s))) {}
  /// A moved-from MessageSocket is closed, as a default-constructed one.
  MessageSocket(MessageSocket&&) noexcept = default;
  MessageSocket& operator=(MessageSocket&& other) noexcept {
    if (this != &other) {  // a socket moved onto itself stays as it was
      seqpacket_ = std::move(other.seqpacket_);
      framed_ = std::move(other.framed_);
    }
    return *this;
  }
  MessageSocket(const MessageSocket&) = delete;
  MessageSocket& operator=(const MessageSocket&) = delete;
  ~MessageSocket() = default;

  /// Connects with `transport` (resolved as resolve_transport does).
  /// `errc::mode_mismatch` when the listener at `name` uses the other transport (a
  /// framed client meeting a byte listener learns it on its first receive, see
  /// FramedStream), `errc::not_supported` for seqpacket where the system has none.
  static MessageSocket connect(const LocalName& name, MessageTransport transport, Timeout timeout,
                               std::error_code& ec);
  static MessageSocket connect(const LocalName& name,
                               MessageTransport transport = MessageTransport::automatic,
                               Timeout timeout = infinite);

  /// `seqpacket` or `framed` (never `automatic`).
  MessageTransport transport() const noexcept {
    return framed_ ? MessageTransport::framed : MessageTransport::seqpacket;
  }
  /// The seqpacket socket, or null for a framed connection.
  UdSeqpacket* seqpacket() noexcept { return framed_ ? nullptr : &seqpacket_; }
  const UdSeqpacket* seqpacket() const noexcept { return framed_ ? nullptr : &seqpacket_; }
  /// The framed stream, or null for a seqpacket connection.
  FramedStream* framed() noexcept { return framed_.get(); }
  const FramedStream* framed() const noexcept { return framed_.get(); }

  /// The socket that holds the descriptor (a framed stream's byte stream).
  UdSocket& socket() noexcept;
  const UdSocket& socket() const noexcept;

  void send(ConstBuffer msg, std::error_code& ec);
  void send(ConstBuffer msg);
  ReceiveResult recv(MutableBuffer buf, std::error_code& ec) noexcept;
  ReceiveResult recv(MutableBuffer buf);
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size, std::error_code& ec);
  ReceiveResult recv(std::vector<std::byte>& out, std::size_t max_size);
  ReceiveResult peek_size(std::error_code& ec) noexcept;
  /// The rest of a frame a nonblocking send took (framed); nothing to do on seqpacket.
  void flush(std::error_code& ec) noexcept;
  std::size_t send_pending() const noexcept;
  /// The largest message: seqpacket's system limit, or a frame's (4 GiB - 1).
  std::size_t max_message_size(std::error_code& ec) const noexcept;
  /// Ends one or both directions; a framed stream first sends what a send() left of a
  /// message (see FramedStream::shutdown: `would_block` or `timed_out` when it cannot
  /// all go now, and then nothing is shut down).
  void shutdown(Shutdown how, std::error_code& ec) noexcept;

  bool is_open() const noexcept { return socket().is_open(); }
  int native_handle() const noexcept { return socket().native_handle(); }
  const std::string& name() const noexcept { return socket().name(); }
  void close() noexcept;

 private:
  // The transport: framed_ when framed, else seqpacket_. A moved-from socket (its
  // framed_ null, its seqpacket_ moved from) is a closed seqpacket socket.
  UdSeqpacket seqpacket_;
  std::unique_ptr<FramedStream> framed_;
};

/// A listener of MessageSockets whose transport is chosen when it is bound: a
/// SOCK_SEQPACKET listener, or a SOCK_STREAM one whose connections are framed (each
/// accepted connection greets its client, see FramedStream). The portable
/// LocalMessageListener holds one.
/// @par Thread Safety: as BasicUdListener.
class MessageListener {
 public:
  MessageListener() noexcept = default;

  /// `errc::not_supported` for seqpacket where the system has none; else as
  /// BasicUdListener::bind.
  static MessageListener bind(const LocalName& name, MessageTransport transport,
                              const UdListenerOptions& options, std::error_code& ec);
  static MessageListener bind(const LocalName& name,
                              MessageTransport transport = MessageTransport::automatic,
                              const UdListenerOptions& options = {});

  MessageSocket accept(std::error_code& ec) { return accept_for(infinite, ec); }
  MessageSocket accept();
  MessageSocket accept_for(Timeout timeout, std::error_code& ec);
  MessageSocket accept_for(Timeout timeout);

  /// `seqpacket` or `framed`.
  MessageTransport transport() const noexcept { return transport_; }
  void set_nonblocking(bool on, std::error_code& ec) noexcept { core_.set_nonblocking(on, ec); }
  void set_nonblocking(bool on);
  void close() noexcept { core_.close(); }
  bool is_open() const noexcept { return core_.is_open(); }
  int native_handle() const noexcept { return core_.native_handle(); }
  const LocalName& name() const noexcept { return core_.name(); }

 private:
  detail::ListenerCore core_;
  MessageTransport transport_ = MessageTransport::seqpacket;
};

}  // namespace localsock::posix
