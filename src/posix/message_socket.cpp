// SPDX-License-Identifier: MIT
#include <localsock/posix/message_socket.hpp>

#include "flavor.hpp"

#include <cerrno>
#include <new>

namespace localsock::posix {

using localsock::detail::or_throw;

bool seqpacket_supported() noexcept { return LOCALSOCK_POSIX_LINUX != 0; }

MessageTransport resolve_transport(MessageTransport t, std::error_code& ec) noexcept {
  ec.clear();
  switch (t) {
    case MessageTransport::automatic:
      return seqpacket_supported() ? MessageTransport::seqpacket : MessageTransport::framed;
    case MessageTransport::seqpacket:
      if (!seqpacket_supported()) ec = make_error_code(errc::not_supported);
      return t;
    case MessageTransport::framed:
      return t;
  }
  ec = std::make_error_code(std::errc::invalid_argument);
  return t;
}

// ---- MessageSocket ------------------------------------------------------------------
// (The transport is reached with seqpacket() / framed(): exactly one is not null.)

namespace {

// A framed connection made (or failed, with `ec` set): its place on the heap taken. The
// error_code overloads report running out of memory there as the system's ENOMEM (it
// matches errc::out_of_resources, as the async listener expects, and
// std::errc::not_enough_memory); the stream is closed then.
MessageSocket held(FramedStream s, std::error_code& ec) {
  if (ec) return {};
  try {
    return s;
  } catch (const std::bad_alloc&) {
    ec = std::error_code(ENOMEM, std::system_category());
    return {};
  }
}

}  // namespace

MessageSocket MessageSocket::connect(const LocalName& name, MessageTransport transport,
                                     Timeout timeout, std::error_code& ec) {
  transport = resolve_transport(transport, ec);
  if (ec) return {};
  if (transport == MessageTransport::framed) {
    FramedStream s = FramedStream::connect(name, timeout, ec);
    return held(std::move(s), ec);
  }
  return UdSeqpacket::connect(name, timeout, ec);
}

MessageSocket MessageSocket::connect(const LocalName& name, MessageTransport transport,
                                     Timeout timeout) {
  return or_throw("MessageSocket::connect", name.str(),
                  [&](auto& ec) { return connect(name, transport, timeout, ec); });
}

UdSocket& MessageSocket::socket() noexcept {
  if (auto* f = framed()) return f->stream();
  return *seqpacket();
}

const UdSocket& MessageSocket::socket() const noexcept {
  if (const auto* f = framed()) return f->stream();
  return *seqpacket();
}

void MessageSocket::send(ConstBuffer msg, std::error_code& ec) {
  if (auto* s = seqpacket())
    s->send(msg, ec);
  else
    framed()->send(msg, ec);
}

void MessageSocket::send(ConstBuffer msg) {
  or_throw("MessageSocket::send", name(), [&](auto& ec) { send(msg, ec); });
}

ReceiveResult MessageSocket::recv(MutableBuffer buf, std::error_code& ec) noexcept {
  if (auto* s = seqpacket()) return s->recv(buf, ec);
  return framed()->recv(buf, ec);
}

ReceiveResult MessageSocket::recv(MutableBuffer buf) {
  return or_throw("MessageSocket::recv", name(), [&](auto& ec) { return recv(buf, ec); });
}

ReceiveResult MessageSocket::recv(std::vector<std::byte>& out, std::size_t max_size,
                                  std::error_code& ec) {
  if (auto* s = seqpacket()) return s->recv(out, max_size, ec);
  return framed()->recv(out, max_size, ec);
}

ReceiveResult MessageSocket::recv(std::vector<std::byte>& out, std::size_t max_size) {
  return or_throw("MessageSocket::recv", name(), [&](auto& ec) { return recv(out, max_size, ec); });
}

ReceiveResult MessageSocket::peek_size(std::error_code& ec) noexcept {
  if (auto* s = seqpacket()) return s->peek_size(ec);
  return framed()->peek_size(ec);
}

void MessageSocket::flush(std::error_code& ec) noexcept {
  if (auto* f = framed())
    f->flush(ec);
  else
    ec.clear();
}

void MessageSocket::shutdown(Shutdown how, std::error_code& ec) noexcept {
  if (auto* f = framed())
    f->shutdown(how, ec);
  else
    seqpacket()->shutdown(how, ec);
}

std::size_t MessageSocket::send_pending() const noexcept {
  const auto* f = framed();
  return f ? f->send_pending() : 0;
}

std::size_t MessageSocket::max_message_size(std::error_code& ec) const noexcept {
  if (const auto* s = seqpacket()) return s->max_message_size(ec);
  ec.clear();
  return FramedStream::max_message;
}

void MessageSocket::close() noexcept {
  if (auto* s = seqpacket())
    s->close();
  else
    framed()->close();
}

// ---- MessageListener ------------------------------------------------------------------

MessageListener MessageListener::bind(const LocalName& name, MessageTransport transport,
                                      const UdListenerOptions& options, std::error_code& ec) {
  MessageListener l;
  l.transport_ = resolve_transport(transport, ec);
  if (ec) return {};
  l.core_ = detail::ListenerCore::bind(
      name, l.transport_ == MessageTransport::framed ? SocketType::stream : SocketType::seqpacket,
      options, ec);
  return l;
}

MessageListener MessageListener::bind(const LocalName& name, MessageTransport transport,
                                      const UdListenerOptions& options) {
  return or_throw("MessageListener::bind", name.str(),
                  [&](auto& ec) { return bind(name, transport, options, ec); });
}

MessageSocket MessageListener::accept_for(Timeout timeout, std::error_code& ec) {
  const LocalName name = core_.name();  // taken before: see BasicUdListener::accept
  const int fd = core_.accept(timeout, ec);
  if (fd < 0) return {};
  if (transport_ == MessageTransport::framed) return held(FramedStream::accepted(fd, name), ec);
  return UdSeqpacket(fd, name);
}

MessageSocket MessageListener::accept_for(Timeout timeout) {
  const LocalName name = core_.name();  // shares its text
  return or_throw("MessageListener::accept_for", name.str(),
                  [&](auto& ec) { return accept_for(timeout, ec); });
}

MessageSocket MessageListener::accept() {
  const LocalName name = core_.name();  // shares its text
  return or_throw("MessageListener::accept", name.str(), [&](auto& ec) { return accept(ec); });
}

void MessageListener::set_nonblocking(bool on) {
  or_throw("MessageListener::set_nonblocking", name().str(),
           [&](auto& ec) { set_nonblocking(on, ec); });
}

}  // namespace localsock::posix
