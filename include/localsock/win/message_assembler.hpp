// SPDX-License-Identifier: MIT
#pragma once

/// @file
/// For the library's own use (PipeCore holds one): the message-mode read protocol of a
/// pipe, written once for the blocking streams (src/win/pipe_core.cpp) and the async
/// sockets (src/win/async_win.cpp), which run its reads each their own way (a waited
/// overlapped read, a completion on the loop):
///   1. the first read of a message takes what fits its buffer; a message that does not
///      fit ends that read with ERROR_MORE_DATA; (a first read may have no buffer at
///      all: the async sockets wait for data with a zero-byte read, which takes an
///      empty message whole, and leaves any other whole in the pipe for a first read
///      with a buffer, so that an idle connection holds none);
///   2. then PeekNamedPipe tells how much of it is still in the pipe, and so its size;
///   3. a message over the receiver's maximum is read off the pipe and dropped (so that
///      the next one can be received) and reported as too large; any other is read on
///      until its rest is in.
/// The assembler decides each next step and can keep a message's head for a later
/// receive (a too-small buffer, a peeked size, a paused async read).

#include <localsock/export.hpp>
#include <localsock/win/unique_handle.hpp>

#include <cstddef>
#include <span>
#include <system_error>
#include <vector>

namespace localsock::win::detail {

/// Move-only (it holds a message); a moved-from assembler holds nothing, and one moved
/// onto itself stays as it was.
class LOCALSOCK_API MessageAssembler {
 public:
  MessageAssembler() noexcept = default;
  MessageAssembler(MessageAssembler&& other) noexcept;
  MessageAssembler& operator=(MessageAssembler&& other) noexcept;
  MessageAssembler(const MessageAssembler&) = delete;
  MessageAssembler& operator=(const MessageAssembler&) = delete;
  ~MessageAssembler() = default;

  enum class Step {
    deliver,    // the message is whole: its bytes are where its reads put them
    read_rest,  // read left() more bytes of it
    discard,    // it is over the maximum: read on and drop what is read
    too_large,  // it was over the maximum and is off the pipe: report errc::message_too_large
  };

  /// The first read of a message took `head_size` bytes; `more`: it ended with
  /// ERROR_MORE_DATA, and PeekNamedPipe on `pipe` says how much is left. For a receiver
  /// that takes at most `max_size` bytes. When PeekNamedPipe fails, `ec` says why, the
  /// message is given up, and the step returned means nothing; likewise
  /// (`std::errc::io_error`) when it reports nothing left of a message the read said
  /// goes on. Either way the rest of the message may still be in the pipe, where a
  /// next read would take it for a message of its own: the receiver ends the
  /// connection's receiving side.
  Step first(void* pipe, std::size_t head_size, bool more, std::size_t max_size,
             std::error_code& ec) noexcept;
  /// The next step for the message under way, for a receiver that takes at most
  /// `max_size` bytes (a message kept for later meets its receiver here).
  Step next(std::size_t max_size) noexcept;
  /// A read of the rest took `n` bytes; `more`: it ended with ERROR_MORE_DATA. A message
  /// that ends before the size PeekNamedPipe gave, or goes on past it, is
  /// `std::errc::io_error`.
  Step rest_read(std::size_t n, bool more, std::error_code& ec) noexcept;
  /// A read of a message being dropped ended; `more`: the message goes on.
  Step discard_read(bool more) noexcept;

  /// Keeps `head`, the bytes of the first read, for a later receive or to put the
  /// message together in (see rest_buffer).
  void keep(std::span<const std::byte> head);
  /// Whether a message's head is kept: its size is known and it is not yet delivered.
  bool has_message() const noexcept { return has_message_; }
  /// The kept head.
  std::span<const std::byte> head() const noexcept { return {message_.data(), received_}; }
  /// Hands the kept head to `out` (swapped: `out` gets its memory), to be completed
  /// there; the assembler goes on counting the rest.
  void take_head(std::vector<std::byte>& out) noexcept;
  /// Where the rest goes when the assembler puts the message together itself: the kept
  /// head grown to the message's size, past what was read.
  std::span<std::byte> rest_buffer();
  /// The message put together in rest_buffer(), once rest_read said deliver; it stays
  /// until the next keep().
  std::span<const std::byte> message() const noexcept { return {message_.data(), size_}; }

  /// The whole message's size (head and rest), once first() has run.
  std::size_t size() const noexcept { return size_; }
  /// The bytes of it still in the pipe.
  std::size_t left() const noexcept { return size_ - received_; }
  /// Whether a message is being read (rest or discard).
  bool reading() const noexcept { return phase_ != Phase::idle; }
  bool discarding() const noexcept { return phase_ == Phase::discarding; }

  /// Done with the message (delivered, dropped or failed): nothing is kept.
  void reset() noexcept;
  /// The memory kept between messages (for the async API's kept_read_buffer).
  std::size_t capacity() const noexcept { return message_.capacity(); }
  /// Gives the assembler `memory` (whatever it holds) to put messages together in, in
  /// place of its own: memory that the async sockets of a loop share.
  void use_memory(std::vector<std::byte>&& memory) noexcept;
  /// Takes the assembler's memory away, once nothing is kept (else returns none): an
  /// idle async connection holds none.
  std::vector<std::byte> release_memory() noexcept;

 private:
  enum class Phase { idle, reading_rest, discarding };
  ResetOnMove<Phase> phase_;
  ResetOnMove<bool> has_message_;
  std::size_t size_ = 0;
  std::size_t received_ = 0;
  std::vector<std::byte> message_;
};

}  // namespace localsock::win::detail
