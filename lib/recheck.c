/*
 * recheck.c - the check of the signal-driven backends: one poll of the
 * self-pipe, the fds polled directly (the fallback set) and the recheck
 * set, or of every fd on a rescan; with a timeout, it is also the sleep.
 *
 * What the kernel does, and what this file does about it:
 * - A readiness signal is an edge: data left unread raises no new one.
 *   Level-triggered delivery comes from the recheck set: fds whose callback
 *   ran, and new or widened watchers, are polled before the loop may sleep.
 *   Polling a socket that is not writable also arms the kernel's "no
 *   space" flag, so that its later POLL_OUT signal is not lost (POLL_OUT
 *   is raised only after a writer found the buffer full).
 * - The sleep unblocks the runtime's signals (ppoll's mask): a signal then
 *   runs the handler, whose record on the self-pipe ends the sleep.  The
 *   pipe closes the race between the last drain and the sleep, and covers
 *   platforms without ppoll.  Folding the check into the sleep saves a
 *   system call each time the loop goes idle: a recheck fd still ready
 *   makes ppoll() return at once, as a separate check would have.
 *   A rescan's sleep polls every watched fd: it keeps the readiness
 *   signals blocked (see sleep_on_handler()).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>

#include "sigbackend.h"
#include "vec.h"

/* Copy the fds to look at now into the check set: the self-pipe and the
 * directly polled ones, and every O_ASYNC fd on a rescan, else only the
 * recheck set.  Returns 1 for a rescan (every watched fd is in the set),
 * 0 otherwise, -1 when out of memory. */
static int
build_check(sio_loop *loop, struct sio__sigdrive *sd)
{
	struct sio__pollset *c = &sd->check;
	size_t need = sd->fb.n + (loop->rescan ? sd->async.n : loop->recheck.n) + 1;
	if (need > c->cap && SIO__VEC_RESERVE(c, need) < 0)
		return -1;
	c->n = 0;
	for (size_t i = 0; i < sd->fb.n; i++)
		c->v[c->n++] = sd->fb.v[i];
	for (size_t i = 0; i < loop->recheck.n; i++) {
		struct sio__fdslot *slot = sio__slot(loop, loop->recheck.v[i]);
		slot->in_recheck = 0;
		if (!loop->rescan && slot->armed && !slot->fallback)
			c->v[c->n++] = sd->async.v[slot->bindex];
	}
	loop->recheck.n = 0;
	loop->recheck_new = 0;
	if (loop->rescan) {
		loop->rescan = 0;
		loop->stats.rescans++;
		for (size_t i = 0; i < sd->async.n; i++)
			c->v[c->n++] = sd->async.v[i];
		return 1;
	}
	return 0;
}

/* Poll `v` without blocking. */
static int
poll_now(struct pollfd *v, nfds_t nv)
{
	int n;
	while ((n = poll(v, nv, 0)) < 0 && errno == EINTR)
		;
	return n;
}

/* Poll with the signalfd in the set (it is the last entry), the runtime's
 * signals still blocked: a signal queued before or during the poll makes
 * it readable.  As the sleep, no handler runs and nothing goes through the
 * self-pipe, and the thread's mask is not touched at all (measured against
 * the handler route below: see the README's benchmark section).  With
 * timeout 0, it looks at the queue in the same system call as the fds. */
static int
poll_with_signalfd(struct sio__sigdrive *sd, size_t nv, int timeout_ms)
{
	sd->check.v[nv] = (struct pollfd){ .fd = sd->sfd, .events = POLLIN };
	return poll(sd->check.v, (nfds_t)nv + 1, timeout_ms);
}

/* Sleep with the runtime's signals unblocked: one arriving runs the
 * handler, whose record in the self-pipe ends the sleep.  The route where
 * there is no signalfd.  A sleep that polls every watched fd (`full`)
 * needs no readiness signal to end it: any readiness ends the poll.  It
 * keeps them blocked, so that the ones raised as it wakes queue quietly
 * for the next drain, instead of each signalling a thread that is already
 * running (an interrupt of its CPU: a third of the sigio backend's time
 * at 16 connections, measured with perf). */
static int
sleep_on_handler(sio_loop *loop, struct pollfd *v, nfds_t nv, int timeout_ms,
                 int full)
{
	const struct sio__sigdrive *sd = loop->bstate;
	sigset_t mask;
	if (sio__signals_sleep_mask(loop, &mask, full ? &sd->set : NULL) < 0)
		return -1;
#ifdef HAVE_PPOLL
	struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
	int n = ppoll(v, nv, timeout_ms < 0 ? NULL : &ts, &mask);
	if (n >= 0 || errno != EFAULT)
		return n;
	/* EFAULT cannot come from these arguments: valgrind 3.19 (Debian
	 * 12) hands the kernel a freed copy of the mask when it restarts
	 * an interrupted ppoll().  Look once the other way, without
	 * sleeping: the next iteration sleeps again. */
	timeout_ms = 0;
#endif
	/* Unblocking, then polling, is not atomic, but the self-pipe is in
	 * the set: a signal in between has written to it. */
	sigset_t busy;
	pthread_sigmask(SIG_SETMASK, &mask, &busy);
	int r = poll(v, nv, timeout_ms);
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &busy, NULL);
	errno = saved;
	return r;
}

/* build_check() emptied the recheck set (and the rescan flag) into a poll
 * that failed: what it was to look at would be forgotten, and data that
 * came before O_ASYNC was set raises no signal.  Look at every fd next
 * time instead. */
static int
recheck_failed(sio_loop *loop)
{
	loop->rescan = 1;
	return -1;
}

int
sio__sd_check(sio_loop *loop, int timeout_ms, int queue)
{
	struct sio__sigdrive *sd = loop->bstate;
	/* The queue is polled where the signalfd is also the sleep (rtsig);
	 * elsewhere the sleep unblocks the signals, and what is queued would
	 * run the handler and interrupt it: drain it first instead, and do
	 * not sleep if that named fds to run (they need not be polled). */
	int on_sfd = timeout_ms != 0 ? sio__sd_sleeps_on_sfd(sd) :
	             sd->sleep_on_sfd && queue;
	if (queue && !on_sfd) {
		if (sio__sd_drain(loop) < 0)
			return -1;
		if (loop->pending.n > 0)
			timeout_ms = 0;
	}
	int full = build_check(loop, sd);
	if (full < 0)
		return -1;
	struct pollfd *v = sd->check.v;
	size_t nv = sd->check.n;
	/* A poll that may sleep hooks a wait entry onto every fd before the
	 * first ready one; one that may not sleep hooks none.  A rescan
	 * follows a signal, so something is most likely ready: look first
	 * without sleeping (at 1,000 idle fds, 123 -> 47 us per event). */
	if (full && timeout_ms != 0 && !on_sfd) {
		int ready = poll_now(v, (nfds_t)nv);
		if (ready != 0)
			return ready < 0 ? recheck_failed(loop) :
			       sio__pollset_report(loop, v, nv);
	}
	int n = on_sfd ? poll_with_signalfd(sd, nv, timeout_ms) :
	        timeout_ms == 0 ? poll_now(v, (nfds_t)nv) :
	        sleep_on_handler(loop, v, (nfds_t)nv, timeout_ms, full);
	if (n < 0 && errno == EINTR) {
		/* A handler ran: its record is in the pipe.  The recheck
		 * fds were not looked at: they are looked at next time. */
		for (size_t i = 0; i < nv; i++)
			if (v[i].fd != loop->pipe_rd)
				sio__recheck_add(loop, v[i].fd);
		return 1;
	}
	if (n < 0)
		return recheck_failed(loop);
	if (on_sfd && v[nv].revents != 0 && sio__sd_drain(loop) < 0)
		return -1;
	return n > 0 ? sio__pollset_report(loop, v, nv) : 0;
}
