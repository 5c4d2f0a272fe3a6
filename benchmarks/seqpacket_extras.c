/* SPDX-License-Identifier: MIT */
/* What each of a message receive's extras costs on Linux: a seqpacket ping-pong on bare
 * system calls, with and without a size peek before each receive (MSG_PEEK | MSG_TRUNC
 * into no buffer) and SO_PASSCRED on both ends. Prints the mean round trip.
 *
 *   taskset -c 0 seqpacket_extras PEEK(0|1) PASSCRED(0|1) [SIZE] [COUNT]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int peek, count = 200000;

static ssize_t receive(int fd, char* buf, size_t size) {
  char control[CMSG_SPACE(64)];
  struct iovec iov = {buf, size};
  struct msghdr m = {0};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = control;
  m.msg_controllen = sizeof control;
  if (peek) {
    struct iovec none = {0, 0};
    struct msghdr p = m;
    p.msg_iov = &none;
    if (recvmsg(fd, &p, MSG_PEEK | MSG_TRUNC) < 0) return -1;
  }
  return recvmsg(fd, &m, 0);
}

static void* echo(void* arg) {
  const int fd = *(int*)arg;
  static char buf[65536];
  for (int i = 0; i < count; ++i) {
    const ssize_t n = receive(fd, buf, sizeof buf);
    if (n < 0 || send(fd, buf, (size_t)n, 0) != n) return NULL;
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s PEEK PASSCRED [SIZE] [COUNT]\n", argv[0]);
    return 2;
  }
  peek = atoi(argv[1]);
  const int passcred = atoi(argv[2]);
  const size_t size = argc > 3 ? (size_t)atoi(argv[3]) : 64;
  if (argc > 4) count = atoi(argv[4]);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0) return 1;
  if (passcred) {
    const int on = 1;
    setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  }
  pthread_t t;
  pthread_create(&t, NULL, echo, &sv[1]);
  static char buf[65536];
  memset(buf, 1, sizeof buf);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < count; ++i) {
    if (send(sv[0], buf, size, 0) < 0 || receive(sv[0], buf, sizeof buf) < 0) return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  pthread_join(t, NULL);
  const double us = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / count;
  printf("peek=%d passcred=%d size=%zu: %.2f us per round trip\n", peek, passcred, size, us);
  return 0;
}
