/*
 * sigqueue.c - the thread's queue of signals, for the signal-driven
 * backends: taking the signals, draining what the kernel queued into
 * records for the backend to decode, and passing on what belongs to
 * another loop of the same thread.
 *
 * What the kernel does, and what this file does about it:
 * - A handler run per event is slow once signals cross CPUs, so the
 *   backends keep their signals blocked while the loop works and consume
 *   them synchronously, in batches from a signalfd where there is one
 *   (measured: 2.94 us per event against 3.30 us with one sigtimedwait()
 *   per signal, at 256 events per iteration; SIGIO_DRAIN=sigtimedwait
 *   selects the latter).  Only when nothing is ready does the loop sleep
 *   with them unblocked (recheck.c); a signal then runs the handler, whose
 *   record on the self-pipe wakes the sleep.
 * - The queue is the thread's, not the loop's: another loop run by the
 *   same thread takes what is queued for this one (note_batch()).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(HAVE_SIGNALFD) && defined(HAVE_SYS_SIGNALFD_H)
#include <sys/signalfd.h>
#define SIO__HAVE_SIGNALFD 1
#endif

#include "sigbackend.h"

#include <stdatomic.h>

/* The signal-driven loops of the process.  Sleeping on a signalfd waits
 * on a queue the kernel keeps per process, not per thread: every signal
 * queued to any thread wakes every thread asleep on a signalfd, which
 * then finds nothing of its own and sleeps again.  One loop alone pays
 * nothing for that; with several, in several threads (memcached's
 * workers and dispatcher), each readiness signal would wake them all
 * (measured: memcached at 16 connections lost 40% of its throughput,
 * a quarter of the CPU going to its dispatcher's futile wakeups).  So
 * while two or more exist, they sleep on the handler's route instead,
 * whose signal reaches only the thread it names. */
static atomic_int sd_loops;

int
sio__sd_sleeps_on_sfd(const struct sio__sigdrive *sd)
{
	return sd->sleep_on_sfd &&
	       atomic_load_explicit(&sd_loops, memory_order_relaxed) == 1;
}

/* One queued signal, as a record: the reason codes POLL_IN..POLL_HUP mean
 * the kernel filled in fd and band; anything else (plain SIGIO, a kill(2))
 * names no fd. */
static struct sio__sigrec
record(int signo, int code, int fd, long band)
{
	struct sio__sigrec rec = { signo, -1, 0 };
	if (code >= POLL_IN && code <= POLL_HUP) {
		rec.fd = fd;
		rec.band = band;
	}
	return rec;
}

/* Records drained from the thread's queue.  The queue is the thread's, not
 * the loop's: when another loop of the process is run by the same thread
 * (nested in a callback, or in turn), what this loop took may be that
 * loop's news, and is passed on to it through its self-pipe. */
static void
note_batch(sio_loop *loop, const struct sio__sigrec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		loop->backend->decode(loop, &recs[i]);
	if (n > 0 && sio__signals_siblings(loop))
		for (size_t i = 0; i < n; i++)
			sio__signals_forward(loop, &recs[i]);
}

#ifdef SIO__HAVE_SIGNALFD
/* Read the queue in batches until it is empty: one system call for up to
 * 64 signals. */
static int
drain_signalfd(sio_loop *loop, struct sio__sigdrive *sd)
{
	struct signalfd_siginfo si[64];
	struct sio__sigrec recs[64];
	for (;;) {
		ssize_t n = read(sd->sfd, si, sizeof si);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? 0 : -1;
		size_t k = (size_t)n / sizeof si[0];
		for (size_t i = 0; i < k; i++)
			recs[i] = record((int)si[i].ssi_signo, si[i].ssi_code,
			                 (int)si[i].ssi_fd, (long)si[i].ssi_band);
		note_batch(loop, recs, k);
		if (k < sizeof si / sizeof si[0])
			return 0;
	}
}
#endif

/* Without a signalfd: one sigtimedwait() per queued signal, and one more
 * to find the queue empty. */
static int
drain_sigtimedwait(sio_loop *loop, struct sio__sigdrive *sd)
{
#ifdef HAVE_SIGTIMEDWAIT
	static const struct timespec zero = { 0, 0 };
	siginfo_t si;
	for (;;) {
		int signo = sigtimedwait(&sd->set, &si, &zero);
		if (signo < 0 && errno == EINTR)
			continue;
		if (signo < 0)
			return errno == EAGAIN ? 0 : -1;
		struct sio__sigrec rec = record(signo, si.si_code, si.si_fd,
		                                si.si_band);
		note_batch(loop, &rec, 1);
	}
#else
	/* Neither: the signals stay pending until the loop sleeps with them
	 * unblocked, and reach it through the handler and the self-pipe. */
	(void)loop;
	(void)sd;
	return 0;
#endif
}

int
sio__sd_drain(sio_loop *loop)
{
	struct sio__sigdrive *sd = loop->bstate;
#ifdef SIO__HAVE_SIGNALFD
	if (sd->sfd >= 0)
		return drain_signalfd(loop, sd);
#endif
	return drain_sigtimedwait(loop, sd);
}

/* Have the handler and the drain take `signo` for this loop.  `polite`: a
 * signal the application already handles is left to it (EBUSY). */
static int
take_signal(sio_loop *loop, struct sio__sigdrive *sd, int signo, int polite)
{
	if (sio__signals_want(loop, signo, 1, polite) < 0)
		return -1;
	sigaddset(&sd->set, signo);
	return 0;
}

/* ---- the backend's life --------------------------------------------------- */

/* Set up the loop's state; take the backend's signal (0 for SIGIO alone),
 * SIGIO (plain, or the queue's overflow) and SIGURG; open the signalfd. */
int
sio__sd_init(sio_loop *loop, int setsig)
{
	struct sio__sigdrive *sd = calloc(1, sizeof *sd);
	if (sd == NULL)
		return -1;
	*sd = (struct sio__sigdrive){ .setsig = setsig, .sfd = -1, .efd = -1 };
	sigemptyset(&sd->set);
	loop->bstate = sd;
	atomic_fetch_add(&sd_loops, 1);         /* sio__sd_fini() takes it back */
	sd->fb.v = malloc(16 * sizeof *sd->fb.v);
	if (sd->fb.v == NULL)
		goto err;
	sd->fb.cap = 16;
	sd->fb.v[0] = (struct pollfd){ .fd = loop->pipe_rd, .events = POLLIN };
	sd->fb.n = 1;
	if ((setsig != 0 && take_signal(loop, sd, setsig, loop->polite) < 0) ||
	    take_signal(loop, sd, SIGIO, loop->polite) < 0)
		goto err;
	/* Urgent data raises SIGURG at the owner.  If the application handles
	 * SIGURG itself, urgent interest is polled instead. */
	sd->have_urg = take_signal(loop, sd, SIGURG, 1) == 0;
#ifdef SIO__HAVE_SIGNALFD
	const char *how = getenv("SIGIO_DRAIN");
	/* Without one (out of fds, or a kernel or sandbox that refuses it)
	 * the queue is drained with sigtimedwait(), one signal per call:
	 * slower, not wrong, and better than no loop at all. */
	if (how == NULL || strcmp(how, "sigtimedwait") != 0)
		sd->sfd = signalfd(-1, &sd->set, SFD_NONBLOCK | SFD_CLOEXEC);
	/* rtsig sleeps on it (recheck.c); sigio keeps the handler's route,
	 * as do both without one.  SIGIO_SLEEP=handler chooses the handler
	 * for rtsig too, for comparison. */
	const char *sleep = getenv("SIGIO_SLEEP");
	sd->sleep_on_sfd = sd->sfd >= 0 && setsig != 0 &&
	                   (sleep == NULL || strcmp(sleep, "handler") != 0);
#endif
	return 0;
err:;
	int saved = errno;
	sio__sd_fini(loop);
	errno = saved;
	return -1;
}

void
sio__sd_fini(sio_loop *loop)
{
	struct sio__sigdrive *sd = loop->bstate;
	sio__sd_embed_close(loop);
	atomic_fetch_sub(&sd_loops, 1);
	if (sd->sfd >= 0)
		close(sd->sfd);
	for (int s = 1; s < 65; s++)
		if (sigismember(&sd->set, s))
			sio__signals_unwant(loop, s);
	free(sd->async.v);
	free(sd->fb.v);
	free(sd->check.v);
	free(sd->index.head);
	free(sd);
	loop->bstate = NULL;
}
