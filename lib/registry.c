/*
 * registry.c - the callback registry: fd -> watchers, the pending list of
 * one iteration and the recheck set.
 *
 * Slots are indexed by fd number, so finding the watchers of a reported fd
 * is O(1).  A report for an fd nobody watches any more (a stale signal, a
 * number closed and reused) finds an empty slot, or a slot whose watchers
 * are new, and never reaches a stopped watcher: stopped watchers leave
 * their slot at once.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "list.h"
#include "sigio-internal.h"
#include "vec.h"


struct sio__fdslot *
sio__slot(sio_loop *loop, int fd)
{
	return fd >= 0 && fd < loop->nslots ? &loop->slots[fd] : NULL;
}

int
sio__slot_reserve(sio_loop *loop, int fd)
{
	if (fd < loop->nslots)
		return 0;
	size_t cap = (size_t)loop->nslots;
	struct sio__fdslot *s = sio__vec_grow(loop->slots, &cap, (size_t)fd + 1,
	                                      sizeof *s, 16);
	if (s == NULL)
		return -1;
	for (size_t i = (size_t)loop->nslots; i < cap; i++)
		s[i] = (struct sio__fdslot){ .bindex = -1, .alias = -1,
		                             .hnext = -1 };
	loop->slots = s;
	loop->nslots = (int)cap;
	return 0;
}

unsigned
sio__slot_events(const struct sio__fdslot *slot)
{
	unsigned u = 0;
	for (const struct sio_io *w = slot->head; w != NULL; w = w->next)
		u |= w->events & SIO__EVENT_MASK;
	return u;
}

static void
make_pending(sio_loop *loop, struct sio_io *w, unsigned revents)
{
	w->revents |= revents;
	if (w->pending)
		return;
	/* Out of memory: drop this report; the fd stays in the recheck set
	 * (or is rescanned) and is reported again next iteration. */
	if (SIO__VEC_RESERVE(&loop->pending, loop->pending.n + 1) < 0) {
		sio__recheck_add(loop, w->fd);
		return;
	}
	loop->pending.v[loop->pending.n++] = w;
	w->pending = 1;
}

void
sio__fd_ready(sio_loop *loop, int fd, unsigned revents)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	if (slot == NULL)
		return;
	for (struct sio_io *w = slot->head; w != NULL; w = w->next) {
		unsigned want = w->events & SIO__EVENT_MASK;
		if (want == 0)
			continue;
		unsigned r = revents & want;
		/* A hang-up or error is news for every watcher, and reading or
		 * writing is how the callback learns the details. */
		if (revents & (SIO_HUP | SIO_ERROR))
			r |= want | (revents & (SIO_HUP | SIO_ERROR));
		if (r)
			make_pending(loop, w, r);
	}
}

/* The watchers of `fd` die: its file was closed under them (`notify`: they
 * get one last SIO_ERROR call) or its number was reused by another file
 * (no call: the new file's events are not theirs).  Dead watchers stay
 * allocated, on loop->dead, until sio_io_stop(). */
void
sio__slot_kill(sio_loop *loop, int fd, int notify)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	if (slot == NULL)
		return;
	while (slot->head != NULL) {
		struct sio_io *w = slot->head;
		slot->head = w->next;
		if (w->events & SIO__EVENT_MASK)
			loop->active--;
		w->state = SIO__IO_DEAD;
		w->notify_dead = (uint8_t)notify;
		SIO__LIST_PUSH(loop->dead, w);
		if (notify)
			make_pending(loop, w, SIO_ERROR | (w->events & SIO__EVENT_MASK));
	}
	if (slot->armed)
		(void)loop->backend->arm(loop, fd, slot->armed, 0);
	slot->armed = 0;
}

void
sio__recheck_add(sio_loop *loop, int fd)
{
	if (loop->backend->level_triggered)
		return;
	struct sio__fdslot *slot = sio__slot(loop, fd);
	if (slot == NULL || slot->in_recheck)
		return;
	/* Out of memory: fall back to a full rescan, which needs no memory. */
	if (SIO__VEC_RESERVE(&loop->recheck, loop->recheck.n + 1) < 0) {
		loop->rescan = 1;
		return;
	}
	loop->recheck.v[loop->recheck.n++] = fd;
	slot->in_recheck = 1;
}

/* Events newly wanted on `fd`: what arrived before they were armed raised
 * no signal, so only a poll can tell.  The backend must look before it
 * dispatches anything else for the fd: a signal record naming a part of
 * what is there (POLL_IN, for data after an urgent byte that came first)
 * would run the callback without the rest, and a read that steps over the
 * urgent mark makes the kernel forget the byte. */
void
sio__recheck_new(sio_loop *loop, int fd)
{
	sio__recheck_add(loop, fd);
	if (!loop->backend->level_triggered)
		loop->recheck_new = 1;
}

/* The next fd of the description of `fd`, `fd` itself if it has no
 * ring: the signal-driven backends keep rings (fasync.c), the others
 * none. */
static int
desc_next(sio_loop *loop, int fd)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	return slot != NULL && slot->alias >= 0 ? slot->alias : fd;
}

void
sio__desc_ready(sio_loop *loop, int fd, unsigned revents)
{
	int m = fd;
	do {
		sio__fd_ready(loop, m, revents);
		m = desc_next(loop, m);
	} while (m != fd);
}

/* `fd` itself may be unwatched, its description watched through a dup():
 * the backend finds the ring. */
void
sio__desc_recheck_new(sio_loop *loop, int fd)
{
	sio__recheck_new(loop, fd);
	int start = loop->backend->alias_of != NULL ?
	            loop->backend->alias_of(loop, fd) : -1;
	if (start < 0)
		return;
	int m = start;
	do {
		sio__recheck_new(loop, m);
		m = desc_next(loop, m);
	} while (m != start);
}

/* Stop and free every watcher: sio_loop_free().  `disarm` 0: leave the
 * fds as they are (a child's copy of a loop whose fds the parent serves). */
void
sio__registry_free(sio_loop *loop, int disarm)
{
	for (int fd = 0; fd < loop->nslots; fd++) {
		struct sio__fdslot *slot = &loop->slots[fd];
		while (slot->head != NULL) {
			struct sio_io *w = slot->head;
			slot->head = w->next;
			free(w);
		}
		if (slot->armed && disarm)
			(void)loop->backend->arm(loop, fd, slot->armed, 0);
		slot->armed = 0;
	}
	while (loop->dead != NULL) {
		struct sio_io *w = loop->dead;
		loop->dead = w->next;
		free(w);
	}
	free(loop->slots);
	free(loop->pending.v);
	free(loop->recheck.v);
	loop->slots = NULL;
	loop->nslots = 0;
	loop->pending = (struct sio__pvec){ 0 };
	loop->recheck = (struct sio__ivec){ 0 };
}

unsigned
sio__revents_from_poll(short pevents)
{
	unsigned r = 0;
	if (pevents & POLLIN)
		r |= SIO_READ;
	if (pevents & POLLOUT)
		r |= SIO_WRITE;
	if (pevents & POLLHUP)
		r |= SIO_HUP;
	if (pevents & POLLERR)
		r |= SIO_ERROR;
	if (pevents & POLLPRI)
		r |= SIO_URGENT;
	return r;
}

short
sio__poll_from_events(unsigned events)
{
	short p = 0;
	if (events & SIO_READ)
		p |= POLLIN;
	if (events & SIO_WRITE)
		p |= POLLOUT;
	if (events & SIO_URGENT)
		p |= POLLPRI;
	return p;
}
