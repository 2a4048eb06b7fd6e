/*
 * backend_poll.c - readiness from poll(2).
 *
 * Level-triggered by nature: every check asks the kernel about every
 * watched fd, O(n) per iteration.  Entry 0 of the set is the self-pipe.
 * Quirks: POLLNVAL means the fd was closed while watched (its watchers die
 * with one SIO_ERROR call instead of the loop spinning on it); EINTR is not
 * an error (a signal's handler wrote its record: the pipe is read).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "sigio-internal.h"

static int
poll_init(sio_loop *loop)
{
	struct sio__pollset *ps = calloc(1, sizeof *ps);
	if (ps == NULL)
		return -1;
	ps->v = malloc(64 * sizeof *ps->v);
	if (ps->v == NULL) {
		free(ps);
		return -1;
	}
	ps->cap = 64;
	ps->v[0] = (struct pollfd){ .fd = loop->pipe_rd, .events = POLLIN };
	ps->n = 1;
	loop->bstate = ps;
	return 0;
}

static void
poll_fini(sio_loop *loop)
{
	struct sio__pollset *ps = loop->bstate;
	free(ps->v);
	free(ps);
	loop->bstate = NULL;
}

static int
poll_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events)
{
	struct sio__pollset *ps = loop->bstate;
	if (old == 0)
		return sio__pollset_add(loop, ps, fd, new_events);
	if (new_events == 0)
		sio__pollset_del(loop, ps, fd);
	else
		sio__pollset_set(loop, ps, fd, new_events);
	return 0;
}

static int
poll_check(sio_loop *loop, int timeout_ms, int queue)
{
	(void)queue;     /* no queue: poll() learns everything */
	struct sio__pollset *ps = loop->bstate;
	int n = poll(ps->v, (nfds_t)ps->n, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 1 : -1;
	loop->rescan = 0;       /* every fd was looked at */
	return n > 0 ? sio__pollset_report(loop, ps->v, ps->n) : 0;
}

/* sio_loop_fork(): the child has a new self-pipe. */
static int
poll_fork(sio_loop *loop)
{
	struct sio__pollset *ps = loop->bstate;
	ps->v[0].fd = loop->pipe_rd;
	return 0;
}

const struct sio__backend sio__backend_poll = {
	.name = "poll",
	.level_triggered = 1,
	.init = poll_init,
	.fini = poll_fini,
	.arm = poll_arm,
	.check = poll_check,
	.fork = poll_fork,
};
