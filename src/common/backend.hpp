// SPDX-License-Identifier: MIT
#pragma once

// The one place that chooses the backend for the portable facade: the named-pipe
// module on Windows, Unix-domain sockets elsewhere. Each build has exactly one. What is
// here only maps the facade's options and calls onto the backend's; the I/O is the
// backend's. Not installed: the facade's public headers name only SocketImpl and
// ListenerImpl, which are defined here, so users never parse a backend header.

#include <localsock/config.hpp>
#include <localsock/local_listener.hpp>
#include <localsock/local_socket.hpp>
#include <localsock/name.hpp>
#include <localsock/options.hpp>
#include <localsock/peer.hpp>
#include <localsock/types.hpp>

#include "server_check.hpp"

#include <concepts>
#include <cstddef>
#include <exception>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

#if defined(_WIN32)
#include <localsock/win/named_pipe.hpp>
#else
#include <localsock/posix/framed_stream.hpp>
#include <localsock/posix/message_socket.hpp>
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_seqpacket.hpp>
#include <localsock/posix/ud_stream.hpp>
#endif

namespace localsock::detail {

/// What the facade needs of a backend's byte stream.
template <typename T>
concept StreamBackend = std::movable<T> &&
    requires(T s, MutableBuffer in, ConstBuffer out, std::error_code& ec) {
  { s.read_some(in, ec) } -> std::same_as<std::size_t>;
  { s.write_some(out, ec) } -> std::same_as<std::size_t>;
  { s.close() }
  noexcept;
  { s.is_open() } -> std::same_as<bool>;
};

/// What the facade needs of a backend's message connection.
template <typename T>
concept MessageBackend = std::movable<T> &&
    requires(T s, MutableBuffer in, ConstBuffer out, std::vector<std::byte>& v,
             std::error_code& ec) {
  {s.send(out, ec)};
  { s.recv(in, ec) } -> std::same_as<ReceiveResult>;
  { s.recv(v, std::size_t{}, ec) } -> std::same_as<ReceiveResult>;
  { s.peek_size(ec) } -> std::same_as<ReceiveResult>;
  { s.close() }
  noexcept;
  { s.is_open() } -> std::same_as<bool>;
};

/// What the facade needs of a backend's listener.
template <typename T, typename Stream>
concept ListenerBackend = std::movable<T> && requires(T l, std::error_code& ec) {
  { l.accept(ec) } -> std::same_as<Stream>;
  { l.accept_for(Timeout{}, ec) } -> std::same_as<Stream>;
  { l.close() }
  noexcept;
  { l.is_open() } -> std::same_as<bool>;
};

/// Receives one message into `out` once its size is known (the facade's
/// recv(std::string&)): where the backend holds a whole message before it is received
/// (a seqpacket datagram, a pipe message), the size is asked first and `out` sized to
/// it. A message over `max_size` is taken off by the vector overload and reported.
/// Memory that cannot be had is `std::errc::not_enough_memory`, and the message stays.
template <typename S>
ReceiveResult recv_text_sized(S& s, std::string& out, std::size_t max_size, std::error_code& ec) {
  ReceiveResult next = s.peek_size(ec);
  if (ec || next.end) {
    out.clear();
    return next;
  }
  if (next.size > max_size) {
    // Rare: the vector overload takes it off the connection and reports it.
    std::vector<std::byte> discard;
    out.clear();
    return s.recv(discard, max_size, ec);
  }
  try {
    out.resize(next.size);
  } catch (const std::exception&) {  // std::bad_alloc, std::length_error
    out.clear();
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
  ReceiveResult r = s.recv(MutableBuffer(reinterpret_cast<std::byte*>(out.data()), out.size()), ec);
  out.resize(ec ? 0 : r.size);
  return r;
}

#if defined(_WIN32)

template <Mode M>
using PlatformSocket =
    std::conditional_t<M == Mode::bytes, win::DuplexBytePipeStream, win::DuplexMsgPipeStream>;
template <Mode M>
using PlatformListener = win::PipeListener<PlatformSocket<M>>;

template <Mode M>
PlatformListener<M> bind_listener(const ListenerOptions& o, std::error_code& ec) {
  auto native = win::PipeListenerOptions()
                    .name(o.name())
                    .mode(M == Mode::bytes ? win::PipeMode::Bytes : win::PipeMode::Messages)
                    .nonblocking(o.nonblocking())
                    .instance_limit(o.instance_limit())
                    .accept_remote(o.accept_remote())
                    .security_descriptor(o.security_descriptor())
                    .current_user_only(o.current_user_only())
                    .first_instance(o.first_instance());
  if (auto size = o.buffer_size())
    native.input_buffer_size_hint(*size).output_buffer_size_hint(*size);
  return native.create<PlatformSocket<M>>(ec);
}

template <Mode M>
PlatformSocket<M> connect_socket(const ConnectOptions& o, std::error_code& ec) {
  auto s = PlatformSocket<M>::connect(o.name(), o.timeout(), ec);
  if (!ec) s.set_nonblocking(o.nonblocking());
  verify_server(o, s, ec);
  return s;
}

// A pipe listener keeps the setting in the object; it cannot fail on an open one.
template <typename L>
void listener_set_nonblocking(L& l, bool on, std::error_code& ec) noexcept {
  ec.clear();
  if (l.is_open())
    l.set_nonblocking(on);
  else
    ec = make_error_code(errc::listener_closed);
}

// Pipe streams keep these settings in the object; they cannot fail on an open one.
template <typename S>
bool require_open(const S& s, std::error_code& ec) noexcept {
  ec.clear();
  if (!s.is_open()) ec = make_error_code(errc::not_connected);
  return !ec;
}
template <typename S>
void set_nonblocking(S& s, bool on, std::error_code& ec) noexcept {
  if (require_open(s, ec)) s.set_nonblocking(on);
}
template <typename S>
void set_read_timeout(S& s, Timeout t, std::error_code& ec) noexcept {
  if (require_open(s, ec)) s.set_read_timeout(t);
}
template <typename S>
void set_write_timeout(S& s, Timeout t, std::error_code& ec) noexcept {
  if (require_open(s, ec)) s.set_write_timeout(t);
}
// One message is one WriteFile, whose length the pipe streams keep below 2 GiB.
template <typename S>
std::size_t max_message_size(S&, std::error_code& ec) noexcept {
  ec.clear();
  return win::max_io_size;
}
// A pipe message is written whole or not at all: nothing is ever left to flush.
template <typename S>
void flush(S&, std::error_code& ec) noexcept {
  ec.clear();
}
template <typename S>
std::size_t send_pending(const S&) noexcept {
  return 0;
}
template <typename S>
ReceiveResult recv_text(S& s, std::string& out, std::size_t max_size, std::error_code& ec) {
  return recv_text_sized(s, out, max_size, ec);
}
template <typename S>
PeerInfo peer_info(const S& s, std::error_code& ec) {
  PeerInfo info;
  info.pid = s.peer_process_id(ec);
  if (!ec) info.sid = s.peer_user_sid(ec);
  return ec ? PeerInfo{} : info;
}

#else

// Message mode's transport is chosen per listener and per connect (MessageTransport):
// the message socket and listener carry either a seqpacket socket or a framed stream.
template <Mode M>
using PlatformSocket = std::conditional_t<M == Mode::bytes, posix::UdStream, posix::MessageSocket>;
template <Mode M>
using PlatformListener =
    std::conditional_t<M == Mode::bytes, posix::UdListener, posix::MessageListener>;

template <Mode M>
PlatformListener<M> bind_listener(const ListenerOptions& o, std::error_code& ec) {
  posix::UdListenerOptions native;
  native.backlog = o.backlog();
  native.reclaim_stale = o.reclaim_stale();
  native.permissions = o.permissions();
  native.nonblocking = o.nonblocking();
  native.current_user_only = o.current_user_only();
  if (auto size = o.buffer_size()) native.buffer_size = static_cast<int>(*size);
  if constexpr (M == Mode::bytes)
    return PlatformListener<M>::bind(o.name(), native, ec);
  else
    return PlatformListener<M>::bind(o.name(), o.transport(), native, ec);
}

template <typename L>
void listener_set_nonblocking(L& l, bool on, std::error_code& ec) noexcept {
  l.set_nonblocking(on, ec);
}

// The socket that holds the descriptor: a framed stream's byte stream, else itself.
template <typename S>
auto& base_socket(S& s) noexcept {
  if constexpr (requires { s.socket(); })
    return s.socket();
  else if constexpr (requires { s.stream(); })
    return s.stream();
  else
    return s;
}

template <typename S>
void set_nonblocking(S& s, bool on, std::error_code& ec) noexcept {
  base_socket(s).set_nonblocking(on, ec);
}
template <typename S>
void set_read_timeout(S& s, Timeout t, std::error_code& ec) noexcept {
  base_socket(s).set_read_timeout(t, ec);
}
template <typename S>
void set_write_timeout(S& s, Timeout t, std::error_code& ec) noexcept {
  base_socket(s).set_write_timeout(t, ec);
}
// Frames over a byte stream may leave the rest of a frame for later (nonblocking sends);
// a seqpacket message is sent whole or not at all.
template <typename S>
void flush(S& s, std::error_code& ec) noexcept {
  if constexpr (requires { s.flush(ec); })
    s.flush(ec);
  else
    ec.clear();
}
template <typename S>
std::size_t send_pending(const S& s) noexcept {
  if constexpr (requires { s.send_pending(); })
    return s.send_pending();
  else
    return 0;
}
template <typename S>
std::size_t max_message_size(S& s, std::error_code& ec) noexcept {
  if constexpr (requires { s.max_message_size(ec); }) {
    return s.max_message_size(ec);
  } else {  // frames over a byte stream: a 32-bit length
    ec.clear();
    return S::max_message;
  }
}
// A framed stream's header only announces a size, before the body arrives: it receives
// into the string itself, growing it as the bytes come (FramedStream::recv).
template <typename S>
ReceiveResult recv_text(S& s, std::string& out, std::size_t max_size, std::error_code& ec) {
  if constexpr (requires { s.framed(); }) {
    if (auto* f = s.framed()) return f->recv(out, max_size, ec);
  }
  if constexpr (requires { s.recv(out, max_size, ec); })
    return s.recv(out, max_size, ec);
  else
    return recv_text_sized(s, out, max_size, ec);
}
template <typename S>
PeerInfo peer_info(const S& s, std::error_code& ec) {
  const posix::PeerCredentials c = base_socket(s).peer_credentials(ec);
  if (ec) return {};
  PeerInfo info;
  if (c.pid >= 0) info.pid = c.pid;
  info.uid = c.uid;
  info.gid = c.gid;
  return info;
}

template <Mode M>
PlatformSocket<M> connect_socket(const ConnectOptions& o, std::error_code& ec) {
  PlatformSocket<M> s;
  if constexpr (M == Mode::bytes)
    s = PlatformSocket<M>::connect(o.name(), o.timeout(), ec);
  else
    s = PlatformSocket<M>::connect(o.name(), o.transport(), o.timeout(), ec);
  if (!ec && o.nonblocking()) set_nonblocking(s, true, ec);
  verify_server(o, s, ec);
  return ec ? PlatformSocket<M>() : std::move(s);
}

static_assert(MessageBackend<posix::FramedStream>);
static_assert(MessageBackend<posix::UdSeqpacket>);
static_assert(MessageBackend<posix::MessageSocket>);

#endif

/// The connection a facade socket of mode `M` holds: the backend's object and the name
/// its errors mention. One allocation per connection (at connect or accept), shared by
/// the two halves of a split socket; nothing on the I/O paths allocates.
template <Mode M>
struct SocketImpl {
  PlatformSocket<M> io;
  LocalName name;
};

/// The listener a facade listener of mode `M` holds.
template <Mode M>
struct ListenerImpl {
  PlatformListener<M> io;
};

/// The name of a facade object that holds nothing.
const LocalName& no_name() noexcept;

/// Wraps backend objects in facade objects and takes them out again: for the library's
/// own use, and for the native conversions of <localsock/posix/facade.hpp> and
/// <localsock/win/facade.hpp>.
struct FacadeAccess {
  template <Mode M>
  static BasicLocalSocket<M> wrap(PlatformSocket<M>&& io, LocalName name) {
    return BasicLocalSocket<M>(
        std::make_shared<SocketImpl<M>>(SocketImpl<M>{std::move(io), std::move(name)}));
  }
  /// The socket's connection, made (closed) for a socket that holds none.
  template <Mode M>
  static SocketImpl<M>& impl(BasicLocalSocket<M>& s) {
    if (!s.io_) s.io_ = std::make_shared<SocketImpl<M>>();
    return *s.io_;
  }
  template <Mode M>
  static const SocketImpl<M>* impl(const BasicLocalSocket<M>& s) noexcept {
    return s.io_.get();
  }
  template <Mode M>
  static BasicLocalListener<M> wrap(PlatformListener<M>&& io) {
    return BasicLocalListener<M>(std::make_unique<ListenerImpl<M>>(ListenerImpl<M>{std::move(io)}));
  }
  template <Mode M>
  static ListenerImpl<M>& impl(BasicLocalListener<M>& l) {
    if (!l.impl_) l.impl_ = std::make_unique<ListenerImpl<M>>();
    return *l.impl_;
  }
};

static_assert(StreamBackend<PlatformSocket<Mode::bytes>>);
static_assert(MessageBackend<PlatformSocket<Mode::messages>>);
static_assert(ListenerBackend<PlatformListener<Mode::bytes>, PlatformSocket<Mode::bytes>>);
static_assert(ListenerBackend<PlatformListener<Mode::messages>, PlatformSocket<Mode::messages>>);

}  // namespace localsock::detail
