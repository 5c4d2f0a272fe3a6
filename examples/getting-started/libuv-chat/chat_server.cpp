// SPDX-License-Identifier: MIT
// A chat server on a libuv loop, in message mode: a client's first message is its
// nickname, every later one a line that goes to everyone (the sender too, so each
// client sees its own lines come back in the order the server saw them).
//
//   chat_server NAME [--exit-after N]
//
// Runs until Ctrl-C, or, with --exit-after, until N clients have come and gone.
#include <localsock/async.hpp>
#include <localsock/localsock.hpp>

#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace {

using localsock::AsyncListener;
using localsock::AsyncSocket;
using localsock::ReadEvent;

class ChatServer {
 public:
  ChatServer(localsock::AsyncLoop& loop, const localsock::LocalName& name, int exit_after)
      : exit_after_(exit_after) {
    listener_ = AsyncListener::listen(
        loop, localsock::ListenerOptions(name).current_user_only(true), localsock::Mode::messages,
        [this](std::error_code ec, AsyncSocket::Ptr s) {
          if (ec) {
            std::fprintf(stderr, "chat_server: accept: %s\n", ec.message().c_str());
            return;  // the listener goes on
          }
          welcome(std::move(s));
        });
    std::printf("chat_server: listening on %s\n", name.native().c_str());
    std::fflush(stdout);
  }

  // Closes the listener and every connection; uv_run returns once they are released.
  void stop() {
    listener_->close();
    for (auto& [key, member] : members_) member.socket->close();
    members_.clear();
  }

 private:
  struct Member {
    AsyncSocket::Ptr socket;
    std::string nick;  // empty until the first message
  };

  void welcome(AsyncSocket::Ptr s) {
    AsyncSocket* key = s.get();
    members_[key] = Member{s, {}};
    // The callback holds a plain pointer: the socket keeps itself alive while open,
    // and members_ holds it until it leaves.
    s->start_reading([this, key](const ReadEvent& e) { on_message(key, e); });
  }

  void on_message(AsyncSocket* key, const ReadEvent& e) {
    auto it = members_.find(key);
    if (it == members_.end()) return;
    Member& m = it->second;
    if (e.end || e.error) {  // left, or failed: either way it is gone
      const std::string nick = m.nick;
      m.socket->close();
      members_.erase(it);
      if (!nick.empty()) broadcast("* " + nick + " left");
      std::printf("chat_server: %s left\n", nick.empty() ? "(anonymous)" : nick.c_str());
      std::fflush(stdout);
      if (exit_after_ > 0 && ++gone_ == exit_after_) stop();
      return;
    }
    const std::string text(reinterpret_cast<const char*>(e.data.data()), e.data.size());
    if (m.nick.empty()) {
      m.nick = text.empty() ? "anonymous" : text;
      std::printf("chat_server: %s joined\n", m.nick.c_str());
      std::fflush(stdout);
      broadcast("* " + m.nick + " joined");
      return;
    }
    broadcast(m.nick + ": " + text);
  }

  void broadcast(const std::string& line) {
    std::vector<AsyncSocket*> too_slow;
    for (auto& [key, member] : members_) {
      if (member.nick.empty()) continue;
      // write() copies the line and returns at once. false means this member's queue
      // is over the high-water mark: it stopped reading. A chat drops such a member
      // rather than buffering for it without end.
      if (!member.socket->write(line)) too_slow.push_back(key);
    }
    for (AsyncSocket* key : too_slow) {
      members_[key].socket->close();
      members_.erase(key);
    }
  }

  AsyncListener::Ptr listener_;
  std::map<AsyncSocket*, Member> members_;
  int exit_after_ = 0;
  int gone_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int exit_after = 0;
  if (argc == 4 && std::string(argv[2]) == "--exit-after") exit_after = std::atoi(argv[3]);
  if (argc != 2 && exit_after <= 0) {
    std::fprintf(stderr, "usage: chat_server NAME [--exit-after N]\n");
    return 2;
  }
  uv_loop_t loop;
  uv_loop_init(&loop);
  int status = 0;
  {
    localsock::AsyncLoop async(&loop);  // one per loop, made before any socket
    try {
      ChatServer server(async, localsock::LocalName::namespaced(argv[1]), exit_after);

      // Ctrl-C (SIGINT; on Windows libuv maps the console's Ctrl-C to it) stops the server.
      uv_signal_t sigint;
      uv_signal_init(&loop, &sigint);
      sigint.data = &server;
      uv_signal_start(
          &sigint,
          [](uv_signal_t* h, int) {
            static_cast<ChatServer*>(h->data)->stop();
            uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
          },
          SIGINT);
      // The signal handle alone must not keep the loop running once the server stopped.
      uv_unref(reinterpret_cast<uv_handle_t*>(&sigint));

      uv_run(&loop, UV_RUN_DEFAULT);  // returns when the server has stopped
      if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&sigint)))
        uv_close(reinterpret_cast<uv_handle_t*>(&sigint), nullptr);
      uv_run(&loop, UV_RUN_DEFAULT);
    } catch (const localsock::Error& e) {
      std::fprintf(stderr, "chat_server: %s\n", e.what());
      status = 1;
    }
  }
  // The AsyncLoop went after every socket and listener; the loop now finishes closing
  // its handle, and then nothing may be left open.
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0) {
    std::fprintf(stderr, "chat_server: a handle was left open\n");
    status = 1;
  }
  std::printf("chat_server: stopped\n");
  return status;
}
