// SPDX-License-Identifier: MIT
#include <localsock/posix/ud_stream.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <utility>

#include "address.hpp"

namespace localsock::posix {
namespace {

std::error_code last_error() noexcept { return {errno, std::system_category()}; }

#if defined(MSG_NOSIGNAL)
constexpr int send_flags = MSG_NOSIGNAL;
#else
constexpr int send_flags = 0;  // SO_NOSIGPIPE is set on the socket instead.
#endif

// A new AF_UNIX socket, close-on-exec, with SIGPIPE suppressed where that is a socket
// option rather than a send flag.
int open_socket(int type, std::error_code& ec) noexcept {
  int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ec = last_error();
    return -1;
  }
#if defined(SO_NOSIGPIPE)
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  return fd;
}

void close_fd(int fd) noexcept {
  // POSIX leaves the descriptor's state unspecified after EINTR; on Linux it is closed,
  // so close is never retried.
  if (fd >= 0) ::close(fd);
}

// Connects `fd` to `addr`. A connect interrupted by a signal goes on in the background;
// wait for it to finish and collect its result instead of connecting twice.
std::error_code connect_fd(int fd, const detail::UnixAddress& addr) noexcept {
  if (::connect(fd, addr.get(), addr.len) == 0) return {};
  if (errno != EINTR) return last_error();
  pollfd p{fd, POLLOUT, 0};
  while (::poll(&p, 1, -1) < 0) {
    if (errno != EINTR) return last_error();
  }
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return last_error();
  return err == 0 ? std::error_code{} : std::error_code{err, std::system_category()};
}

}  // namespace

// ---- UdStream ---------------------------------------------------------------------

UdStream::UdStream(int fd, std::string name) noexcept : fd_(fd), name_(std::move(name)) {}

UdStream::UdStream(UdStream&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), name_(std::move(other.name_)) {}

UdStream& UdStream::operator=(UdStream&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = std::exchange(other.fd_, -1);
    name_ = std::move(other.name_);
  }
  return *this;
}

UdStream::~UdStream() { close(); }

UdStream UdStream::connect(const LocalName& name, std::error_code& ec) {
  ec.clear();
  detail::UnixAddress addr;
  if ((ec = detail::make_address(name, addr))) return {};
  int fd = open_socket(SOCK_STREAM, ec);
  if (fd < 0) return {};
  if ((ec = connect_fd(fd, addr))) {
    close_fd(fd);
    return {};
  }
  return UdStream(fd, name.str());
}

UdStream UdStream::connect(const LocalName& name) {
  std::error_code ec;
  UdStream s = connect(name, ec);
  localsock::detail::throw_if(ec, "UdStream::connect", name.str());
  return s;
}

std::size_t UdStream::read_some(MutableBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = make_error_code(errc::not_connected);
    return 0;
  }
  if (buf.empty()) return 0;
  for (;;) {
    ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) {
      ec = last_error();
      return 0;
    }
  }
}

std::size_t UdStream::read_some(MutableBuffer buf) {
  std::error_code ec;
  std::size_t n = read_some(buf, ec);
  localsock::detail::throw_if(ec, "UdStream::read_some", name_);
  return n;
}

std::size_t UdStream::write_some(ConstBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = make_error_code(errc::not_connected);
    return 0;
  }
  if (buf.empty()) return 0;
  for (;;) {
    ssize_t n = ::send(fd_, buf.data(), buf.size(), send_flags);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) {
      ec = last_error();
      return 0;
    }
  }
}

std::size_t UdStream::write_some(ConstBuffer buf) {
  std::error_code ec;
  std::size_t n = write_some(buf, ec);
  localsock::detail::throw_if(ec, "UdStream::write_some", name_);
  return n;
}

void UdStream::shutdown(Shutdown how, std::error_code& ec) noexcept {
  ec.clear();
  if (fd_ < 0) {
    ec = make_error_code(errc::not_connected);
    return;
  }
  int h = how == Shutdown::read ? SHUT_RD : how == Shutdown::write ? SHUT_WR : SHUT_RDWR;
  if (::shutdown(fd_, h) < 0) ec = last_error();
}

void UdStream::shutdown(Shutdown how) {
  std::error_code ec;
  shutdown(how, ec);
  localsock::detail::throw_if(ec, "UdStream::shutdown", name_);
}

void UdStream::close() noexcept { close_fd(std::exchange(fd_, -1)); }

int UdStream::release() noexcept { return std::exchange(fd_, -1); }

// ---- UdListener -------------------------------------------------------------------

struct UdListener::State {
  LocalName name;
  int fd = -1;
  // Written once by close() so that accepts blocked in poll() wake up.
  int wake[2] = {-1, -1};
  // The socket file this listener created, identified by device and inode so that a
  // file someone else put at the same path later is never removed.
  std::string path;
  dev_t dev = 0;
  ino_t ino = 0;

  std::mutex mutex;
  std::condition_variable idle;
  int accepting = 0;  // accept() calls in progress; close() waits for them to leave.
  std::atomic<bool> closed{false};

  ~State() { shut(); }

  void shut() noexcept {
    {
      std::unique_lock lock(mutex);
      if (closed.exchange(true)) return;
      if (wake[1] >= 0) {
        char byte = 1;
        [[maybe_unused]] ssize_t n = ::write(wake[1], &byte, 1);
      }
      idle.wait(lock, [this] { return accepting == 0; });
    }
    remove_own_file();
    close_fd(std::exchange(fd, -1));
    close_fd(std::exchange(wake[0], -1));
    close_fd(std::exchange(wake[1], -1));
  }

  void remove_own_file() noexcept {
    if (path.empty()) return;
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == dev &&
        st.st_ino == ino)
      ::unlink(path.c_str());
  }
};

UdListener::UdListener() noexcept = default;
UdListener::UdListener(UdListener&&) noexcept = default;
UdListener& UdListener::operator=(UdListener&&) noexcept = default;
UdListener::~UdListener() = default;

namespace {

// What is at `path`, which bind() found in use: a live listener, a stale socket file,
// or something that is not a socket.
std::error_code diagnose_path_in_use(const std::string& path,
                                     const detail::UnixAddress& addr) noexcept {
  struct stat st{};
  if (::lstat(path.c_str(), &st) < 0) return last_error();
  if (!S_ISSOCK(st.st_mode)) return make_error_code(errc::not_a_socket);
  std::error_code ec;
  int probe = open_socket(SOCK_STREAM, ec);
  if (probe < 0) return ec;
  ec = connect_fd(probe, addr);
  close_fd(probe);
  if (!ec) return make_error_code(errc::name_in_use);
  if (ec == std::errc::connection_refused) return make_error_code(errc::stale_name);
  return ec;
}

}  // namespace

UdListener UdListener::bind(const LocalName& name, const UdListenerOptions& options,
                            std::error_code& ec) {
  ec.clear();
  detail::UnixAddress addr;
  if ((ec = detail::make_address(name, addr))) return {};

  auto state = std::make_unique<State>();
  state->name = name;
  // The listening socket is nonblocking so that accept() can wait in poll() alongside
  // the wake-up pipe; accepted sockets are blocking (accept4 does not inherit it).
  state->fd = open_socket(SOCK_STREAM | SOCK_NONBLOCK, ec);
  if (state->fd < 0) return {};
  if (::pipe2(state->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
    ec = last_error();
    return {};
  }

  const std::string path = detail::filesystem_path(name);
  bool reclaimed = false;
  while (::bind(state->fd, addr.get(), addr.len) < 0) {
    ec = last_error();
    if (ec != std::errc::address_in_use || path.empty()) return {};
    ec = diagnose_path_in_use(path, addr);
    if (ec == errc::stale_name && options.reclaim_stale && !reclaimed) {
      // Only a socket file nobody accepts on gets here; remove it and bind once more.
      reclaimed = true;
      if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
        ec = last_error();
        return {};
      }
      continue;
    }
    return {};
  }
  ec.clear();

  if (!path.empty()) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) < 0) {
      ec = last_error();
      return {};
    }
    state->path = path;
    state->dev = st.st_dev;
    state->ino = st.st_ino;
  }
  if (::listen(state->fd, options.backlog) < 0) {
    ec = last_error();
    return {};  // ~State removes the file just created.
  }
  UdListener listener;
  listener.state_ = std::move(state);
  return listener;
}

UdListener UdListener::bind(const LocalName& name, const UdListenerOptions& options) {
  std::error_code ec;
  UdListener l = bind(name, options, ec);
  localsock::detail::throw_if(ec, "UdListener::bind", name.str());
  return l;
}

UdStream UdListener::accept(std::error_code& ec) {
  ec.clear();
  State* s = state_.get();
  if (s == nullptr) {
    ec = make_error_code(errc::listener_closed);
    return {};
  }
  {
    std::lock_guard lock(s->mutex);
    if (s->closed) {
      ec = make_error_code(errc::listener_closed);
      return {};
    }
    ++s->accepting;
  }
  int fd = -1;
  for (;;) {
    fd = ::accept4(s->fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) break;
    const int err = errno;
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err != EAGAIN && err != EWOULDBLOCK) {
      ec = {err, std::system_category()};
      break;
    }
    pollfd p[2] = {{s->fd, POLLIN, 0}, {s->wake[0], POLLIN, 0}};
    if (::poll(p, 2, -1) < 0 && errno != EINTR) {
      ec = last_error();
      break;
    }
    if (p[1].revents != 0 || s->closed) {
      ec = make_error_code(errc::listener_closed);
      break;
    }
  }
  {
    std::lock_guard lock(s->mutex);
    if (--s->accepting == 0) s->idle.notify_all();
  }
  if (fd < 0) return {};
#if defined(SO_NOSIGPIPE)
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  return UdStream(fd, s->name.str());
}

UdStream UdListener::accept() {
  std::error_code ec;
  UdStream stream = accept(ec);
  localsock::detail::throw_if(ec, "UdListener::accept", state_ ? state_->name.str() : "");
  return stream;
}

void UdListener::close() noexcept {
  if (state_) state_->shut();
}

bool UdListener::is_open() const noexcept { return state_ && !state_->closed; }

int UdListener::native_handle() const noexcept { return state_ ? state_->fd : -1; }

const LocalName& UdListener::name() const noexcept {
  static const LocalName none;
  return state_ ? state_->name : none;
}

}  // namespace localsock::posix
