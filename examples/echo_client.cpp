// SPDX-License-Identifier: MIT
// Echo client: connects to a local name, sends each argument as a line and prints the
// echo it gets back.
//
//   echo_client NAME LINE...
#include <localsock/localsock.hpp>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s NAME LINE...\n", argv[0]);
    return 2;
  }
  try {
    const auto name = localsock::LocalName::namespaced(argv[1]);
    // The server may still be starting: retry for a few seconds while nobody listens.
    localsock::LocalSocket socket;
    std::error_code ec;
    for (int attempt = 0; attempt < 100; ++attempt) {
      socket = localsock::LocalSocket::connect(name, ec);
      if (ec != localsock::errc::no_listener) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (ec) throw localsock::Error(ec, "LocalSocket::connect", name.str());
    for (int i = 2; i < argc; ++i) {
      std::string line = std::string(argv[i]) + "\n";
      socket.write_all(std::as_bytes(std::span(line)));
      std::string echo(line.size(), '\0');
      socket.read_exact(std::as_writable_bytes(std::span(echo)));
      echo.pop_back();
      std::printf("client: sent \"%s\", got back \"%s\"\n", argv[i], echo.c_str());
      std::fflush(stdout);
    }
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "client: %s\n", e.what());
    return 1;
  }
  return 0;
}
