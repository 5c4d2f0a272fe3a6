// SPDX-License-Identifier: MIT
// Windows only: a message-mode named-pipe server (owner-only descriptor, four live
// connections at most) and a client in one program. The server answers each message
// with the same message, and reports who sent it.
#include <localsock/win/named_pipe.hpp>

#include <cstdio>
#include <span>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace win = localsock::win;
using localsock::LocalName;

namespace {

int run() {
  const LocalName name =
      LocalName::namespaced("localsock-example-" + std::to_string(std::random_device{}()));
  auto listener = win::PipeListenerOptions()
                      .name(name)
                      .mode(win::PipeMode::Messages)
                      .instance_limit(4)
                      .security_descriptor("D:P(A;;GA;;;OW)")
                      .create<win::DuplexMsgPipeStream>();
  std::thread server([&] {
    for (win::DuplexMsgPipeStream& s : listener.incoming()) {
      std::vector<std::byte> msg;
      for (;;) {
        auto r = s.recv(msg, 1 << 20);
        if (r.end) break;
        std::printf("server: %zu-byte message from pid %u (%s)\n", r.size,
                    static_cast<unsigned>(s.peer_process_id()), s.client_user_sid().c_str());
        s.send(msg);
      }
    }
  });

  auto c = win::DuplexMsgPipeStream::connect(name, std::chrono::seconds(2));
  const std::string hello = "hello";
  c.send(std::as_bytes(std::span(hello)));
  std::byte small[2];
  std::error_code ec;
  auto r = c.recv(small, ec);  // too small: the size needed, and nothing is lost
  std::printf("client: %s, needs %zu bytes\n", ec.message().c_str(), r.size);
  std::vector<std::byte> reply;
  c.recv(reply, 1024);
  std::printf("client: got '%.*s'\n", static_cast<int>(reply.size()),
              reinterpret_cast<const char*>(reply.data()));
  c.close();
  listener.close();
  server.join();
  return reply.size() == hello.size() ? 0 : 1;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "pipe_messages: %s\n", e.what());
    return 1;
  }
}
