// SPDX-License-Identifier: MIT
#pragma once

#include <localsock/error.hpp>

#include <cstddef>
#include <iterator>
#include <system_error>
#include <utility>

namespace localsock {

/// Endless accepting for a range-for: `for (auto& s : listener.incoming())`. The loop
/// ends when the listener is closed (from another thread, or by the loop body); any
/// other accept error is thrown as localsock::Error, naming the operation
/// "Incoming::accept" and the listener's name. Works with every listener type
/// whose `accept(std::error_code&)` returns its connection type.
template <typename Listener>
class Incoming {
 public:
  using connection_type =
      decltype(std::declval<Listener&>().accept(std::declval<std::error_code&>()));

  class iterator {
   public:
    using value_type = connection_type;
    using difference_type = std::ptrdiff_t;
    iterator() noexcept = default;
    explicit iterator(Listener* l) : listener_(l) { next(); }
    value_type& operator*() noexcept { return current_; }
    iterator& operator++() {
      next();
      return *this;
    }
    void operator++(int) { next(); }
    bool operator==(std::default_sentinel_t) const noexcept { return listener_ == nullptr; }

   private:
    void next() {
      std::error_code ec;
      current_ = listener_->accept(ec);
      if (ec == errc::listener_closed) {
        listener_ = nullptr;
        return;
      }
      detail::throw_if(ec, "Incoming::accept", listener_->name().str());
    }
    Listener* listener_ = nullptr;
    value_type current_;
  };

  explicit Incoming(Listener& l) noexcept : listener_(&l) {}
  iterator begin() { return iterator(listener_); }
  std::default_sentinel_t end() const noexcept { return {}; }

 private:
  Listener* listener_;
};

}  // namespace localsock
