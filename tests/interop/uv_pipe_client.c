/* SPDX-License-Identifier: MIT */
/* A client written on bare libuv (uv_pipe_t), for the interoperability tests: it
 * connects to NATIVE_NAME (a socket path, or \\.\pipe\NAME on Windows), writes a
 * patterned block in one uv_write, reads until the whole echo is back, checks it and
 * exits 0. Any libuv error ends it with status 1 and a message.
 *
 *   uv_pipe_client NATIVE_NAME
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum { total = 200 * 1000 };

static char sent[total];
static char received[total];
static size_t got;
static int status = 1;
static uv_pipe_t pipe_handle;
static uv_connect_t connect_req;
static uv_write_t write_req;
static uv_timer_t deadline;

static void fail(const char* what, int err) {
  fprintf(stderr, "uv_pipe_client: %s: %s\n", what, uv_strerror(err));
  uv_close((uv_handle_t*)&pipe_handle, NULL);
  uv_close((uv_handle_t*)&deadline, NULL);
}

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf) {
  (void)h;
  (void)suggested;
  *buf = uv_buf_init(received + got, (unsigned)(total - got));
}

static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  (void)s;
  (void)buf;
  if (n < 0) {
    fail("read", (int)n);
    return;
  }
  got += (size_t)n;
  if (got == total) {
    status = memcmp(sent, received, total) == 0 ? 0 : 1;
    if (status != 0) fprintf(stderr, "uv_pipe_client: the echo differs from what was sent\n");
    uv_close((uv_handle_t*)&pipe_handle, NULL);
    uv_close((uv_handle_t*)&deadline, NULL);
  }
}

static void on_write(uv_write_t* req, int err) {
  (void)req;
  if (err < 0) fail("write", err);
}

static void on_connect(uv_connect_t* req, int err) {
  (void)req;
  if (err < 0) {
    fail("connect", err);
    return;
  }
  uv_buf_t buf = uv_buf_init(sent, total);
  int rc = uv_read_start((uv_stream_t*)&pipe_handle, on_alloc, on_read);
  if (rc == 0) rc = uv_write(&write_req, (uv_stream_t*)&pipe_handle, &buf, 1, on_write);
  if (rc < 0) fail("start", rc);
}

static void on_deadline(uv_timer_t* t) {
  (void)t;
  fprintf(stderr, "uv_pipe_client: no complete echo within 30 s (%zu of %d bytes)\n", got, total);
  uv_close((uv_handle_t*)&pipe_handle, NULL);
  uv_close((uv_handle_t*)&deadline, NULL);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s NATIVE_NAME\n", argv[0]);
    return 2;
  }
  unsigned x = 12345;
  for (size_t i = 0; i < total; ++i) {
    x = x * 1664525u + 1013904223u;
    sent[i] = (char)(x >> 24);
  }
  uv_loop_t* loop = uv_default_loop();
  uv_pipe_init(loop, &pipe_handle, 0);
  uv_timer_init(loop, &deadline);
  uv_timer_start(&deadline, on_deadline, 30000, 0);
  uv_pipe_connect(&connect_req, &pipe_handle, argv[1], on_connect);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  return status;
}
