// SPDX-License-Identifier: MIT
// tallyctl: the command-line side of tallyd. Sends one command, prints the reply.
//
//   tallyctl [--socket SOCKET] COMMAND [ARG...]
//
// Exit status: 0 done, 1 the daemon said no or could not be reached, 2 bad usage.
#include "control_name.hpp"

#include <localsock/localsock.hpp>

#include <chrono>
#include <cstdio>
#include <string>

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  std::string socket_path = tally::default_socket_path();
  int first = 1;
  if (argc > 2 && std::string(argv[1]) == "--socket") {
    socket_path = argv[2];
    first = 3;
  }
  if (first >= argc) {
    std::fprintf(
        stderr,
        "usage: tallyctl [--socket SOCKET] add NAME [N] | get NAME | list | status | stop\n");
    return 2;
  }
  std::string command;
  for (int i = first; i < argc; ++i) command += (i > first ? " " : "") + std::string(argv[i]);

  try {
    const localsock::LocalName name = tally::control_name(socket_path);
    localsock::LocalSocket daemon;
    try {
      daemon = localsock::LocalSocket::connect(localsock::ConnectOptions(name).timeout(2s));
    } catch (const localsock::Error& e) {
      // Nobody listening: also a socket file left behind by a daemon that crashed.
      if (e.code() == localsock::errc::no_listener) {
        std::fprintf(stderr, "tallyctl: tallyd is not running (%s)\n", name.native().c_str());
        return 1;
      }
      throw;
    }
    std::error_code ec;
    daemon.set_read_timeout(5s, ec);  // a hung daemon: give up rather than hang too
    daemon.write_all(command + "\n");

    // The reply is one line, and the daemon closes the connection after it.
    std::string reply, chunk;
    while (reply.find('\n') == std::string::npos && daemon.read_some(chunk, 512) > 0)
      reply += chunk;
    if (reply.empty()) {
      std::fprintf(stderr, "tallyctl: tallyd closed the connection without a reply\n");
      return 1;
    }
    reply = reply.substr(0, reply.find('\n'));
    std::printf("%s\n", reply.c_str());
    return reply.rfind("error", 0) == 0 ? 1 : 0;
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "tallyctl: %s\n", e.what());
    return 1;
  }
}
