// SPDX-License-Identifier: MIT
// The instance lock on Unix: flock on a lock file beside the socket file. The system
// releases it when its holder dies, however it dies; the file itself stays (removing a
// lock file races with processes that have it open).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "../common/desktop.hpp"
#include "address.hpp"

namespace localsock::detail {

InstanceLock InstanceLock::try_acquire(const LocalName& name, std::error_code& ec) {
  ec.clear();
  const std::string path = posix::detail::filesystem_path(name);
  // A Linux abstract name is its own lock: bind refuses it while its holder lives, and
  // the kernel frees it when the holder dies.
  if (path.empty()) return held_by_name();
  const std::string lock_path = path + ".lock";
  // Never through a symbolic link, and only a regular file of this user: someone else's
  // file could be held forever (or be a link to a file of ours).
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    ec = errno == ELOOP ? make_error_code(errc::access_denied)
                        : std::error_code(errno, std::system_category());
    return {};
  }
  InstanceLock lock;
  lock.handle_ = fd;
  struct stat st {};
  if (::fstat(fd, &st) < 0) {
    ec = {errno, std::system_category()};
    return {};
  }
  if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) {
    ec = make_error_code(errc::access_denied);
    return {};
  }
  int r;
  do r = ::flock(fd, LOCK_EX | LOCK_NB);
  while (r < 0 && errno == EINTR);
  if (r == 0) {
    lock.held_ = true;
    return lock;
  }
  if (errno != EWOULDBLOCK) ec = {errno, std::system_category()};
  return {};  // held by another process: closes the descriptor
}

void InstanceLock::release() noexcept {
  if (handle_ != invalid) ::close(static_cast<int>(handle_));  // closing releases the flock
  handle_ = invalid;
  held_ = false;
}

}  // namespace localsock::detail
