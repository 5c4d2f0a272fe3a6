// SPDX-License-Identifier: MIT
// Fuzz target: the message-framing decoder (FramedStream). Arbitrary bytes arrive on a
// stream; what the decoder returns must match an independent reading of the frames:
// whole messages in order, over-size ones reported and skipped, a cut-off last frame
// reported as peer_closed, and never a crash, a hang or a message over the maximum.
#include <localsock/posix/framed_stream.hpp>

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {
constexpr std::size_t max_size = 4096;

struct Expected {
  std::vector<std::vector<std::byte>> messages;  // empty vector for an over-size one
  std::vector<bool> too_large;
  bool cut = false;  // the input ends inside a frame
};

Expected reference(const std::uint8_t* p, std::size_t n) {
  Expected e;
  std::size_t i = 0;
  while (i < n) {
    if (n - i < 4) {
      e.cut = true;
      break;
    }
    const std::uint32_t len = std::uint32_t(p[i]) | std::uint32_t(p[i + 1]) << 8 |
                              std::uint32_t(p[i + 2]) << 16 | std::uint32_t(p[i + 3]) << 24;
    i += 4;
    if (n - i < len) {
      e.cut = true;
      break;
    }
    const bool big = len > max_size;
    e.too_large.push_back(big);
    e.messages.emplace_back();
    if (!big)
      e.messages.back().assign(reinterpret_cast<const std::byte*>(p + i),
                               reinterpret_cast<const std::byte*>(p + i + len));
    i += len;
  }
  return e;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  auto [writer, reader] = localsock::posix::UdStream::pair();
  // The writer runs beside the reader: input larger than the socket buffer is fine.
  std::thread feed([&writer = writer, data, size] {
    std::error_code ec;
    std::size_t done = 0;
    while (done < size && !ec)
      done += writer.write_some({reinterpret_cast<const std::byte*>(data) + done, size - done}, ec);
    writer.close();
  });
  localsock::posix::FramedStream framed(std::move(reader));
  const Expected want = reference(data, size);
  std::vector<std::byte> got;
  std::size_t index = 0;
  for (;;) {
    std::error_code ec;
    const auto r = framed.recv(got, max_size, ec);
    if (r.end) {
      if (want.cut || index != want.messages.size()) std::abort();
      break;
    }
    if (ec == localsock::errc::peer_closed) {
      if (!want.cut || index != want.messages.size()) std::abort();
      break;
    }
    if (index >= want.messages.size()) std::abort();
    if (ec == localsock::errc::message_too_large) {
      if (!want.too_large[index]) std::abort();
    } else {
      if (ec || want.too_large[index] || got != want.messages[index] || got.size() > max_size)
        std::abort();
    }
    ++index;
  }
  feed.join();
  return 0;
}
