// SPDX-License-Identifier: MIT
#include "cli.hpp"

#include <localsock/config.hpp>

#include <cstdio>
#include <cstdlib>

#include "report.hpp"

namespace lsock {
namespace {

using localsock::Timeout;

constexpr const char* usage_text =
    "usage: lsock listen [--messages] [--keep-open | --fork] [--exec CMD] [--reclaim] [--quiet] "
    "NAME\n"
    "       lsock connect [--messages] [--timeout MS] [--linger MS] [--exec CMD] [--quiet] NAME\n"
    "       lsock ls [--json]\n"
    "       lsock --help | --version\n";

// Bad usage: what is wrong and the short usage, on stderr; status 2.
int usage(const std::string& problem) {
  if (!problem.empty()) std::fprintf(stderr, "lsock: %s\n", problem.c_str());
  std::fprintf(stderr, "%sTry 'lsock --help' for more.\n", usage_text);
  return 2;
}

int help() {
  std::printf(
      "lsock: netcat for local sockets (Unix domain sockets, Windows named pipes).\n"
      "\n%s"
      "\n"
      "Commands:\n"
      "  listen NAME        wait for a client and bridge it to stdin/stdout\n"
      "  connect NAME       connect to a listener and bridge stdin/stdout to it\n"
      "  ls                 list the system's listening local sockets\n"
      "\n"
      "NAME is a namespaced name (Linux: abstract, shown as @NAME; Windows: \\\\.\\pipe\\NAME);\n"
      "a NAME with a '/' is a socket file (Unix).\n"
      "\n"
      "Options:\n"
      "  --messages         message mode: one line of input is one message, and back\n"
      "  --keep-open        listen: serve clients one after another (collects what they send)\n"
      "  --fork             listen: serve clients at once, each with its own --exec command\n"
      "  --exec CMD         bridge the connection to CMD's stdin/stdout instead of lsock's\n"
      "  --reclaim          listen: take over a stale socket file nobody listens on\n"
      "  --timeout MS       connect: how long to wait for the listener (default 10000;\n"
      "                     MS for both options: 0 to 86400000, one day)\n"
      "  --linger MS        Windows: how long to wait for replies after stdin ended\n"
      "                     (default 1000). Unix half-closes and reads until the peer\n"
      "                     ends. Never cuts what stdin still has to send\n"
      "  --json             ls: one JSON array, for scripts\n"
      "  -q, --quiet        no progress messages (errors and usage are still shown)\n"
      "  -h, --help         this help, on stdout\n"
      "  --version          lsock's and localsock's version\n"
      "\n"
      "Only data goes to stdout; progress and errors go to stderr. Ctrl-C (SIGINT), SIGTERM\n"
      "and SIGHUP close the listener and remove its socket file.\n"
      "Exit status: 0 done, 1 failed, 2 bad usage, 128 + signal when interrupted (130: Ctrl-C).\n"
      "\n"
      "Examples:\n"
      "  lsock listen my-app                       print what one client sends\n"
      "  echo hello | lsock connect my-app         send stdin, print the replies\n"
      "  lsock listen --messages my-app            one line = one message\n"
      "  lsock listen --fork --exec 'sort' my-app  each client gets its own sort\n"
      "  lsock listen --reclaim /tmp/app.sock      take over a file left by a crash\n"
      "  lsock ls --json                           listening sockets, for scripts\n",
      usage_text);
  return output_status(0);
}

int version() {
  std::printf("lsock (localsock) %s\n", LOCALSOCK_VERSION);
  return output_status(0);
}

// The largest --timeout and --linger: one day. Larger values are bad usage rather than
// durations that overflow on their way into the system's wait calls.
constexpr long long max_milliseconds = 86'400'000;

// A number of milliseconds from 0 to max_milliseconds, or nullopt.
std::optional<Timeout> milliseconds(const std::string& text) {
  if (text.empty() || text.size() > 18) return std::nullopt;  // never near strtoll's range
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  const long long ms = std::strtoll(text.c_str(), nullptr, 10);
  if (ms > max_milliseconds) return std::nullopt;
  return Timeout(ms);
}

}  // namespace

std::optional<int> parse_arguments(const std::vector<std::string>& args, Options& o) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "-h" || a == "--help")
      return help();
    else if (a == "--version")
      return version();
    else if (a == "--messages")
      o.messages = true;
    else if (a == "--keep-open")
      o.keep_open = true;
    else if (a == "--fork")
      o.fork = true;
    else if (a == "--reclaim")
      o.reclaim = true;
    else if (a == "--json")
      o.json = true;
    else if (a == "--quiet" || a == "-q")
      o.quiet = true;
    else if (a == "--exec" && has_value)
      o.exec = args[++i];
    else if ((a == "--timeout" || a == "--linger") && has_value) {
      const auto ms = milliseconds(args[++i]);
      if (!ms)
        return usage(a + " needs a number of milliseconds from 0 to " +
                     std::to_string(max_milliseconds) + " (one day), not '" + args[i] + "'");
      (a == "--timeout" ? o.timeout : o.linger) = *ms;
    } else if (a == "--exec" || a == "--timeout" || a == "--linger")
      return usage(a + " needs a value");
    else if (a.size() > 1 && a[0] == '-')
      return usage("unknown option '" + a + "'");
    else if (o.command.empty())
      o.command = a;
    else if (o.name.empty())
      o.name = a;
    else
      return usage("one NAME only ('" + a + "' is one too many)");
  }
  quiet = o.quiet;
  if (o.command.empty()) return usage("a command is needed: listen, connect or ls");
  if (o.command == "ls")
    return o.name.empty() ? std::nullopt : std::optional(usage("ls takes no NAME"));
  if (o.command != "listen" && o.command != "connect")
    return usage("unknown command '" + o.command + "'");
  if (o.name.empty()) return usage(o.command + " needs a NAME");
  if (o.fork && o.exec.empty()) {
    say_error("--fork serves clients at once, so each needs its own command: add --exec CMD");
    return 2;
  }
  return std::nullopt;
}

}  // namespace lsock
