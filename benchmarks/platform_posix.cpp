// SPDX-License-Identifier: MIT
// What localsock-bench needs from Unix besides its transports.
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>

#include "bench.hpp"

namespace bench {

unsigned long current_pid() { return static_cast<unsigned long>(::getpid()); }

void ignore_broken_pipes() { std::signal(SIGPIPE, SIG_IGN); }

double rss_kb() {
  long pages = 0, resident = 0;
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / 1024.0;
}

std::string uv_pipe_path(const std::string& name) {
  std::string path = "/tmp/" + name + ".sock";
  ::unlink(path.c_str());
  return path;
}

// A fork: the child is this program as it stands, with no thread but this one (the
// scenario has started none yet), so it can run the echo at once.
Child start_echo_child(const Args& a, const std::string& name) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    Args child = a;
    child.echo_for = name;
    try {
      run_echo_child(child);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "localsock-bench: echo process: %s\n", e.what());
      ::_exit(1);
    }
    ::_exit(0);
  }
  return Child{pid};
}

bool wait_child(Child& c) {
  int status = 0;
  if (::waitpid(static_cast<pid_t>(c.id), &status, 0) < 0) return false;
  c.id = -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace bench
