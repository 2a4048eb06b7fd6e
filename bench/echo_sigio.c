/*
 * echo_sigio - an echo server on raw sio_io watchers, for any backend.
 * See echo_common.h for what all the echo servers share.
 *
 * On SIGTERM or SIGINT it prints the loop's counters on stderr and exits,
 * so that a benchmark run can tell signals, callbacks and iterations per
 * request.  Two SIGUSR1 (loadgen --mark, at the start and the end of its
 * measured window) make them the counters between the two.
 *
 * Usage: echo_sigio [--backend=rtsig|sigio|poll|select|auto] [--port=N] [--buf=N]
 */
#include "config.h"

#include "sigio.h"
#include "echo_common.h"
#include "echo_stats.h"

struct conn {
	struct conn *prev, *next;       /* every open one, to free at exit */
	sio_io *io;
	int fd;
	size_t off, len;         /* bytes of buf still to write back */
	char buf[ECHO_BUF];
};

static struct conn *conns;

static void
conn_close(struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	sio_io_stop(c->io);
	close(c->fd);
	free(c);
}

static void
on_conn(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct conn *c = arg;
	switch (echo_step(fd, c->buf, &c->off, &c->len)) {
	case ECHO_CLOSE:
		conn_close(c);
		break;
	case ECHO_WANT_READ:
		sio_io_set(io, SIO_READ);
		break;
	case ECHO_WANT_WRITE:
		sio_io_set(io, SIO_WRITE);
		break;
	case ECHO_SAME:
		break;
	}
}

static void
on_listen(sio_io *io, int lfd, unsigned revents, void *arg)
{
	sio_loop *loop = arg;
	int fd;
	while ((fd = echo_accept(lfd)) >= 0) {
		struct conn *c = malloc(sizeof *c);
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->off = c->len = 0;
		c->io = sio_io_start(loop, fd, SIO_READ, on_conn, c);
		if (c->io == NULL) {    /* select: fd >= FD_SETSIZE (ERANGE) */
			close(fd);
			free(c);
			continue;
		}
		c->prev = NULL;
		c->next = conns;
		if (conns != NULL)
			conns->prev = c;
		conns = c;
	}
}

static void
on_term(sio_signal *s, int signo, unsigned count, void *arg)
{
	sio_loop_stop(arg);
}

int
main(int argc, char **argv)
{
	const char *backend = NULL;
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--backend=", 10) == 0)
			backend = argv[i] + 10;
	int port = echo_port(argc, argv, "--backend=",
	                     "echo_sigio [--backend=NAME] [--port=N] [--buf=N]");
	sio_loop *loop = sio_loop_new(backend);
	if (loop == NULL) {
		fprintf(stderr, "echo_sigio: backend %s: %s\n",
		        backend ? backend : "auto", strerror(errno));
		return 1;
	}
	int lfd = echo_listen(port);
	if (sio_io_start(loop, lfd, SIO_READ, on_listen, loop) == NULL ||
	    sio_signal_start(loop, SIGTERM, on_term, loop) == NULL ||
	    sio_signal_start(loop, SIGINT, on_term, loop) == NULL ||
	    sio_signal_start(loop, SIGUSR1, echo_on_mark, loop) == NULL) {
		perror("echo_sigio: start");
		return 1;
	}
	if (sio_loop_run(loop, SIO_RUN_DEFAULT) < 0) {
		perror("echo_sigio: run");
		return 1;
	}
	echo_stats_print("echo_sigio", loop);
	/* Everything freed, so that a sanitizer build's leak check says
	 * something about the library. */
	while (conns != NULL)
		conn_close(conns);
	sio_loop_free(loop);
	close(lfd);
	return 0;
}
