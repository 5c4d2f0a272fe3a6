// SPDX-License-Identifier: MIT
// A program that uses localsock the way an application does: one message round trip
// through a listener and a client, and one byte echo. Built by the consumer checks
// (as a Meson subproject, through pkg-config, through CMake); prints "ok" on success.
#include <localsock/localsock.hpp>
#include <localsock/logging.hpp>

// Built as C++23 through pkg-config: the package's flags must not turn it back to C++20.
#ifdef LOCALSOCK_CONSUMER_CXX23
static_assert(__cplusplus > 202002L, "compiled as C++20 although the consumer asked for C++23");
#endif

#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

int main() {
  using namespace localsock;
  const LocalName name =
      LocalName::namespaced("consumer-" + std::to_string(std::random_device{}()));
  auto listener = LocalMessageListener::bind(ListenerOptions(name).current_user_only(true));
  std::thread server([&] {
    auto s = listener.accept();
    std::vector<std::byte> msg;
    s.recv(msg, 1024);
    s.send(msg);
  });
  auto c = LocalMessageSocket::connect(name);
  const std::string hello = "hello from a consumer";
  c.send(std::as_bytes(std::span(hello)));
  std::vector<std::byte> back;
  c.recv(back, 1024);
  server.join();
  const bool ok = std::string(reinterpret_cast<const char*>(back.data()), back.size()) == hello;
  std::printf("%s (localsock %s)\n", ok ? "ok" : "FAILED", LOCALSOCK_VERSION);
  return ok ? 0 : 1;
}
