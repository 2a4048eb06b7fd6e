/*
 * backend_sigio.c - readiness announced by plain SIGIO.
 *
 * Plain SIGIO names no fd, and its instances coalesce while pending: one
 * SIGIO means "something changed", so the loop polls every O_ASYNC fd once
 * (a rescan) with a zero timeout.  The cost of one event therefore grows
 * with the number of watched fds; the rtsig backend, where Linux has it,
 * does not have that cost.  Everything else (owner, O_ASYNC, the recheck
 * set, the poll fallback, the synchronous drain and the sleep) is shared
 * with rtsig: see sigbackend.h.
 */
#include "config.h"

#include "sigbackend.h"

static int
sigio_init(sio_loop *loop)
{
	return sio__sd_init(loop, 0);
}

/* SIGIO, and SIGURG for urgent data, name no fd: look at every one. */
static void
sigio_decode(sio_loop *loop, const struct sio__sigrec *rec)
{
	(void)rec;
	loop->stats.signals++;
	loop->rescan = 1;
}

const struct sio__backend sio__backend_sigio = {
	.name = "sigio",
	.level_triggered = 0,
	.init = sigio_init,
	.fini = sio__sd_fini,
	.arm = sio__sd_arm,
	.drain = sio__sd_drain,
	.decode = sigio_decode,
	.check = sio__sd_check,
	.enter = sio__sd_enter,
	.leave = sio__sd_leave,
	.fork = sio__sd_fork,
	.adopt = sio__sd_adopt,
	.alias_of = sio__sd_alias_of,
	.embed_fd = sio__sd_embed_fd,
};
