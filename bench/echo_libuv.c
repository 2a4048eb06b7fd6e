/*
 * echo_libuv - the echo server on libuv's default loop (epoll on Linux).
 * Reads go into the connection's own buffer (alloc_cb hands it out), the
 * echo is uv_try_write(); only when that comes up short does the rest go
 * through uv_write() with reading stopped until it completed.  The
 * listener is the shared one (echo_common.h) handed to uv_tcp_open(); libuv
 * accepts until EAGAIN, as the others do.
 *
 * Usage: echo_libuv [--port=N] [--buf=N]
 */
#include "config.h"

#include <uv.h>

#include "echo_common.h"

struct conn {
	uv_tcp_t tcp;
	uv_write_t req;
	char buf[ECHO_BUF];
};

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

static void
on_closed(uv_handle_t *h)
{
	free(h);                 /* the uv_tcp_t is the first member */
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = (struct conn *)h;
	*buf = uv_buf_init(c->buf, (unsigned)echo_buf);
}

static void
on_written(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	if (status < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_closed);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void
on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)s;
	if (nread == 0)
		return;                 /* EAGAIN */
	if (nread < 0) {
		uv_close((uv_handle_t *)s, on_closed);
		return;
	}
	uv_buf_t out = uv_buf_init(c->buf, (unsigned)nread);
	int w = uv_try_write(s, &out, 1);
	if (w == nread)
		return;
	if (w < 0 && w != UV_EAGAIN) {
		uv_close((uv_handle_t *)s, on_closed);
		return;
	}
	if (w < 0)
		w = 0;
	out = uv_buf_init(c->buf + w, (unsigned)(nread - w));
	uv_read_stop(s);
	c->req.data = c;
	if (uv_write(&c->req, s, &out, 1, on_written) < 0)
		uv_close((uv_handle_t *)s, on_closed);
}

static void
on_connection(uv_stream_t *server, int status)
{
	if (status < 0)
		return;
	struct conn *c = malloc(sizeof *c);
	if (c == NULL)
		return;
	uv_tcp_init(server->loop, &c->tcp);
	if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
		uv_close((uv_handle_t *)&c->tcp, on_closed);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

int
main(int argc, char **argv)
{
	int lfd = echo_listen(echo_port(argc, argv, NULL, "echo_libuv [--port=N] [--buf=N]"));
	uv_loop_t *loop = uv_default_loop();
	uv_tcp_t server;
	int rc;
	if ((rc = uv_tcp_init(loop, &server)) < 0 ||
	    (rc = uv_tcp_open(&server, lfd)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&server, SOMAXCONN, on_connection)) < 0) {
		fprintf(stderr, "echo_libuv: %s\n", uv_strerror(rc));
		return 1;
	}
	return uv_run(loop, UV_RUN_DEFAULT);
}
