// SPDX-License-Identifier: MIT
// The native conversions of the facade's Unix backend (<localsock/posix/facade.hpp>).
#include <localsock/posix/facade.hpp>

#include <type_traits>

#include "../common/backend.hpp"

namespace localsock::posix {

static_assert(std::is_same_v<localsock::detail::PlatformSocket<Mode::bytes>, UdStream>);
static_assert(std::is_same_v<localsock::detail::PlatformSocket<Mode::messages>, MessageStream>);
static_assert(std::is_same_v<localsock::detail::PlatformListener<Mode::messages>, MessageListener>);

namespace {

using localsock::detail::FacadeAccess;

// The LocalName a backend socket's name stands for, from its string alone: a path when
// it has a '/', else a namespaced name (an unnamed socket, or one whose name does not
// validate: empty). A guess (a relative path such as "x.sock" has no '/'): used only
// when the socket's addresses cannot be read.
LocalName guess_name(const std::string& name) {
  std::error_code ec;
  LocalName n = name.find('/') != std::string::npos ? LocalName::path(name, ec)
                                                    : LocalName::namespaced(name, ec);
  return ec ? LocalName() : n;
}

// The name of the listener `s` is connected through, from the descriptor's addresses:
// the peer's for a client, its own for an accepted socket (the listener's address).
// The address carries the kind (a path, or Linux's abstract namespace), so the name
// reconnects to the same place.
LocalName name_of(const UdSocket& s) {
  std::error_code ec;
  LocalName n = s.peer_address(ec);
  if (!ec && n.empty()) n = s.local_address(ec);
  if (!ec && !n.empty()) return n;
  return guess_name(s.name());
}
// A message socket: the socket that holds its descriptor, whatever the transport.
LocalName name_of(const MessageSocket& s) { return name_of(s.socket()); }

}  // namespace

UdStream& native(LocalSocket& s) { return FacadeAccess::impl<Mode::bytes>(s).io; }
MessageStream& native(LocalMessageSocket& s) { return FacadeAccess::impl<Mode::messages>(s).io; }
UdListener& native(LocalListener& l) { return FacadeAccess::impl<Mode::bytes>(l).io; }
MessageListener& native(LocalMessageListener& l) {
  return FacadeAccess::impl<Mode::messages>(l).io;
}

UdStream take_native(LocalSocket&& s) {
  UdStream io = std::move(native(s));
  s = LocalSocket();
  return io;
}
MessageStream take_native(LocalMessageSocket&& s) {
  MessageStream io = std::move(native(s));
  s = LocalMessageSocket();
  return io;
}
UdListener take_native(LocalListener&& l) {
  UdListener io = std::move(native(l));
  l = LocalListener();
  return io;
}
MessageListener take_native(LocalMessageListener&& l) {
  MessageListener io = std::move(native(l));
  l = LocalMessageListener();
  return io;
}

LocalSocket from_native(UdStream&& s, LocalName name) {
  if (name.empty()) name = name_of(s);
  return FacadeAccess::wrap<Mode::bytes>(std::move(s), std::move(name));
}
LocalMessageSocket from_native(MessageStream&& s, LocalName name) {
  if (name.empty()) name = name_of(s);
  return FacadeAccess::wrap<Mode::messages>(std::move(s), std::move(name));
}
LocalListener from_native(UdListener&& l) { return FacadeAccess::wrap<Mode::bytes>(std::move(l)); }
LocalMessageListener from_native(MessageListener&& l) {
  return FacadeAccess::wrap<Mode::messages>(std::move(l));
}

}  // namespace localsock::posix
