// SPDX-License-Identifier: MIT
#include <localsock/win/message_assembler.hpp>

#include <windows.h>

#include <algorithm>
#include <utility>

#include "sys.hpp"
#include "win_error.hpp"

namespace localsock::win::detail {

// Written out: the counts go with the message they count, and a self-move keeps both.
MessageAssembler::MessageAssembler(MessageAssembler&& other) noexcept
    : phase_(std::move(other.phase_)),
      has_message_(std::move(other.has_message_)),
      size_(std::exchange(other.size_, 0)),
      received_(std::exchange(other.received_, 0)),
      message_(std::move(other.message_)) {
  other.message_.clear();
}

MessageAssembler& MessageAssembler::operator=(MessageAssembler&& other) noexcept {
  if (this == &other) return *this;
  phase_ = std::move(other.phase_);
  has_message_ = std::move(other.has_message_);
  size_ = std::exchange(other.size_, 0);
  received_ = std::exchange(other.received_, 0);
  message_ = std::move(other.message_);
  other.message_.clear();
  return *this;
}

MessageAssembler::Step MessageAssembler::first(void* pipe, std::size_t head_size, bool more,
                                               std::size_t max_size, std::error_code& ec) noexcept {
  has_message_ = false;
  received_ = head_size;
  size_ = head_size;
  if (more) {
    DWORD left = 0;
    if (!sys::bytes_left_this_message(pipe, &left)) {
      ec = last_error();
      reset();
      return Step::too_large;
    }
    // ERROR_MORE_DATA says that the message goes on, and PeekNamedPipe reports the
    // bytes left of it ("zero for byte-type named pipes or if no data is available"):
    // none left contradicts the read. Its size is unknown, so it can be neither
    // delivered (the head would pass for the whole message, and the rest for the next
    // one) nor put together: the message is given up as an I/O error.
    if (left == 0) {
      ec = std::make_error_code(std::errc::io_error);
      reset();
      return Step::too_large;
    }
    size_ += left;
  }
  phase_ = Phase::reading_rest;
  return next(max_size);
}

MessageAssembler::Step MessageAssembler::next(std::size_t max_size) noexcept {
  if (size_ > max_size) {
    has_message_ = false;
    if (left() > 0) {
      phase_ = Phase::discarding;
      return Step::discard;
    }
    phase_ = Phase::idle;
    return Step::too_large;
  }
  if (left() > 0) return Step::read_rest;
  phase_ = Phase::idle;
  return Step::deliver;
}

MessageAssembler::Step MessageAssembler::rest_read(std::size_t n, bool more,
                                                   std::error_code& ec) noexcept {
  received_ += n;
  if (received_ < size_ && more) return Step::read_rest;
  phase_ = Phase::idle;
  has_message_ = false;
  // A message is whole in the pipe once it can be read at all, so its rest is what
  // PeekNamedPipe said; anything else is not the message it announced.
  if (received_ != size_ || more) ec = std::make_error_code(std::errc::io_error);
  return Step::deliver;
}

MessageAssembler::Step MessageAssembler::discard_read(bool more) noexcept {
  if (more) return Step::discard;
  phase_ = Phase::idle;
  return Step::too_large;
}

void MessageAssembler::keep(std::span<const std::byte> head) {
  message_.assign(head.begin(), head.end());
  received_ = head.size();
  has_message_ = true;
}

void MessageAssembler::take_head(std::vector<std::byte>& out) noexcept {
  out.swap(message_);
  message_.clear();
  has_message_ = false;
}

std::span<std::byte> MessageAssembler::rest_buffer() {
  message_.resize(size_);
  return std::span(message_).subspan(received_);
}

void MessageAssembler::reset() noexcept {
  phase_ = Phase::idle;
  has_message_ = false;
  size_ = 0;
  received_ = 0;
  message_.clear();
}

void MessageAssembler::use_memory(std::vector<std::byte>&& memory) noexcept {
  message_.swap(memory);
  message_.clear();
}

std::vector<std::byte> MessageAssembler::release_memory() noexcept {
  std::vector<std::byte> memory;
  if (!has_message_ && phase_ == Phase::idle) memory.swap(message_);
  return memory;
}

}  // namespace localsock::win::detail
