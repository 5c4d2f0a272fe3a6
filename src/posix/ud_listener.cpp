// SPDX-License-Identifier: MIT
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_stream.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>

#include "../common/accept_gate.hpp"
#include "../common/log.hpp"
#include "sys.hpp"

namespace localsock::posix::detail {

// How a blocking accept waits. Linux: in accept4 itself, one system call like a plain
// server's, on a blocking listening socket; SO_RCVTIMEO bounds a wait with a timeout,
// and close() wakes the waiters with shutdown(SHUT_RD), after which accept4 fails with
// EINVAL. Elsewhere (where shutdown does not wake accept): the socket is nonblocking and
// accept waits in poll() beside a wake-up pipe that close() writes to.
#if LOCALSOCK_POSIX_LINUX
constexpr bool accept_waits_in_kernel = true;
#else
constexpr bool accept_waits_in_kernel = false;
#endif

struct ListenerCore::State {
  LocalName name;
  int type = SOCK_STREAM;
  int fd = -1;
  // An abstract name held in the other socket type's namespace too (see
  // hold_abstract_name), by a bound socket that never listens; -1 for socket files.
  int name_holder = -1;
  // Written once by close() so that accepts blocked in poll() wake up (not on Linux).
  int wake[2] = {-1, -1};
  // The socket file this listener created, identified so that a file someone else put
  // at the same path later is never removed. (While the socket is open its file's inode
  // stays allocated, so no newcomer can have the same device and inode.) Its directory
  // is held open, so that a relative path still leads to it after the process changed
  // its working directory.
  OwnedFd dir;
  std::string leaf;
  FileId file;
  std::atomic<bool> nonblocking{false};
  bool current_user_only = false;

  localsock::detail::AcceptGate gate;

  // Linux: the socket's SO_RCVTIMEO is shared by every waiting accept, so accepts that
  // want another timeout than the one set wait until none is waiting (or their own
  // deadline passes). 0 ms: no timeout.
  std::mutex timeout_mutex;
  std::condition_variable timeout_free;
  int waiting = 0;
  long long timeout_set_ms = 0;

  // Makes the socket's timeout what is left until `deadline` (no timeout when not
  // `timed`) and counts this accept as waiting; false when that cannot happen before
  // `deadline` (or the listener closes). An accept that waited for its turn thus never
  // waits longer than its own deadline.
  template <typename Deadline>
  bool begin_wait(bool timed, Deadline deadline, std::error_code& ec) {
    std::unique_lock lock(timeout_mutex);
    auto left_ms = [&]() -> long long {
      if (!timed) return 0;
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - Deadline::clock::now());
      return std::max<long long>(1, left.count());
    };
    auto free = [&] { return waiting == 0 || timeout_set_ms == left_ms() || gate.closed(); };
    if (!timed)
      timeout_free.wait(lock, free);
    else if (!timeout_free.wait_until(lock, deadline, free) || Deadline::clock::now() >= deadline)
      return false;
    const long long ms = left_ms();
    if (timeout_set_ms != ms) {
      timeval tv{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)};
      if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0) {
        ec = last_error();
        return false;
      }
      timeout_set_ms = ms;
    }
    ++waiting;
    return true;
  }
  void end_wait() {
    std::lock_guard lock(timeout_mutex);
    if (--waiting == 0) timeout_free.notify_all();
  }

  ~State() { shut(); }

  void shut() noexcept {
    const bool closing = gate.close([this] {
      if (accept_waits_in_kernel && fd >= 0) {
        ::shutdown(fd, SHUT_RD);
        std::lock_guard lock(timeout_mutex);
        timeout_free.notify_all();
      }
      if (wake[1] >= 0) {
        const char byte = 1;
        [[maybe_unused]] ssize_t n = ::write(wake[1], &byte, 1);
      }
    });
    if (!closing) return;
    remove_own_file();
    const bool was_open = fd >= 0;
    for (int* f : {&fd, &name_holder, &wake[0], &wake[1]}) {
      if (*f >= 0) ::close(std::exchange(*f, -1));
    }
    if (was_open) localsock::detail::log(LogLevel::debug, "closed listener '", name.str(), "'");
  }

  void remove_own_file() noexcept {
    remove_socket_file(dir.get(), leaf, file);
    dir.reset();
  }
};

ListenerCore::ListenerCore() noexcept = default;
ListenerCore::ListenerCore(ListenerCore&&) noexcept = default;
ListenerCore& ListenerCore::operator=(ListenerCore&&) noexcept = default;
ListenerCore::~ListenerCore() = default;

namespace {

// What is at `path`, found in use: a live listener, a stale socket file, or something
// that is not a socket. `stale` receives the identity of a file found stale.
std::error_code diagnose_path_in_use(const std::string& path, int type, FileId& stale) noexcept {
  FileId found;
  if (!file_id(path, found)) return last_error();
  if (!found.socket) return make_error_code(errc::not_a_socket);
  std::error_code ec;
  const LocalName name = LocalName::path(path, ec);
  // A nonblocking probe: a listener whose backlog is full must not stall the bind.
  int probe = connect_socket(name, type, Timeout::zero(), ec);
  if (probe >= 0) {
    ::close(probe);
    return make_error_code(errc::name_in_use);
  }
  // A full backlog, or a listener of another socket type (EPROTOTYPE, or the other
  // connection type, mode_mismatch): it is alive.
  if (ec == errc::timed_out || ec == std::errc::wrong_protocol_type || ec == errc::mode_mismatch)
    return make_error_code(errc::name_in_use);
  if (ec != std::errc::connection_refused) return ec;
  // Refused: nobody is bound to the file, or a server has bound it and not yet called
  // listen() (another process starting at this moment). A datagram connect tells the
  // two apart: it is refused only where no socket is bound at all; a bound socket of
  // another type answers EPROTOTYPE, one of the same type accepts it.
  probe = connect_socket(name, SOCK_DGRAM, Timeout::zero(), ec);
  if (probe >= 0) {
    ::close(probe);
    return make_error_code(errc::name_in_use);
  }
  if (ec == std::errc::wrong_protocol_type) return make_error_code(errc::name_in_use);
  if (ec != std::errc::connection_refused) return ec;
  stale = found;
  return make_error_code(errc::stale_name);
}

// Places a socket file at `path`, removing a stale one first when allowed. `place`
// tries once and reports EADDRINUSE / EEXIST when the path is taken.
template <typename Place>
std::error_code place_at(const std::string& path, int type, bool reclaim, Place place) {
  bool reclaimed = false;
  // Bounded, so that files replaced again and again cannot keep a bind looping.
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::error_code ec = place();
    if (!ec) return {};
    if (ec != std::errc::address_in_use && ec != std::errc::file_exists) return ec;
    FileId stale;
    ec = diagnose_path_in_use(path, type, stale);
    if (!ec) continue;  // gone in the meantime: try again
    if (ec != errc::stale_name || !reclaim || reclaimed) return ec;
    // Only a socket file nobody accepts on gets here. Another server starting at the
    // same moment may have found it stale too, removed it and bound its own: remove the
    // file only while it is still the one found stale.
    localsock::detail::hook_point(testing::Hook::reclaim_unlink);
    FileId now;
    if (!file_id(path, now)) {
      if (errno == ENOENT) continue;
      return last_error();
    }
    if (!unchanged(stale, now)) continue;  // replaced or touched: look again
    reclaimed = true;
    if (::unlink(path.c_str()) < 0 && errno != ENOENT) return last_error();
  }
  return make_error_code(errc::name_in_use);
}

std::string parent_directory(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Binds `fd` to `path` so that the socket file has exactly `mode` from the start: it is
// bound inside a fresh private (0700) directory next to the target, where nobody else
// can reach it, given its mode there, set listening, and only then linked into place:
// from the moment it is visible at its name it accepts clients, so nobody can take it
// for a stale file. link() never replaces an existing file, so a live listener's socket
// cannot be clobbered. (fchmod on a socket before bind does not reach the file on Linux,
// and changing the umask would race with the application's other threads.)
std::error_code bind_with_mode(int fd, const std::string& path, mode_t mode, int type, bool reclaim,
                               int backlog) {
  std::string dir = parent_directory(path) + "/.lsock-XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) return last_error();
  // The private directory is held open and the file within it reached through it:
  // the detour is longer than the path itself, and a path that fits sun_path must not
  // fail for it. The bind, which takes no directory, goes through the open directory's
  // short name in /proc (Linux) when the full name of the private file is too long.
  const char* leaf = "s";
  std::error_code ec;
  const OwnedFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd) {
    ec = last_error();
    ::rmdir(dir.c_str());
    return ec;
  }
  UnixAddress addr;
  std::error_code name_ec;
  if (make_address(LocalName::path(dir + "/" + leaf, name_ec), addr)) {
    const std::string via_fd = "/proc/self/fd/" + std::to_string(dir_fd.get()) + "/" + leaf;
    ec = make_address(LocalName::path(via_fd, name_ec), addr);
  }
  if (!ec) {
    if (::bind(fd, addr.get(), addr.len) < 0 || ::fchmodat(dir_fd.get(), leaf, mode, 0) < 0 ||
        ::listen(fd, backlog) < 0) {
      ec = last_error();
    } else {
      ec = place_at(path, type, reclaim, [&]() -> std::error_code {
        return ::linkat(dir_fd.get(), leaf, AT_FDCWD, path.c_str(), 0) == 0 ? std::error_code{}
                                                                            : last_error();
      });
      if (!ec) localsock::detail::hook_point(testing::Hook::socket_linked);
    }
  }
  ::unlinkat(dir_fd.get(), leaf, 0);
  ::rmdir(dir.c_str());
  return ec;
}

}  // namespace

namespace {

// Linux keeps one abstract namespace per socket type: by itself, the kernel lets a
// SOCK_STREAM listener (bytes, frames) and a SOCK_SEQPACKET one hold the same abstract
// name, and each client reaches the server of its own type. A listener on an abstract
// name therefore also binds it in the other type's namespace, with a socket that never
// listens (the cost: one descriptor more per such listener). A listener of the other
// type then finds the name taken (EADDRINUSE, as for a live listener of its own type),
// and its clients are refused there (ECONNREFUSED), after which connect's probe of the
// other type finds this listener and reports mode_mismatch, as before. Socket files
// need none of this: a path is one name for every type. (Datagram sockets keep their
// own namespace: they never listen, and no client mistakes one for a listener.)
std::error_code hold_abstract_name(ListenerCore::State& s, const UnixAddress& addr) noexcept {
  const int other = s.type == SOCK_SEQPACKET ? SOCK_STREAM : SOCK_SEQPACKET;
  std::error_code ec;
  s.name_holder = open_socket(other, ec);
  if (s.name_holder < 0) return ec;
  if (::bind(s.name_holder, addr.get(), addr.len) < 0) return last_error();
  return {};
}

// The listening socket of a bind, ready to accept; nullptr with `ec` set.
std::unique_ptr<ListenerCore::State> listening_state(const LocalName& name, SocketType type,
                                                     const UdListenerOptions& options,
                                                     std::error_code& ec) {
  ec.clear();
  UnixAddress addr;
  if ((ec = make_address(name, addr))) return {};
  auto s = std::make_unique<ListenerCore::State>();
  s->name = name;
  s->type = native_type(type);
  s->nonblocking = options.nonblocking;
  s->current_user_only = options.current_user_only;
  // Where accept waits in poll() beside the wake-up pipe, the listening socket is
  // nonblocking; on Linux only in nonblocking mode. Accepted sockets are blocking either
  // way (accept4 does not pass it on).
  const bool nonblocking_socket = !accept_waits_in_kernel || options.nonblocking;
  s->fd = open_socket(s->type | (nonblocking_socket ? socket_nonblocking : 0), ec);
  if (s->fd < 0) return {};
  // Accepted sockets inherit the listening socket's buffer sizes.
  if (options.buffer_size) {
    const int size = *options.buffer_size;
    if (::setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size) < 0 ||
        ::setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) {
      ec = last_error();
      return {};
    }
  }
  if (!accept_waits_in_kernel && !open_pipe(s->wake)) {
    ec = last_error();
    return {};
  }
  const std::string path = filesystem_path(name);
  bool listening = false;
  if (path.empty()) {
    // An abstract name: the kernel alone says whether it is taken, in this socket
    // type's namespace and, held for this listener, in the other's.
    if (::bind(s->fd, addr.get(), addr.len) < 0 || (ec = hold_abstract_name(*s, addr))) {
      if (!ec) ec = last_error();
      return {};
    }
  } else if (options.permissions || options.current_user_only) {
    const auto mode = static_cast<mode_t>(options.permissions.value_or(0600));
    ec = bind_with_mode(s->fd, path, mode, s->type, options.reclaim_stale, options.backlog);
    listening = true;
  } else {
    ec = place_at(path, s->type, options.reclaim_stale, [&]() -> std::error_code {
      return ::bind(s->fd, addr.get(), addr.len) == 0 ? std::error_code{} : last_error();
    });
  }
  if (ec) {
    ec = bind_path_error(path, ec);
    return {};
  }
  if (!path.empty()) {
    if (!open_parent(path, s->dir, s->leaf) || !file_id(s->leaf, s->file, s->dir.get())) {
      ec = last_error();
      ::unlink(path.c_str());  // just created here: not left behind
      return {};
    }
  }
  if (!listening && ::listen(s->fd, options.backlog) < 0) {
    ec = last_error();
    return {};  // ~State removes the file just created.
  }
  return s;
}

}  // namespace

ListenerCore ListenerCore::bind(const LocalName& name, SocketType type,
                                const UdListenerOptions& options, std::error_code& ec) {
  ListenerCore core;
  core.state_ = listening_state(name, type, options, ec);
  localsock::detail::log_step("listen on", name.str(), ec);
  return core;
}

namespace {

// A client of another user, where only this user's are let in: closed at once.
bool refused_by_uid(const ListenerCore::State& s, int fd) {
  if (!s.current_user_only) return false;
  std::error_code peer_ec;
  const PeerCredentials peer = peer_credentials_of(fd, peer_ec);
  if (!peer_ec && peer.uid == ::geteuid()) return false;
  localsock::detail::log(LogLevel::debug, "refused a client of uid ", peer.uid, " on '",
                         s.name.str(), "' (current_user_only)");
  ::close(fd);
  return true;
}

}  // namespace

int ListenerCore::accept(Timeout timeout, std::error_code& ec) {
  ec.clear();
  State* s = state_.get();
  if (s == nullptr) {
    ec = make_error_code(errc::listener_closed);
    return -1;
  }
  // Everything below, the log line included, happens inside the gate: once the pass is
  // gone, a close() from another thread may return and the listener be destroyed.
  localsock::detail::AcceptGate::Pass pass(s->gate);
  if (!pass) {
    ec = make_error_code(errc::listener_closed);
    return -1;
  }
  const int fd = accept_waits_in_kernel && !s->nonblocking ? accept_waiting_in_kernel(timeout, ec)
                                                           : accept_waiting_in_poll(timeout, ec);
  if (fd >= 0) prepare_socket(fd, s->type);
  if (ec != errc::would_block && ec != errc::timed_out)
    localsock::detail::log_step("accept on", s->name.str(), ec);
  return fd;
}

int ListenerCore::accept_waiting_in_kernel(Timeout timeout, std::error_code& ec) {
  State* s = state_.get();
  const bool timed = timeout >= Timeout::zero();
  const auto deadline = localsock::detail::deadline_after(timed ? timeout : Timeout::zero());
  auto wait_turn = [&] {
    if (s->begin_wait(timed, deadline, ec)) return true;
    if (!ec) ec = make_error_code(s->gate.closed() ? errc::listener_closed : errc::timed_out);
    return false;
  };
  if (!wait_turn()) return -1;
  int fd = -1;
  for (;;) {
    fd = accept_socket(s->fd);
    const int err = errno;
    if (fd >= 0 && !refused_by_uid(*s, fd)) break;
    if (fd < 0 && s->gate.closed()) {
      ec = make_error_code(errc::listener_closed);
      break;
    }
    // A refused client, or interrupted: go on waiting, for what is left of the timeout
    // (the socket's timeout would start again in full).
    if (fd >= 0 || err == EINTR || err == ECONNABORTED) {
      fd = -1;
      if (!timed) continue;
      s->end_wait();
      if (!wait_turn()) return -1;
      continue;
    }
    ec = err == EAGAIN || err == EWOULDBLOCK ? make_error_code(errc::timed_out)
                                             : std::error_code(err, std::system_category());
    break;
  }
  s->end_wait();
  return fd;
}

int ListenerCore::accept_waiting_in_poll(Timeout timeout, std::error_code& ec) {
  State* s = state_.get();
  const auto deadline = localsock::detail::deadline_after(timeout);
  int fd = -1;
  for (;;) {
    fd = accept_socket(s->fd);
    if (fd >= 0) {
      if (refused_by_uid(*s, fd)) continue;
      break;
    }
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) {
      ec = {err, std::system_category()};
      break;
    }
    if (s->nonblocking) {
      ec = make_error_code(errc::would_block);
      break;
    }
    int wait_ms = -1;
    if (timeout >= Timeout::zero()) {
      // At most INT_MAX ms: a longer timeout waits again after that.
      wait_ms = localsock::detail::milliseconds_until(deadline);
      if (wait_ms == 0) {
        ec = make_error_code(errc::timed_out);
        break;
      }
    }
    pollfd p[2] = {{s->fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
    if (::poll(p, 2, wait_ms) < 0 && errno != EINTR) {
      ec = last_error();
      break;
    }
    if (p[1].revents != 0 || s->gate.closed()) {
      ec = make_error_code(errc::listener_closed);
      break;
    }
  }
  return fd;
}

void ListenerCore::set_nonblocking(bool on, std::error_code& ec) noexcept {
  ec.clear();
  if (!is_open()) {
    ec = make_error_code(errc::listener_closed);
    return;
  }
  state_->nonblocking = on;
  // Where accept waits in the kernel, the socket itself must not block in this mode.
  if (accept_waits_in_kernel && state_->fd >= 0) {
    const int flags = ::fcntl(state_->fd, F_GETFL);
    if (flags < 0 ||
        ::fcntl(state_->fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) < 0)
      ec = last_error();
  }
}
void ListenerCore::close() noexcept {
  if (state_) state_->shut();
}
bool ListenerCore::is_open() const noexcept { return state_ && !state_->gate.closed(); }
int ListenerCore::native_handle() const noexcept { return state_ ? state_->fd : -1; }
const LocalName& ListenerCore::name() const noexcept {
  static const LocalName none;
  return state_ ? state_->name : none;
}

}  // namespace localsock::posix::detail
