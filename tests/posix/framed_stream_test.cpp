// SPDX-License-Identifier: MIT
#include <localsock/posix/framed_stream.hpp>

#include <thread>

#include "doctest_ext.hpp"

using localsock::errc;
using namespace localsock::posix;

namespace {
std::vector<std::byte> bytes(std::size_t n, unsigned char seed = 1) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>(seed + i * 13);
  return v;
}
void raw(UdStream& s, std::initializer_list<unsigned char> b) {
  std::vector<std::byte> v;
  for (unsigned char c : b) v.push_back(std::byte{c});
  std::size_t done = 0;
  while (done < v.size()) done += s.write_some(std::span(v).subspan(done));
}
}  // namespace

TEST_CASE("FramedStream: messages of 0, 1, buffer size and 1 MiB keep their boundaries") {
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  const std::vector<std::size_t> sizes = {0, 1, 100, 1 << 20};
  std::thread t([&] {
    for (auto n : sizes) fa.send(bytes(n, static_cast<unsigned char>(n)));
    fa.close();
  });
  std::vector<std::byte> out;
  for (auto n : sizes) {
    CAPTURE(n);
    std::error_code ec;
    const auto r = fb.recv(out, 2 << 20, ec);
    CHECK_FALSE(ec);
    CHECK_FALSE(r.end);
    CHECK(out == bytes(n, static_cast<unsigned char>(n)));
  }
  t.join();
  std::error_code ec;
  CHECK(fb.recv(out, 10, ec).end);  // a clean end between frames
  CHECK_FALSE(ec);
}

TEST_CASE("FramedStream: a too-small buffer learns the size and the message is kept") {
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  fa.send(bytes(101));
  std::vector<std::byte> small(100), right(101);
  std::error_code ec;
  CHECK(fb.recv(small, ec).size == 101);
  CHECK(ec == errc::message_truncated);
  CHECK(fb.recv(right, ec).size == 101);
  CHECK_FALSE(ec);
  CHECK(right == bytes(101));
}

TEST_CASE("FramedStream: frames split across reads are put back together") {
  auto [a, b] = UdStream::pair();
  FramedStream fb(std::move(b));
  std::thread t([&] {
    // A 3-byte message, header and body cut in odd places, with pauses between.
    raw(a, {3});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    raw(a, {0, 0});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    raw(a, {0, 'x'});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    raw(a, {'y', 'z', 0, 0});
    raw(a, {0, 0});  // then a zero-length message
  });
  std::vector<std::byte> out;
  fb.recv(out, 16);
  CHECK(out == std::vector<std::byte>{std::byte{'x'}, std::byte{'y'}, std::byte{'z'}});
  std::error_code ec;
  const auto r = fb.recv(out, 16, ec);
  CHECK_FALSE(ec);
  CHECK_FALSE(r.end);
  CHECK(out.empty());
  t.join();
}

TEST_CASE("FramedStream: a peer dying inside a frame is peer_closed, not a clean end") {
  std::error_code ec;
  std::vector<std::byte> out;
  SUBCASE("inside the header") {
    auto [a, b] = UdStream::pair();
    FramedStream fb(std::move(b));
    raw(a, {5, 0});
    a.close();
    const auto r = fb.recv(out, 16, ec);
    CHECK(ec == errc::peer_closed);
    CHECK_FALSE(r.end);
  }
  SUBCASE("inside the body") {
    auto [a, b] = UdStream::pair();
    FramedStream fb(std::move(b));
    raw(a, {5, 0, 0, 0, 'a', 'b'});
    a.close();
    fb.recv(out, 16, ec);
    CHECK(ec == errc::peer_closed);
  }
}

TEST_CASE("FramedStream: an over-size message is dropped and the next one still arrives") {
  auto [a, b] = UdStream::pair();
  FramedStream fa(std::move(a)), fb(std::move(b));
  std::thread t([&] {
    fa.send(bytes(10000));
    fa.send(bytes(3, 9));
  });
  std::vector<std::byte> out;
  std::error_code ec;
  fb.recv(out, 100, ec);
  CHECK(ec == errc::message_too_large);
  fb.recv(out, 100, ec);
  CHECK_FALSE(ec);
  CHECK(out == bytes(3, 9));
  t.join();
}
