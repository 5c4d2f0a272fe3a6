// SPDX-License-Identifier: MIT
// A multi-client byte-stream server with one thread per client: each client sends
// lines and gets them back upper-cased. Here the clients are threads of the same
// program; run the server part alone to serve other processes.
//
//   thread_per_client [NAME] [CLIENTS]
#include <localsock/localsock.hpp>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

// Serves one client until it closes: upper-cases every byte it receives.
void serve(localsock::LocalSocket client) {
  char buf[4096];
  std::error_code ec;
  for (;;) {
    const std::size_t n = client.read_some(std::as_writable_bytes(std::span(buf)), ec);
    if (ec || n == 0) return;
    for (std::size_t i = 0; i < n; ++i)
      buf[i] = static_cast<char>(std::toupper(static_cast<unsigned char>(buf[i])));
    client.write_all(std::as_bytes(std::span(buf, n)), ec);
    if (ec) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name =
      argc > 1 ? argv[1] : "localsock-upper-" + std::to_string(std::random_device{}());
  const int clients = argc > 2 ? std::atoi(argv[2]) : 8;
  try {
    auto listener = localsock::LocalListener::bind(localsock::LocalName::namespaced(name));
    std::thread acceptor([&] {
      std::vector<std::thread> workers;
      for (localsock::LocalSocket& client : listener.incoming())
        workers.emplace_back(serve, std::move(client));  // each client its own thread
      for (auto& w : workers) w.join();
    });

    std::atomic<int> ok{0};
    std::vector<std::thread> users;
    users.reserve(clients);
    for (int i = 0; i < clients; ++i) {
      users.emplace_back([&, i] {
        auto s = localsock::LocalSocket::connect(localsock::LocalName::namespaced(name));
        const std::string line = "hello from client " + std::to_string(i) + "\n";
        std::string back(line.size(), '\0');
        s.write_all(std::as_bytes(std::span(line)));
        s.read_exact(std::as_writable_bytes(std::span(back)));
        std::printf("%s", back.c_str());
        ok += back == "HELLO FROM CLIENT " + std::to_string(i) + "\n";
      });
    }
    for (auto& u : users) u.join();
    listener.close();
    acceptor.join();
    return ok == clients ? 0 : 1;
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "thread_per_client: %s\n", e.what());
    return 1;
  }
}
