// SPDX-License-Identifier: MIT
// The native conversions of the facade's Windows backend (<localsock/win/facade.hpp>).
#include <localsock/win/facade.hpp>

#include <type_traits>

#include "../common/backend.hpp"

namespace localsock::win {

static_assert(std::is_same_v<localsock::detail::PlatformSocket<Mode::bytes>, DuplexBytePipeStream>);
static_assert(
    std::is_same_v<localsock::detail::PlatformSocket<Mode::messages>, DuplexMsgPipeStream>);
static_assert(std::is_same_v<localsock::detail::PlatformListener<Mode::bytes>, ByteListener>);
static_assert(std::is_same_v<localsock::detail::PlatformListener<Mode::messages>, MsgListener>);

namespace {

using localsock::detail::FacadeAccess;

// The LocalName a pipe stream's name stands for (a pipe name is always namespaced;
// one that does not validate: empty).
LocalName name_of(const std::string& name) {
  std::error_code ec;
  LocalName n = LocalName::namespaced(name, ec);
  return ec ? LocalName() : n;
}

}  // namespace

DuplexBytePipeStream& native(LocalSocket& s) { return FacadeAccess::impl<Mode::bytes>(s).io; }
DuplexMsgPipeStream& native(LocalMessageSocket& s) {
  return FacadeAccess::impl<Mode::messages>(s).io;
}
ByteListener& native(LocalListener& l) { return FacadeAccess::impl<Mode::bytes>(l).io; }
MsgListener& native(LocalMessageListener& l) { return FacadeAccess::impl<Mode::messages>(l).io; }

DuplexBytePipeStream take_native(LocalSocket&& s) {
  DuplexBytePipeStream io = std::move(native(s));
  s = LocalSocket();
  return io;
}
DuplexMsgPipeStream take_native(LocalMessageSocket&& s) {
  DuplexMsgPipeStream io = std::move(native(s));
  s = LocalMessageSocket();
  return io;
}
ByteListener take_native(LocalListener&& l) {
  ByteListener io = std::move(native(l));
  l = LocalListener();
  return io;
}
MsgListener take_native(LocalMessageListener&& l) {
  MsgListener io = std::move(native(l));
  l = LocalMessageListener();
  return io;
}

LocalSocket from_native(DuplexBytePipeStream&& s, LocalName name) {
  if (name.empty()) name = name_of(s.name());
  return FacadeAccess::wrap<Mode::bytes>(std::move(s), std::move(name));
}
LocalMessageSocket from_native(DuplexMsgPipeStream&& s, LocalName name) {
  if (name.empty()) name = name_of(s.name());
  return FacadeAccess::wrap<Mode::messages>(std::move(s), std::move(name));
}
LocalListener from_native(ByteListener&& l) {
  return FacadeAccess::wrap<Mode::bytes>(std::move(l));
}
LocalMessageListener from_native(MsgListener&& l) {
  return FacadeAccess::wrap<Mode::messages>(std::move(l));
}

}  // namespace localsock::win
