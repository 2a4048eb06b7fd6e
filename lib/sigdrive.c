/*
 * sigdrive.c - what the two signal-driven backends (sigio, rtsig) share:
 * giving an fd an owner and O_ASYNC, the hybrid poll fallback, the check of
 * the recheck set (or of every fd, on a rescan), and the sleep.
 *
 * What the kernel does, and what this file does about it:
 * - A readiness signal is an edge: data left unread raises no new one.
 *   Level-triggered delivery comes from the recheck set: fds whose callback
 *   ran, and new or widened watchers, are polled (zero timeout) before the
 *   loop may sleep.  Polling a socket that is not writable also arms the
 *   kernel's "no space" flag, so that its later POLL_OUT signal is not lost
 *   (POLL_OUT is raised only after a writer found the buffer full).
 * - setfl() accepts O_ASYNC on files that cannot signal (regular files,
 *   directories, most devices) and then never signals: only sockets, FIFOs
 *   and terminals are trusted with it.  The rest, and any fd that refuses
 *   an owner or O_ASYNC, are polled at every wait, as the poll backend does
 *   (the fallback set).  So is the write interest of AF_UNIX stream
 *   sockets, whose POLL_OUT cannot be relied on (see pollout_unreliable).
 * - A handler run per event is slow once signals cross CPUs, so the
 *   backends keep their signals blocked while the loop works and consume
 *   them synchronously, in batches from a signalfd where there is one
 *   (measured: 2.94 us per event against 3.30 us with one sigtimedwait()
 *   per signal, at 256 events per iteration; SIGIO_DRAIN=sigtimedwait
 *   selects the latter); only when nothing is ready does the loop sleep, in
 *   ppoll() with them unblocked.  A signal then runs the handler, whose
 *   record on the self-pipe wakes the sleep.  The pipe closes the race
 *   between the last check and the sleep, and covers platforms without
 *   ppoll.
 * - Owner, signal and O_ASYNC belong to the open file description, not the
 *   fd: a description shared by two loops signals only the owner set last,
 *   and fds of one loop on one description (dup(), a socket that is both
 *   stdin and stdout) share them (see "open file descriptions" below).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
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

#if defined(HAVE_LINUX_KCMP_H) && HAVE_DECL_KCMP_FILE && HAVE_DECL_SYS_KCMP
#include <linux/kcmp.h>
#include <sys/syscall.h>
#define SIO__HAVE_KCMP 1
#endif

#if defined(HAVE_SIGNALFD) && defined(HAVE_SYS_SIGNALFD_H)
#include <sys/signalfd.h>
#define SIO__HAVE_SIGNALFD 1
#endif

#include "sigio-internal.h"

#if !HAVE_DECL_O_ASYNC && HAVE_DECL_FASYNC
#define O_ASYNC FASYNC
#define HAVE_O_ASYNC 1
#elif HAVE_DECL_O_ASYNC
#define HAVE_O_ASYNC 1
#endif

/* ---- pollfd sets ------------------------------------------------------------ */

static int
pollset_reserve(struct sio__pollset *ps, size_t need)
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
pollset_add(sio_loop *loop, struct sio__pollset *ps, int fd, unsigned events)
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
pollset_del(sio_loop *loop, struct sio__pollset *ps, int fd)
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

/* Make `tid` (Linux) or the process the owner of `fd`.  When signals can
 * only go to the process, the handler is told to wake every loop. */
static int
set_owner(sio_loop *loop, struct sio__sigdrive *sd, int fd, pid_t tid)
{
#if HAVE_DECL_F_SETOWN_EX && HAVE_DECL_F_OWNER_TID
	if (!sd->by_process) {
		struct f_owner_ex owner = { .type = F_OWNER_TID, .pid = tid };
		if (fcntl(fd, F_SETOWN_EX, &owner) == 0)
			return 0;
		if (errno != EINVAL)
			return -1;
		/* EINVAL: a kernel without it; the old way from now on */
	}
#else
	(void)tid;
#endif
	if (!sd->by_process) {
		sd->by_process = 1;
		sio__signals_set_tid(loop, 0);
	}
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

/* `anew`: turn it off first if it is on, so that the kernel records `fd`
 * as the number naming the description (see ring_home()). */
static int
set_async(int fd, int on, int anew)
{
#ifdef HAVE_O_ASYNC
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	if (anew && (fl & O_ASYNC)) {
		fl &= ~O_ASYNC;
		if (fcntl(fd, F_SETFL, fl) < 0)
			return -1;
	}
	int want = on ? (fl | O_ASYNC) : (fl & ~O_ASYNC);
	if (want != fl && fcntl(fd, F_SETFL, want) < 0)
		return -1;
	if (on && !(fcntl(fd, F_GETFL) & O_ASYNC)) {
		errno = ENOTSUP;        /* accepted, then dropped */
		return -1;
	}
	return 0;
#else
	int off = 0;
	if (anew && ioctl(fd, FIOASYNC, &off) < 0)
		return -1;
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

/* Which signal, which thread, then O_ASYNC: in that order, so that no
 * signal is raised before it can reach the loop.  On rtsig, O_ASYNC is
 * turned on through `fd` even if it was on already, so that the kernel's
 * records name `fd` (see "open file descriptions"). */
static int
async_enable(sio_loop *loop, struct sio__sigdrive *sd, int fd)
{
#if HAVE_DECL_F_SETSIG
	if (fcntl(fd, F_SETSIG, sd->setsig) < 0)
		return -1;
#endif
	if (set_owner(loop, sd, fd, loop->owner_tid) < 0)
		return -1;
	return set_async(fd, 1, sd->setsig != 0);
}

/* ---- open file descriptions ------------------------------------------------ */

/*
 * Several fds of one loop may share an open file description: dup()s, or
 * a socket received as both stdin and stdout.  The kernel keeps owner,
 * signal and O_ASYNC per description, and an rtsig record (si_fd) names
 * the description by the fd through which O_ASYNC was turned on: the
 * kernel keeps that number while O_ASYNC stays on, even after the fd is
 * closed, and setting O_ASYNC again through another fd changes nothing.
 *
 * So the armed fds of one description form a ring (slot->alias).  The
 * first one armed sets the description up and is its home (the number the
 * kernel records); the others join without touching it.  A record reaches
 * the watchers of every fd of the ring (sio__desc_ready()).  O_ASYNC is undone only when the
 * last fd of the ring is disarmed.  When the home is disarmed first, rtsig
 * turns O_ASYNC off and on again through a survivor, the new home, and
 * polls every survivor: what came in between raised no signal.
 *
 * Finding the ring of a newly armed fd: candidates are the armed fds with
 * its device and inode (an index, so that arming stays O(1)); on Linux,
 * kcmp(2) tells whether a candidate is the same description.  Where kcmp
 * is missing or refused (other systems; seccomp filters, as in many
 * containers), the same inode with O_ASYNC already on counts as the same
 * description: exact for sockets, which cannot be opened twice.  Two opens
 * of one FIFO or terminal are told apart by O_ASYNC, unless something else
 * had set it on the second: that one is then taken for the first, which
 * costs spurious calls and leaves its O_ASYNC on.
 */

static size_t
index_bucket(const struct sio__descindex *ix, const struct sio__fdslot *slot)
{
	uint64_t h = (uint64_t)slot->dev * UINT64_C(0x9e3779b97f4a7c15) ^
	             (uint64_t)slot->ino * UINT64_C(0xc2b2ae3d27d4eb4f);
	return (size_t)(h ^ (h >> 32)) & (ix->cap - 1);
}

static void
index_link(sio_loop *loop, struct sio__descindex *ix, int fd)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	size_t b = index_bucket(ix, slot);
	slot->hnext = ix->head[b];
	ix->head[b] = fd;
}

static void
index_unlink(sio_loop *loop, struct sio__descindex *ix, int fd)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	int *p = &ix->head[index_bucket(ix, slot)];
	while (*p != fd)
		p = &loop->slots[*p].hnext;
	*p = slot->hnext;
	slot->hnext = -1;
	ix->n--;
}

/* Room for one more fd, at most one per bucket on average.  Growing
 * rehashes the fds in rings, which are exactly the indexed ones. */
static int
index_reserve(sio_loop *loop, struct sio__descindex *ix)
{
	if (ix->n < ix->cap)
		return 0;
	size_t cap = ix->cap ? 2 * ix->cap : 64;
	int *head = malloc(cap * sizeof *head);
	if (head == NULL)
		return -1;
	for (size_t i = 0; i < cap; i++)
		head[i] = -1;
	free(ix->head);
	ix->head = head;
	ix->cap = cap;
	for (int fd = 0; fd < loop->nslots; fd++)
		if (loop->slots[fd].alias >= 0)
			index_link(loop, ix, fd);
	return 0;
}

/* 1 if `fd` and `other` share one open file description, 0 if not, -1 if
 * the system cannot tell. */
static int
same_description(int fd, int other)
{
#ifdef SIO__HAVE_KCMP
	pid_t pid = getpid();
	long r = syscall(SYS_kcmp, pid, pid, KCMP_FILE, fd, other);
	if (r >= 0)
		return r == 0;
	if (errno == EBADF)
		return 0;       /* `other` was closed under its watcher */
#else
	(void)fd;
	(void)other;
#endif
	return -1;
}

/* Where O_ASYNC cannot be read, say yes: the caller then errs towards
 * "one description", the side that costs only spurious calls. */
static int
async_is_on(int fd)
{
#ifdef HAVE_O_ASYNC
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_ASYNC);
#else
	(void)fd;
	return 1;
#endif
}

/* An armed fd on the description of `fd`, whose file is `id`, or -1. */
static int
ring_find(sio_loop *loop, struct sio__sigdrive *sd, int fd,
          const struct sio__fdslot *id)
{
	int guess = -1;
	if (sd->index.cap == 0)
		return -1;
	for (int c = sd->index.head[index_bucket(&sd->index, id)]; c >= 0;
	     c = loop->slots[c].hnext) {
		const struct sio__fdslot *cs = &loop->slots[c];
		if (cs->dev != id->dev || cs->ino != id->ino)
			continue;
		int same = same_description(fd, c);
		if (same > 0)
			return c;
		if (same < 0 && guess < 0)
			guess = c;
	}
	return guess >= 0 && async_is_on(fd) ? guess : -1;
}

/* Still the file the slot was armed for: not closed, number not reused? */
static int
same_file(const struct sio__fdslot *slot, int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && st.st_dev == slot->dev &&
	       st.st_ino == slot->ino;
}

/* Set the description of the ring of `start` up for this loop through one
 * of its fds, the new home, and poll them all, since nothing that came
 * while O_ASYNC was off (or the parent's) signalled this loop. */
static void
ring_home(sio_loop *loop, struct sio__sigdrive *sd, int start)
{
	int homed = 0, fd = start;
	do {
		struct sio__fdslot *s = &loop->slots[fd];
		s->home = 0;
		if (!homed && same_file(s, fd) && async_enable(loop, sd, fd) == 0)
			s->home = homed = 1;
		sio__recheck_new(loop, fd);
		fd = s->alias;
	} while (fd != start);
}

/* A signalling fd is armed: join the ring of its description, which is set
 * up already, or set the description up and start a ring of one. */
static int
ring_enter(sio_loop *loop, struct sio__sigdrive *sd, int fd)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	if (index_reserve(loop, &sd->index) < 0)
		return -1;
	int member = ring_find(loop, sd, fd, slot);
	if (member >= 0) {
		struct sio__fdslot *m = &loop->slots[member];
		slot->alias = m->alias;
		m->alias = fd;
		slot->inherited = m->inherited;
	} else {
		if (async_enable(loop, sd, fd) < 0)
			return -1;
		slot->alias = fd;
		slot->home = 1;
	}
	index_link(loop, &sd->index, fd);
	sd->index.n++;
	return 0;
}

/* A signalling fd is disarmed.  The last of its ring undoes O_ASYNC (not
 * the parent's, see sio__sd_fork()); on rtsig, whose records carry the
 * number, a home leaving others behind hands the description to them. */
static void
ring_exit(sio_loop *loop, struct sio__sigdrive *sd, int fd)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	int prev = fd, next = slot->alias;
	while (loop->slots[prev].alias != fd)
		prev = loop->slots[prev].alias;
	loop->slots[prev].alias = next;
	slot->alias = -1;
	index_unlink(loop, &sd->index, fd);
	if (next == fd) {
		if (!slot->inherited)
			(void)set_async(fd, 0, 0); /* EBADF if closed: nothing to undo */
	} else if (slot->home && sd->setsig != 0 && !slot->inherited) {
		ring_home(loop, sd, next);
	}
}

int
sio__sd_alias_of(sio_loop *loop, int fd)
{
	struct sio__sigdrive *sd = loop->bstate;
	struct sio__fdslot *slot = sio__slot(loop, fd);
	struct stat st;
	if (slot != NULL && slot->alias >= 0)
		return fd;
	if (sd->index.n == 0 || fstat(fd, &st) < 0)
		return -1;
	struct sio__fdslot id = { .dev = st.st_dev, .ino = st.st_ino };
	return ring_find(loop, sd, fd, &id);
}

/* ---- arming fds ------------------------------------------------------------ */

/* AF_UNIX stream and seqpacket sockets raise POLL_OUT only after a write
 * failed while O_ASYNC was already on (the kernel sets its "no space" flag
 * only for sockets in FASYNC mode), and their poll(), unlike TCP's, does not
 * set that flag: a buffer filled before the watcher started would never
 * signal.  Their write interest is therefore served by poll(). */
static int
pollout_unreliable(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int type;
	socklen_t tlen = sizeof type;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    ss.ss_family != AF_UNIX ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) < 0)
		return 0;
	return type == SOCK_STREAM || type == SOCK_SEQPACKET;
}

/* Polled directly (the fallback set) rather than told by signals? */
static int
wants_poll(const struct sio__sigdrive *sd, const struct sio__fdslot *slot,
           unsigned events)
{
	return slot->nosig || (slot->pollout && (events & SIO_WRITE)) ||
	       (!sd->have_urg && (events & SIO_URGENT));
}

/* First events on an fd: an owner and O_ASYNC if it can signal. */
static int
arm_first(sio_loop *loop, struct sio__sigdrive *sd, int fd)
{
	struct sio__fdslot *slot = sio__slot(loop, fd);
	int ok = can_signal(fd);
	if (ok < 0)
		return -1;
	if (ok && ring_enter(loop, sd, fd) < 0) {
		if (errno == EBADF || errno == ENOMEM)
			return -1;
		ok = 0;
	}
	slot->nosig = !ok;
	slot->pollout = ok && pollout_unreliable(fd);
	if (!ok)
		loop->stats.fallback_fds++;
	return 0;
}

static void
disarm_last(sio_loop *loop, struct sio__sigdrive *sd, int fd,
            struct sio__fdslot *slot)
{
	if (slot->nosig)
		loop->stats.fallback_fds--;
	else
		ring_exit(loop, sd, fd);
	slot->nosig = slot->pollout = slot->fallback = slot->inherited = 0;
	slot->home = 0;
}

int
sio__sd_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events)
{
	struct sio__sigdrive *sd = loop->bstate;
	struct sio__fdslot *slot = sio__slot(loop, fd);
	if (old == 0 && arm_first(loop, sd, fd) < 0)
		return -1;
	struct sio__pollset *from = slot->fallback ? &sd->fb : &sd->async;
	if (new_events == 0) {
		pollset_del(loop, from, fd);
		disarm_last(loop, sd, fd, slot);
		return 0;
	}
	int to_poll = wants_poll(sd, slot, new_events);
	if (old != 0 && to_poll == slot->fallback) {
		from->v[slot->bindex].events = sio__poll_from_events(new_events);
		return 0;
	}
	struct sio__pollset *to = to_poll ? &sd->fb : &sd->async;
	if (pollset_reserve(to, to->n + 1) < 0) {
		int saved = errno;
		if (old == 0)
			disarm_last(loop, sd, fd, slot);
		errno = saved;
		return -1;
	}
	if (old != 0)
		pollset_del(loop, from, fd);
	(void)pollset_add(loop, to, fd, new_events);
	slot->fallback = (uint8_t)to_poll;
	return 0;
}

/* Report what one poll found.  Returns the number of watched fds ready,
 * plus one if the self-pipe held records (see sio__sd_wait()).  Backwards, because killing a fallback fd moves the last entry of `v` (when
 * `v` is the fallback set itself) into its place, already looked at. */
static int
report(sio_loop *loop, struct pollfd *v, size_t n)
{
	int ready = 0;
	for (size_t i = n; i-- > 0;) {
		if (v[i].revents == 0)
			continue;
		if (v[i].fd == loop->pipe_rd) {
			sio__selfpipe_drain(loop);
			ready++;
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
build_check(sio_loop *loop, struct sio__sigdrive *sd, int with_fb)
{
	struct sio__pollset *c = &sd->check;
	size_t need = (with_fb ? sd->fb.n : 0) +
	              (loop->rescan ? sd->async.n : loop->recheck.n);
	if (pollset_reserve(c, need) < 0)
		return -1;
	c->n = 0;
	if (with_fb)
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
	}
	return 0;
}

/* Poll the check set with a zero timeout, again while a drained self-pipe
 * asks for a rescan.  Returns the number of ready fds (the self-pipe
 * included, when it held records), or -1. */
static int
check(sio_loop *loop, struct sio__sigdrive *sd, int with_fb)
{
	int ready = 0;
	do {
		if (build_check(loop, sd, with_fb) < 0)
			return -1;
		if (sd->check.n == 0)
			break;
		int n;
		while ((n = poll(sd->check.v, (nfds_t)sd->check.n, 0)) < 0 &&
		       errno == EINTR)
			;
		if (n < 0) {
			/* build_check() emptied the recheck set (and the
			 * rescan flag) into this poll: what it was to look
			 * at would be forgotten, and data that came before
			 * O_ASYNC was set raises no signal.  Look at every
			 * fd next time instead. */
			loop->rescan = 1;
			return -1;
		}
		if (n > 0)
			ready += report(loop, sd->check.v, sd->check.n);
		with_fb = 0;
	} while (loop->rescan);
	return ready;
}

/* Nothing was queued: sleep with the runtime's signals unblocked, polling
 * the check set (the self-pipe, the fallback fds, and the recheck set) in
 * the same call.  Folding the zero-timeout check into the sleep saves a
 * system call each time the loop goes idle: a recheck fd still ready makes
 * ppoll() return at once, as the check would have. */
static int
sleep_checking(sio_loop *loop, struct sio__sigdrive *sd, int timeout_ms)
{
	if (build_check(loop, sd, 1) < 0)
		return -1;
	struct pollfd *v = sd->check.v;
	nfds_t nv = (nfds_t)sd->check.n;
	sigset_t mask;
	if (sio__signals_sleep_mask(loop, &mask) < 0)
		return -1;
	loop->stats.sleeps++;
	int n;
#ifdef HAVE_PPOLL
	struct timespec ts = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };
	n = ppoll(v, nv, timeout_ms < 0 ? NULL : &ts, &mask);
#else
	sigset_t busy;
	pthread_sigmask(SIG_SETMASK, &mask, &busy);
	n = poll(v, nv, timeout_ms);
	int saved = errno;
	pthread_sigmask(SIG_SETMASK, &busy, NULL);
	errno = saved;
#endif
	if (n < 0) {
		if (errno != EINTR) {
			loop->rescan = 1;   /* the recheck set went into it */
			return -1;
		}
		/* The handler ran: read its record.  The recheck fds polled
		 * here were not looked at: they are looked at again next. */
		for (size_t i = 0; i < sd->check.n; i++)
			if (v[i].fd != loop->pipe_rd)
				sio__recheck_add(loop, v[i].fd);
		sio__selfpipe_drain(loop);
		return 0;
	}
	return n > 0 ? report(loop, v, sd->check.n) : 0;
}

/* ---- the signal queue ------------------------------------------------------ */

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
		sio__loop_note_signal(loop, &recs[i]);
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

static int
drain(sio_loop *loop, struct sio__sigdrive *sd)
{
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

int
sio__sd_open(sio_loop *loop, struct sio__sigdrive *sd, int setsig)
{
	*sd = (struct sio__sigdrive){ .setsig = setsig, .sfd = -1 };
	sigemptyset(&sd->set);
	if (pollset_reserve(&sd->fb, 1) < 0)
		return -1;
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
#endif
	return 0;
err:;
	int saved = errno;
	sio__sd_close(loop, sd);
	errno = saved;
	return -1;
}

void
sio__sd_close(sio_loop *loop, struct sio__sigdrive *sd)
{
	if (sd->sfd >= 0)
		close(sd->sfd);
	for (int s = 1; s < 65; s++)
		if (sigismember(&sd->set, s))
			sio__signals_unwant(loop, s);
	free(sd->async.v);
	free(sd->fb.v);
	free(sd->check.v);
	free(sd->index.head);
	*sd = (struct sio__sigdrive){ .sfd = -1 };
}

/* Take what the kernel queued, check, and sleep only if nothing is ready.
 *
 * While signals keep coming, every other iteration skips the check: the
 * drained records already name fds to run, and the recheck set (fds whose
 * callback ran, for level-triggered delivery) waits one iteration, never
 * two, so no fd starves.  That halves the poll() calls of a busy loop.
 * Newly wanted events are never deferred (see sio__recheck_new()). */
static void adopt(sio_loop *loop, struct sio__sigdrive *sd);

int
sio__sd_wait(sio_loop *loop, int timeout_ms)
{
	struct sio__sigdrive *sd = loop->bstate;
	if (loop->forked)
		adopt(loop, sd);
	if (drain(loop, sd) < 0)
		return -1;
	if (loop->pending.n > 0 && !loop->rescan && !loop->recheck_new &&
	    !sd->deferred) {
		sd->deferred = 1;
		return 0;
	}
	sd->deferred = 0;
	if (loop->pending.n == 0 && !loop->rescan && timeout_ms != 0) {
		if (sleep_checking(loop, sd, timeout_ms) < 0)
			return -1;
	} else {
		/* Ready from a check or from records drained before it.  A
		 * check that read the self-pipe consumed the wake-up of a
		 * record posted after the loop chose `timeout_ms` (an async
		 * send or a stop from another thread, a user's signal):
		 * sleeping now, with that timeout, would miss it, so the
		 * caller runs an iteration first. */
		if (check(loop, sd, 1) < 0)
			return -1;
		return 0;
	}
	if ((loop->rescan || loop->recheck.n) && check(loop, sd, 0) < 0)
		return -1;
	return 0;
}

/* The first iteration in a forked child after sio_loop_fork(): take the
 * descriptions the child's loop still watches (owner, signal, O_ASYNC),
 * each through one of its fds, as the one the parent's records named may
 * be gone from the child's loop.  Not before: what the child stopped until
 * then stays the parent's. */
static void
adopt(sio_loop *loop, struct sio__sigdrive *sd)
{
	loop->forked = 0;
	for (int fd = 0; fd < loop->nslots; fd++) {
		if (!loop->slots[fd].inherited)
			continue;
		int m = fd;
		do {
			loop->slots[m].inherited = 0;
			m = loop->slots[m].alias;
		} while (m != fd);
		ring_home(loop, sd, fd);
	}
	loop->rescan = 1;
}

/* A run begins: if another thread than before runs the loop, make it the
 * owner of every fd so that signals follow it; block the signals.  A
 * thread is told by its serial as well as its id: a new thread may get a
 * dead one's id, and the fds owned by the dead thread signal nobody. */
int
sio__sd_enter(sio_loop *loop)
{
	struct sio__sigdrive *sd = loop->bstate;
	pid_t tid = sio__gettid();
	uint64_t serial = sio__thread_serial();
	if (tid != loop->owner_tid || serial != loop->owner_serial) {
		loop->owner_tid = tid;
		loop->owner_serial = serial;
		if (!sd->by_process)
			sio__signals_set_tid(loop, tid);
		/* Inherited descriptions are the parent's until adopted. */
		for (size_t i = 0; i < sd->async.n; i++)
			if (!sio__slot(loop, sd->async.v[i].fd)->inherited)
				(void)set_owner(loop, sd, sd->async.v[i].fd, tid);
		for (size_t i = 1; i < sd->fb.n; i++) {
			struct sio__fdslot *slot = sio__slot(loop, sd->fb.v[i].fd);
			if (!slot->nosig && !slot->inherited)
				(void)set_owner(loop, sd, sd->fb.v[i].fd, tid);
		}
		loop->rescan = 1;       /* signals may have gone to the old one */
	}
	return sio__signals_block(loop);
}

/* sio_loop_fork(): the fds armed so far are the parent's until the child
 * runs the loop; whatever the child stops before that stays the parent's. */
int
sio__sd_fork(sio_loop *loop)
{
	struct sio__sigdrive *sd = loop->bstate;
	sd->fb.v[0].fd = loop->pipe_rd;         /* the child's new pipe */
	for (int fd = 0; fd < loop->nslots; fd++) {
		struct sio__fdslot *slot = &loop->slots[fd];
		if (slot->alias >= 0)           /* armed for signals */
			slot->inherited = 1;
	}
	loop->forked = 1;
	return 0;
}

void
sio__sd_leave(sio_loop *loop)
{
	sio__signals_restore(loop);
}
