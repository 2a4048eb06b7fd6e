/*
 * echo_libev - the echo server on libev's default loop (epoll on Linux),
 * with one ev_io per connection.  See echo_common.h for what all the echo
 * servers share.
 *
 * Usage: echo_libev [--port=N] [--buf=N]
 */
#include "config.h"

#include <ev.h>

#include "echo_common.h"

struct conn {
	ev_io io;
	size_t off, len;         /* bytes of buf still to write back */
	char buf[ECHO_BUF];
};

static void
conn_close(struct ev_loop *loop, struct conn *c)
{
	ev_io_stop(loop, &c->io);
	close(c->io.fd);
	free(c);
}

/* Switch the watcher to `events`. */
static void
want(struct ev_loop *loop, struct conn *c, int events)
{
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->io.fd, events);
	ev_io_start(loop, &c->io);
}

static void
on_conn(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = (struct conn *)w;
	switch (echo_step(w->fd, c->buf, &c->off, &c->len)) {
	case ECHO_CLOSE:
		conn_close(loop, c);
		break;
	case ECHO_WANT_READ:
		want(loop, c, EV_READ);
		break;
	case ECHO_WANT_WRITE:
		want(loop, c, EV_WRITE);
		break;
	case ECHO_SAME:
		break;
	}
}

static void
on_listen(struct ev_loop *loop, ev_io *w, int revents)
{
	int fd;
	while ((fd = echo_accept(w->fd)) >= 0) {
		struct conn *c = malloc(sizeof *c);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->off = c->len = 0;
		ev_io_init(&c->io, on_conn, fd, EV_READ);
		ev_io_start(loop, &c->io);
	}
}

int
main(int argc, char **argv)
{
	int lfd = echo_listen(echo_port(argc, argv, NULL, "echo_libev [--port=N] [--buf=N]"));
	struct ev_loop *loop = ev_default_loop(0);
	if (loop == NULL) {
		fprintf(stderr, "echo_libev: no loop\n");
		return 1;
	}
	ev_io lw;
	ev_io_init(&lw, on_listen, lfd, EV_READ);
	ev_io_start(loop, &lw);
	ev_run(loop, 0);
	return 0;
}
