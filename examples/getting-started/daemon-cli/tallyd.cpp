// SPDX-License-Identifier: MIT
// tallyd: a small daemon that keeps named counters, controlled through a socket file.
// Each connection carries one command line and gets one reply line; then the daemon
// closes it.
//
//   tallyd [SOCKET]       (default: $XDG_RUNTIME_DIR/tallyd.sock)
//
// Commands: "add NAME [N]", "get NAME", "list", "status", "stop".
#include "control_name.hpp"

#include <localsock/localsock.hpp>

#include <chrono>
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

namespace {

using namespace std::chrono_literals;

// Reads one line (without its '\n'). A client that sends nothing within the read
// timeout, or more than 4 KiB without a newline, gets an error instead of the daemon's
// attention forever.
std::string read_line(localsock::LocalSocket& client, std::error_code& ec) {
  std::string line, chunk;
  for (;;) {
    client.read_some(chunk, 512, ec);
    if (ec) return {};
    if (chunk.empty()) return line;  // end of stream: take what came
    line += chunk;
    const std::size_t nl = line.find('\n');
    if (nl != std::string::npos) return line.substr(0, nl);
    if (line.size() > 4096) {
      ec = make_error_code(localsock::errc::message_too_large);
      return {};
    }
  }
}

class Tally {
 public:
  // Runs one command; sets `stop` when asked to stop.
  std::string run(const std::string& line, bool& stop) {
    ++served_;
    std::istringstream in(line);
    std::string verb, name;
    in >> verb >> name;
    if (verb == "add" && !name.empty()) {
      long long n = 1;
      if (!(in >> n)) n = 1;
      counters_[name] += n;
      return name + " = " + std::to_string(counters_[name]);
    }
    if (verb == "get" && !name.empty())
      return name + " = " + std::to_string(counters_.count(name) ? counters_[name] : 0);
    if (verb == "list") {
      std::string out;
      for (const auto& [k, v] : counters_)
        out += (out.empty() ? "" : ", ") + k + " = " + std::to_string(v);
      return out.empty() ? "(no counters)" : out;
    }
    if (verb == "status") return "running, " + std::to_string(served_) + " commands served";
    if (verb == "stop") {
      stop = true;
      return "stopping";
    }
    --served_;
    return "error: unknown command '" + line + "' (add NAME [N], get NAME, list, status, stop)";
  }

 private:
  std::map<std::string, long long> counters_;
  long long served_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const std::string socket_path = argc > 1 ? argv[1] : tally::default_socket_path();
  try {
    const localsock::LocalName name = tally::control_name(socket_path);
    auto listener =
        localsock::LocalListener::bind(localsock::ListenerOptions(name)
                                           // 0600 and a peer check: only our user
                                           .current_user_only(true)
                                           // a file left by a crashed tallyd is replaced
                                           .reclaim_stale(true));
    std::printf("tallyd: listening on %s\n", name.native().c_str());
    std::fflush(stdout);

    Tally tally;
    bool stop = false;
    for (localsock::LocalSocket& client : listener.incoming()) {
      std::error_code ec;
      client.set_read_timeout(2s, ec);
      const std::string command = ec ? std::string() : read_line(client, ec);
      if (ec) {
        std::fprintf(stderr, "tallyd: a client: %s\n", ec.message().c_str());
        continue;  // the connection closes; the daemon goes on
      }
      const std::string reply = tally.run(command, stop) + "\n";
      client.write_all(reply, ec);  // a client that left early is not our problem
      client.close();
      if (stop) listener.close();  // ends the loop; the socket file goes with it
    }
    std::printf("tallyd: stopped\n");
    return 0;
  } catch (const localsock::Error& e) {
    std::fprintf(stderr, "tallyd: %s\n", e.what());
    return 1;
  }
}
