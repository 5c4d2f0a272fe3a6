// SPDX-License-Identifier: MIT
#pragma once
// The blocking transports a scenario is written against: localsock's portable API
// (LocalsockImpl, LocalsockFixedImpl) and the platform's bare calls (RawImpl, in
// raw_posix.hpp or raw_win.hpp). Each offers the same static functions.
#include <localsock/localsock.hpp>

#include <cstddef>
#include <string>
#include <vector>

#if defined(_WIN32)
#include "raw_win.hpp"
#else
#include "raw_posix.hpp"
#endif

namespace bench {

// localsock's portable API.
struct LocalsockImpl {
  using Listener = localsock::LocalListener;
  using Conn = localsock::LocalSocket;
  using MsgListener = localsock::LocalMessageListener;
  using MsgConn = localsock::LocalMessageSocket;

  static Listener listen(const std::string& n) {
    return Listener::bind(localsock::LocalName::namespaced(n));
  }
  static Conn connect(const std::string& n) {
    return Conn::connect(localsock::LocalName::namespaced(n));
  }
  static Conn accept(Listener& l) { return l.accept(); }
  static void write_all(Conn& c, const std::byte* p, std::size_t n) { c.write_all({p, n}); }
  static void read_exact(Conn& c, std::byte* p, std::size_t n) { c.read_exact({p, n}); }
  static std::size_t read_some(Conn& c, std::byte* p, std::size_t n) { return c.read_some({p, n}); }

  static MsgListener listen_msg(const std::string& n) {
    return MsgListener::bind(localsock::LocalName::namespaced(n));
  }
  static MsgConn connect_msg(const std::string& n) {
    return MsgConn::connect(localsock::LocalName::namespaced(n));
  }
  static MsgConn accept_msg(MsgListener& l) { return l.accept(); }
  static void send(MsgConn& c, const std::byte* p, std::size_t n) { c.send({p, n}); }
  // The growing receive: one system call (see docs/performance.md).
  static std::size_t recv(MsgConn& c, std::vector<std::byte>& buf, std::size_t max) {
    return c.recv(buf, max).size;
  }
};

// The same, receiving into a fixed buffer: a message larger than the buffer is kept for
// a larger one, which costs a peek on Linux.
struct LocalsockFixedImpl : LocalsockImpl {
  static std::size_t recv(MsgConn& c, std::vector<std::byte>& buf, std::size_t max) {
    if (buf.size() < max) buf.resize(max);
    return c.recv({buf.data(), max}).size;
  }
};
}  // namespace bench
