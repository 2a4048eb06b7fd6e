/*
 * pollset.c - an array of struct pollfd for the backends that poll: the
 * poll backend's set of every watched fd, and the signal-driven backends'
 * sets (fds armed for signals, fds polled directly, the scratch set of one
 * check).
 *
 * An fd's entry is found through its slot (sio__fdslot.bindex), so adding,
 * changing and removing are O(1): removal moves the last entry into the
 * hole.  An fd is in at most one set with an index, at a time.
 */
#include "config.h"

#include <poll.h>

#include "sigio-internal.h"
#include "vec.h"

int
sio__pollset_add(sio_loop *loop, struct sio__pollset *ps, int fd,
                 unsigned events)
{
	if (SIO__VEC_RESERVE(ps, ps->n + 1) < 0)
		return -1;
	sio__slot(loop, fd)->bindex = (int)ps->n;
	ps->v[ps->n++] = (struct pollfd){ .fd = fd,
		.events = sio__poll_from_events(events) };
	return 0;
}

void
sio__pollset_del(sio_loop *loop, struct sio__pollset *ps, int fd)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	size_t i = (size_t)slot->bindex, last = ps->n - 1;
	if (i != last) {
		ps->v[i] = ps->v[last];
		sio__slot(loop, ps->v[i].fd)->bindex = (int)i;
	}
	ps->n--;
	slot->bindex = -1;
}

void
sio__pollset_set(sio_loop *loop, struct sio__pollset *ps, int fd,
                 unsigned events)
{
	ps->v[sio__slot(loop, fd)->bindex].events = sio__poll_from_events(events);
}

/* Report what one poll() found in `v`: each ready watched fd, and the
 * watchers of a closed one (POLLNVAL) die with one SIO_ERROR call instead
 * of the loop spinning on it.  Returns 1 if the self-pipe is among the
 * ready fds: the caller reads it.  Backwards, because killing an fd of a
 * set removes it by moving the last entry into its place, already looked
 * at when `v` is that set. */
int
sio__pollset_report(sio_loop *loop, struct pollfd *v, size_t n)
{
	int pipe = 0;
	for (size_t i = n; i-- > 0;) {
		if (v[i].revents == 0)
			continue;
		if (v[i].fd == loop->pipe_rd)
			pipe = 1;
		else if (v[i].revents & POLLNVAL)
			sio__slot_kill(loop, v[i].fd, 1);
		else
			sio__fd_ready(loop, v[i].fd,
			              sio__revents_from_poll(v[i].revents));
	}
	return pipe;
}
