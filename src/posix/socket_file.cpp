// SPDX-License-Identifier: MIT
// Socket files: who a file is (device, inode, birth and change times), its directory
// held open, and removing it only while it is still the same file.
#include "sys.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <string>

namespace localsock::posix::detail {

#if LOCALSOCK_POSIX_LINUX && defined(STATX_BTIME)
bool file_id(const std::string& path, FileId& out, int dir) noexcept {
  struct statx st {};
  if (::statx(dir, path.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS | STATX_BTIME, &st) < 0)
    return false;
  auto ns = [](const statx_timestamp& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
  };
  out.dev = (static_cast<std::uint64_t>(st.stx_dev_major) << 32) | st.stx_dev_minor;
  out.ino = st.stx_ino;
  out.birth_ns = (st.stx_mask & STATX_BTIME) != 0 ? ns(st.stx_btime) : -1;
  out.change_ns = ns(st.stx_ctime);
  out.socket = S_ISSOCK(st.stx_mode);
  return true;
}
#else
bool file_id(const std::string& path, FileId& out, int dir) noexcept {
  struct stat st {};
  if (::fstatat(dir, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) return false;
  auto ns = [](const timespec& t) {
    return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
  };
  out.dev = static_cast<std::uint64_t>(st.st_dev);
  out.ino = static_cast<std::uint64_t>(st.st_ino);
  // The field names are the system's own: macOS and FreeBSD record the birth time.
#if defined(__APPLE__)
  out.birth_ns = ns(st.st_birthtimespec);
  out.change_ns = ns(st.st_ctimespec);
#elif defined(__FreeBSD__)
  out.birth_ns = ns(st.st_birthtim);
  out.change_ns = ns(st.st_ctim);
#else
  out.birth_ns = -1;
  out.change_ns = ns(st.st_ctim);
#endif
  out.socket = S_ISSOCK(st.st_mode);
  return true;
}
#endif

bool same_file(const FileId& then, const FileId& now) noexcept {
  return now.socket && then.dev == now.dev && then.ino == now.ino &&
         (then.birth_ns < 0 || now.birth_ns < 0 || then.birth_ns == now.birth_ns);
}

bool unchanged(const FileId& then, const FileId& now) noexcept {
  return same_file(then, now) && then.change_ns == now.change_ns;
}

#if LOCALSOCK_POSIX_LINUX
constexpr int directory_open_flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
#else
constexpr int directory_open_flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
#endif

bool open_parent(const std::string& path, OwnedFd& dir, std::string& leaf) noexcept {
  const auto slash = path.rfind('/');
  try {
    const std::string parent = slash == std::string::npos ? "."
                               : slash == 0               ? "/"
                                                          : path.substr(0, slash);
    leaf = slash == std::string::npos ? path : path.substr(slash + 1);
    const int fd = ::open(parent.c_str(), directory_open_flags);
    if (fd < 0) return false;
    dir.reset(fd);
  } catch (const std::bad_alloc&) {
    errno = ENOMEM;
    return false;
  }
  return true;
}

void remove_socket_file(int dir, const std::string& leaf, const FileId& id) noexcept {
  FileId now;
  if (dir >= 0 && file_id(leaf, now, dir) && same_file(id, now)) ::unlinkat(dir, leaf.c_str(), 0);
}

}  // namespace localsock::posix::detail
