// SPDX-License-Identifier: MIT
#include "report.hpp"

#include <cerrno>
#include <cstring>

namespace lsock {

bool quiet = false;
std::mutex stderr_mutex;
bool stdout_closed = false;

int output_status(int status) {
  if (std::fflush(stdout) == 0 && std::ferror(stdout) == 0 && !stdout_closed) return status;
  say_error("cannot write the output: %s", std::strerror(stdout_closed ? EBADF : errno));
  return 1;
}

}  // namespace lsock
