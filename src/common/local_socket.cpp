// SPDX-License-Identifier: MIT
#include <localsock/local_socket.hpp>

namespace localsock {

LocalSocket LocalSocket::connect(const LocalName& name, std::error_code& ec) {
  return LocalSocket(detail::connect_stream(name, ec));
}

LocalSocket LocalSocket::connect(const LocalName& name) {
  std::error_code ec;
  LocalSocket s = connect(name, ec);
  detail::throw_if(ec, "LocalSocket::connect", name.str());
  return s;
}

std::size_t LocalSocket::read_some(MutableBuffer buf, std::error_code& ec) noexcept {
  return native_.read_some(buf, ec);
}

std::size_t LocalSocket::read_some(MutableBuffer buf) {
  std::error_code ec;
  std::size_t n = read_some(buf, ec);
  detail::throw_if(ec, "LocalSocket::read_some", name());
  return n;
}

std::size_t LocalSocket::write_some(ConstBuffer buf, std::error_code& ec) noexcept {
  return native_.write_some(buf, ec);
}

std::size_t LocalSocket::write_some(ConstBuffer buf) {
  std::error_code ec;
  std::size_t n = write_some(buf, ec);
  detail::throw_if(ec, "LocalSocket::write_some", name());
  return n;
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
  std::error_code ec;
  std::size_t n = read_exact(buf, ec);
  detail::throw_if(ec, "LocalSocket::read_exact", name());
  return n;
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
  std::error_code ec;
  std::size_t n = write_all(buf, ec);
  detail::throw_if(ec, "LocalSocket::write_all", name());
  return n;
}

void LocalSocket::shutdown(Shutdown how, std::error_code& ec) noexcept {
  native_.shutdown(how, ec);
}

void LocalSocket::shutdown(Shutdown how) {
  std::error_code ec;
  shutdown(how, ec);
  detail::throw_if(ec, "LocalSocket::shutdown", name());
}

}  // namespace localsock
