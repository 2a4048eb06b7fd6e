/*
 * backend_sigio.c - readiness announced by plain SIGIO.
 *
 * Plain SIGIO names no fd, and its instances coalesce while pending: one
 * SIGIO means "something changed", so the loop polls every O_ASYNC fd once
 * (a rescan) with a zero timeout.  The cost of one event therefore grows
 * with the number of watched fds; the rtsig backend, where Linux has it,
 * does not have that cost.  Everything else (owner, O_ASYNC, the recheck
 * set, the poll fallback, the synchronous drain and the sleep) is shared
 * with rtsig in sigdrive.c.
 */
#include "config.h"

#include <stdlib.h>

#include "sigio-internal.h"

static int
sigio_init(sio_loop *loop)
{
	struct sio__sigdrive *sd = malloc(sizeof *sd);
	if (sd == NULL)
		return -1;
	if (sio__sd_open(loop, sd, 0) < 0) {
		free(sd);
		return -1;
	}
	loop->bstate = sd;
	return 0;
}

static void
sigio_fini(sio_loop *loop)
{
	sio__sd_close(loop, loop->bstate);
	free(loop->bstate);
	loop->bstate = NULL;
}

const struct sio__backend sio__backend_sigio = {
	.name = "sigio",
	.level_triggered = 0,
	.init = sigio_init,
	.fini = sigio_fini,
	.arm = sio__sd_arm,
	.wait = sio__sd_wait,
	.enter = sio__sd_enter,
	.leave = sio__sd_leave,
	.fork = sio__sd_fork,
	.alias_of = sio__sd_alias_of,
};
