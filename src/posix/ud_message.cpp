// SPDX-License-Identifier: MIT
// Message sockets: SOCK_SEQPACKET connections and SOCK_DGRAM sockets share the rule
// that a receive never truncates silently.
#include <localsock/posix/ud_datagram.hpp>
#include <localsock/posix/ud_seqpacket.hpp>

#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys.hpp"

namespace localsock::posix {

using detail::last_error;
using detail::or_throw;

namespace {

// Receives one message into `buf`, or reports the size it needs and leaves it queued.
// The size comes from a peek with MSG_TRUNC, which reports a message's full length.
// `seqpacket` enables end-of-stream detection: on a seqpacket socket every message
// carries credentials (SO_PASSCRED), so a 0-byte read without them is the end.
// `timeout`: the socket's read timeout (see detail::retry_eintr).
ReceiveResult receive_message(int fd, Timeout timeout, bool seqpacket, MutableBuffer buf,
                              std::vector<OwnedFd>* fds, std::size_t max_fds,
                              detail::UnixAddress* from, std::error_code& ec,
                              std::optional<PeerCredentials>* credentials = nullptr) noexcept {
  ec.clear();
  if (credentials != nullptr) credentials->reset();
  if (fd < 0) {
    ec = make_error_code(errc::not_connected);
    return {};
  }
  // The peek copies nothing: MSG_TRUNC gives the full length whatever the buffer.
  const auto peek =
      detail::recv_msg(fd, {}, MSG_PEEK | MSG_TRUNC, nullptr, 0, nullptr, ec, timeout);
  if (ec) return {};
  if (seqpacket && peek.size == 0 && !peek.had_credentials) return {.end = true};
  if (peek.size > buf.size()) {
    ec = make_error_code(errc::message_truncated);
    return {.size = peek.size};
  }
  const auto got = detail::recv_msg(fd, buf, 0, fds, max_fds, from, ec, timeout);
  if (ec) return {};
  if (credentials != nullptr && got.had_credentials) *credentials = got.credentials;
  return {.size = got.size, .fds_truncated = got.fds_truncated};
}

// `timeout`: the socket's write timeout (see detail::retry_eintr).
void send_message(int fd, Timeout timeout, int type, ConstBuffer msg, std::span<const int> fds,
                  const detail::UnixAddress* to, std::error_code& ec,
                  bool credentials = false) noexcept {
  ec.clear();
  if (fd < 0) {
    ec = make_error_code(errc::not_connected);
    return;
  }
  detail::send_msg(fd, msg, fds, to, ec, credentials, timeout);
  if (!ec) return;  // the steady case: no error conditions to compare (each is a virtual call)
  if (ec == std::errc::message_size) {
    // Larger than the send buffer: grow it to fit (beyond the system's limit where the
    // process is privileged), then try once more.
    detail::grow_send_buffer(fd, msg.size());
    detail::send_msg(fd, msg, fds, to, ec, credentials, timeout);
  }
  if (ec != std::errc::message_size && ec != std::errc::no_buffer_space) return;
  // EMSGSIZE: the send buffer cannot grow enough. ENOBUFS: Linux cannot allocate one
  // message that large (about 4 MiB, whatever the buffer), or memory is short. Only the
  // size tells them apart: over the measured limit the message can never go.
  std::error_code limit_ec;
  const std::size_t limit = detail::max_message_size(type, limit_ec);
  if (ec == std::errc::message_size || (!limit_ec && msg.size() > limit))
    ec = make_error_code(errc::message_too_large);
}

// The throwing sends: a message over the limit says what the limit is.
void throw_send_error(const std::error_code& ec, std::string_view operation,
                      const std::string& name, int type, std::size_t size) {
  if (!ec) return;
  if (ec == errc::message_too_large) {
    std::error_code limit_ec;
    const std::size_t limit = detail::max_message_size(type, limit_ec);
    if (!limit_ec) {
      throw Error(ec,
                  std::string(operation) + " (" + std::to_string(size) +
                      " bytes; the system's limit for one message is " + std::to_string(limit) +
                      " bytes)",
                  name);
    }
  }
  localsock::detail::throw_if(ec, operation, name);
}

}  // namespace

// ---- UdSeqpacket -------------------------------------------------------------------

// An adopted descriptor (a service manager's, one received over SCM_RIGHTS) is prepared
// like the library's own: without SO_PASSCRED a zero-length message would read as the
// end of the stream.
UdSeqpacket::UdSeqpacket(int fd, std::string name) noexcept : UdSocket(fd, std::move(name)) {
  if (fd >= 0) detail::prepare_socket(fd, SOCK_SEQPACKET);
}

UdSeqpacket::UdSeqpacket(int fd, localsock::detail::NameText name, Named) noexcept
    : UdSocket(fd, std::move(name)) {
  if (fd >= 0) detail::prepare_socket(fd, SOCK_SEQPACKET);
}

UdSeqpacket UdSeqpacket::connect(const LocalName& name, Timeout timeout, std::error_code& ec) {
  const int fd = detail::connect_socket(name, SOCK_SEQPACKET, timeout, ec);
  if (ec) ec = detail::connect_error(name, ec);
  return fd < 0 ? UdSeqpacket() : UdSeqpacket(fd, name);
}

UdSeqpacket UdSeqpacket::connect(const LocalName& name, Timeout timeout) {
  return or_throw("UdSeqpacket::connect", name.str(),
                  [&](auto& ec) { return connect(name, timeout, ec); });
}

std::pair<UdSeqpacket, UdSeqpacket> UdSeqpacket::pair(std::error_code& ec) {
  int fds[2];
  if ((ec = detail::socket_pair(SOCK_SEQPACKET, fds))) return {};
  return {UdSeqpacket(fds[0]), UdSeqpacket(fds[1])};
}

std::pair<UdSeqpacket, UdSeqpacket> UdSeqpacket::pair() {
  return or_throw("UdSeqpacket::pair", "", [](auto& ec) { return pair(ec); });
}

void UdSeqpacket::send(ConstBuffer msg, std::error_code& ec) noexcept {
  send_message(fd_.get(), write_timeout_, SOCK_SEQPACKET, msg, {}, nullptr, ec);
}

void UdSeqpacket::send(ConstBuffer msg) {
  std::error_code ec;
  send(msg, ec);
  throw_send_error(ec, "UdSeqpacket::send", name(), SOCK_SEQPACKET, msg.size());
}

std::size_t UdSeqpacket::max_message_size(std::error_code& ec) const noexcept {
  return detail::max_message_size(SOCK_SEQPACKET, ec);
}

std::size_t UdSeqpacket::max_message_size() const {
  return or_throw("UdSeqpacket::max_message_size", name(),
                  [&](auto& ec) { return max_message_size(ec); });
}

void UdSeqpacket::send_with_fds(ConstBuffer msg, std::span<const int> fds,
                                std::error_code& ec) noexcept {
  send_message(fd_.get(), write_timeout_, SOCK_SEQPACKET, msg, fds, nullptr, ec);
}

void UdSeqpacket::send_with_credentials(ConstBuffer msg, std::error_code& ec) noexcept {
  send_message(fd_.get(), write_timeout_, SOCK_SEQPACKET, msg, {}, nullptr, ec, true);
}

ReceiveResult UdSeqpacket::recv_with_credentials(MutableBuffer buf,
                                                 std::optional<PeerCredentials>& credentials,
                                                 std::error_code& ec) noexcept {
  const ReceiveResult r =
      receive_message(fd_.get(), read_timeout_, true, buf, nullptr, 0, nullptr, ec, &credentials);
  if (credentials_hidden_) credentials.reset();
  return r;
}

ReceiveResult UdSeqpacket::peek_size(std::error_code& ec) noexcept {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return {};
  }
  const auto peek =
      detail::recv_msg(fd_.get(), {}, MSG_PEEK | MSG_TRUNC, nullptr, 0, nullptr, ec, read_timeout_);
  if (ec) return {};
  return {.size = peek.size, .end = peek.size == 0 && !peek.had_credentials};
}

ReceiveResult UdSeqpacket::recv(MutableBuffer buf, std::error_code& ec) noexcept {
  return receive_message(fd_.get(), read_timeout_, true, buf, nullptr, 0, nullptr, ec);
}

ReceiveResult UdSeqpacket::recv(MutableBuffer buf) {
  return or_throw("UdSeqpacket::recv", name(), [&](auto& ec) { return recv(buf, ec); });
}

namespace {
// Room for the part of a message that does not fit the caller's vector as it is. One
// per thread, shared by its sockets: a receive copies out of it before it returns.
// Allocated without being written to, so that only the pages a large message reaches
// cost memory. Empty when the allocation fails.
// The most overflow space a receive takes; far more than the largest message Linux
// sends on a Unix socket (about 4 MiB, see max_message_size).
constexpr std::size_t max_overflow_space = std::size_t{64} << 20;

MutableBuffer overflow_space(std::size_t n) noexcept {
  thread_local std::unique_ptr<std::byte[]> space;
  thread_local std::size_t size = 0;
  if (size < n) {
    space.reset(new (std::nothrow) std::byte[n]);
    size = space ? n : 0;
  }
  return {space.get(), size};
}

// One recvmsg into `head` and then `tail`, with no room for control data: the full
// length of the message (MSG_TRUNC), and whether it was a message at all. On a socket
// with SO_PASSCRED every message carries credentials, so the kernel reports them cut off
// (MSG_CTRUNC) even for an empty one, while the end of the stream has none: that tells
// the two apart without copying the credentials out, which would cost ~5% of a round
// trip. Descriptors sent along are closed by the kernel (this receive takes none).
struct BareReceive {
  std::size_t size = 0;
  bool message = false;
};
// `timeout`: the socket's read timeout (see detail::retry_eintr).
BareReceive receive_bare(int fd, Timeout timeout, MutableBuffer head, MutableBuffer tail,
                         std::error_code& ec, int flags = 0) noexcept {
  iovec iov[2] = {{head.data(), head.size()}, {tail.data(), tail.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = tail.empty() ? 1 : 2;
  BareReceive out;
  out.size = detail::retry_eintr([&] { return ::recvmsg(fd, &msg, flags | MSG_TRUNC); }, ec, fd,
                                 timeout, POLLIN);
  out.message = !ec && (out.size > 0 || (msg.msg_flags & MSG_CTRUNC) != 0);
  return out;
}
}  // namespace

ReceiveResult UdSeqpacket::recv(std::vector<std::byte>& out, std::size_t max_size,
                                std::error_code& ec) {
  ec.clear();
  if (!fd_) {
    ec = make_error_code(errc::not_connected);
    return {};
  }
  // One recvmsg, no peek: the message goes into the vector as it stands, and on into the
  // overflow space; one byte of room beyond `max_size` tells an over-size message, which
  // the same call has taken off the queue (MSG_TRUNC reports its full length). Messages
  // of the vector's current size, the steady case, are copied once, by the kernel.
  const std::size_t room = max_size == SIZE_MAX ? max_size : max_size + 1;
  const std::size_t head = std::min(out.size(), room);
  // A limit is only a limit: when the overflow space it asks for is beyond reason (more
  // than any single message a Unix socket carries) or cannot be had, the message's size
  // is learnt first and the vector grown to exactly that.
  const MutableBuffer spill =
      room - head <= max_overflow_space ? overflow_space(room - head) : MutableBuffer{};
  if (spill.size() < room - head) return recv_sized(out, max_size, ec);
  out.resize(head);
  const auto got = receive_bare(fd_.get(), read_timeout_, out, spill.first(room - head), ec);
  if (ec) {
    out.clear();
    return {};
  }
  if (!got.message) {  // no credentials: not a message, the end
    out.clear();
    return {.end = true};
  }
  if (got.size > max_size) {
    ec = make_error_code(errc::message_too_large);
    out.clear();
    return {.size = got.size};
  }
  if (got.size > head) {
    out.resize(got.size);
    std::memcpy(out.data() + head, spill.data(), got.size - head);
  } else {
    out.resize(got.size);
  }
  return {.size = got.size};
}

ReceiveResult UdSeqpacket::recv_sized(std::vector<std::byte>& out, std::size_t max_size,
                                      std::error_code& ec) {
  const auto peek = receive_bare(fd_.get(), read_timeout_, {}, {}, ec, MSG_PEEK);
  if (ec || !peek.message) {
    out.clear();
    return {.end = !ec};
  }
  if (peek.size > max_size) {
    // Taken off the queue, as the one-call path does.
    receive_bare(fd_.get(), read_timeout_, {}, {}, ec);
    out.clear();
    if (!ec) ec = make_error_code(errc::message_too_large);
    return {.size = peek.size};
  }
  try {
    out.resize(peek.size);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);  // the message stays queued
    out.clear();
    return {.size = peek.size};
  }
  const auto got = receive_bare(fd_.get(), read_timeout_, out, {}, ec);
  if (ec) {
    out.clear();
    return {};
  }
  out.resize(std::min(got.size, out.size()));
  return {.size = got.size};
}

ReceiveResult UdSeqpacket::recv(std::vector<std::byte>& out, std::size_t max_size) {
  return or_throw("UdSeqpacket::recv", name(), [&](auto& ec) { return recv(out, max_size, ec); });
}

ReceiveResult UdSeqpacket::recv_with_fds(MutableBuffer buf, std::vector<OwnedFd>& fds,
                                         std::size_t max_fds, std::error_code& ec) {
  return receive_message(fd_.get(), read_timeout_, true, buf, &fds, max_fds, nullptr, ec);
}

// ---- UdDatagram --------------------------------------------------------------------

UdDatagram::UdDatagram(int fd, std::string name) noexcept : UdSocket(fd, std::move(name)) {
  if (fd >= 0) detail::prepare_socket(fd, SOCK_DGRAM);
}

UdDatagram::UdDatagram(int fd, localsock::detail::NameText name, Named) noexcept
    : UdSocket(fd, std::move(name)) {
  if (fd >= 0) detail::prepare_socket(fd, SOCK_DGRAM);
}

UdDatagram::UdDatagram(UdDatagram&& o) noexcept
    : UdSocket(std::move(o)),
      own_dir_(std::move(o.own_dir_)),
      own_leaf_(std::move(o.own_leaf_)),
      own_dev_(o.own_dev_),
      own_ino_(o.own_ino_),
      own_birth_ns_(o.own_birth_ns_) {}

UdDatagram& UdDatagram::operator=(UdDatagram&& o) noexcept {
  if (this != &o) {
    remove_own_file();
    // This class's members first, the base last: nothing of `o` is read after its move.
    own_dir_ = std::move(o.own_dir_);
    own_leaf_ = std::move(o.own_leaf_);
    own_dev_ = o.own_dev_;
    own_ino_ = o.own_ino_;
    own_birth_ns_ = o.own_birth_ns_;
    UdSocket::operator=(std::move(o));
  }
  return *this;
}

UdDatagram::~UdDatagram() { remove_own_file(); }

void UdDatagram::remove_own_file() noexcept {
  const detail::FileId mine{.dev = own_dev_, .ino = own_ino_, .birth_ns = own_birth_ns_};
  detail::remove_socket_file(own_dir_.get(), own_leaf_, mine);
  own_dir_.reset();
}

UdDatagram UdDatagram::bind(const LocalName& name, std::error_code& ec) {
  ec.clear();
  detail::UnixAddress addr;
  if ((ec = detail::make_address(name, addr))) return {};
  const int fd = detail::open_socket(SOCK_DGRAM, ec);
  if (fd < 0) return {};
  UdDatagram d(fd, name);
  if (::bind(fd, addr.get(), addr.len) < 0) {
    ec = last_error();
    if (ec == std::errc::address_in_use) ec = make_error_code(errc::name_in_use);
    return {};
  }
  const std::string path = detail::filesystem_path(name);
  detail::FileId file;
  if (!path.empty()) {
    if (!detail::open_parent(path, d.own_dir_, d.own_leaf_) ||
        !detail::file_id(d.own_leaf_, file, d.own_dir_.get())) {
      ec = last_error();
      ::unlink(path.c_str());  // just created here: not left behind
      d.own_dir_.reset();
      return {};
    }
    d.own_dev_ = file.dev;
    d.own_ino_ = file.ino;
    d.own_birth_ns_ = file.birth_ns;
  }
  return d;
}

UdDatagram UdDatagram::bind(const LocalName& name) {
  return or_throw("UdDatagram::bind", name.str(), [&](auto& ec) { return bind(name, ec); });
}

UdDatagram UdDatagram::unbound(std::error_code& ec) {
  ec.clear();
  const int fd = detail::open_socket(SOCK_DGRAM, ec);
  return fd < 0 ? UdDatagram() : UdDatagram(fd);
}

UdDatagram UdDatagram::unbound() {
  return or_throw("UdDatagram::unbound", "", [](auto& ec) { return unbound(ec); });
}

std::pair<UdDatagram, UdDatagram> UdDatagram::pair(std::error_code& ec) {
  int fds[2];
  if ((ec = detail::socket_pair(SOCK_DGRAM, fds))) return {};
  return {UdDatagram(fds[0]), UdDatagram(fds[1])};
}

void UdDatagram::connect(const LocalName& peer, std::error_code& ec) noexcept {
  ec.clear();
  detail::UnixAddress addr;
  if ((ec = detail::make_address(peer, addr))) return;
  ec = detail::connect_fd(fd_.get(), addr, infinite);
}

void UdDatagram::connect(const LocalName& peer) {
  or_throw("UdDatagram::connect", peer.str(), [&](auto& ec) { connect(peer, ec); });
}

void UdDatagram::send_to(ConstBuffer msg, const LocalName& to, std::error_code& ec) noexcept {
  detail::UnixAddress addr;
  if ((ec = detail::make_address(to, addr))) return;
  send_message(fd_.get(), write_timeout_, SOCK_DGRAM, msg, {}, &addr, ec);
}

void UdDatagram::send_to(ConstBuffer msg, const LocalName& to) {
  std::error_code ec;
  send_to(msg, to, ec);
  throw_send_error(ec, "UdDatagram::send_to", to.str(), SOCK_DGRAM, msg.size());
}

void UdDatagram::send(ConstBuffer msg, std::error_code& ec) noexcept {
  send_message(fd_.get(), write_timeout_, SOCK_DGRAM, msg, {}, nullptr, ec);
}

void UdDatagram::send(ConstBuffer msg) {
  std::error_code ec;
  send(msg, ec);
  throw_send_error(ec, "UdDatagram::send", name(), SOCK_DGRAM, msg.size());
}

std::size_t UdDatagram::max_message_size(std::error_code& ec) const noexcept {
  return detail::max_message_size(SOCK_DGRAM, ec);
}

std::size_t UdDatagram::max_message_size() const {
  return or_throw("UdDatagram::max_message_size", name(),
                  [&](auto& ec) { return max_message_size(ec); });
}

ReceiveResult UdDatagram::recv_from(MutableBuffer buf, LocalName& from, std::error_code& ec) {
  detail::UnixAddress addr;
  ReceiveResult r = receive_message(fd_.get(), read_timeout_, false, buf, nullptr, 0, &addr, ec);
  from = ec ? LocalName() : detail::name_of(addr);
  return r;
}

ReceiveResult UdDatagram::recv_from(MutableBuffer buf, LocalName& from) {
  return or_throw("UdDatagram::recv_from", name(),
                  [&](auto& ec) { return recv_from(buf, from, ec); });
}

ReceiveResult UdDatagram::recv(MutableBuffer buf, std::error_code& ec) noexcept {
  return receive_message(fd_.get(), read_timeout_, false, buf, nullptr, 0, nullptr, ec);
}

}  // namespace localsock::posix
