// SPDX-License-Identifier: MIT
#pragma once

// Small helpers over the system calls the POSIX backend makes, shared by its files.

#include <localsock/posix/fd.hpp>
#include <localsock/posix/ud_socket.hpp>
#include <localsock/types.hpp>

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

#include "address.hpp"
#include "flavor.hpp"
#include "../common/deadline.hpp"
#include "../common/faults.hpp"

namespace localsock::posix::detail {

inline std::error_code last_error() noexcept { return {errno, std::system_category()}; }

// SIGPIPE: SO_NOSIGPIPE on every socket where the system has it (macOS, BSD), else
// MSG_NOSIGNAL on every send (Linux, in either flavor: it has no SO_NOSIGPIPE).
#if LOCALSOCK_POSIX_LINUX || !defined(SO_NOSIGPIPE)
inline constexpr int send_flags = MSG_NOSIGNAL;
#else
inline constexpr int send_flags = 0;  // SO_NOSIGPIPE is set on every socket instead.
#endif

/// Added to a socket type for open_socket: the socket starts nonblocking
/// (SOCK_NONBLOCK on Linux; elsewhere a bit of ours, turned into O_NONBLOCK by fcntl).
#if LOCALSOCK_POSIX_LINUX
inline constexpr int socket_nonblocking = SOCK_NONBLOCK;
#else
inline constexpr int socket_nonblocking = 0x40000000;
#endif

/// A new AF_UNIX socket of `type` (SOCK_STREAM, ... possibly | socket_nonblocking),
/// close-on-exec, with SIGPIPE suppressed; -1 with `ec` set on failure.
int open_socket(int type, std::error_code& ec) noexcept;

/// accept on `listen_fd`: the new socket close-on-exec and blocking (accept4 on Linux;
/// elsewhere accept and fcntl, as BSD passes O_NONBLOCK on from the listening socket).
/// -1 with errno set on failure.
int accept_socket(int listen_fd) noexcept;

/// A pipe with both ends nonblocking and close-on-exec (pipe2 on Linux, else pipe and
/// fcntl); false with errno set.
bool open_pipe(int fds[2]) noexcept;

/// Prepares a socket accepted or adopted by the library (SO_NOSIGPIPE where needed;
/// credentials on message sockets, so a zero-length message differs from the end).
void prepare_socket(int fd, int type) noexcept;

/// The SOCK_* value of a SocketType.
int native_type(SocketType type) noexcept;

/// Connects `fd`, waiting at most `timeout` for room in the listener's backlog
/// (`errc::timed_out` after it; zero: do not wait).
std::error_code connect_fd(int fd, const UnixAddress& addr, Timeout timeout) noexcept;

/// Opens a socket of `type` and connects it to `name`.
int connect_socket(const LocalName& name, int type, Timeout timeout, std::error_code& ec) noexcept;

/// socketpair of `type`, both ends prepared.
std::error_code socket_pair(int type, int fds[2]) noexcept;

/// One recvmsg with EINTR retried; `from` (optional) receives the sender's address.
/// Takes descriptors into `fds` (at most `max_fds`, closing any extra), and reports in
/// `had_credentials` whether the message carried credentials.
struct RecvOutcome {
  std::size_t size = 0;
  bool fds_truncated = false;
  bool had_credentials = false;
  PeerCredentials credentials;  ///< Valid when `had_credentials`.
};
/// `timeout`: the socket's read timeout (see retry_eintr).
RecvOutcome recv_msg(int fd, MutableBuffer buf, int flags, std::vector<OwnedFd>* fds,
                     std::size_t max_fds, UnixAddress* from, std::error_code& ec,
                     Timeout timeout = infinite) noexcept;

/// One sendmsg with EINTR retried, descriptors attached when `fds` is not empty and
/// this process's credentials when `credentials` is set (`errc::not_supported` where
/// the platform cannot send them). `timeout`: the socket's write timeout (see retry_eintr).
std::size_t send_msg(int fd, ConstBuffer buf, std::span<const int> fds, const UnixAddress* to,
                     std::error_code& ec, bool credentials = false,
                     Timeout timeout = infinite) noexcept;

/// The largest message one send on a socket of `type` (SOCK_SEQPACKET or SOCK_DGRAM)
/// carries in this process: bounded by the send buffer this process may give a socket
/// (net.core.wmem_max on Linux unless privileged) and by the kernel's limit on one
/// message (about 4 MiB on Linux, whatever the buffer). Measured once per type on a
/// socket pair, on first use, up to `max_measured_message`; thread-safe.
std::size_t max_message_size(int type, std::error_code& ec) noexcept;

/// Where the measurement of max_message_size stops: a larger limit reads as this.
inline constexpr std::size_t max_measured_message = std::size_t{64} << 20;

/// Grows the send buffer of `fd` to hold `size` bytes, as far as the process may
/// (SO_SNDBUFFORCE where privileged, else SO_SNDBUF up to the system's maximum).
void grow_send_buffer(int fd, std::size_t size) noexcept;

/// The per-operation part of the POSIX error table (error_posix.cpp): what a failed
/// bind of a socket file at `path` means (a missing or unwritable directory).
std::error_code bind_path_error(const std::string& path, std::error_code ec) noexcept;

/// What a failed connect to `name` means: a refused connect to a socket file is a stale
/// file, to anything else not a socket; other errors are returned as they are.
std::error_code connect_error(const LocalName& name, std::error_code ec) noexcept;

/// Who a file is. Device and inode alone do not say it: a filesystem may give a file
/// created later the inode of one just removed (ext4 does at once), so the birth time
/// is part of it where the filesystem records one (Linux statx), and the last status
/// change for the strict comparison of `unchanged`.
struct FileId {
  std::uint64_t dev = 0, ino = 0;
  std::int64_t birth_ns = -1;  ///< -1: not recorded by the filesystem.
  std::int64_t change_ns = 0;
  bool socket = false;
};

/// The identity of what is at `path` (relative to the directory `dir`, or to the working
/// directory with AT_FDCWD; a symbolic link itself, not followed); false with errno set
/// when nothing can be examined there.
bool file_id(const std::string& path, FileId& out, int dir = AT_FDCWD) noexcept;

/// Opens the directory holding `path` (O_PATH where the system has it), into `dir`, and
/// gives the file's name within it in `leaf`: a socket file is then found again however
/// the process changes its working directory. False with errno set.
bool open_parent(const std::string& path, OwnedFd& dir, std::string& leaf) noexcept;

/// Removes `leaf` in the directory `dir` while it is still the socket file `id`.
void remove_socket_file(int dir, const std::string& leaf, const FileId& id) noexcept;

/// Whether `now` is still the socket file `then` (birth time compared where both have
/// one): what a listener checks before removing its own file.
bool same_file(const FileId& then, const FileId& now) noexcept;

/// Whether `now` is the socket file `then`, and untouched since (no link, rename or
/// permission change): what is checked before removing a file found stale.
bool unchanged(const FileId& then, const FileId& now) noexcept;

/// The LocalName of a socket address returned by the kernel (empty when unnamed).
LocalName name_of(const UnixAddress& addr);

/// The credentials of the peer of a connected socket (SO_PEERCRED or getpeereid).
PeerCredentials peer_credentials_of(int fd, std::error_code& ec) noexcept;

/// Whether an EAGAIN on `fd` came from a receive or send timeout (SO_RCVTIMEO,
/// SO_SNDTIMEO) rather than from nonblocking mode.
bool timed_out_not_nonblocking(int fd) noexcept;

/// Waits with poll until `fd` is ready for `events` (POLLIN or POLLOUT) or `deadline`
/// passes: true when ready (or in error: the next call on it tells which), false with
/// `ec` set otherwise (`errc::timed_out`). Signals do not stop it early.
bool wait_ready(int fd, short events, localsock::detail::DeadlineClock::time_point deadline,
                std::error_code& ec) noexcept;

/// Runs a system call returning ssize_t, retrying EINTR; the count, or 0 with `ec` set.
/// With the descriptor given, an EAGAIN of a blocking socket (its timeout expired) is
/// reported as `errc::timed_out`.
///
/// `timeout` is the socket's timeout for the call's direction (SO_RCVTIMEO with
/// `events` POLLIN, SO_SNDTIMEO with POLLOUT), as UdSocket set it. Linux fails such a
/// call with EINTR at every signal, SA_RESTART or not, and a call made again would wait
/// the full timeout again: a signal arriving more often than the timeout would keep it
/// waiting for as long as it arrives. So, with a timeout, an interrupted call waits in
/// poll for what is left of it and is then made again once the socket is ready. (Should
/// another thread take what made it ready, that call waits again, at most the socket's
/// timeout or until the next signal, which then finds the time up.) The deadline is
/// read from the clock only when there is a timeout: the call without one pays nothing.
template <typename Call>
std::size_t retry_eintr(Call call, std::error_code& ec, int fd = -1, Timeout timeout = infinite,
                        short events = 0) noexcept {
  const bool timed = timeout > Timeout::zero();
  const auto deadline = timed ? localsock::detail::deadline_after(timeout)
                              : localsock::detail::DeadlineClock::time_point{};
  for (;;) {
    decltype(call()) n;
    if (localsock::detail::inject(testing::Fault::eintr)) {
      errno = EINTR;
      n = -1;
    } else if (fd >= 0 && localsock::detail::inject(testing::Fault::eagain)) {
      errno = EAGAIN;
      n = -1;
    } else {
      n = call();
    }
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) {
      ec = last_error();
      if (fd >= 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && timed_out_not_nonblocking(fd))
        ec = make_error_code(errc::timed_out);
      return 0;
    }
    if (timed && !wait_ready(fd, events, deadline, ec)) return 0;
  }
}

using localsock::detail::or_throw;

}  // namespace localsock::posix::detail
