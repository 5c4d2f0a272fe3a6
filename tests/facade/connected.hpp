// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/localsock.hpp>

#include <cstdlib>
#include <string_view>
#include <thread>

#include "unique_name.hpp"

namespace localsock::test {

/// The message transport the message cases use: LOCALSOCK_TEST_TRANSPORT=framed or
/// =seqpacket (tests/meson.build runs the facade suite once per transport where the
/// system has both), else automatic. Child processes inherit it with the environment.
inline MessageTransport message_transport() {
  static const MessageTransport t = [] {
    const char* v = std::getenv("LOCALSOCK_TEST_TRANSPORT");
    const std::string_view s = v ? v : "";
    return s == "framed"      ? MessageTransport::framed
           : s == "seqpacket" ? MessageTransport::seqpacket
                              : MessageTransport::automatic;
  }();
  return t;
}

/// Whether this run's messages are frames over a byte stream (Unix: the framed transport,
/// chosen or automatic where there is no seqpacket). Windows: never.
inline bool messages_framed() {
#if defined(_WIN32)
  return false;
#else
  return message_transport() == MessageTransport::framed ||
         (message_transport() == MessageTransport::automatic && !capabilities().native_messages);
#endif
}

/// Whether the framed transport exists (Unix); Windows ignores the choice.
inline bool framed_available() {
#if defined(_WIN32)
  return false;
#else
  return true;
#endif
}

/// Options of a message listener at `n` with this run's transport.
inline ListenerOptions message_listen(LocalName n) {
  return ListenerOptions(std::move(n)).transport(message_transport());
}
/// Options of a message connect to `n` with this run's transport.
inline ConnectOptions message_connect(LocalName n) {
  return ConnectOptions(std::move(n)).transport(message_transport());
}

/// A listener of mode `M` with one accepted connection and its client.
template <Mode M>
struct Connected {
  BasicLocalListener<M> listener;
  BasicLocalSocket<M> server;
  BasicLocalSocket<M> client;
};

/// Binds a fresh namespaced name with `options` and connects one client.
template <Mode M>
Connected<M> connect_pair(ListenerOptions options = {}) {
  Connected<M> p;
  // Messages: the transport `options` asks for, else this run's; the client's is the same.
  options.name(LocalName::namespaced(unique_name("lfc")));
  if (M == Mode::messages && options.transport() == MessageTransport::automatic)
    options.transport(message_transport());
  p.listener = BasicLocalListener<M>::bind(options);
  std::thread t([&] { p.server = p.listener.accept(); });
  p.client = BasicLocalSocket<M>::connect(
      ConnectOptions(p.listener.name()).transport(options.transport()));
  t.join();
  return p;
}

}  // namespace localsock::test
