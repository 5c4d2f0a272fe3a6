// SPDX-License-Identifier: MIT
// Echo server: listens on a local name and sends every line back to its client,
// printing what passes. Serves clients one after another until stopped.
//
//   echo_server NAME [CLIENTS]    (CLIENTS: stop after that many; default: run on)
#include <localsock/localsock.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s NAME [CLIENTS]\n", argv[0]);
    return 2;
  }
  const long clients = argc > 2 ? std::strtol(argv[2], nullptr, 10) : -1;
  try {
    auto listener = localsock::LocalListener::bind(localsock::LocalName::namespaced(argv[1]));
    std::printf("server: listening on %s\n", listener.name().native().c_str());
    std::fflush(stdout);
    for (long served = 0; clients < 0 || served < clients; ++served) {
      localsock::LocalSocket client = listener.accept();
      std::printf("server: client %ld connected\n", served + 1);
      std::fflush(stdout);
      char buf[4096];
      std::string line;
      for (;;) {
        std::size_t n = client.read_some(std::as_writable_bytes(std::span(buf)));
        if (n == 0) break;  // the client is done
        for (std::size_t i = 0; i < n; ++i) {
          if (buf[i] != '\n') {
            line += buf[i];
            continue;
          }
          std::printf("server: echoing \"%s\"\n", line.c_str());
          std::fflush(stdout);
          line += '\n';
          client.write_all(std::as_bytes(std::span(line)));
          line.clear();
        }
      }
      std::printf("server: client %ld left\n", served + 1);
      std::fflush(stdout);
    }
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "server: %s\n", e.what());
    return 1;
  }
  return 0;
}
