/*
 * hook.c - prepare, check and idle hooks: callbacks run at fixed points of
 * every iteration (loop_iterate() in loop.c says where), for code that
 * must act around the loop's sleep rather than on an event.
 *
 * Each kind is a list in start order, appended at its tail, since the
 * contract promises that order.  A walk calls only the hooks started
 * before it began (their seq is below the one it read): a hook started by
 * a callback waits for the next iteration, so an idle hook that starts
 * another cannot keep one walk going for ever.  A hook stopped during a
 * run is unlinked at once but freed only by the reap (retire.c): the walk
 * may stand on it, and its kept `next` still leads to the rest.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "list.h"
#include "sigio-internal.h"

static sio_hook *
hook_start(sio_loop *loop, int kind, sio_hook_cb cb, void *arg)
{
	if (loop == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	struct sio_hook *h = calloc(1, sizeof *h);
	if (h == NULL)
		return NULL;
	*h = (struct sio_hook){ .loop = loop, .cb = cb, .arg = arg,
	                        .seq = loop->hook_seq++, .kind = (uint8_t)kind,
	                        .state = SIO__H_ACTIVE };
	SIO__TAILQ_APPEND(&loop->hooks[kind], h);
	if (kind == SIO__HOOK_IDLE) {
		loop->nidle++;
		loop->active++;
	}
	return h;
}

sio_hook *
sio_prepare_start(sio_loop *loop, sio_hook_cb cb, void *arg)
{
	return hook_start(loop, SIO__HOOK_PREPARE, cb, arg);
}

sio_hook *
sio_check_start(sio_loop *loop, sio_hook_cb cb, void *arg)
{
	return hook_start(loop, SIO__HOOK_CHECK, cb, arg);
}

sio_hook *
sio_idle_start(sio_loop *loop, sio_hook_cb cb, void *arg)
{
	return hook_start(loop, SIO__HOOK_IDLE, cb, arg);
}

void
sio_hook_stop(sio_hook *h)
{
	if (h == NULL || h->state == SIO__H_STOPPED)
		return;
	sio_loop *loop = h->loop;
	SIO__TAILQ_UNLINK(&loop->hooks[h->kind], h);   /* keeps h->next for a walk on it */
	if (h->kind == SIO__HOOK_IDLE) {
		loop->nidle--;
		loop->active--;
	}
	h->state = SIO__H_STOPPED;
	sio__retire(loop, h);
}

size_t
sio__hooks_run(sio_loop *loop, int kind)
{
	size_t ran = 0;
	uint64_t limit = loop->hook_seq;
	struct sio_hook *h = loop->hooks[kind].head, *next;
	for (; h != NULL && h->seq < limit; h = next) {
		next = h->next;
		if (h->state != SIO__H_ACTIVE)
			continue;
		ran++;
		loop->stats.callbacks++;
		h->cb(h, h->arg);
	}
	return ran;
}

void
sio__hooks_free(sio_loop *loop)
{
	for (int k = 0; k < SIO__NHOOK_KINDS; k++) {
		struct sio_hook *h = loop->hooks[k].head;
		while (h != NULL) {
			struct sio_hook *next = h->next;
			free(h);
			h = next;
		}
		loop->hooks[k].head = loop->hooks[k].tail = NULL;
	}
	loop->nidle = 0;
}
