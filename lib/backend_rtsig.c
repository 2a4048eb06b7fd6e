/*
 * backend_rtsig.c - readiness announced by a queued real-time signal
 * (Linux: F_SETSIG).
 *
 * With F_SETSIG set to a real-time signal, the kernel queues one signal per
 * event, each carrying si_fd and si_band: the loop learns exactly which fds
 * changed, and one event costs the same whether 10 or 10,000 fds are
 * watched.  Owner is the loop's thread (F_SETOWN_EX, F_OWNER_TID), so each
 * loop hears only of its own fds and other threads are never interrupted.
 *
 * What the kernel does, and what this file does about it:
 * - While the loop works the signal stays blocked and queues up; before
 *   the loop would sleep it reads the queue in batches from a signalfd (or,
 *   without one, with sigtimedwait()).  Measured on 2 cores: the batch read
 *   costs what epoll_wait() costs per event, a handler per event 2.5 times
 *   that.  SIGIO_RTSIG_DRAIN=sigtimedwait selects the other drain, for
 *   measuring.
 * - The queue is bounded (RLIMIT_SIGPENDING, per user).  When it is full
 *   the kernel sends plain SIGIO to the same owner instead: SIGIO is blocked
 *   and consumed with the real-time signal, and means one full rescan.
 * - si_code is the reason (POLL_IN ... POLL_HUP) and si_band the poll bits;
 *   si_fd is the number the fd had when O_ASYNC was set.  Queued signals
 *   are not withdrawn when an fd is closed, so a record may name a number
 *   that now belongs to another file: the registry then finds no watcher,
 *   or the new file's watcher, which gets at worst a spurious call.
 * - Signals are edges: level-triggered delivery comes from the recheck set
 *   shared with the sigio backend (sigdrive.c).
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_SIGNALFD_H
#include <sys/signalfd.h>
#endif

#include "sigio-internal.h"

struct rtsig_state {
	struct sio__sigdrive sd;
	int signo;         /* the real-time signal */
	int sfd;           /* signalfd for signo and SIGIO, or -1 */
	sigset_t set;      /* signo and SIGIO */
};

static int
rtsig_init(sio_loop *loop)
{
	struct rtsig_state *rs = calloc(1, sizeof *rs);
	if (rs == NULL)
		return -1;
	rs->sfd = -1;
	rs->signo = sio__rtsig_acquire();
	if (rs->signo < 0)
		goto err_free;
	if (sio__sd_init(loop, &rs->sd, rs->signo) < 0)
		goto err_rt;
	if (sio__signals_want(loop, rs->signo, 1) < 0)
		goto err_sd;
	if (sio__signals_want(loop, SIGIO, 1) < 0)
		goto err_want;
	sigemptyset(&rs->set);
	sigaddset(&rs->set, rs->signo);
	sigaddset(&rs->set, SIGIO);
#if defined(HAVE_SIGNALFD) && defined(HAVE_SYS_SIGNALFD_H)
	const char *drain = getenv("SIGIO_RTSIG_DRAIN");
	if (drain == NULL || strcmp(drain, "sigtimedwait") != 0) {
		rs->sfd = signalfd(-1, &rs->set, SFD_NONBLOCK | SFD_CLOEXEC);
		if (rs->sfd < 0)
			goto err_sigio;
	}
#endif
	loop->rtsig_signo = rs->signo;
	loop->bstate = rs;
	return 0;
#if defined(HAVE_SIGNALFD) && defined(HAVE_SYS_SIGNALFD_H)
err_sigio:
	sio__signals_unwant(loop, SIGIO);
#endif
err_want:
	sio__signals_unwant(loop, rs->signo);
err_sd:
	sio__sd_fini(&rs->sd);
err_rt:
	sio__rtsig_release();
err_free:;
	int saved = errno;
	free(rs);
	errno = saved;
	return -1;
}

static void
rtsig_fini(sio_loop *loop)
{
	struct rtsig_state *rs = loop->bstate;
	if (rs->sfd >= 0)
		close(rs->sfd);
	sio__signals_unwant(loop, SIGIO);
	sio__signals_unwant(loop, rs->signo);
	sio__sd_fini(&rs->sd);
	sio__rtsig_release();
	loop->rtsig_signo = 0;
	free(rs);
	loop->bstate = NULL;
}

static int
rtsig_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events)
{
	struct rtsig_state *rs = loop->bstate;
	return sio__sd_arm(loop, &rs->sd, fd, old, new_events);
}

/* One queued signal, as a record: the reason codes POLL_IN..POLL_HUP mean
 * the kernel filled in fd and band; anything else (a kill(2) of our signal)
 * names no fd and is taken as "rescan". */
static void
note(sio_loop *loop, int signo, int code, int fd, long band)
{
	struct sio__sigrec rec = { signo, -1, 0 };
	if (code >= POLL_IN && code <= POLL_HUP) {
		rec.fd = fd;
		rec.band = band;
	}
	sio__loop_note_signal(loop, &rec);
}

#if defined(HAVE_SIGNALFD) && defined(HAVE_SYS_SIGNALFD_H)
/* Read the queue in batches until it is empty. */
static int
drain_signalfd(sio_loop *loop, struct rtsig_state *rs)
{
	struct signalfd_siginfo si[64];
	for (;;) {
		ssize_t n = read(rs->sfd, si, sizeof si);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		size_t k = (size_t)n / sizeof si[0];
		for (size_t i = 0; i < k; i++)
			note(loop, (int)si[i].ssi_signo, si[i].ssi_code,
			     (int)si[i].ssi_fd, (long)si[i].ssi_band);
		if (k < sizeof si / sizeof si[0])
			return 0;
	}
}
#endif

/* Without a signalfd: one sigtimedwait() per queued signal. */
static int
drain_sigtimedwait(sio_loop *loop, struct rtsig_state *rs)
{
#ifdef HAVE_SIGTIMEDWAIT
	static const struct timespec zero = { 0, 0 };
	siginfo_t si;
	for (;;) {
		int signo = sigtimedwait(&rs->set, &si, &zero);
		if (signo < 0 && errno == EINTR)
			continue;
		if (signo < 0)
			return errno == EAGAIN ? 0 : -1;
		note(loop, signo, si.si_code, si.si_fd, si.si_band);
	}
#else
	(void)loop;
	(void)rs;
	return 0;               /* the handler route only */
#endif
}

static int
rtsig_wait(sio_loop *loop, int timeout_ms)
{
	struct rtsig_state *rs = loop->bstate;
	int rc;
#if defined(HAVE_SIGNALFD) && defined(HAVE_SYS_SIGNALFD_H)
	if (rs->sfd >= 0)
		rc = drain_signalfd(loop, rs);
	else
#endif
		rc = drain_sigtimedwait(loop, rs);
	if (rc < 0)
		return -1;
	return sio__sd_wait(loop, &rs->sd, timeout_ms);
}

static int
rtsig_enter(sio_loop *loop)
{
	struct rtsig_state *rs = loop->bstate;
	return sio__sd_enter(loop, &rs->sd);
}

static void
rtsig_leave(sio_loop *loop)
{
	sio__signals_restore(loop);
}

const struct sio__backend sio__backend_rtsig = {
	.name = "rtsig",
	.level_triggered = 0,
	.init = rtsig_init,
	.fini = rtsig_fini,
	.arm = rtsig_arm,
	.wait = rtsig_wait,
	.enter = rtsig_enter,
	.leave = rtsig_leave,
};
