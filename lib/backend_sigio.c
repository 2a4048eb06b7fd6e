/*
 * backend_sigio.c - readiness announced by plain SIGIO.
 *
 * Plain SIGIO names no fd, and its instances coalesce while pending: one
 * SIGIO means "something changed", so the loop polls every O_ASYNC fd once
 * (a rescan) with a zero timeout.  The cost of one event therefore grows
 * with the number of watched fds; the rtsig backend, where Linux has it,
 * does not have that cost.  The rest (owner, O_ASYNC, recheck, fallback,
 * sleep) is shared with rtsig in sigdrive.c.  SIGIO is consumed with
 * sigtimedwait() while the loop works.
 */
#include "config.h"

#include <signal.h>
#include <stdlib.h>

#include "sigio-internal.h"

static int
sigio_init(sio_loop *loop)
{
	struct sio__sigdrive *sd = malloc(sizeof *sd);
	if (sd == NULL)
		return -1;
	if (sio__sd_init(loop, sd, 0) < 0 || sio__signals_want(loop, SIGIO, 1) < 0) {
		sio__sd_fini(sd);
		free(sd);
		return -1;
	}
	loop->bstate = sd;
	return 0;
}

static void
sigio_fini(sio_loop *loop)
{
	sio__signals_unwant(loop, SIGIO);
	sio__sd_fini(loop->bstate);
	free(loop->bstate);
	loop->bstate = NULL;
}

static int
sigio_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events)
{
	return sio__sd_arm(loop, loop->bstate, fd, old, new_events);
}

static int
sigio_wait(sio_loop *loop, int timeout_ms)
{
	if (sio__signals_take(loop, SIGIO)) {
		struct sio__sigrec rec = { SIGIO, -1, 0 };
		sio__loop_note_signal(loop, &rec);
	}
	return sio__sd_wait(loop, loop->bstate, timeout_ms);
}

static int
sigio_enter(sio_loop *loop)
{
	return sio__sd_enter(loop, loop->bstate);
}

static void
sigio_leave(sio_loop *loop)
{
	sio__signals_restore(loop);
}

const struct sio__backend sio__backend_sigio = {
	.name = "sigio",
	.level_triggered = 0,
	.init = sigio_init,
	.fini = sigio_fini,
	.arm = sigio_arm,
	.wait = sigio_wait,
	.enter = sigio_enter,
	.leave = sigio_leave,
};
