// SPDX-License-Identifier: MIT
// The portable listeners: each operation forwards to the backend listener (backend.hpp).
#include <localsock/local_listener.hpp>

#include <string>

#include "backend.hpp"

namespace localsock {
namespace detail {
namespace {

// The accept of both listener kinds. The name is copied first: once the backend's accept
// returns, another thread may have closed and destroyed the listener (and its Impl).
// On failure the copy goes to `failed_name` when given, for the throwing overloads' text.
template <Mode M>
BasicLocalSocket<M> accept_on(ListenerImpl<M>* impl, Timeout timeout, std::error_code& ec,
                              LocalName* failed_name = nullptr) {
  if (!impl) {
    ec = make_error_code(errc::listener_closed);
    return {};
  }
  LocalName name = impl->io.name();
  auto io = impl->io.accept_for(timeout, ec);
  if (ec) {
    if (failed_name) *failed_name = std::move(name);
    return {};
  }
  return FacadeAccess::wrap<M>(std::move(io), std::move(name));
}

// The throwing accepts: the name in the error is the copy accept_on made, so that
// nothing is copied for a successful accept.
template <Mode M>
BasicLocalSocket<M> accept_or_throw(ListenerImpl<M>* impl, Timeout timeout,
                                    std::string_view operation) {
  std::error_code ec;
  LocalName name;
  auto s = accept_on(impl, timeout, ec, &name);
  if (ec) throw Error(ec, operation, name.str());
  return s;
}

template <Mode M>
void set_nonblocking_on(ListenerImpl<M>* impl, bool on, std::error_code& ec) noexcept {
  if (impl)
    listener_set_nonblocking(impl->io, on, ec);
  else
    ec = make_error_code(errc::listener_closed);
}

}  // namespace
}  // namespace detail

// ---- LocalListener ----------------------------------------------------------

LocalListener::LocalListener() noexcept = default;
LocalListener::LocalListener(LocalListener&&) noexcept = default;
LocalListener& LocalListener::operator=(LocalListener&&) noexcept = default;
LocalListener::~LocalListener() = default;
LocalListener::LocalListener(std::unique_ptr<detail::ListenerImpl<Mode::bytes>> impl) noexcept
    : impl_(std::move(impl)) {}

LocalListener LocalListener::bind(const ListenerOptions& options, std::error_code& ec) {
  auto io = detail::bind_listener<Mode::bytes>(options, ec);
  if (ec) return {};
  return detail::FacadeAccess::wrap<Mode::bytes>(std::move(io));
}
LocalListener LocalListener::bind(const ListenerOptions& options) {
  return detail::or_throw("LocalListener::bind", options.name().str(),
                          [&](auto& ec) { return bind(options, ec); });
}
LocalSocket LocalListener::accept(std::error_code& ec) {
  return detail::accept_on(impl_.get(), infinite, ec);
}
LocalSocket LocalListener::accept() {
  return detail::accept_or_throw(impl_.get(), infinite, "LocalListener::accept");
}
LocalSocket LocalListener::accept_for(Timeout timeout, std::error_code& ec) {
  return detail::accept_on(impl_.get(), timeout, ec);
}
LocalSocket LocalListener::accept_for(Timeout timeout) {
  return detail::accept_or_throw(impl_.get(), timeout, "LocalListener::accept_for");
}
void LocalListener::set_nonblocking(bool on, std::error_code& ec) noexcept {
  detail::set_nonblocking_on(impl_.get(), on, ec);
}
void LocalListener::set_nonblocking(bool on) {
  detail::or_throw("LocalListener::set_nonblocking", name().str(),
                   [&](auto& ec) { set_nonblocking(on, ec); });
}
void LocalListener::close() noexcept {
  if (impl_) impl_->io.close();
}
bool LocalListener::is_open() const noexcept { return impl_ && impl_->io.is_open(); }
const LocalName& LocalListener::name() const noexcept {
  return impl_ ? impl_->io.name() : detail::no_name();
}

// ---- LocalMessageListener ---------------------------------------------------

LocalMessageListener::LocalMessageListener() noexcept = default;
LocalMessageListener::LocalMessageListener(LocalMessageListener&&) noexcept = default;
LocalMessageListener& LocalMessageListener::operator=(LocalMessageListener&&) noexcept = default;
LocalMessageListener::~LocalMessageListener() = default;
LocalMessageListener::LocalMessageListener(
    std::unique_ptr<detail::ListenerImpl<Mode::messages>> impl) noexcept
    : impl_(std::move(impl)) {}

LocalMessageListener LocalMessageListener::bind(const ListenerOptions& options,
                                                std::error_code& ec) {
  auto io = detail::bind_listener<Mode::messages>(options, ec);
  if (ec) return {};
  return detail::FacadeAccess::wrap<Mode::messages>(std::move(io));
}
LocalMessageListener LocalMessageListener::bind(const ListenerOptions& options) {
  return detail::or_throw("LocalMessageListener::bind", options.name().str(),
                          [&](auto& ec) { return bind(options, ec); });
}
LocalMessageSocket LocalMessageListener::accept(std::error_code& ec) {
  return detail::accept_on(impl_.get(), infinite, ec);
}
LocalMessageSocket LocalMessageListener::accept() {
  return detail::accept_or_throw(impl_.get(), infinite, "LocalMessageListener::accept");
}
LocalMessageSocket LocalMessageListener::accept_for(Timeout timeout, std::error_code& ec) {
  return detail::accept_on(impl_.get(), timeout, ec);
}
LocalMessageSocket LocalMessageListener::accept_for(Timeout timeout) {
  return detail::accept_or_throw(impl_.get(), timeout, "LocalMessageListener::accept_for");
}
void LocalMessageListener::set_nonblocking(bool on, std::error_code& ec) noexcept {
  detail::set_nonblocking_on(impl_.get(), on, ec);
}
void LocalMessageListener::set_nonblocking(bool on) {
  detail::or_throw("LocalMessageListener::set_nonblocking", name().str(),
                   [&](auto& ec) { set_nonblocking(on, ec); });
}
void LocalMessageListener::close() noexcept {
  if (impl_) impl_->io.close();
}
bool LocalMessageListener::is_open() const noexcept { return impl_ && impl_->io.is_open(); }
const LocalName& LocalMessageListener::name() const noexcept {
  return impl_ ? impl_->io.name() : detail::no_name();
}

}  // namespace localsock
