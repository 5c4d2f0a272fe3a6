/* SPDX-License-Identifier: MIT */
/* What each of a message receive's extras costs on Linux: a seqpacket ping-pong on bare
 * system calls, with and without a size peek before each receive (MSG_PEEK | MSG_TRUNC
 * into no buffer) and SO_PASSCRED on both ends, the receive offering room for control
 * data (CONTROL=1, the default: credentials are copied out) or none (CONTROL=0: the
 * kernel reports them cut off with MSG_CTRUNC, as localsock's growing receive does).
 * SENDMSG=1 sends with sendmsg instead of send; IOVECS=2 receives into two iovecs (the
 * message's size, then 64 KiB of overflow), as localsock's growing receive does.
 * Prints the mean round trip and its median (p50, which preemption on a busy machine
 * moves far less than the mean).
 *
 *   taskset -c 0 seqpacket_extras PEEK(0|1) PASSCRED(0|1) [SIZE] [COUNT] [CONTROL(0|1)]
 *                                 [SENDMSG(0|1)] [IOVECS(1|2)]
 */
#define _GNU_SOURCE  // NOLINT(bugprone-reserved-identifier): glibc's feature switch
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static int peek, control_room = 1, use_sendmsg = 0, iovecs = 1, count = 200000;
static size_t message_size = 64;
static char overflow[2][65536];

static ssize_t transmit(int fd, const char* buf, size_t size) {
  if (!use_sendmsg) return send(fd, buf, size, 0);
  struct iovec iov = {(void*)buf, size};
  struct msghdr m = {0};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  return sendmsg(fd, &m, 0);
}

static ssize_t receive(int fd, char* buf, size_t size, int side) {
  char control[CMSG_SPACE(64)];
  struct iovec iov[2] = {{buf, size}, {overflow[side], sizeof overflow[side]}};
  if (iovecs == 2) iov[0].iov_len = message_size;
  struct msghdr m = {0};
  m.msg_iov = iov;
  m.msg_iovlen = (size_t)iovecs;
  m.msg_control = control_room ? control : NULL;
  m.msg_controllen = control_room ? sizeof control : 0;
  if (peek) {
    struct iovec none = {0, 0};
    struct msghdr p = m;
    p.msg_iov = &none;
    if (recvmsg(fd, &p, MSG_PEEK | MSG_TRUNC) < 0) return -1;
  }
  return recvmsg(fd, &m, 0);
}

static int by_value(const void* x, const void* y) {
  const double a = *(const double*)x, b = *(const double*)y;
  return (a > b) - (a < b);
}

static void* echo(void* arg) {
  const int fd = *(int*)arg;
  static char buf[65536];
  for (int i = 0; i < count; ++i) {
    const ssize_t n = receive(fd, buf, sizeof buf, 1);
    if (n < 0 || transmit(fd, buf, (size_t)n) != n) return NULL;
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s PEEK PASSCRED [SIZE] [COUNT] [CONTROL] [SENDMSG] [IOVECS]\n",
            argv[0]);
    return 2;
  }
  peek = atoi(argv[1]);
  const int passcred = atoi(argv[2]);
  const size_t size = argc > 3 ? (size_t)atoi(argv[3]) : 64;
  if (argc > 4) count = atoi(argv[4]);
  if (argc > 5) control_room = atoi(argv[5]);
  if (argc > 6) use_sendmsg = atoi(argv[6]);
  if (argc > 7) iovecs = atoi(argv[7]) == 2 ? 2 : 1;
  message_size = size;
  if (count <= 0 || size > sizeof overflow[0]) return 2;
  double* lat = malloc(sizeof *lat * (size_t)count);
  if (!lat) return 1;
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
  struct timespec a, b, t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (int i = 0; i < count; ++i) {
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (transmit(sv[0], buf, size) < 0 || receive(sv[0], buf, sizeof buf, 0) < 0) return 1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    lat[i] = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  pthread_join(t, NULL);
  const double us =
      ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / 1e3 / count;
  qsort(lat, (size_t)count, sizeof *lat, by_value);
  printf(
      "peek=%d passcred=%d control=%d sendmsg=%d iovecs=%d size=%zu: %.2f us per round trip, p50 "
      "%.2f us\n",
      peek, passcred, control_room, use_sendmsg, iovecs, size, us, lat[count / 2]);
  free(lat);
  return 0;
}
