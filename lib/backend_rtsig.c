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
 *   the record is reported to every fd of the loop on the description, and
 *   fasync.c turns O_ASYNC on again through a survivor when that fd is
 *   disarmed.
 *   Queued signals are not withdrawn when an fd is closed, so a record may
 *   name a number that now belongs to another file: the registry then
 *   finds no watcher, or the new file's watcher, which gets at worst a
 *   spurious call.
 * - Urgent data raises both SIGURG and a POLL_PRI record: the record names
 *   the fd, so SIGURG needs no rescan here.
 * Owner and O_ASYNC (fasync.c), the batch drain from a signalfd
 * (sigqueue.c), the recheck set that keeps delivery level-triggered and the
 * sleep (recheck.c) are shared with the sigio backend: see sigbackend.h.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>

#include "sigbackend.h"

static int
rtsig_init(sio_loop *loop)
{
	int signo = sio__rtsig_acquire();
	if (signo < 0)
		return -1;
	if (sio__sd_init(loop, signo) < 0) {
		int saved = errno;
		sio__rtsig_release();
		errno = saved;
		return -1;
	}
	return 0;
}

static void
rtsig_fini(sio_loop *loop)
{
	sio__sd_fini(loop);
	sio__rtsig_release();
}

/* The real-time signal's records name the fd (si_fd) and carry poll(2)
 * bits (si_band); one sent by kill() names none.  Plain SIGIO means the
 * queue overflowed and events were lost.  SIGURG needs nothing: urgent
 * data queues a POLL_PRI record as well. */
static void
rtsig_decode(sio_loop *loop, const struct sio__sigrec *rec)
{
	const struct sio__sigdrive *sd = loop->bstate;
	loop->stats.signals++;
	if (rec->signo == sd->setsig) {
		if (rec->fd >= 0)
			sio__desc_ready(loop, rec->fd,
			                sio__revents_from_poll((short)rec->band));
		else
			loop->rescan = 1;
	} else if (rec->signo == SIGIO) {
		loop->stats.queue_overflows++;
		loop->rescan = 1;
	}
}

const struct sio__backend sio__backend_rtsig = {
	.name = "rtsig",
	.level_triggered = 0,
	.init = rtsig_init,
	.fini = rtsig_fini,
	.arm = sio__sd_arm,
	.drain = sio__sd_drain,
	.decode = rtsig_decode,
	.check = sio__sd_check,
	.enter = sio__sd_enter,
	.leave = sio__sd_leave,
	.fork = sio__sd_fork,
	.adopt = sio__sd_adopt,
	.alias_of = sio__sd_alias_of,
	.embed_fd = sio__sd_embed_fd,
};
