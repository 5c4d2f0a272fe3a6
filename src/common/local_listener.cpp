// SPDX-License-Identifier: MIT
#include <localsock/local_listener.hpp>

namespace localsock {

LocalListener LocalListener::bind(const LocalName& name, std::error_code& ec) {
  return LocalListener(detail::bind_listener(name, ec));
}

LocalListener LocalListener::bind(const LocalName& name) {
  std::error_code ec;
  LocalListener l = bind(name, ec);
  detail::throw_if(ec, "LocalListener::bind", name.str());
  return l;
}

LocalSocket LocalListener::accept(std::error_code& ec) {
  return LocalSocket(native_.accept(ec));
}

LocalSocket LocalListener::accept() {
  std::error_code ec;
  LocalSocket s = accept(ec);
  detail::throw_if(ec, "LocalListener::accept", name().str());
  return s;
}

}  // namespace localsock
