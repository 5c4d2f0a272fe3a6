// SPDX-License-Identifier: MIT
// A stand-in for an --exec command in lsock's tests (Windows): prints the pipe handles it
// holds besides its standard input, output and error, one "EXTRA 0xVALUE" each, or
// "none". Handle values are multiples of 4; those in use are found by asking each.
#include <windows.h>

#include <cstdint>
#include <cstdio>

int main() {
  const HANDLE standard[] = {::GetStdHandle(STD_INPUT_HANDLE), ::GetStdHandle(STD_OUTPUT_HANDLE),
                             ::GetStdHandle(STD_ERROR_HANDLE)};
  int extra = 0;
  for (std::uintptr_t v = 4; v < 16384; v += 4) {
    const HANDLE h = reinterpret_cast<HANDLE>(v);
    if (h == standard[0] || h == standard[1] || h == standard[2]) continue;
    DWORD flags = 0;
    if (!::GetHandleInformation(h, &flags) || ::GetFileType(h) != FILE_TYPE_PIPE) continue;
    std::printf("EXTRA 0x%llx\n", static_cast<unsigned long long>(v));
    ++extra;
  }
  if (extra == 0) std::printf("none\n");
  return 0;
}
