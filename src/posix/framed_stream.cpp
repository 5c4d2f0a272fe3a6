// SPDX-License-Identifier: MIT
#include <localsock/posix/framed_stream.hpp>

#include <algorithm>
#include <array>

#include "sys.hpp"

namespace localsock::posix {

using detail::or_throw;

namespace {

std::array<std::byte, 4> encode(std::uint32_t n) noexcept {
  return {std::byte(n), std::byte(n >> 8), std::byte(n >> 16), std::byte(n >> 24)};
}

std::uint32_t decode(const std::array<std::byte, 4>& h) noexcept {
  return std::to_integer<std::uint32_t>(h[0]) | std::to_integer<std::uint32_t>(h[1]) << 8 |
         std::to_integer<std::uint32_t>(h[2]) << 16 | std::to_integer<std::uint32_t>(h[3]) << 24;
}

}  // namespace

FramedStream FramedStream::connect(const LocalName& name, Timeout timeout, std::error_code& ec) {
  return FramedStream(UdStream::connect(name, timeout, ec));
}

FramedStream FramedStream::connect(const LocalName& name, Timeout timeout) {
  return or_throw("FramedStream::connect", name.str(),
                  [&](auto& ec) { return connect(name, timeout, ec); });
}

void FramedStream::send(ConstBuffer msg, std::error_code& ec) noexcept {
  ec.clear();
  if (msg.size() > max_message) {
    ec = make_error_code(errc::message_too_large);
    return;
  }
  const auto header = encode(static_cast<std::uint32_t>(msg.size()));
  // Header and body in one system call where the socket takes it all.
  ConstBuffer parts[2] = {header, msg};
  std::size_t first = 0;
  while (first < 2) {
    std::size_t n = stream_.write_vectored(std::span(parts).subspan(first), ec);
    if (ec) return;
    while (first < 2 && n >= parts[first].size()) n -= parts[first++].size();
    if (first < 2) parts[first] = parts[first].subspan(n);
    while (first < 2 && parts[first].empty()) ++first;
  }
}

void FramedStream::send(ConstBuffer msg) {
  or_throw("FramedStream::send", stream_.name(), [&](auto& ec) { send(msg, ec); });
}

bool FramedStream::next_size(std::error_code& ec) noexcept {
  if (pending_ >= 0) return true;
  // The header bytes read so far are kept, so a timeout or would_block inside a header
  // loses nothing: the next receive goes on where this one stopped.
  while (header_got_ < header_.size()) {
    const std::size_t n = stream_.read_some(std::span(header_).subspan(header_got_), ec);
    if (ec) return false;
    if (n == 0) {
      // The end between frames is clean; inside a header it is a fault.
      if (header_got_ != 0) ec = make_error_code(errc::peer_closed);
      return false;
    }
    header_got_ += n;
  }
  header_got_ = 0;
  pending_ = decode(header_);
  return true;
}

void FramedStream::read_body(MutableBuffer buf, std::error_code& ec) noexcept {
  std::size_t got = 0;
  while (got < buf.size()) {
    const std::size_t n = stream_.read_some(buf.subspan(got), ec);
    if (ec) return;
    if (n == 0) {
      ec = make_error_code(errc::peer_closed);
      return;
    }
    got += n;
  }
}

ReceiveResult FramedStream::recv(MutableBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (!next_size(ec)) return {.end = !ec};
  const auto size = static_cast<std::size_t>(pending_);
  if (size > buf.size()) {
    ec = make_error_code(errc::message_truncated);
    return {.size = size};
  }
  pending_ = -1;
  read_body(buf.first(size), ec);
  return {.size = ec ? 0 : size};
}

ReceiveResult FramedStream::peek_size(std::error_code& ec) noexcept {
  ec.clear();
  if (!next_size(ec)) return {.end = !ec};
  return {.size = static_cast<std::size_t>(pending_)};
}

ReceiveResult FramedStream::recv(MutableBuffer buf) {
  return or_throw("FramedStream::recv", stream_.name(), [&](auto& ec) { return recv(buf, ec); });
}

ReceiveResult FramedStream::recv(std::vector<std::byte>& out, std::size_t max_size,
                                 std::error_code& ec) {
  ec.clear();
  out.clear();
  if (!next_size(ec)) return {.end = !ec};
  const auto size = static_cast<std::size_t>(pending_);
  pending_ = -1;
  if (size > max_size) {
    // Drop the body in bounded pieces so that the next frame is read in step.
    std::array<std::byte, 4096> sink;
    std::size_t left = size;
    while (left > 0 && !ec) {
      const std::size_t step = std::min(left, sink.size());
      read_body(std::span(sink).first(step), ec);
      left -= step;
    }
    if (!ec) ec = make_error_code(errc::message_too_large);
    return {.size = size};
  }
  out.resize(size);
  read_body(out, ec);
  if (ec) out.clear();
  return {.size = ec ? 0 : size};
}

ReceiveResult FramedStream::recv(std::vector<std::byte>& out, std::size_t max_size) {
  return or_throw("FramedStream::recv", stream_.name(),
                  [&](auto& ec) { return recv(out, max_size, ec); });
}

}  // namespace localsock::posix
