// SPDX-License-Identifier: MIT
// The localsock end of the interoperability tests (tests/interop/interop.py): the
// other end is a program nobody here wrote (socat, Python's socket module, a libuv
// uv_pipe_t client, cmd.exe). Each command checks what it can and says why it fails.
//
//   interop_peer serve  NAME stream|message|framed [CLIENTS]  echo every byte / message back
//   interop_peer sink   NAME                           print what one client sends
//   interop_peer call   NAME stream|message|framed [SIZES]    send patterned data, check the echo
//                                                      (SIZES: message sizes, e.g. 1,100)
//   (message: the automatic transport; framed: MessageTransport::framed, Unix)
//   interop_peer fd-serve NAME     (Unix) take one descriptor, send back what it reads
//   interop_peer fd-call  NAME     (Unix) send a descriptor of a file holding a secret
//
// NAME is a path when it contains a '/', otherwise a namespaced name. Listeners print
// "ready" on stdout once they listen.
#include <localsock/localsock.hpp>
#ifndef _WIN32
#include <localsock/posix/facade.hpp>
#include <localsock/posix/ud_listener.hpp>
#include <localsock/posix/ud_stream.hpp>

#include <fcntl.h>
#include <unistd.h>
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "pattern.hpp"

namespace {

using localsock::test::pattern;

localsock::LocalName name_of(std::string_view s) {
  return s.find('/') != std::string_view::npos ? localsock::LocalName::path(s)
                                               : localsock::LocalName::namespaced(s);
}

void ready() {
  std::printf("ready\n");
  std::fflush(stdout);
}

int fail(const char* what) {
  std::fprintf(stderr, "interop_peer: %s\n", what);
  return 1;
}

// Sizes a message-mode peer must carry intact, boundaries included: an empty message,
// one byte, a page, and more than one pipe or socket buffer of bytes.
constexpr std::size_t message_sizes[] = {1, 0, 100, 4096, 65536, 3};

int serve_stream(localsock::LocalListener& listener) {
  auto client = listener.accept();
  std::vector<std::byte> buf(65536);
  for (;;) {
    const std::size_t n = client.read_some(buf);
    if (n == 0) return 0;
    client.write_all(std::span(buf).first(n));
  }
}

int serve_messages(localsock::LocalMessageListener& listener) {
  auto client = listener.accept();
  std::vector<std::byte> msg;
  for (;;) {
    std::error_code ec;
    const auto r = client.recv(msg, 1 << 20, ec);
    if (!ec && r.end) return 0;
    if (ec) return fail(ec.message().c_str());
    client.send(std::span(msg).first(r.size));
  }
}

int call_stream(const localsock::LocalName& name) {
  auto s = localsock::LocalSocket::connect(name);
  // More than a socket or pipe buffer in all, sent in chunks the echo cannot block on.
  const auto data = pattern(256 * 1024, 7);
  std::vector<std::byte> back(data.size());
  constexpr std::size_t chunk = 16 * 1024;
  for (std::size_t off = 0; off < data.size(); off += chunk) {
    s.write_all(std::span(data).subspan(off, chunk));
    s.read_exact(std::span(back).subspan(off, chunk));
  }
  if (back != data) return fail("the echoed bytes differ from the bytes sent");
  return 0;
}

int call_messages(const localsock::LocalName& name, const std::vector<std::size_t>& sizes,
                  localsock::MessageTransport transport) {
  auto s =
      localsock::LocalMessageSocket::connect(localsock::ConnectOptions(name).transport(transport));
  std::vector<std::byte> back;
  unsigned seed = 1;
  for (std::size_t size : sizes) {
    const auto msg = pattern(size, seed++);
    s.send(msg);
    const auto r = s.recv(back, 1 << 20);
    if (r.end) return fail("the peer ended the stream instead of echoing");
    back.resize(r.size);
    if (back != msg) {
      std::fprintf(stderr, "interop_peer: message of %zu bytes came back as %zu bytes\n", size,
                   r.size);
      return 1;
    }
  }
  return 0;
}

// "1,100,4096" -> {1, 100, 4096}
std::vector<std::size_t> parse_sizes(const char* text) {
  std::vector<std::size_t> sizes;
  for (char* end = nullptr;; text = end + 1) {
    sizes.push_back(std::strtoul(text, &end, 10));
    if (*end != ',') return sizes;
  }
}

int sink(const localsock::LocalName& name) {
  auto listener = localsock::LocalListener::bind(name);
  ready();
  auto client = listener.accept();
  std::vector<std::byte> buf(4096);
  for (;;) {
    const std::size_t n = client.read_some(buf);
    if (n == 0) break;
    std::fwrite(buf.data(), 1, n, stdout);
  }
  std::fflush(stdout);
  return 0;
}

#ifndef _WIN32
constexpr std::string_view secret = "the descriptor reached the other process\n";

int fd_serve(const localsock::LocalName& name) {
  auto listener = localsock::posix::UdListener::bind(name);
  ready();
  auto client = listener.accept();
  std::byte header[64];
  std::vector<localsock::posix::OwnedFd> fds;
  const auto r = client.read_with_fds(header, fds, 4);
  if (r.size == 0 || fds.size() != 1) return fail("expected one byte or more with one descriptor");
  char text[256];
  const ssize_t n = ::pread(fds[0].get(), text, sizeof text, 0);
  if (n <= 0) return fail("cannot read through the received descriptor");
  localsock::posix::from_native(std::move(client))
      .write_all(std::as_bytes(std::span(text, static_cast<std::size_t>(n))));
  return 0;
}

int fd_call(const localsock::LocalName& name) {
  char path[] = "/tmp/localsock-interop-XXXXXX";
  const int fd = ::mkstemp(path);
  if (fd < 0) return fail("mkstemp failed");
  ::unlink(path);
  if (::write(fd, secret.data(), secret.size()) != static_cast<ssize_t>(secret.size()))
    return fail("cannot write the file");
  auto s = localsock::posix::UdStream::connect(name);
  const char tag = 'F';
  s.write_with_fds(std::as_bytes(std::span(&tag, 1)), std::span<const int>(&fd, 1));
  ::close(fd);
  // The peer answers with what it read through the descriptor.
  std::string got;
  char buf[256];
  for (;;) {
    const std::size_t n = s.read_some(std::as_writable_bytes(std::span(buf)));
    if (n == 0) break;
    got.append(buf, n);
  }
  if (got != secret) return fail("the peer did not read the file through the descriptor");
  return 0;
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s serve|sink|call|fd-serve|fd-call NAME [MODE] [CLIENTS]\n",
                 argv[0]);
    return 2;
  }
  const std::string_view cmd = argv[1];
  const std::string_view mode = argc > 3 ? argv[3] : "stream";
  const long clients = argc > 4 ? std::strtol(argv[4], nullptr, 10) : 1;
  try {
    const auto name = name_of(argv[2]);
    if (cmd == "serve" && mode == "stream") {
      auto listener = localsock::LocalListener::bind(name);
      ready();
      for (long i = 0; i < clients; ++i)
        if (serve_stream(listener) != 0) return 1;
      return 0;
    }
    const auto transport = mode == "framed" ? localsock::MessageTransport::framed
                                            : localsock::MessageTransport::automatic;
    if (cmd == "serve" && (mode == "message" || mode == "framed")) {
      auto listener = localsock::LocalMessageListener::bind(
          localsock::ListenerOptions(name).transport(transport));
      ready();
      for (long i = 0; i < clients; ++i)
        if (serve_messages(listener) != 0) return 1;
      return 0;
    }
    if (cmd == "call" && (mode == "message" || mode == "framed")) {
      std::vector<std::size_t> sizes(std::begin(message_sizes), std::end(message_sizes));
      if (argc > 4) sizes = parse_sizes(argv[4]);
      return call_messages(name, sizes, transport);
    }
    if (cmd == "call") return call_stream(name);
    if (cmd == "sink") return sink(name);
#ifndef _WIN32
    if (cmd == "fd-serve") return fd_serve(name);
    if (cmd == "fd-call") return fd_call(name);
#endif
  } catch (const localsock::Error& e) {
    return fail(e.what());
  }
  return fail("unknown command");
}
