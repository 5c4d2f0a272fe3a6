// SPDX-License-Identifier: MIT
// Request/response in message mode: a key-value service whose requests and replies are
// whole messages ("set KEY VALUE", "get KEY"), so no framing code is needed. The
// server runs in a thread of this program and a client talks to it; it works the same
// on Linux (SOCK_SEQPACKET) and Windows (message pipes).
//
//   request_response [NAME]
#include <localsock/localsock.hpp>

#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

std::string text_of(const std::vector<std::byte>& m) {
  return {reinterpret_cast<const char*>(m.data()), m.size()};
}

localsock::ConstBuffer bytes_of(const std::string& s) { return std::as_bytes(std::span(s)); }

// Answers one request.
std::string handle(std::map<std::string, std::string>& store, const std::string& request) {
  const auto space = request.find(' ');
  const std::string verb = request.substr(0, space);
  const std::string rest = space == std::string::npos ? "" : request.substr(space + 1);
  if (verb == "get") {
    auto it = store.find(rest);
    return it == store.end() ? "missing" : "value " + it->second;
  }
  if (verb == "set") {
    const auto split = rest.find(' ');
    if (split == std::string::npos) return "error: set KEY VALUE";
    store[rest.substr(0, split)] = rest.substr(split + 1);
    return "ok";
  }
  return "error: unknown request";
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name =
      argc > 1 ? argv[1] : "localsock-kv-" + std::to_string(std::random_device{}());
  try {
    auto listener = localsock::LocalMessageListener::bind(
        localsock::ListenerOptions(localsock::LocalName::namespaced(name)).current_user_only(true));
    std::thread server([&] {
      std::map<std::string, std::string> store;
      for (localsock::LocalMessageSocket& client : listener.incoming()) {
        std::vector<std::byte> request;
        // One request per message; a request over 64 KiB is refused, not cut.
        for (;;) {
          std::error_code ec;
          const auto r = client.recv(request, std::size_t{64} * 1024, ec);
          if (r.end || (ec && ec != localsock::errc::message_too_large)) break;
          const std::string reply =
              ec ? "error: request too large" : handle(store, text_of(request));
          client.send(bytes_of(reply));
        }
      }
    });

    auto kv = localsock::LocalMessageSocket::connect(localsock::LocalName::namespaced(name));
    std::vector<std::byte> reply;
    int failures = 0;
    for (const std::string request : {"set colour blue", "get colour", "get size", "frobnicate"}) {
      kv.send(bytes_of(request));
      kv.recv(reply, std::size_t{64} * 1024);
      std::printf("%-16s -> %s\n", request.c_str(), text_of(reply).c_str());
      failures += request == "get colour" && text_of(reply) != "value blue";
    }
    kv.close();
    listener.close();
    server.join();
    return failures == 0 ? 0 : 1;
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "request_response: %s\n", e.what());
    return 1;
  }
}
