// SPDX-License-Identifier: MIT
#include <localsock/posix/framed_stream.hpp>

#include <algorithm>
#include <array>
#include <new>
#include <string>
#include <utility>

#include "sys.hpp"

namespace localsock::posix {

// Written out, not defaulted: the counters go with the buffers they count (a defaulted
// move would leave the moved-from stream counting bytes of a buffer it no longer has,
// and a self-move would empty the buffers and keep the counts).
FramedStream::FramedStream(FramedStream&& other) noexcept
    : stream_(std::move(other.stream_)),
      greeting_got_(std::exchange(other.greeting_got_, greeting.size())),
      mismatch_(other.mismatch_.exchange(false, std::memory_order_relaxed)),
      header_(other.header_),
      header_got_(std::exchange(other.header_got_, 0)),
      pending_(std::exchange(other.pending_, -1)),
      body_got_(std::exchange(other.body_got_, 0)),
      body_(std::move(other.body_)),
      dropping_(std::exchange(other.dropping_, false)),
      out_rest_(std::move(other.out_rest_)),
      out_done_(std::exchange(other.out_done_, 0)),
      send_failed_(std::exchange(other.send_failed_, false)) {
  other.body_.clear();
  other.out_rest_.clear();
}

FramedStream& FramedStream::operator=(FramedStream&& other) noexcept {
  if (this == &other) return *this;
  stream_ = std::move(other.stream_);
  greeting_got_ = std::exchange(other.greeting_got_, greeting.size());
  mismatch_.store(other.mismatch_.exchange(false, std::memory_order_relaxed),
                  std::memory_order_relaxed);
  header_ = other.header_;
  header_got_ = std::exchange(other.header_got_, 0);
  pending_ = std::exchange(other.pending_, -1);
  body_got_ = std::exchange(other.body_got_, 0);
  body_ = std::move(other.body_);
  other.body_.clear();
  dropping_ = std::exchange(other.dropping_, false);
  out_rest_ = std::move(other.out_rest_);
  other.out_rest_.clear();
  out_done_ = std::exchange(other.out_done_, 0);
  send_failed_ = std::exchange(other.send_failed_, false);
  return *this;
}

using detail::or_throw;

namespace {

std::array<std::byte, 4> encode(std::uint32_t n) noexcept {
  return {std::byte(n), std::byte(n >> 8), std::byte(n >> 16), std::byte(n >> 24)};
}

// Empties `v`, and lets its storage go when it is large (it held a large message's
// rest only for a while): a connection keeps no more than a small buffer here.
void release_if_large(std::vector<std::byte>& v) noexcept {
  if (v.capacity() > std::size_t{64} * 1024)
    v = std::vector<std::byte>();  // (not "= {}", which keeps the capacity)
  else
    v.clear();
}

// The most a receive sets aside for a body before its bytes arrive. A header only
// announces a size: the buffer grows with the bytes that come (by at least this much,
// and at least doubling), so a peer that announces 4 GiB and goes quiet costs the
// receiver this much, not 4 GiB. Where the caller's buffer can take the message
// already, it is used as it is.
constexpr std::size_t body_chunk = std::size_t{64} * 1024;

// Makes room in `v`, which holds the first `got` bytes of a body of `size`, for more of
// it: the rest, or as much again as arrived (a chunk at least), or what `v`'s capacity
// holds anyway. May throw std::bad_alloc (and then `v` is unchanged).
void grow_for_body(std::vector<std::byte>& v, std::size_t got, std::size_t size) {
  const std::size_t rest = size - got;
  const std::size_t target =
      std::max(got + std::min(rest, std::max(body_chunk, got)), std::min(size, v.capacity()));
  v.resize(target);
}

// Whether a buffer of `capacity` that holds `got` bytes of an unfinished body is kept as
// it is between receives: not when it is much larger than what arrived.
bool worth_keeping(std::size_t capacity, std::size_t got) noexcept {
  return capacity <= std::max(body_chunk, 2 * got);
}

std::uint32_t decode(const std::array<std::byte, 4>& h) noexcept {
  return std::to_integer<std::uint32_t>(h[0]) | std::to_integer<std::uint32_t>(h[1]) << 8 |
         std::to_integer<std::uint32_t>(h[2]) << 16 | std::to_integer<std::uint32_t>(h[3]) << 24;
}

}  // namespace

FramedStream FramedStream::connect(const LocalName& name, Timeout timeout, std::error_code& ec) {
  FramedStream s(UdStream::connect(name, timeout, ec));
  if (!ec) {
    s.greet(ec);
    // A server that accepted and left already: the connection was made, and its end
    // shows on the first send or receive, as with the other transports (a client's
    // check of its server still runs on it).
    if (ec == errc::peer_closed || ec == std::errc::broken_pipe ||
        ec == std::errc::connection_reset)
      ec.clear();
  }
  if (ec) s.close();
  return s;
}

FramedStream FramedStream::greeted(FramedStream s) noexcept {
  // A client that left already: its end shows on the first send or receive.
  std::error_code ignored;
  s.greet(ignored);
  return s;
}

std::size_t FramedStream::read(MutableBuffer buf, std::error_code& ec) noexcept {
  const std::size_t n = stream_.read_some(buf, ec);
  // A peer that closed with bytes of ours unread (a greeting it never received, messages
  // it did not want) ends the stream with ECONNRESET after everything it sent: that is
  // its close, read as the end (between frames) or peer_closed (inside one) like any.
  if (ec == std::errc::connection_reset) {
    ec.clear();
    return 0;
  }
  return n;
}

void FramedStream::greet(std::error_code& ec) noexcept {
  // A new connection's socket has room for 8 bytes: nothing waits here (the server
  // need not have accepted; the bytes wait in its queue).
  std::size_t done = 0;
  while (done < greeting.size()) {
    done += stream_.write_some(std::span(greeting).subspan(done), ec);
    if (ec) break;
  }
  greeting_got_ = 0;
}

bool FramedStream::read_greeting(std::error_code& ec) noexcept {
  if (mismatch_.load(std::memory_order_relaxed)) {
    ec = make_error_code(errc::mode_mismatch);
    return false;
  }
  std::array<std::byte, greeting.size()> in;
  while (greeting_got_ < greeting.size()) {
    const std::size_t n = read(std::span(in).first(greeting.size() - greeting_got_), ec);
    if (ec) return false;
    if (n == 0) {
      // Gone before saying anything: the end; inside the greeting: a fault.
      if (greeting_got_ != 0) ec = make_error_code(errc::peer_closed);
      return false;
    }
    if (!std::equal(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(n),
                    greeting.begin() + static_cast<std::ptrdiff_t>(greeting_got_))) {
      // Not a framed peer: say so, and end the connection so that the peer, which
      // may be waiting for a reply in its own mode, reads the end of the stream.
      mismatch_.store(true, std::memory_order_relaxed);
      std::error_code ignored;
      stream_.shutdown(Shutdown::both, ignored);
      // What the peer sent is dropped (nothing more can come after the shutdown, so this
      // ends): a socket closed with bytes unread would reset the connection, and the
      // peer should read a plain end.
      std::array<std::byte, 4096> sink;
      while (stream_.read_some(sink, ignored) != 0 && !ignored) {
      }
      ec = make_error_code(errc::mode_mismatch);
      return false;
    }
    greeting_got_ += n;
  }
  return true;
}

FramedStream FramedStream::connect(const LocalName& name, Timeout timeout) {
  return or_throw("FramedStream::connect", name.str(),
                  [&](auto& ec) { return connect(name, timeout, ec); });
}

void FramedStream::flush(std::error_code& ec) noexcept {
  ec.clear();
  if (send_failed_) {
    ec = std::make_error_code(std::errc::connection_aborted);
    return;
  }
  while (out_done_ < out_rest_.size()) {
    out_done_ += stream_.write_some(std::span(out_rest_).subspan(out_done_), ec);
    if (ec) return;
  }
  out_done_ = 0;
  release_if_large(out_rest_);
}

void FramedStream::flush() {
  or_throw("FramedStream::flush", stream_.name(), [&](auto& ec) { flush(ec); });
}

void FramedStream::shutdown(Shutdown how, std::error_code& ec) noexcept {
  ec.clear();
  // The rest of a taken frame is the peer's: it goes before the end, never cut by it
  // (the async shutdown waits for it the same way). A stream shut down for a mismatch
  // or whose sending failed for good owes nothing.
  if (how != Shutdown::read && send_pending() > 0 && !send_failed_ &&
      !mismatch_.load(std::memory_order_relaxed)) {
    flush(ec);
    if (ec) return;
  }
  stream_.shutdown(how, ec);
}

void FramedStream::send(ConstBuffer msg, std::error_code& ec) {
  ec.clear();
  if (mismatch_.load(std::memory_order_relaxed)) {
    ec = make_error_code(errc::mode_mismatch);
    return;
  }
  if (send_failed_) {
    ec = std::make_error_code(std::errc::connection_aborted);
    return;
  }
  if (msg.size() > max_message) {
    ec = make_error_code(errc::message_too_large);
    return;
  }
  // A frame taken earlier goes first; until it is out, this message is not taken.
  flush(ec);
  if (ec) return;
  const auto header = encode(static_cast<std::uint32_t>(msg.size()));
  // Header and body in one system call where the socket takes it all.
  ConstBuffer parts[2] = {header, msg};
  std::size_t first = 0;
  std::size_t sent = 0;
  while (first < 2) {
    std::size_t n = stream_.write_vectored(std::span(parts).subspan(first), ec);
    sent += n;
    if (ec) break;
    while (first < 2 && n >= parts[first].size()) n -= parts[first++].size();
    if (first < 2) parts[first] = parts[first].subspan(n);
    while (first < 2 && parts[first].empty()) ++first;
  }
  if (!ec || sent == 0) return;
  if (ec == errc::would_block) {
    // Nonblocking, part of the frame is on its way: the message is taken, and its rest
    // is kept so that the frame is finished, never sent again from its start.
    out_rest_.clear();
    out_done_ = 0;
    for (; first < 2; ++first)
      out_rest_.insert(out_rest_.end(), parts[first].begin(), parts[first].end());
    ec.clear();
  } else if (ec == errc::timed_out) {
    // Blocking, the write timeout passed inside the frame: the message can be neither
    // taken back nor reported as sent (the caller may close, or wait for a reply, before
    // another call would finish it). The sending side fails for good, as a Windows pipe
    // does, so the peer never receives anything after the cut frame.
    send_failed_ = true;
    ec = std::make_error_code(std::errc::connection_aborted);
  }
}

void FramedStream::send(ConstBuffer msg) {
  or_throw("FramedStream::send", stream_.name(), [&](auto& ec) { send(msg, ec); });
}

bool FramedStream::next_size(std::error_code& ec) noexcept {
  if (pending_ >= 0) return true;
  if (greeting_got_ < greeting.size() || mismatch_.load(std::memory_order_relaxed)) {
    if (!read_greeting(ec)) return false;
  }
  // The header bytes read so far are kept, so a timeout or would_block inside a header
  // loses nothing: the next receive goes on where this one stopped.
  while (header_got_ < header_.size()) {
    const std::size_t n = read(std::span(header_).subspan(header_got_), ec);
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
  body_got_ = 0;
  dropping_ = false;
  return true;
}

void FramedStream::read_body(MutableBuffer body, std::error_code& ec) noexcept {
  while (body_got_ < body.size()) {
    const std::size_t n = read(body.subspan(body_got_), ec);
    if (ec) return;
    if (n == 0) {
      ec = make_error_code(errc::peer_closed);
      return;
    }
    body_got_ += n;
  }
}

void FramedStream::read_growing(std::vector<std::byte>& body, std::error_code& ec) {
  const auto size = static_cast<std::size_t>(pending_);
  while (body_got_ < size) {
    if (body.size() == body_got_) grow_for_body(body, body_got_, size);
    const std::size_t n = read(std::span(body).subspan(body_got_), ec);
    if (ec) break;
    if (n == 0) {
      ec = make_error_code(errc::peer_closed);
      break;
    }
    body_got_ += n;
  }
  body.resize(body_got_);  // (smaller: cannot throw)
}

ReceiveResult FramedStream::drop_body(std::error_code& ec) noexcept {
  // Dropped in bounded pieces, so that the next frame is read in step; an interruption
  // keeps the count, and the next receive goes on dropping.
  dropping_ = true;
  body_.clear();
  const auto size = static_cast<std::size_t>(pending_);
  std::array<std::byte, 4096> sink;
  while (body_got_ < size) {
    const std::size_t step = std::min(size - body_got_, sink.size());
    const std::size_t n = read(std::span(sink).first(step), ec);
    if (ec) return {};
    if (n == 0) {
      ec = make_error_code(errc::peer_closed);
      return {};
    }
    body_got_ += n;
  }
  frame_done();
  ec = make_error_code(errc::message_too_large);
  return {.size = size};
}

void FramedStream::frame_done() noexcept {
  pending_ = -1;
  body_got_ = 0;
  dropping_ = false;
  release_if_large(body_);
}

ReceiveResult FramedStream::recv(MutableBuffer buf, std::error_code& ec) noexcept {
  ec.clear();
  if (!next_size(ec)) return {.end = !ec};
  if (dropping_) return drop_body(ec);
  const auto size = static_cast<std::size_t>(pending_);
  if (size > buf.size()) {
    ec = make_error_code(errc::message_truncated);
    return {.size = size};
  }
  // What an interrupted receive read comes first.
  std::copy_n(body_.begin(), body_got_, buf.begin());
  read_body(buf.first(size), ec);
  if (ec) {
    // Kept for the next receive, whatever buffer it brings: this one is the caller's.
    // body_ has room already (it held body_got_ bytes before), or this is its first use.
    body_.assign(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(body_got_));
    return {};
  }
  frame_done();
  return {.size = size};
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
  if (dropping_ || size > max_size) return drop_body(ec);
  if (body_got_ > 0) {
    // An interrupted receive's bytes come back, with the storage they are in.
    out = std::move(body_);
    body_.clear();
  }
  // `out` grows as the body arrives (see grow_for_body), never to the announced size
  // ahead of the bytes.
  try {
    read_growing(out, ec);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
  }
  if (ec) {
    // Kept until the next receive: the storage moves here without a copy, unless it is
    // much larger than what arrived (a caller's large buffer): then the bytes are
    // copied, and `out` keeps its storage.
    out.resize(body_got_);
    if (!worth_keeping(out.capacity(), body_got_)) {
      try {
        body_.assign(out.begin(), out.end());
        out.clear();
        return {};
      } catch (const std::bad_alloc&) {
        // No memory for the copy: the storage moves after all.
      }
    }
    body_ = std::move(out);
    out.clear();
    return {};
  }
  frame_done();
  return {.size = size};
}

ReceiveResult FramedStream::recv(std::string& out, std::size_t max_size, std::error_code& ec) {
  ec.clear();
  if (!next_size(ec)) {
    out.clear();
    return {.end = !ec};
  }
  const auto size = static_cast<std::size_t>(pending_);
  if (dropping_ || size > max_size) {
    out.clear();
    return drop_body(ec);
  }
  if (size <= out.capacity()) {
    // Memory the caller has already: the body goes straight in.
    out.resize(size);  // (within the capacity: allocates nothing)
    const ReceiveResult r = recv(MutableBuffer(reinterpret_cast<std::byte*>(out.data()), size), ec);
    out.resize(ec ? 0 : r.size);
    return r;
  }
  // More than `out` holds: the body collects here, growing as it arrives, and `out`
  // takes it once it is whole. An interruption keeps it here as it is; a string that
  // cannot be had leaves it here whole for the next receive.
  out.clear();
  try {
    read_growing(body_, ec);
    if (ec) {
      if (!worth_keeping(body_.capacity(), body_got_)) body_.shrink_to_fit();
      return {};
    }
    out.assign(reinterpret_cast<const char*>(body_.data()), size);
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
  frame_done();
  return {.size = size};
}

ReceiveResult FramedStream::recv(std::string& out, std::size_t max_size) {
  return or_throw("FramedStream::recv", stream_.name(),
                  [&](auto& ec) { return recv(out, max_size, ec); });
}

ReceiveResult FramedStream::recv(std::vector<std::byte>& out, std::size_t max_size) {
  return or_throw("FramedStream::recv", stream_.name(),
                  [&](auto& ec) { return recv(out, max_size, ec); });
}

}  // namespace localsock::posix
