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
DuplexBytePipeStream& native(LocalSocket& s);
DuplexMsgPipeStream& native(LocalMessageSocket& s);
ByteListener& native(LocalListener& l);
MsgListener& native(LocalMessageListener& l);

/// Takes the backend object out of `s`, which becomes empty.
DuplexBytePipeStream take_native(LocalSocket&& s);
DuplexMsgPipeStream take_native(LocalMessageSocket&& s);
ByteListener take_native(LocalListener&& l);
MsgListener take_native(LocalMessageListener&& l);

/// Wraps a backend object in the facade type of its mode. `name` is the name the
/// socket's errors and name() report; empty: the one the backend object carries.
LocalSocket from_native(DuplexBytePipeStream&& s, LocalName name = {});
LocalMessageSocket from_native(DuplexMsgPipeStream&& s, LocalName name = {});
LocalListener from_native(ByteListener&& l);
LocalMessageListener from_native(MsgListener&& l);

}  // namespace localsock::win
