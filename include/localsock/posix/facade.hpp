// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The Unix-domain-socket objects behind the portable facade, for the native features
/// (descriptor passing, credentials, the descriptor itself): reach the backend object of
/// a LocalSocket or a listener, take it out, or wrap one in.
///
/// `posix::native(socket)` lends the backend object; `posix::take_native(std::move(s))`
/// moves it out and leaves `s` empty; `posix::from_native(backend)` wraps a backend object
/// in the facade type of its mode.

#include <localsock/config.hpp>
#include <localsock/export.hpp>
#include <localsock/local_listener.hpp>
#include <localsock/local_socket.hpp>
#include <localsock/name.hpp>
#include <localsock/posix/framed_stream.hpp>
#include <localsock/posix/message_socket.hpp>
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_seqpacket.hpp>
#include <localsock/posix/ud_stream.hpp>

namespace localsock::posix {

/// The connection behind a LocalMessageSocket: a seqpacket socket or a framed stream,
/// as its transport was chosen (MessageSocket::transport()).
using MessageStream = MessageSocket;
// (MessageListener, the listener behind a LocalMessageListener, is in message_socket.hpp.)

/// The backend object of `s`, lent for native calls (a closed one for an empty socket).
/// It stays `s`'s: closing it closes `s`.
LOCALSOCK_API UdStream& native(LocalSocket& s);
LOCALSOCK_API MessageStream& native(LocalMessageSocket& s);
LOCALSOCK_API UdListener& native(LocalListener& l);
LOCALSOCK_API MessageListener& native(LocalMessageListener& l);

/// Takes the backend object out of `s`, which becomes empty.
LOCALSOCK_API UdStream take_native(LocalSocket&& s);
LOCALSOCK_API MessageStream take_native(LocalMessageSocket&& s);
LOCALSOCK_API UdListener take_native(LocalListener&& l);
LOCALSOCK_API MessageListener take_native(LocalMessageListener&& l);

/// Wraps a backend object in the facade type of its mode. `name` is the name the
/// socket's errors and name() report; empty: the name of the listener the socket is
/// connected through, read from the descriptor's addresses (the peer's for a client,
/// its own for an accepted socket), so that it keeps its kind (a relative path such as
/// `x.sock` stays a path) and reconnects to the same place. Only when neither address
/// can be read is the name guessed from the one the backend object carries.
LOCALSOCK_API LocalSocket from_native(UdStream&& s, LocalName name = {});
LOCALSOCK_API LocalMessageSocket from_native(MessageStream&& s, LocalName name = {});
LOCALSOCK_API LocalListener from_native(UdListener&& l);
LOCALSOCK_API LocalMessageListener from_native(MessageListener&& l);

}  // namespace localsock::posix
