// SPDX-License-Identifier: MIT
// The portable sockets: each operation forwards to the backend connection (backend.hpp)
// and names itself in the errors it throws. The operations of a byte stream and of a
// message connection are written once each, for a socket and for its halves alike.
#include <localsock/local_socket.hpp>

#include <algorithm>
#include <new>
#include <string>

#include "backend.hpp"

namespace localsock {
namespace detail {

const LocalName& no_name() noexcept {
  static const LocalName empty;
  return empty;
}

namespace {

// The connection behind `io`, or nullptr with `errc::not_connected` for an empty socket
// (what a closed backend object reports too).
template <typename Impl>
Impl* open_io(const std::shared_ptr<Impl>& io, std::error_code& ec) noexcept {
  if (io) return io.get();
  ec = make_error_code(errc::not_connected);
  return nullptr;
}

// The same for operations that need the connection itself (its settings, the peer,
// its limits): a closed socket reports `errc::not_connected` as an empty one does, on
// every platform, instead of whatever the backend makes of a closed descriptor (EBADF,
// or success where the setting lives in the object). Reads and writes go to the backend
// (open_io): after shutdown(both) a pipe reports the end of the stream there.
template <typename Impl>
Impl* connected_io(const std::shared_ptr<Impl>& io, std::error_code& ec) noexcept {
  if (io && io->io.is_open()) return io.get();
  ec = make_error_code(errc::not_connected);
  return nullptr;
}

template <typename Impl>
std::string_view name_of(const std::shared_ptr<Impl>& io) noexcept {
  return io ? std::string_view(io->name.str()) : std::string_view();
}

template <typename Impl>
void io_shutdown(const std::shared_ptr<Impl>& io, Shutdown how, std::error_code& ec) noexcept {
  if (auto* p = open_io(io, ec)) p->io.shutdown(how, ec);
}
template <typename Impl>
void io_set_nonblocking(const std::shared_ptr<Impl>& io, bool on, std::error_code& ec) noexcept {
  if (auto* p = connected_io(io, ec)) detail::set_nonblocking(p->io, on, ec);
}
template <typename Impl>
void io_set_read_timeout(const std::shared_ptr<Impl>& io, Timeout t, std::error_code& ec) noexcept {
  if (auto* p = connected_io(io, ec)) detail::set_read_timeout(p->io, t, ec);
}
template <typename Impl>
void io_set_write_timeout(const std::shared_ptr<Impl>& io, Timeout t,
                          std::error_code& ec) noexcept {
  if (auto* p = connected_io(io, ec)) detail::set_write_timeout(p->io, t, ec);
}
template <typename Impl>
PeerInfo io_peer_info(const std::shared_ptr<Impl>& io, std::error_code& ec) {
  if (auto* p = connected_io(io, ec)) return detail::peer_info(p->io, ec);
  return {};
}

// Split and reunite, once for both modes: the halves share the socket's connection.
template <typename Impl>
std::pair<std::shared_ptr<Impl>, std::shared_ptr<Impl>> split_io(
    std::shared_ptr<Impl>& io) noexcept {
  std::shared_ptr<Impl> shared = std::move(io);
  return {shared, shared};
}
template <typename Impl>
std::shared_ptr<Impl> reunite_io(std::shared_ptr<Impl>& r, std::shared_ptr<Impl>& s,
                                 std::error_code& ec) noexcept {
  ec.clear();
  if (r != s) {
    ec = std::make_error_code(std::errc::invalid_argument);
    return nullptr;
  }
  // Two empty halves (of a socket holding no connection) give an empty socket.
  s.reset();
  return std::move(r);
}

}  // namespace

// ---- byte streams -------------------------------------------------------------------

std::size_t StreamOps::read_some(MutableBuffer buf, std::error_code& ec) noexcept {
  if (auto* p = open_io(io_, ec)) return p->io.read_some(buf, ec);
  return 0;
}
std::size_t StreamOps::read_some(MutableBuffer buf) {
  return or_throw("LocalSocket::read_some", name_of(io_),
                  [&](auto& ec) { return read_some(buf, ec); });
}
std::size_t StreamOps::read_some(std::string& out, std::size_t max_size, std::error_code& ec) {
  // max_size is a limit, not a size to make the string: one call reads into at most
  // read_chunk bytes (read_some returns what has arrived, often less), so a large limit
  // neither makes a large string nor, with SIZE_MAX, fails to make one. Bytes beyond the
  // chunk stay queued for the next call: nothing is lost.
  constexpr std::size_t read_chunk = std::size_t{64} * 1024;
  try {
    out.resize(std::min(max_size, read_chunk));
  } catch (const std::bad_alloc&) {
    out.clear();
    ec = std::make_error_code(std::errc::not_enough_memory);
    return 0;
  }
  const std::size_t n = read_some(text_bytes(out), ec);
  out.resize(n);
  return n;
}
std::size_t StreamOps::read_some(std::string& out, std::size_t max_size) {
  return or_throw("LocalSocket::read_some", name_of(io_),
                  [&](auto& ec) { return read_some(out, max_size, ec); });
}
std::size_t StreamOps::read_exact(MutableBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  auto* p = open_io(io_, ec);
  std::size_t done = 0;
  while (p && done < buf.size()) {
    const std::size_t n = p->io.read_some(buf.subspan(done), ec);
    if (ec) break;
    if (n == 0) {
      ec = make_error_code(errc::peer_closed);
      break;
    }
    done += n;
  }
  return done;
}
std::size_t StreamOps::read_exact(MutableBuffer buf) {
  return or_throw("LocalSocket::read_exact", name_of(io_),
                  [&](auto& ec) { return read_exact(buf, ec); });
}
std::size_t StreamOps::write_some(ConstBuffer buf, std::error_code& ec) noexcept {
  if (auto* p = open_io(io_, ec)) return p->io.write_some(buf, ec);
  return 0;
}
std::size_t StreamOps::write_some(ConstBuffer buf) {
  return or_throw("LocalSocket::write_some", name_of(io_),
                  [&](auto& ec) { return write_some(buf, ec); });
}
std::size_t StreamOps::write_all(ConstBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  auto* p = open_io(io_, ec);
  std::size_t done = 0;
  while (p && done < buf.size()) {
    done += p->io.write_some(buf.subspan(done), ec);
    if (ec) break;
  }
  return done;
}
std::size_t StreamOps::write_all(ConstBuffer buf) {
  return or_throw("LocalSocket::write_all", name_of(io_),
                  [&](auto& ec) { return write_all(buf, ec); });
}

// ---- messages -----------------------------------------------------------------------

ReceiveResult MessageOps::recv(MutableBuffer buf, std::error_code& ec) noexcept {
  if (auto* p = open_io(io_, ec)) return p->io.recv(buf, ec);
  return {};
}
ReceiveResult MessageOps::recv(MutableBuffer buf) {
  return or_throw("LocalMessageSocket::recv", name_of(io_),
                  [&](auto& ec) { return recv(buf, ec); });
}
ReceiveResult MessageOps::recv(std::vector<std::byte>& out, std::size_t max_size,
                               std::error_code& ec) {
  if (auto* p = open_io(io_, ec)) return p->io.recv(out, max_size, ec);
  out.clear();
  return {};
}
ReceiveResult MessageOps::recv(std::vector<std::byte>& out, std::size_t max_size) {
  return or_throw("LocalMessageSocket::recv", name_of(io_),
                  [&](auto& ec) { return recv(out, max_size, ec); });
}
ReceiveResult MessageOps::recv(std::string& out, std::size_t max_size, std::error_code& ec) {
  if (auto* p = open_io(io_, ec)) return detail::recv_text(p->io, out, max_size, ec);
  out.clear();
  return {};
}
ReceiveResult MessageOps::recv(std::string& out, std::size_t max_size) {
  return or_throw("LocalMessageSocket::recv", name_of(io_),
                  [&](auto& ec) { return recv(out, max_size, ec); });
}
ReceiveResult MessageOps::peek_size(std::error_code& ec) noexcept {
  if (auto* p = open_io(io_, ec)) return p->io.peek_size(ec);
  return {};
}
ReceiveResult MessageOps::peek_size() {
  return or_throw("LocalMessageSocket::peek_size", name_of(io_),
                  [&](auto& ec) { return peek_size(ec); });
}
void MessageOps::send(ConstBuffer msg, std::error_code& ec) noexcept {
  if (auto* p = open_io(io_, ec)) p->io.send(msg, ec);
}
void MessageOps::send(ConstBuffer msg) {
  std::error_code ec;
  send(msg, ec);
  if (!ec) return;
  if (ec == errc::message_too_large) {
    std::error_code limit_ec;
    const std::size_t limit = max_message_size(limit_ec);
    if (!limit_ec)
      throw Error(ec,
                  "LocalMessageSocket::send (" + std::to_string(msg.size()) +
                      " bytes; the system's limit for one message is " + std::to_string(limit) +
                      " bytes)",
                  name_of(io_));
  }
  throw_if(ec, "LocalMessageSocket::send", name_of(io_));
}
std::size_t MessageOps::max_message_size(std::error_code& ec) noexcept {
  if (auto* p = connected_io(io_, ec)) return detail::max_message_size(p->io, ec);
  return 0;
}
std::size_t MessageOps::max_message_size() {
  return or_throw("LocalMessageSocket::max_message_size", name_of(io_),
                  [&](auto& ec) { return max_message_size(ec); });
}
void MessageOps::flush(std::error_code& ec) noexcept {
  if (auto* p = connected_io(io_, ec)) detail::flush(p->io, ec);
}
void MessageOps::flush() {
  or_throw("LocalMessageSocket::flush", name_of(io_), [&](auto& ec) { flush(ec); });
}
std::size_t MessageOps::send_pending() const noexcept {
  return io_ ? detail::send_pending(io_->io) : 0;
}

// ---- what both kinds share ------------------------------------------------------------
// The same forwards for each kind, apart from the operation named in the errors.

void StreamOps::shutdown(Shutdown how, std::error_code& ec) noexcept { io_shutdown(io_, how, ec); }
void StreamOps::shutdown(Shutdown how) {
  or_throw("LocalSocket::shutdown", name_of(io_), [&](auto& ec) { shutdown(how, ec); });
}
void StreamOps::set_nonblocking(bool on, std::error_code& ec) noexcept {
  io_set_nonblocking(io_, on, ec);
}
void StreamOps::set_nonblocking(bool on) {
  or_throw("LocalSocket::set_nonblocking", name_of(io_),
           [&](auto& ec) { set_nonblocking(on, ec); });
}
void StreamOps::set_read_timeout(Timeout t, std::error_code& ec) noexcept {
  io_set_read_timeout(io_, t, ec);
}
void StreamOps::set_read_timeout(Timeout t) {
  or_throw("LocalSocket::set_read_timeout", name_of(io_),
           [&](auto& ec) { set_read_timeout(t, ec); });
}
void StreamOps::set_write_timeout(Timeout t, std::error_code& ec) noexcept {
  io_set_write_timeout(io_, t, ec);
}
void StreamOps::set_write_timeout(Timeout t) {
  or_throw("LocalSocket::set_write_timeout", name_of(io_),
           [&](auto& ec) { set_write_timeout(t, ec); });
}
PeerInfo StreamOps::peer_info(std::error_code& ec) const { return io_peer_info(io_, ec); }
PeerInfo StreamOps::peer_info() const {
  return or_throw("LocalSocket::peer_info", name_of(io_), [&](auto& ec) { return peer_info(ec); });
}
void StreamOps::close() noexcept {
  if (io_) io_->io.close();
}
const LocalName& StreamOps::name() const noexcept { return io_ ? io_->name : no_name(); }
bool StreamOps::is_open() const noexcept { return io_ && io_->io.is_open(); }

void MessageOps::shutdown(Shutdown how, std::error_code& ec) noexcept { io_shutdown(io_, how, ec); }
void MessageOps::shutdown(Shutdown how) {
  or_throw("LocalMessageSocket::shutdown", name_of(io_), [&](auto& ec) { shutdown(how, ec); });
}
void MessageOps::set_nonblocking(bool on, std::error_code& ec) noexcept {
  io_set_nonblocking(io_, on, ec);
}
void MessageOps::set_nonblocking(bool on) {
  or_throw("LocalMessageSocket::set_nonblocking", name_of(io_),
           [&](auto& ec) { set_nonblocking(on, ec); });
}
void MessageOps::set_read_timeout(Timeout t, std::error_code& ec) noexcept {
  io_set_read_timeout(io_, t, ec);
}
void MessageOps::set_read_timeout(Timeout t) {
  or_throw("LocalMessageSocket::set_read_timeout", name_of(io_),
           [&](auto& ec) { set_read_timeout(t, ec); });
}
void MessageOps::set_write_timeout(Timeout t, std::error_code& ec) noexcept {
  io_set_write_timeout(io_, t, ec);
}
void MessageOps::set_write_timeout(Timeout t) {
  or_throw("LocalMessageSocket::set_write_timeout", name_of(io_),
           [&](auto& ec) { set_write_timeout(t, ec); });
}
PeerInfo MessageOps::peer_info(std::error_code& ec) const { return io_peer_info(io_, ec); }
PeerInfo MessageOps::peer_info() const {
  return or_throw("LocalMessageSocket::peer_info", name_of(io_),
                  [&](auto& ec) { return peer_info(ec); });
}
void MessageOps::close() noexcept {
  if (io_) io_->io.close();
}
const LocalName& MessageOps::name() const noexcept { return io_ ? io_->name : no_name(); }
bool MessageOps::is_open() const noexcept { return io_ && io_->io.is_open(); }

}  // namespace detail

// ---- the sockets --------------------------------------------------------------------

LocalSocket LocalSocket::connect(const ConnectOptions& options, std::error_code& ec) {
  auto io = detail::connect_socket<Mode::bytes>(options, ec);
  if (ec) return {};
  return detail::FacadeAccess::wrap<Mode::bytes>(std::move(io), options.name());
}
LocalSocket LocalSocket::connect(const ConnectOptions& options) {
  return detail::or_throw("LocalSocket::connect", options.name().str(),
                          [&](auto& ec) { return connect(options, ec); });
}
std::pair<LocalSocket::ReceiveHalf, LocalSocket::SendHalf> LocalSocket::split() noexcept {
  auto [r, s] = detail::split_io(io_);
  return {ReceiveHalf(std::move(r)), SendHalf(std::move(s))};
}
LocalSocket LocalSocket::reunite(ReceiveHalf& r, SendHalf& s, std::error_code& ec) noexcept {
  return LocalSocket(detail::reunite_io(r.io_, s.io_, ec));
}
LocalSocket LocalSocket::reunite(ReceiveHalf& r, SendHalf& s) {
  return detail::or_throw("LocalSocket::reunite", "", [&](auto& ec) { return reunite(r, s, ec); });
}

LocalMessageSocket LocalMessageSocket::connect(const ConnectOptions& options, std::error_code& ec) {
  auto io = detail::connect_socket<Mode::messages>(options, ec);
  if (ec) return {};
  return detail::FacadeAccess::wrap<Mode::messages>(std::move(io), options.name());
}
LocalMessageSocket LocalMessageSocket::connect(const ConnectOptions& options) {
  return detail::or_throw("LocalMessageSocket::connect", options.name().str(),
                          [&](auto& ec) { return connect(options, ec); });
}
std::pair<LocalMessageSocket::ReceiveHalf, LocalMessageSocket::SendHalf>
LocalMessageSocket::split() noexcept {
  auto [r, s] = detail::split_io(io_);
  return {ReceiveHalf(std::move(r)), SendHalf(std::move(s))};
}
LocalMessageSocket LocalMessageSocket::reunite(ReceiveHalf& r, SendHalf& s,
                                               std::error_code& ec) noexcept {
  return LocalMessageSocket(detail::reunite_io(r.io_, s.io_, ec));
}
LocalMessageSocket LocalMessageSocket::reunite(ReceiveHalf& r, SendHalf& s) {
  return detail::or_throw("LocalMessageSocket::reunite", "",
                          [&](auto& ec) { return reunite(r, s, ec); });
}

}  // namespace localsock
