/*
 * echo_epoll - the reference: an echo server on a bare level-triggered
 * epoll loop, with no library in between.  See echo_common.h for what all
 * the echo servers share.
 *
 * Usage: echo_epoll [--port=N] [--buf=N]
 */
#include "config.h"

#include <sys/epoll.h>

#include "echo_common.h"

struct conn {
	int fd;
	size_t off, len;         /* bytes of buf still to write back */
	char buf[ECHO_BUF];
};

static int epfd;

static void
conn_close(struct conn *c)
{
	close(c->fd);            /* also leaves the epoll set */
	free(c);
}

static void
want(struct conn *c, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
on_ready(struct conn *c)
{
	switch (echo_step(c->fd, c->buf, &c->off, &c->len)) {
	case ECHO_CLOSE:
		conn_close(c);
		break;
	case ECHO_WANT_READ:
		want(c, EPOLLIN);
		break;
	case ECHO_WANT_WRITE:
		want(c, EPOLLOUT);
		break;
	case ECHO_SAME:
		break;
	}
}

int
main(int argc, char **argv)
{
	int lfd = echo_listen(echo_port(argc, argv, NULL, "echo_epoll [--port=N] [--buf=N]"));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("echo_epoll: epoll");
		return 1;
	}
	struct epoll_event evs[512];
	for (;;) {
		int n = epoll_wait(epfd, evs, 512, -1);
		if (n < 0 && errno != EINTR) {
			perror("echo_epoll: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == NULL) {        /* the listener */
				int fd;
				while ((fd = echo_accept(lfd)) >= 0) {
					c = malloc(sizeof *c);
					if (c == NULL) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->off = c->len = 0;
					struct epoll_event cev = { .events = EPOLLIN, .data.ptr = c };
					if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &cev) < 0) {
						close(fd);
						free(c);
					}
				}
			} else {
				on_ready(c);
			}
		}
	}
}
