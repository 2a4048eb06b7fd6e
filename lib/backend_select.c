/*
 * backend_select.c - readiness from select(2), for the oldest platforms.
 *
 * An fd_set holds only fds below FD_SETSIZE, and FD_SET beyond it writes
 * out of bounds: such fds are refused with ERANGE.  select reports no
 * hang-up or error bits (they show as readability or writability, and the
 * callback's read or write tells the rest).  It fails as a whole with EBADF
 * when one watched fd was closed: the culprits are then found one by one
 * with fcntl(F_GETFD) and their watchers die.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/select.h>

#include "sigio-internal.h"

struct select_state {
	fd_set rd, wr;   /* what is watched */
	fd_set ex;       /* ... for urgent data (exceptional conditions) */
	int maxfd;       /* highest fd in either set, or -1 */
};

static int
select_init(sio_loop *loop)
{
	if (loop->pipe_rd >= FD_SETSIZE) {
		errno = ERANGE;
		return -1;
	}
	struct select_state *ss = calloc(1, sizeof *ss);
	if (ss == NULL)
		return -1;
	FD_ZERO(&ss->rd);
	FD_ZERO(&ss->wr);
	FD_ZERO(&ss->ex);
	ss->maxfd = -1;
	loop->bstate = ss;
	return 0;
}

static void
select_fini(sio_loop *loop)
{
	free(loop->bstate);
	loop->bstate = NULL;
}

static int
select_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events)
{
	struct select_state *ss = loop->bstate;
	if (fd >= FD_SETSIZE) {
		errno = ERANGE;
		return -1;
	}
	FD_CLR(fd, &ss->rd);
	FD_CLR(fd, &ss->wr);
	FD_CLR(fd, &ss->ex);
	if (new_events & SIO_READ)
		FD_SET(fd, &ss->rd);
	if (new_events & SIO_WRITE)
		FD_SET(fd, &ss->wr);
	if (new_events & SIO_URGENT)
		FD_SET(fd, &ss->ex);
	if (new_events != 0 && fd > ss->maxfd)
		ss->maxfd = fd;
	while (ss->maxfd >= 0 && !FD_ISSET(ss->maxfd, &ss->rd) &&
	       !FD_ISSET(ss->maxfd, &ss->wr) && !FD_ISSET(ss->maxfd, &ss->ex))
		ss->maxfd--;
	return 0;
}

/* select said EBADF: kill the watchers of every closed fd. */
static void
select_kill_closed(sio_loop *loop)
{
	struct select_state *ss = loop->bstate;
	for (int fd = ss->maxfd; fd >= 0; fd--)
		if ((FD_ISSET(fd, &ss->rd) || FD_ISSET(fd, &ss->wr) ||
		     FD_ISSET(fd, &ss->ex)) &&
		    fcntl(fd, F_GETFD) < 0 && errno == EBADF)
			sio__slot_kill(loop, fd, 1);
}

static int
select_check(sio_loop *loop, int timeout_ms, int queue)
{
	(void)queue;     /* no queue: select() learns everything */
	struct select_state *ss = loop->bstate;
	fd_set rd = ss->rd, wr = ss->wr, ex = ss->ex;
	FD_SET(loop->pipe_rd, &rd);
	int nfds = (ss->maxfd > loop->pipe_rd ? ss->maxfd : loop->pipe_rd) + 1;
	struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
	int n = select(nfds, &rd, &wr, &ex, timeout_ms < 0 ? NULL : &tv);
	if (n < 0) {
		if (errno == EINTR)
			return 1;       /* a handler wrote its record */
		if (errno != EBADF)
			return -1;
		select_kill_closed(loop);
		return 0;
	}
	loop->rescan = 0;       /* every fd was looked at */
	for (int fd = 0; fd <= ss->maxfd && n > 0; fd++) {
		unsigned r = 0;
		if (fd != loop->pipe_rd && FD_ISSET(fd, &rd))
			r |= SIO_READ;
		if (FD_ISSET(fd, &wr))
			r |= SIO_WRITE;
		if (FD_ISSET(fd, &ex))
			r |= SIO_URGENT;
		if (r) {
			n--;
			sio__fd_ready(loop, fd, r);
		}
	}
	return FD_ISSET(loop->pipe_rd, &rd) != 0;
}

/* sio_loop_fork(): the child's new self-pipe must fit an fd_set too. */
static int
select_fork(sio_loop *loop)
{
	if (loop->pipe_rd >= FD_SETSIZE) {
		errno = ERANGE;
		return -1;
	}
	return 0;
}

const struct sio__backend sio__backend_select = {
	.name = "select",
	.level_triggered = 1,
	.init = select_init,
	.fini = select_fini,
	.arm = select_arm,
	.check = select_check,
	.fork = select_fork,
};
