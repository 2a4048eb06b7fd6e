/*
 * echo_libevent - the echo server on libevent's event_base (epoll on
 * Linux), with one persistent event per connection, not bufferevents (as
 * the others use raw watchers, not buffered streams).  See echo_common.h for
 * what all the echo servers share.
 *
 * Usage: echo_libevent [--port=N] [--buf=N]
 */
#include "config.h"

#include <event2/event.h>

#include "echo_common.h"

struct conn {
	struct event *ev;
	int fd;
	size_t off, len;         /* bytes of buf still to write back */
	char buf[ECHO_BUF];
};

static struct event_base *base;

static void on_conn(evutil_socket_t fd, short what, void *arg);

static void
conn_close(struct conn *c)
{
	event_free(c->ev);
	close(c->fd);
	free(c);
}

/* Switch the event to `events` (persistent). */
static void
want(struct conn *c, short events)
{
	event_del(c->ev);
	event_assign(c->ev, base, c->fd, events | EV_PERSIST, on_conn, c);
	event_add(c->ev, NULL);
}

static void
on_conn(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	switch (echo_step(fd, c->buf, &c->off, &c->len)) {
	case ECHO_CLOSE:
		conn_close(c);
		break;
	case ECHO_WANT_READ:
		want(c, EV_READ);
		break;
	case ECHO_WANT_WRITE:
		want(c, EV_WRITE);
		break;
	case ECHO_SAME:
		break;
	}
}

static void
on_listen(evutil_socket_t lfd, short what, void *arg)
{
	int fd;
	while ((fd = echo_accept(lfd)) >= 0) {
		struct conn *c = malloc(sizeof *c);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->off = c->len = 0;
		c->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_conn, c);
		if (c->ev == NULL || event_add(c->ev, NULL) < 0) {
			close(fd);
			free(c);
		}
	}
}

int
main(int argc, char **argv)
{
	int lfd = echo_listen(echo_port(argc, argv, NULL, "echo_libevent [--port=N] [--buf=N]"));
	base = event_base_new();
	struct event *lev = base ? event_new(base, lfd, EV_READ | EV_PERSIST,
	                                     on_listen, NULL) : NULL;
	if (lev == NULL || event_add(lev, NULL) < 0) {
		fprintf(stderr, "echo_libevent: no event base\n");
		return 1;
	}
	event_base_dispatch(base);
	return 0;
}
