/*
 * backend_rtsig.c - readiness announced by a queued real-time signal
 * (Linux: F_SETSIG).
 *
 * With F_SETSIG set to a real-time signal, the kernel queues one signal per
 * event, each carrying si_fd and si_band: the loop learns exactly which fds
 * changed, and one event costs the same whether 10 or 10,000 fds are
 * watched.  The owner is the loop's thread (F_SETOWN_EX, F_OWNER_TID), so
 * each loop hears only of its own fds and other threads are never
 * interrupted.
 *
 * What the kernel does, and what this backend does about it:
 * - The queue is bounded (RLIMIT_SIGPENDING, per user).  When it is full
 *   the kernel sends plain SIGIO to the same owner instead: SIGIO is drained
 *   with the real-time signal and means one full rescan.
 * - si_code is the reason (POLL_IN ... POLL_HUP) and si_band the poll bits;
 *   si_fd names the open file description by the fd through which O_ASYNC
 *   was turned on, which need not be the watched fd (a dup() of it):
 *   sigdrive.c reports a record to every fd of the loop on the description
 *   and turns O_ASYNC on again through a survivor when that fd is disarmed.
 *   Queued signals are not withdrawn when an fd is closed, so a record may
 *   name a number that now belongs to another file: the registry then
 *   finds no watcher, or the new file's watcher, which gets at worst a
 *   spurious call.
 * - Urgent data raises both SIGURG and a POLL_PRI record: the record names
 *   the fd, so SIGURG needs no rescan here.
 * Owner, O_ASYNC, the recheck set that keeps delivery level-triggered, the
 * batch drain from a signalfd and the sleep are shared with the sigio
 * backend in sigdrive.c.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "sigio-internal.h"

static int
rtsig_init(sio_loop *loop)
{
	struct sio__sigdrive *sd = malloc(sizeof *sd);
	if (sd == NULL)
		return -1;
	int signo = sio__rtsig_acquire();
	if (signo < 0 || sio__sd_open(loop, sd, signo) < 0) {
		int saved = errno;
		if (signo >= 0)
			sio__rtsig_release();
		free(sd);
		errno = saved;
		return -1;
	}
	loop->rtsig_signo = signo;
	loop->bstate = sd;
	return 0;
}

static void
rtsig_fini(sio_loop *loop)
{
	sio__sd_close(loop, loop->bstate);
	sio__rtsig_release();
	loop->rtsig_signo = 0;
	free(loop->bstate);
	loop->bstate = NULL;
}

const struct sio__backend sio__backend_rtsig = {
	.name = "rtsig",
	.level_triggered = 0,
	.init = rtsig_init,
	.fini = rtsig_fini,
	.arm = sio__sd_arm,
	.wait = sio__sd_wait,
	.enter = sio__sd_enter,
	.leave = sio__sd_leave,
	.fork = sio__sd_fork,
	.alias_of = sio__sd_alias_of,
};
