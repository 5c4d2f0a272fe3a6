// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/localsock.hpp>

#include <thread>

#include "unique_name.hpp"

namespace localsock::test {

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
  p.listener = BasicLocalListener<M>::bind(options.name(LocalName::namespaced(unique_name("lfc"))));
  std::thread t([&] { p.server = p.listener.accept(); });
  p.client = BasicLocalSocket<M>::connect(p.listener.name());
  t.join();
  return p;
}

}  // namespace localsock::test
