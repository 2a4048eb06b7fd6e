/*
 * backend_poll.c - readiness from poll(2).
 *
 * Level-triggered by nature: every wait asks the kernel about every watched
 * fd, O(n) per iteration.  Slot 0 of the pollfd array is the self-pipe.
 * Quirks: POLLNVAL means the fd was closed while watched (its watchers die
 * with one SIO_ERROR call instead of the loop spinning on it); EINTR is not
 * an error (the loop simply iterates again).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>

#include "sigio-internal.h"

struct poll_state {
	struct pollfd *fds;  /* [0] is the self-pipe, then the watched fds */
	size_t n, cap;
};

static int
poll_init(sio_loop *loop)
{
	struct poll_state *ps = calloc(1, sizeof *ps);
	if (ps == NULL)
		return -1;
	ps->cap = 64;
	ps->fds = malloc(ps->cap * sizeof *ps->fds);
	if (ps->fds == NULL) {
		free(ps);
		return -1;
	}
	ps->fds[0] = (struct pollfd){ .fd = loop->pipe_rd, .events = POLLIN };
	ps->n = 1;
	loop->bstate = ps;
	return 0;
}

static void
poll_fini(sio_loop *loop)
{
	struct poll_state *ps = loop->bstate;
	free(ps->fds);
	free(ps);
	loop->bstate = NULL;
}

static int
poll_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events)
{
	struct poll_state *ps = loop->bstate;
	struct sio__fdslot *slot = sio__slot(loop, fd);
	if (old == 0) {                 /* add */
		if (ps->n == ps->cap) {
			struct pollfd *nf = realloc(ps->fds, 2 * ps->cap * sizeof *nf);
			if (nf == NULL)
				return -1;
			ps->fds = nf;
			ps->cap *= 2;
		}
		slot->bindex = (int)ps->n;
		ps->fds[ps->n++] = (struct pollfd){ .fd = fd,
			.events = sio__poll_from_events(new_events) };
	} else if (new_events == 0) {   /* remove: move the last entry here */
		size_t i = (size_t)slot->bindex, last = ps->n - 1;
		if (i != last) {
			ps->fds[i] = ps->fds[last];
			sio__slot(loop, ps->fds[i].fd)->bindex = (int)i;
		}
		ps->n--;
		slot->bindex = -1;
	} else {
		ps->fds[slot->bindex].events = sio__poll_from_events(new_events);
	}
	return 0;
}

static int
poll_wait(sio_loop *loop, int timeout_ms)
{
	struct poll_state *ps = loop->bstate;
	if (timeout_ms != 0)
		loop->stats.sleeps++;
	int n = poll(ps->fds, (nfds_t)ps->n, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -1;
	/* Backwards: killing an fd moves the last entry into its place,
	 * which has then been looked at already. */
	for (size_t i = ps->n; i-- > 1 && n > 0;) {
		struct pollfd *p = &ps->fds[i];
		if (p->revents == 0)
			continue;
		n--;
		if (p->revents & POLLNVAL)
			sio__slot_kill(loop, p->fd, 1);
		else
			sio__fd_ready(loop, p->fd, sio__revents_from_poll(p->revents));
	}
	if (ps->fds[0].revents & POLLIN)
		sio__selfpipe_drain(loop);
	return 0;
}

/* sio_loop_fork(): the child has a new self-pipe. */
static int
poll_fork(sio_loop *loop)
{
	struct poll_state *ps = loop->bstate;
	ps->fds[0].fd = loop->pipe_rd;
	return 0;
}

const struct sio__backend sio__backend_poll = {
	.name = "poll",
	.level_triggered = 1,
	.init = poll_init,
	.fini = poll_fini,
	.arm = poll_arm,
	.wait = poll_wait,
	.fork = poll_fork,
};
