/*
 * io.c - fd watchers: starting, changing and stopping them.  Which fds are
 * watched, and by whom, is the registry's (registry.c); what the kernel
 * is told is the backend's (its arm member).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "fdflags.h"
#include "list.h"
#include "sigio-internal.h"

static int
check_events(unsigned events)
{
	if (events & ~(unsigned)(SIO__EVENT_MASK | SIO_EDGE)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Tell the backend the slot's new union of events. */
static int
slot_rearm(sio_loop *loop, int fd, struct sio__fdslot *slot)
{
	unsigned want = sio__slot_events(slot);
	if (want == slot->armed)
		return 0;
	if (loop->backend->arm(loop, fd, slot->armed, want) < 0)
		return -1;
	slot->armed = want;
	return 0;
}

sio_io *
sio_io_start(sio_loop *loop, int fd, unsigned events, sio_io_cb cb, void *arg)
{
	struct stat st;
	if (loop == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (check_events(events) < 0)
		return NULL;
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	if (fstat(fd, &st) < 0 || sio__fd_nonblock(fd) < 0)
		return NULL;
	if (sio__slot_reserve(loop, fd) < 0)
		return NULL;
	struct sio__fdslot *slot = &loop->slots[fd];
	if (slot->head != NULL && (slot->dev != st.st_dev || slot->ino != st.st_ino))
		sio__slot_kill(loop, fd, 0);   /* the old file was closed */

	struct sio_io *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	*w = (struct sio_io){ .loop = loop, .fd = fd, .events = events,
	                      .cb = cb, .arg = arg, .state = SIO__IO_ACTIVE };
	if (slot->head == NULL) {
		slot->dev = st.st_dev;
		slot->ino = st.st_ino;
	}
	SIO__LIST_PUSH(slot->head, w);
	if (slot_rearm(loop, fd, slot) < 0) {
		int saved = errno;
		SIO__LIST_UNLINK(slot->head, w);
		free(w);
		errno = saved;
		return NULL;
	}
	if (events & SIO__EVENT_MASK) {
		loop->active++;
		sio__recheck_new(loop, fd);
	}
	return w;
}

int
sio_io_set(sio_io *io, unsigned events)
{
	if (io == NULL || io->state != SIO__IO_ACTIVE) {
		errno = EINVAL;
		return -1;
	}
	if (check_events(events) < 0)
		return -1;
	sio_loop *loop = io->loop;
	struct sio__fdslot *slot = &loop->slots[io->fd];
	unsigned old = io->events;
	io->events = events;
	if (slot_rearm(loop, io->fd, slot) < 0) {
		int saved = errno;
		io->events = old;
		errno = saved;
		return -1;
	}
	int was_active = (old & SIO__EVENT_MASK) != 0;
	int is_active = (events & SIO__EVENT_MASK) != 0;
	loop->active += (size_t)is_active - (size_t)was_active;
	/* Newly wanted events may be ready already: no signal will say so. */
	if ((events & ~old) & SIO__EVENT_MASK)
		sio__recheck_new(loop, io->fd);
	/* Events no longer wanted must not be delivered this iteration. */
	io->revents &= events | SIO_HUP | SIO_ERROR;
	return 0;
}

unsigned
sio_io_events(const sio_io *io)
{
	return io == NULL ? 0 : io->events;
}

int
sio_io_fd(const sio_io *io)
{
	return io == NULL ? -1 : io->fd;
}

void
sio_io_stop(sio_io *io)
{
	if (io == NULL || io->state == SIO__IO_STOPPED)
		return;
	sio_loop *loop = io->loop;
	if (io->state == SIO__IO_DEAD) {
		SIO__LIST_UNLINK(loop->dead, io);
	} else {
		struct sio__fdslot *slot = &loop->slots[io->fd];
		SIO__LIST_UNLINK(slot->head, io);
		if (io->events & SIO__EVENT_MASK)
			loop->active--;
		/* Undoing O_ASYNC may fail if the fd was closed: nothing to undo. */
		if (slot_rearm(loop, io->fd, slot) < 0)
			slot->armed = sio__slot_events(slot);
	}
	io->state = SIO__IO_STOPPED;
	io->revents = 0;
	sio__retire(loop, io);          /* pending[] may still point here */
}
