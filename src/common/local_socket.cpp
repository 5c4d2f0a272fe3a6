// SPDX-License-Identifier: MIT
#include <localsock/local_socket.hpp>

namespace localsock {

LocalSocket LocalSocket::connect(const LocalName& name, std::error_code& ec) {
  return LocalSocket(detail::connect_stream(name, ec));
}

LocalSocket LocalSocket::connect(const LocalName& name) {
  return detail::or_throw("LocalSocket::connect", name.str(),
                          [&](auto& ec) { return connect(name, ec); });
}

std::size_t LocalSocket::read_some(MutableBuffer buf, std::error_code& ec) noexcept {
  return native_.read_some(buf, ec);
}

std::size_t LocalSocket::read_some(MutableBuffer buf) {
  return detail::or_throw("LocalSocket::read_some", name(),
                          [&](auto& ec) { return read_some(buf, ec); });
}

std::size_t LocalSocket::write_some(ConstBuffer buf, std::error_code& ec) noexcept {
  return native_.write_some(buf, ec);
}

std::size_t LocalSocket::write_some(ConstBuffer buf) {
  return detail::or_throw("LocalSocket::write_some", name(),
                          [&](auto& ec) { return write_some(buf, ec); });
}

std::size_t LocalSocket::read_exact(MutableBuffer buf, std::error_code& ec) noexcept {
  std::size_t done = 0;
  ec.clear();
  while (done < buf.size()) {
    std::size_t n = native_.read_some(buf.subspan(done), ec);
    if (ec) break;
    if (n == 0) {
      ec = make_error_code(errc::peer_closed);
      break;
    }
    done += n;
  }
  return done;
}

std::size_t LocalSocket::read_exact(MutableBuffer buf) {
  return detail::or_throw("LocalSocket::read_exact", name(),
                          [&](auto& ec) { return read_exact(buf, ec); });
}

std::size_t LocalSocket::write_all(ConstBuffer buf, std::error_code& ec) noexcept {
  std::size_t done = 0;
  ec.clear();
  while (done < buf.size()) {
    std::size_t n = native_.write_some(buf.subspan(done), ec);
    if (ec) break;
    done += n;
  }
  return done;
}

std::size_t LocalSocket::write_all(ConstBuffer buf) {
  return detail::or_throw("LocalSocket::write_all", name(),
                          [&](auto& ec) { return write_all(buf, ec); });
}

void LocalSocket::shutdown(Shutdown how, std::error_code& ec) noexcept {
  native_.shutdown(how, ec);
}

void LocalSocket::shutdown(Shutdown how) {
  detail::or_throw("LocalSocket::shutdown", name(), [&](auto& ec) { shutdown(how, ec); });
}

}  // namespace localsock
