/*
 * async.c - cross-thread wake-ups.
 *
 * sio_async_send() may run in any thread or in a signal handler, so it
 * only sets two lock-free flags (the handle's, then the loop's) and, if the
 * loop's flag was clear, writes one wake-up record into the self-pipe.
 * Sends between two iterations therefore cost one pipe write and coalesce
 * into one callback.  The loop clears its flag before it looks at the
 * handles, so a send that races with the dispatch is either seen now or
 * sets the flag (and writes) again for the next iteration: never lost.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "list.h"
#include "sigio-internal.h"

sio_async *
sio_async_new(sio_loop *loop, sio_async_cb cb, void *arg)
{
	if (loop == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	struct sio_async *a = calloc(1, sizeof *a);
	if (a == NULL)
		return NULL;
	a->loop = loop;
	a->cb = cb;
	a->arg = arg;
	a->state = SIO__H_ACTIVE;
	atomic_init(&a->pending, 0);
	SIO__LIST_PUSH(loop->asyncs, a);
	loop->active++;
	return a;
}

int
sio_async_send(sio_async *a)
{
	if (a == NULL) {
		errno = EINVAL;
		return -1;
	}
	int saved = errno;
	sio_loop *loop = a->loop;
	atomic_store(&a->pending, 1);
	if (atomic_exchange(&loop->async_flag, 1) == 0) {
		/* A full pipe is readable already: the loop wakes anyway. */
		struct sio__sigrec rec = { 0, -1, 0 };
		(void)sio__selfpipe_write(loop->pipe_wr, &rec);
	}
	errno = saved;
	return 0;
}

void
sio_async_free(sio_async *a)
{
	if (a == NULL || a->state == SIO__H_STOPPED)
		return;
	sio_loop *loop = a->loop;
	SIO__LIST_UNLINK(loop->asyncs, a);  /* a dispatch may stand here */
	loop->active--;
	a->state = SIO__H_STOPPED;
	sio__retire(loop, a);
}

size_t
sio__async_dispatch(sio_loop *loop)
{
	size_t ran = 0;
	if (atomic_load(&loop->async_flag) == 0 ||
	    atomic_exchange(&loop->async_flag, 0) == 0)
		return 0;
	for (struct sio_async *a = loop->asyncs, *next; a != NULL; a = next) {
		next = a->next;
		if (a->state != SIO__H_ACTIVE || atomic_exchange(&a->pending, 0) == 0)
			continue;
		ran++;
		loop->stats.callbacks++;
		a->cb(a, a->arg);
	}
	return ran;
}

void
sio__async_free_all(sio_loop *loop)
{
	while (loop->asyncs != NULL) {
		struct sio_async *a = loop->asyncs;
		loop->asyncs = a->next;
		free(a);
	}
}
