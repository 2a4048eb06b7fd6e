/*
 * backend_sigio.c - readiness announced by SIGIO.
 *
 * Each watched fd gets an owner (F_SETOWN_EX naming the loop's thread on
 * Linux, so no other thread is interrupted; F_SETOWN / FIOSETOWN /
 * SIOCSPGRP with the process elsewhere) and O_ASYNC (or FIOASYNC).  The
 * kernel then raises SIGIO when an fd's state changes.
 *
 * What the kernel does, and what this file does about it:
 * - Plain SIGIO names no fd, and instances coalesce while pending: one
 *   SIGIO means "something changed", so the loop polls every O_ASYNC fd
 *   once (a rescan), with a zero timeout.
 * - SIGIO is an edge: data left unread raises no new signal.  Level-
 *   triggered delivery comes from the recheck set: fds whose callback ran,
 *   and new or widened watchers, are polled before the loop may sleep.
 *   Polling a socket that is not writable also arms the kernel's "no space"
 *   flag, so its later POLL_OUT signal is not lost.
 * - A handler run per event is slow once signals cross CPUs, so SIGIO stays
 *   blocked while the loop works and is consumed with sigtimedwait(); only
 *   when nothing is ready does the loop sleep in ppoll() with SIGIO
 *   unblocked.  A signal then runs the handler, whose record on the
 *   self-pipe wakes the sleep (closing the race between the last check and
 *   the sleep, and covering platforms without ppoll).
 * - setfl() accepts O_ASYNC on files that cannot signal (regular files,
 *   directories, most devices) and silently never signals: only sockets,
 *   FIFOs and terminals are trusted with it.  The rest, and any fd that
 *   refuses an owner or O_ASYNC, are polled at every wait like the poll
 *   backend does (the hybrid fallback).
 * - A leftover F_SETSIG on a description would turn its SIGIO into another
 *   signal: it is reset to 0 where the platform has F_SETSIG.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef HAVE_SYS_IOCTL_H
#include <sys/ioctl.h>
#endif
#ifdef HAVE_SYS_SOCKIO_H
#include <sys/sockio.h>
#endif
#ifdef HAVE_SYS_FILIO_H
#include <sys/filio.h>
#endif

#include "sigio-internal.h"

#if !HAVE_DECL_O_ASYNC && HAVE_DECL_FASYNC
#define O_ASYNC FASYNC
#define HAVE_O_ASYNC 1
#elif HAVE_DECL_O_ASYNC
#define HAVE_O_ASYNC 1
#endif

/* A growable pollfd array. */
struct pollset {
	struct pollfd *v;
	size_t n, cap;
};

struct sigio_state {
	struct pollset async;    /* O_ASYNC fds, with the events they want */
	struct pollset fb;       /* [0] self-pipe, then fds polled directly */
	struct pollset check;    /* scratch: what one check polls */
};

static int
pollset_reserve(struct pollset *ps, size_t need)
{
	if (need <= ps->cap)
		return 0;
	size_t cap = ps->cap ? ps->cap : 64;
	while (cap < need)
		cap *= 2;
	struct pollfd *v = realloc(ps->v, cap * sizeof *v);
	if (v == NULL)
		return -1;
	ps->v = v;
	ps->cap = cap;
	return 0;
}

/* Append; the new entry's index goes to the fd's slot. */
static int
pollset_add(sio_loop *loop, struct pollset *ps, int fd, unsigned events)
{
	if (pollset_reserve(ps, ps->n + 1) < 0)
		return -1;
	sio__slot(loop, fd)->bindex = (int)ps->n;
	ps->v[ps->n++] = (struct pollfd){ .fd = fd,
		.events = sio__poll_from_events(events) };
	return 0;
}

/* Remove by moving the last entry into the hole. */
static void
pollset_del(sio_loop *loop, struct pollset *ps, int fd)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	size_t i = (size_t)slot->bindex, last = ps->n - 1;
	if (i != last) {
		ps->v[i] = ps->v[last];
		sio__slot(loop, ps->v[i].fd)->bindex = (int)i;
	}
	ps->n--;
	slot->bindex = -1;
}

/* ---- owner and O_ASYNC ---------------------------------------------------- */

static int
set_owner(int fd, pid_t tid)
{
#if HAVE_DECL_F_SETOWN_EX && HAVE_DECL_F_OWNER_TID
	struct f_owner_ex owner = { .type = F_OWNER_TID, .pid = tid };
	if (fcntl(fd, F_SETOWN_EX, &owner) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;      /* EINVAL: a kernel without it; try the old way */
#else
	(void)tid;
#endif
#if HAVE_DECL_F_SETOWN
	return fcntl(fd, F_SETOWN, getpid());
#elif HAVE_DECL_FIOSETOWN
	int pid = getpid();
	return ioctl(fd, FIOSETOWN, &pid);
#else
	int pid = getpid();
	return ioctl(fd, SIOCSPGRP, &pid);
#endif
}

static int
set_async(int fd, int on)
{
#ifdef HAVE_O_ASYNC
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	int want = on ? (fl | O_ASYNC) : (fl & ~O_ASYNC);
	if (want != fl && fcntl(fd, F_SETFL, want) < 0)
		return -1;
	if (on && !(fcntl(fd, F_GETFL) & O_ASYNC)) {
		errno = ENOTSUP;        /* accepted, then dropped */
		return -1;
	}
	return 0;
#else
	return ioctl(fd, FIOASYNC, &on);
#endif
}

/* Sockets, FIFOs and terminals signal; other files accept O_ASYNC and
 * never do. */
static int
can_signal(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode))
		return 1;
	return S_ISCHR(st.st_mode) && isatty(fd);
}

static int
async_enable(sio_loop *loop, int fd)
{
#if HAVE_DECL_F_SETSIG
	if (fcntl(fd, F_SETSIG, 0) < 0)
		return -1;
#endif
	if (set_owner(fd, loop->owner_tid) < 0)
		return -1;
	return set_async(fd, 1);
}

/* ---- the backend ------------------------------------------------------------ */

static int
sigio_init(sio_loop *loop)
{
	struct sigio_state *st = calloc(1, sizeof *st);
	if (st == NULL)
		return -1;
	loop->bstate = st;
	if (pollset_reserve(&st->fb, 1) < 0 || sio__signals_want(loop, SIGIO) < 0) {
		int saved = errno;
		free(st->fb.v);
		free(st);
		loop->bstate = NULL;
		errno = saved;
		return -1;
	}
	st->fb.v[0] = (struct pollfd){ .fd = loop->pipe_rd, .events = POLLIN };
	st->fb.n = 1;
	return 0;
}

static void
sigio_fini(sio_loop *loop)
{
	struct sigio_state *st = loop->bstate;
	sio__signals_unwant(loop, SIGIO);
	free(st->async.v);
	free(st->fb.v);
	free(st->check.v);
	free(st);
	loop->bstate = NULL;
}

/* First events on an fd: O_ASYNC if it can, else the poll fallback. */
static int
sigio_arm_first(sio_loop *loop, int fd, unsigned events)
{
	struct sigio_state *st = loop->bstate;
	struct sio__fdslot *slot = sio__slot(loop, fd);
	int ok = can_signal(fd);
	if (ok < 0)
		return -1;
	if (ok && async_enable(loop, fd) < 0) {
		if (errno == EBADF)
			return -1;
		ok = 0;
	}
	slot->fallback = !ok;
	if (pollset_add(loop, ok ? &st->async : &st->fb, fd, events) < 0) {
		int saved = errno;
		if (ok)
			(void)set_async(fd, 0);
		errno = saved;
		return -1;
	}
	if (!ok)
		loop->stats.fallback_fds++;
	return 0;
}

static int
sigio_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events)
{
	struct sigio_state *st = loop->bstate;
	struct sio__fdslot *slot = sio__slot(loop, fd);
	if (old == 0)
		return sigio_arm_first(loop, fd, new_events);
	struct pollset *ps = slot->fallback ? &st->fb : &st->async;
	if (new_events != 0) {
		ps->v[slot->bindex].events = sio__poll_from_events(new_events);
		return 0;
	}
	pollset_del(loop, ps, fd);
	if (slot->fallback)
		loop->stats.fallback_fds--;
	else
		(void)set_async(fd, 0);  /* EBADF if closed: nothing to undo */
	slot->fallback = 0;
	return 0;
}

/* Report what one poll found.  Returns the number of watched fds ready. */
static int
report(sio_loop *loop, struct pollfd *v, size_t n)
{
	int ready = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].revents == 0)
			continue;
		if (v[i].fd == loop->pipe_rd) {
			sio__selfpipe_drain(loop);
		} else if (v[i].revents & POLLNVAL) {
			sio__slot_kill(loop, v[i].fd, 1);
			ready++;
		} else {
			sio__fd_ready(loop, v[i].fd, sio__revents_from_poll(v[i].revents));
			ready++;
		}
	}
	return ready;
}

/* Copy the fds to look at now into the check set: the directly polled ones
 * (with_fb), and every O_ASYNC fd on a rescan, else only the recheck set. */
static int
build_check(sio_loop *loop, int with_fb)
{
	struct sigio_state *st = loop->bstate;
	struct pollset *c = &st->check;
	size_t need = (with_fb ? st->fb.n : 0) +
	              (loop->rescan ? st->async.n : loop->recheck.n);
	if (pollset_reserve(c, need) < 0)
		return -1;
	c->n = 0;
	if (with_fb)
		for (size_t i = 0; i < st->fb.n; i++)
			c->v[c->n++] = st->fb.v[i];
	for (size_t i = 0; i < loop->recheck.n; i++) {
		struct sio__fdslot *slot = sio__slot(loop, loop->recheck.v[i]);
		slot->in_recheck = 0;
		if (!loop->rescan && slot->armed && !slot->fallback)
			c->v[c->n++] = st->async.v[slot->bindex];
	}
	loop->recheck.n = 0;
	if (loop->rescan) {
		loop->rescan = 0;
		loop->stats.rescans++;
		for (size_t i = 0; i < st->async.n; i++)
			c->v[c->n++] = st->async.v[i];
	}
	return 0;
}

/* Poll the check set with a zero timeout, again while a drained self-pipe
 * asks for a rescan.  Returns the number of ready fds, or -1. */
static int
sigio_check(sio_loop *loop, int with_fb)
{
	struct sigio_state *st = loop->bstate;
	int ready = 0;
	do {
		if (build_check(loop, with_fb) < 0)
			return -1;
		if (st->check.n == 0)
			break;
		int n;
		while ((n = poll(st->check.v, (nfds_t)st->check.n, 0)) < 0 &&
		       errno == EINTR)
			;
		if (n < 0)
			return -1;
		if (n > 0)
			ready += report(loop, st->check.v, st->check.n);
		with_fb = 0;
	} while (loop->rescan);
	return ready;
}

/* Nothing is ready: sleep on the self-pipe and the fallback fds with SIGIO
 * unblocked.  Returns the number of fallback fds ready, or -1. */
static int
sigio_sleep(sio_loop *loop, int timeout_ms)
{
	struct sigio_state *st = loop->bstate;
	loop->stats.sleeps++;
	int n;
#ifdef HAVE_PPOLL
	struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
	n = ppoll(st->fb.v, (nfds_t)st->fb.n, timeout_ms < 0 ? NULL : &ts,
	          &loop->sleep_mask);
#else
	sigset_t busy;
	pthread_sigmask(SIG_SETMASK, &loop->sleep_mask, &busy);
	n = poll(st->fb.v, (nfds_t)st->fb.n, timeout_ms);
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &busy, NULL);
	errno = saved;
#endif
	if (n < 0) {
		if (errno != EINTR)
			return -1;
		sio__selfpipe_drain(loop);  /* the handler ran: read its record */
		return 0;
	}
	return n > 0 ? report(loop, st->fb.v, st->fb.n) : 0;
}

static int
sigio_wait(sio_loop *loop, int timeout_ms)
{
	if (sio__signals_take(loop, SIGIO)) {
		struct sio__sigrec rec = { SIGIO, -1, 0 };
		sio__loop_note_signal(loop, &rec);
	}
	int n = sigio_check(loop, 1);
	if (n != 0 || timeout_ms == 0)
		return n < 0 ? -1 : 0;
	if (sigio_sleep(loop, timeout_ms) < 0)
		return -1;
	if (loop->rescan && sigio_check(loop, 0) < 0)
		return -1;
	return 0;
}

/* A run begins: block SIGIO here, and if another thread than before runs
 * the loop, make it the owner of every fd so that signals follow it. */
static int
sigio_enter(sio_loop *loop)
{
	struct sigio_state *st = loop->bstate;
	pid_t tid = sio__gettid();
	if (tid != loop->owner_tid) {
		loop->owner_tid = tid;
		for (size_t i = 0; i < st->async.n; i++)
			(void)set_owner(st->async.v[i].fd, tid);
		loop->rescan = 1;       /* signals may have gone to the old one */
	}
	return sio__signals_block(loop);
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
