/*
 * retire.c - the one deferred-free protocol every handle type uses.
 *
 * A handle stopped while the loop runs may still be looked at by the
 * dispatch in progress (it stands in the pending list, or a list walk
 * stands on it).  It is marked stopped by its owner and handed here: freed
 * at once when no run is in progress, else at the end of the iteration,
 * when nothing can point at it any more.
 */
#include "config.h"

#include <stdlib.h>

#include "sigio-internal.h"
#include "vec.h"

void
sio__retire(sio_loop *loop, void *handle)
{
	if (!loop->running) {
		free(handle);
		return;
	}
	/* Out of memory: a leak is better than a use after free. */
	if (SIO__VEC_RESERVE(&loop->graveyard, loop->graveyard.n + 1) < 0)
		return;
	loop->graveyard.v[loop->graveyard.n++] = handle;
}

void
sio__reap(sio_loop *loop)
{
	for (size_t i = 0; i < loop->graveyard.n; i++)
		free(loop->graveyard.v[i]);
	loop->graveyard.n = 0;
}

void
sio__reap_free(sio_loop *loop)
{
	sio__reap(loop);
	free(loop->graveyard.v);
	loop->graveyard.v = NULL;
	loop->graveyard.cap = 0;
}
