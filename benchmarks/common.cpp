// SPDX-License-Identifier: MIT
#include "bench.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace bench {

void fail(const std::string& what) {
  std::fprintf(stderr, "localsock-bench: %s\n", what.c_str());
  std::exit(1);
}

std::string unique_name(const char* tag) {
  static int n = 0;
  return std::string("lsbench-") + tag + "-" + std::to_string(current_pid()) + "-" +
         std::to_string(n++);
}

namespace {

double percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const std::size_t k =
      std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

}  // namespace

void Latencies::report(Result& r) {
  r.p50 = percentile(us_, 0.50);
  r.p99 = percentile(us_, 0.99);
}

}  // namespace bench
