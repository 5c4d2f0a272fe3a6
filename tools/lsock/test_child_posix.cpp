// SPDX-License-Identifier: MIT
// lsock's ChildProcess (--exec) on Unix, where its faults can be made to happen: the
// descriptors it holds when a pipe cannot be made, and a start with standard input and
// output closed.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "doctest_ext.hpp"
#include "platform.hpp"

namespace {

// The open descriptor numbers of this process, up to `below`.
std::vector<int> open_fds(int below = 4096) {
  std::vector<int> fds;
  for (int fd = 0; fd < below; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) fds.push_back(fd);
  }
  return fds;
}

// Lowers the soft descriptor limit for its lifetime.
class NofileLimit {
 public:
  explicit NofileLimit(rlim_t soft) {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
    rlimit lowered = saved_;
    lowered.rlim_cur = soft;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  }
  ~NofileLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }
  NofileLimit(const NofileLimit&) = delete;
  NofileLimit& operator=(const NofileLimit&) = delete;

 private:
  rlimit saved_{};
};

}  // namespace

TEST_CASE("ChildProcess::start closes the first pipe when the second cannot be made") {
  const std::vector<int> before = open_fds();
  // Room for exactly one pipe below the limit: the first pipe2 succeeds, the second
  // fails with EMFILE.
  int free_seen = 0, limit = 0;
  for (int fd = 0; free_seen < 2; ++fd) {
    if (::fcntl(fd, F_GETFD) < 0) ++free_seen;
    limit = fd + 1;
  }
  std::string error;
  std::unique_ptr<lsock::ChildProcess> child;
  {
    NofileLimit lowered(static_cast<rlim_t>(limit));
    child = lsock::ChildProcess::start("cat", error);
  }
  CHECK(child == nullptr);
  CHECK(error == std::strerror(EMFILE));
  CHECK(open_fds().size() == before.size());
  CHECK(open_fds() == before);
}

TEST_CASE("ChildProcess::start gives the command its input and output when lsock's are closed") {
  // With descriptors 0 and 1 free, the first pipe is made on 0 and 1: the child's end of
  // its input is descriptor 0 itself.
  const int saved_in = ::fcntl(0, F_DUPFD_CLOEXEC, 10);
  const int saved_out = ::fcntl(1, F_DUPFD_CLOEXEC, 10);
  REQUIRE(saved_in >= 0);
  REQUIRE(saved_out >= 0);
  ::close(0);
  ::close(1);
  // The parent's pipe ends may be on 0 and 1 too: all is done before they are restored
  // (and nothing is checked while doctest's output is closed).
  std::string error, got;
  bool written = false;
  int status = -1;
  if (auto child = lsock::ChildProcess::start("cat", error)) {
    const std::string text = "through cat\n";
    written = child->write(reinterpret_cast<const std::byte*>(text.data()), text.size());
    child->close_input();
    std::byte buf[256];
    while (const std::size_t n = child->read(buf, sizeof buf)) got.append(reinterpret_cast<const char*>(buf), n);
    status = child->wait();
  }
  ::dup2(saved_in, 0);
  ::dup2(saved_out, 1);
  ::close(saved_in);
  ::close(saved_out);
  CHECK_MESSAGE(error.empty(), error);
  CHECK(written);
  CHECK(got == "through cat\n");
  CHECK(status == 0);
}
