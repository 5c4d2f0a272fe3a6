// SPDX-License-Identifier: MIT
#include "sys.hpp"

#include "../common/log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <optional>

namespace localsock::posix {

void OwnedFd::reset(int fd) noexcept {
  // POSIX leaves the descriptor's state unspecified after EINTR; on Linux it is closed,
  // so close is never retried.
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace localsock::posix

namespace localsock::posix::detail {

int native_type(SocketType type) noexcept {
  switch (type) {
    case SocketType::seqpacket:
      return SOCK_SEQPACKET;
    case SocketType::datagram:
      return SOCK_DGRAM;
    case SocketType::stream:
      break;
  }
  return SOCK_STREAM;
}

void prepare_socket([[maybe_unused]] int fd, [[maybe_unused]] int type) noexcept {
  [[maybe_unused]] int one = 1;
#if defined(SO_NOSIGPIPE)
  ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
#if LOCALSOCK_POSIX_LINUX
  // Every message then carries the sender's credentials, which is how a zero-length
  // message is told apart from end of stream: both read as 0 bytes.
  if ((type & 0xff) == SOCK_SEQPACKET) ::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
#endif
}

#if LOCALSOCK_POSIX_LINUX

int open_socket(int type, std::error_code& ec) noexcept {
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = last_error();
    return -1;
  }
  prepare_socket(fd, type);
  return fd;
}

int accept_socket(int listen_fd) noexcept {
  return ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
}

bool open_pipe(int fds[2]) noexcept { return ::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0; }

namespace {
std::error_code make_socket_pair(int type, int fds[2]) noexcept {
  return ::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) < 0 ? last_error() : std::error_code{};
}
}  // namespace

#else

namespace {

// Close-on-exec, and O_NONBLOCK set or cleared: what SOCK_CLOEXEC and SOCK_NONBLOCK
// give at creation on Linux. False with errno set.
bool set_descriptor_flags(int fd, bool nonblocking) noexcept {
  const int fl = ::fcntl(fd, F_GETFL);
  return ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fl >= 0 &&
         ::fcntl(fd, F_SETFL, nonblocking ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) == 0;
}

// Closes `fd` keeping the errno of the failure that made it useless.
void close_keeping_errno(int fd) noexcept {
  const int err = errno;
  ::close(fd);
  errno = err;
}

std::error_code make_socket_pair(int type, int fds[2]) noexcept {
  if (::socketpair(AF_UNIX, type, 0, fds) < 0) return last_error();
  if (!set_descriptor_flags(fds[0], false) || !set_descriptor_flags(fds[1], false)) {
    const std::error_code ec = last_error();
    ::close(fds[0]);
    ::close(fds[1]);
    return ec;
  }
  return {};
}

}  // namespace

int open_socket(int type, std::error_code& ec) noexcept {
  const int fd = ::socket(AF_UNIX, type & ~socket_nonblocking, 0);
  if (fd < 0 || !set_descriptor_flags(fd, (type & socket_nonblocking) != 0)) {
    ec = last_error();
    if (fd >= 0) ::close(fd);
    return -1;
  }
  prepare_socket(fd, type & ~socket_nonblocking);
  return fd;
}

int accept_socket(int listen_fd) noexcept {
  const int fd = ::accept(listen_fd, nullptr, nullptr);
  if (fd >= 0 && !set_descriptor_flags(fd, false)) {
    close_keeping_errno(fd);
    return -1;
  }
  return fd;
}

bool open_pipe(int fds[2]) noexcept {
  if (::pipe(fds) < 0) return false;
  if (set_descriptor_flags(fds[0], true) && set_descriptor_flags(fds[1], true)) return true;
  close_keeping_errno(fds[0]);
  close_keeping_errno(fds[1]);
  return false;
}

#endif

namespace {

void set_send_timeout(int fd, std::chrono::microseconds t) noexcept {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1'000'000);
  tv.tv_usec = static_cast<suseconds_t>(t.count() % 1'000'000);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

// Connecting a Unix socket is synchronous: it succeeds, fails, or sleeps until the
// listener's backlog has room. A finite timeout bounds that sleep with SO_SNDTIMEO
// (Linux's unix_stream_connect sleeps at most the send timeout, then fails with
// EAGAIN), so nothing polls. EINTR means the connect did not happen, so it is simply
// tried again with the time that is left. (A zero timeout, a mere attempt, is
// connect_socket's first try; it never comes here.)
std::error_code connect_fd(int fd, const UnixAddress& addr, Timeout timeout) noexcept {
  using clock = std::chrono::steady_clock;
  const bool timed = timeout >= Timeout::zero();
  const auto deadline = localsock::detail::deadline_after(timeout);
  std::error_code ec;
  for (;;) {
    if (timed) {
      const auto left = std::chrono::ceil<std::chrono::microseconds>(deadline - clock::now());
      if (left <= std::chrono::microseconds::zero()) {
        ec = make_error_code(errc::timed_out);
        break;
      }
      set_send_timeout(fd, left);
    }
    if (::connect(fd, addr.get(), addr.len) == 0 || errno == EISCONN) break;
    const int err = errno;
    if (err == EINTR) continue;
    if (timed && (err == EAGAIN || err == EINPROGRESS)) {
      ec = make_error_code(errc::timed_out);
    } else {
      ec = {err, std::system_category()};
    }
    break;
  }
  if (timed) set_send_timeout(fd, std::chrono::microseconds::zero());
  return ec;
}

namespace {

// Whether a listener of the other connection type (bytes for messages and the reverse)
// is at `addr`: asked only after a connect was refused, so the common case pays nothing.
// Linux looks abstract names up by name and type (a listener of the other type reads as
// nobody, ECONNREFUSED) and socket files answer EPROTOTYPE. The probe's connection is
// closed at once; the listener sees a client that left.
bool other_type_listens(const UnixAddress& addr, int type) noexcept {
  const int other = (type & 0xff) == SOCK_STREAM ? SOCK_SEQPACKET : SOCK_STREAM;
  std::error_code ignored;
  const int fd = open_socket(other | socket_nonblocking, ignored);
  if (fd < 0) return false;
  int rc;
  do {
    rc = ::connect(fd, addr.get(), addr.len);
  } while (rc < 0 && errno == EINTR);
  const bool listens = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
  ::close(fd);
  return listens;
}

}  // namespace

int connect_socket(const LocalName& name, int type, Timeout timeout, std::error_code& ec) noexcept {
  ec.clear();
  UnixAddress addr;
  if ((ec = make_address(name, addr))) return -1;
  // First without waiting: a Unix socket connects at once unless the listener's backlog
  // is full (EAGAIN), so the common case costs a plain connect and one fcntl. Only a
  // full backlog takes the bounded wait of connect_fd.
  int fd = open_socket(type | socket_nonblocking, ec);
  if (fd >= 0) {
    int rc;
    do {
      if (localsock::detail::inject(testing::Fault::connect_refused)) {
        rc = -1;
        errno = ECONNREFUSED;
        break;
      }
      rc = ::connect(fd, addr.get(), addr.len);
    } while (rc < 0 && errno == EINTR);
    const int err = rc == 0 ? 0 : errno;
    // Back to blocking. O_NONBLOCK is the only status flag a new socket has, so one
    // F_SETFL without reading the flags first is enough.
    ::fcntl(fd, F_SETFL, 0);
    if (err == EAGAIN || err == EINPROGRESS)
      ec = timeout == Timeout::zero() ? make_error_code(errc::timed_out)
                                      : connect_fd(fd, addr, timeout);
    else if (err != 0)
      ec = {err, std::system_category()};
    if (ec) {
      ::close(fd);
      fd = -1;
    }
    const int base = type & 0xff;
    if ((err == ECONNREFUSED || err == EPROTOTYPE) &&
        (base == SOCK_STREAM || base == SOCK_SEQPACKET) && other_type_listens(addr, base))
      ec = make_error_code(errc::mode_mismatch);
  }
  localsock::detail::log_step("connect to", name.str(), ec);
  return fd;
}

std::error_code socket_pair(int type, int fds[2]) noexcept {
  if (const std::error_code ec = make_socket_pair(type, fds)) return ec;
  prepare_socket(fds[0], type);
  prepare_socket(fds[1], type);
  return {};
}

bool wait_ready(int fd, short events, localsock::detail::DeadlineClock::time_point deadline,
                std::error_code& ec) noexcept {
  for (;;) {
    pollfd p{fd, events, 0};
    const int n = ::poll(&p, 1, localsock::detail::milliseconds_until(deadline));
    if (n > 0) return true;
    if (n < 0 && errno != EINTR) {
      ec = last_error();
      return false;
    }
    // Timed out, or interrupted: over once the deadline has passed (poll's wait is at
    // most INT_MAX ms, so a longer one ends here too, and goes on).
    if (localsock::detail::DeadlineClock::now() >= deadline) {
      ec = make_error_code(errc::timed_out);
      return false;
    }
  }
}

namespace {
// Control space for one set of sender credentials (on seqpacket sockets every message
// carries them); generous enough for any platform's credential structure.
constexpr std::size_t credentials_space = CMSG_SPACE(64);

// Descriptors received close-on-exec: at once on Linux (MSG_CMSG_CLOEXEC); elsewhere
// by fcntl right after recvmsg (macOS has no such flag).
#if LOCALSOCK_POSIX_LINUX
constexpr int received_fds_cloexec = MSG_CMSG_CLOEXEC;
#else
constexpr int received_fds_cloexec = 0;
#endif
}  // namespace

RecvOutcome recv_msg(int fd, MutableBuffer buf, int flags, std::vector<OwnedFd>* fds,
                     std::size_t max_fds, UnixAddress* from, std::error_code& ec,
                     Timeout timeout) noexcept {
  ec.clear();
  RecvOutcome out;
  // No message carries more descriptors than this (Linux: SCM_MAX_FD, 253), so a larger
  // max_fds needs no more room.
  max_fds = std::min<std::size_t>(max_fds, 256);
  // Room for credentials and the descriptors the caller takes; on the stack for the
  // common small cases so that a receive does not allocate.
  alignas(cmsghdr) unsigned char small[256];
  std::vector<unsigned char> large;
  const std::size_t want = CMSG_SPACE(max_fds * sizeof(int)) + credentials_space;
  unsigned char* control = small;
  try {
    if (want > sizeof small) {
      large.resize(want);
      control = large.data();
    }
    // Room in the caller's vector first: once received, a descriptor must not be lost.
    if (fds != nullptr) fds->reserve(fds->size() + max_fds);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return out;
  }
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  // A caller that takes no descriptors leaves only room for credentials: the kernel then
  // installs none (and closes any that came, reporting MSG_CTRUNC).
  // (socklen_t on macOS, size_t on Linux.)
  msg.msg_controllen =
      static_cast<decltype(msg.msg_controllen)>(fds != nullptr ? want : credentials_space);
  if (from != nullptr) {
    *from = UnixAddress{};
    msg.msg_name = &from->addr;
    msg.msg_namelen = sizeof from->addr;
  }
  flags |= received_fds_cloexec;
  out.size = retry_eintr([&] { return ::recvmsg(fd, &msg, flags); }, ec, fd, timeout, POLLIN);
  if (ec) return out;
  if (from != nullptr) from->len = msg.msg_namelen;
  out.fds_truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
  // max_fds counts the descriptors of this receive only, not those already in `fds`.
  std::size_t taken = 0;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
#if LOCALSOCK_POSIX_LINUX
    if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
      ucred u;
      std::memcpy(&u, CMSG_DATA(c), sizeof u);
      out.had_credentials = true;
      out.credentials = {u.pid, u.uid, u.gid};
    }
#endif
    if (c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const unsigned char* data = CMSG_DATA(c);
    for (std::size_t i = 0; i < count; ++i) {
      int received;
      std::memcpy(&received, data + i * sizeof(int), sizeof(int));
      if constexpr (received_fds_cloexec == 0) ::fcntl(received, F_SETFD, FD_CLOEXEC);
      // Never leak: descriptors beyond what the caller asked for are closed here.
      if (fds != nullptr && taken < max_fds) {
        fds->emplace_back(received);
        ++taken;
      } else {
        ::close(received);
        out.fds_truncated = true;
      }
    }
  }
  return out;
}

std::size_t send_msg(int fd, ConstBuffer buf, std::span<const int> fds, const UnixAddress* to,
                     std::error_code& ec, bool credentials, Timeout timeout) noexcept {
  ec.clear();
  // Nothing but the data, to the connected peer: send() (no msghdr to build, and the
  // kernel's path for it is shorter; about 3% of a message round trip).
  if (fds.empty() && !credentials && to == nullptr)
    return retry_eintr([&] { return ::send(fd, buf.data(), buf.size(), send_flags); }, ec, fd,
                       timeout, POLLOUT);
  iovec iov{const_cast<std::byte*>(buf.data()), buf.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (to != nullptr) {
    msg.msg_name = const_cast<sockaddr_un*>(&to->addr);
    msg.msg_namelen = to->len;
  }
#if LOCALSOCK_POSIX_LINUX
  const std::size_t credentials_size = credentials ? CMSG_SPACE(sizeof(ucred)) : 0;
#else
  if (credentials) {
    ec = make_error_code(errc::not_supported);
    return 0;
  }
  const std::size_t credentials_size = 0;
#endif
  std::vector<unsigned char> control;
  if (!fds.empty() || credentials_size > 0) {
    try {
      control.resize((fds.empty() ? 0 : CMSG_SPACE(fds.size_bytes())) + credentials_size);
    } catch (const std::bad_alloc&) {
      ec = std::make_error_code(std::errc::not_enough_memory);
      return 0;
    }
    msg.msg_control = control.data();
    msg.msg_controllen = static_cast<decltype(msg.msg_controllen)>(control.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (!fds.empty()) {
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = static_cast<decltype(c->cmsg_len)>(CMSG_LEN(fds.size_bytes()));
      std::memcpy(CMSG_DATA(c), fds.data(), fds.size_bytes());
      c = CMSG_NXTHDR(&msg, c);
    }
#if LOCALSOCK_POSIX_LINUX
    if (credentials) {
      // The kernel checks these: a process may only claim its own ids (unless privileged).
      const ucred u{::getpid(), ::geteuid(), ::getegid()};
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_CREDENTIALS;
      c->cmsg_len = CMSG_LEN(sizeof u);
      std::memcpy(CMSG_DATA(c), &u, sizeof u);
    }
#endif
  }
  return retry_eintr([&] { return ::sendmsg(fd, &msg, send_flags); }, ec, fd, timeout, POLLOUT);
}

void grow_send_buffer(int fd, std::size_t size) noexcept {
  const int want = static_cast<int>(std::min<std::size_t>(size + 4096, std::size_t{1} << 30));
#if LOCALSOCK_POSIX_LINUX
  if (::setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) == 0) return;
#endif
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
}

namespace {

// Whether one message of `n` bytes goes from `from` to `to` (and is dropped there);
// nullopt with `ec` set when the send fails for another reason than its size.
std::optional<bool> message_fits(int from, int to, std::span<const std::byte> data,
                                 std::error_code& ec) noexcept {
  for (;;) {
    if (::send(from, data.data(), data.size(), send_flags | MSG_DONTWAIT) >= 0) {
      std::byte none;
      while (::recv(to, &none, 0, MSG_TRUNC | MSG_DONTWAIT) < 0 && errno == EINTR) {
      }
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EMSGSIZE || errno == ENOBUFS) return false;
    ec = last_error();
    return std::nullopt;
  }
}

// Finds the largest message a socket pair of `type` carries, with the send buffer
// grown as far as this process may: doubling from 64 KiB until a size fails, then
// halving the gap to the byte. About 30 sends, a few milliseconds, once per process.
std::size_t measure_max_message(int type, std::error_code& ec) noexcept {
  int fds[2];
  if ((ec = make_socket_pair(type, fds))) return 0;
  const OwnedFd from(fds[0]), to(fds[1]);
  grow_send_buffer(from.get(), max_measured_message);
  // Never written: the kernel copies the zero pages, and no memory is used.
  const std::unique_ptr<std::byte[]> space(new (std::nothrow) std::byte[max_measured_message + 1]);
  if (!space) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return 0;
  }
  auto fits = [&](std::size_t n) {
    return message_fits(from.get(), to.get(), {space.get(), n}, ec);
  };
  std::size_t good = 0;                        // largest size known to fit
  std::size_t bad = max_measured_message + 1;  // smallest size known not to
  for (std::size_t n = 64 << 10; n < bad; n = std::min(n * 2, bad - 1)) {
    const auto ok = fits(n);
    if (!ok) return 0;
    if (!*ok) {
      bad = n;
      break;
    }
    good = n;
    if (n == bad - 1) break;
  }
  while (bad - good > 1) {
    const std::size_t mid = good + (bad - good) / 2;
    const auto ok = fits(mid);
    if (!ok) return 0;
    (*ok ? good : bad) = mid;
  }
  return good;
}

}  // namespace

std::size_t max_message_size(int type, std::error_code& ec) noexcept {
  ec.clear();
  // One measurement per type; a failed one (descriptors exhausted) is tried again later.
  static std::atomic<std::size_t> seqpacket{0}, datagram{0};
  std::atomic<std::size_t>& known = (type & 0xff) == SOCK_SEQPACKET ? seqpacket : datagram;
  std::size_t size = known.load(std::memory_order_acquire);
  if (size == 0) {
    size = measure_max_message(type & 0xff, ec);
    if (!ec) known.store(size, std::memory_order_release);
  }
  return size;
}

#if !LOCALSOCK_POSIX_LINUX
namespace {
#if defined(__linux__)
// The generic flavor on Linux: glibc has no getpeereid, so its semantics (user and
// group only) are taken from SO_PEERCRED.
int peer_eid(int fd, uid_t& uid, gid_t& gid) noexcept {
  ucred u{};
  socklen_t len = sizeof u;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &u, &len) < 0) return -1;
  uid = u.uid;
  gid = u.gid;
  return 0;
}
#else
int peer_eid(int fd, uid_t& uid, gid_t& gid) noexcept { return ::getpeereid(fd, &uid, &gid); }
#endif
}  // namespace
#endif

PeerCredentials peer_credentials_of(int fd, std::error_code& ec) noexcept {
  ec.clear();
  PeerCredentials c;
#if LOCALSOCK_POSIX_LINUX
  ucred u{};
  socklen_t len = sizeof u;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &u, &len) < 0) {
    ec = last_error();
    return c;
  }
  c.pid = u.pid;
  c.uid = u.uid;
  c.gid = u.gid;
#else
  // BSD and macOS: getpeereid gives the user and group; the pid where the system tells
  // it (macOS: LOCAL_PEERPID), else 0.
  uid_t uid;
  gid_t gid;
  if (peer_eid(fd, uid, gid) < 0) {
    ec = last_error();
    return c;
  }
  c.uid = uid;
  c.gid = gid;
#if defined(LOCAL_PEERPID)
  pid_t pid = 0;
  socklen_t len = sizeof pid;
  if (::getsockopt(fd, SOL_LOCAL, LOCAL_PEERPID, &pid, &len) == 0) c.pid = pid;
#endif
#endif
  return c;
}

bool timed_out_not_nonblocking(int fd) noexcept {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && (flags & O_NONBLOCK) == 0;
}

LocalName name_of(const UnixAddress& a) {
  const std::size_t base = offsetof(sockaddr_un, sun_path);
  if (a.len <= base) return {};
  std::size_t len = a.len - base;
  const char* p = a.addr.sun_path;
  if (p[0] == '\0') {
    if (len <= 1) return {};
    std::error_code ec;
    return LocalName::namespaced(std::string_view(p + 1, len - 1), ec);
  }
  std::string_view path(p, ::strnlen(p, len));
  if (LocalName namespaced = namespaced_of_path(path); !namespaced.empty()) return namespaced;
  std::error_code ec;
  return LocalName::path(path, ec);
}

}  // namespace localsock::posix::detail
