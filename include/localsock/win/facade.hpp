// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// The named-pipe objects behind the portable facade, for the native features
/// (cancel_io, instance limits, the pipe HANDLE): reach the backend object of a
/// LocalSocket or a listener, take it out, or wrap one in.
///
/// `win::native(socket)` lends the backend object; `win::take_native(std::move(s))`
/// moves it out and leaves `s` empty; `win::from_native(backend)` wraps a backend object
/// in the facade type of its mode.

#include <localsock/export.hpp>
#include <localsock/local_listener.hpp>
#include <localsock/local_socket.hpp>
#include <localsock/name.hpp>
#include <localsock/win/named_pipe.hpp>

namespace localsock::win {

/// The listener behind a LocalListener.
using ByteListener = PipeListener<DuplexBytePipeStream>;
/// The listener behind a LocalMessageListener.
using MsgListener = PipeListener<DuplexMsgPipeStream>;

/// The backend object of `s`, lent for native calls (a closed one for an empty socket).
/// It stays `s`'s: closing it closes `s`.
LOCALSOCK_API DuplexBytePipeStream& native(LocalSocket& s);
LOCALSOCK_API DuplexMsgPipeStream& native(LocalMessageSocket& s);
LOCALSOCK_API ByteListener& native(LocalListener& l);
LOCALSOCK_API MsgListener& native(LocalMessageListener& l);

/// Takes the backend object out of `s`, which becomes empty.
LOCALSOCK_API DuplexBytePipeStream take_native(LocalSocket&& s);
LOCALSOCK_API DuplexMsgPipeStream take_native(LocalMessageSocket&& s);
LOCALSOCK_API ByteListener take_native(LocalListener&& l);
LOCALSOCK_API MsgListener take_native(LocalMessageListener&& l);

/// Wraps a backend object in the facade type of its mode. `name` is the name the
/// socket's errors and name() report; empty: the one the backend object carries.
LOCALSOCK_API LocalSocket from_native(DuplexBytePipeStream&& s, LocalName name = {});
LOCALSOCK_API LocalMessageSocket from_native(DuplexMsgPipeStream&& s, LocalName name = {});
LOCALSOCK_API LocalListener from_native(ByteListener&& l);
LOCALSOCK_API LocalMessageListener from_native(MsgListener&& l);

}  // namespace localsock::win
