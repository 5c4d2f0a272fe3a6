// SPDX-License-Identifier: MIT
// Preloaded into lsock by its tests (LD_PRELOAD, Linux): listen() and unlinkat() wait a
// second before doing their work, after creating the file named by LSOCK_SHIM_MARK, so
// that a test can send a signal exactly between bind and listen, or while the listener's
// socket file is being removed.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <string_view>

namespace {

template <typename F>
F next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

void mark_and_wait(const char* which) {
  const char* mark = std::getenv("LSOCK_SHIM_MARK");
  const char* only = std::getenv("LSOCK_SHIM_CALL");
  if (mark == nullptr || only == nullptr || std::string_view(only) != which) return;
  const int fd = ::open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  ::usleep(1'000'000);
}

}  // namespace

extern "C" int listen(int fd, int backlog) {
  mark_and_wait("listen");
  return next<int (*)(int, int)>("listen")(fd, backlog);
}

extern "C" int unlinkat(int dir, const char* path, int flags) {
  mark_and_wait("unlinkat");
  return next<int (*)(int, const char*, int)>("unlinkat")(dir, path, flags);
}
