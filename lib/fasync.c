/*
 * fasync.c - arming an fd for the signal-driven backends: which signal
 * (F_SETSIG), which thread (F_SETOWN_EX), then O_ASYNC, kept per open file
 * description; the fds that cannot signal, polled directly instead; the
 * thread that owns them; handing them over after fork().
 *
 * What the kernel does, and what this file does about it:
 * - setfl() accepts O_ASYNC on files that cannot signal (regular files,
 *   directories, most devices) and then never signals: only sockets, FIFOs
 *   and terminals are trusted with it.  The rest, and any fd that refuses
 *   an owner or O_ASYNC, are polled at every check, as the poll backend
 *   does (the fallback set).  So is the write interest of AF_UNIX stream
 *   sockets, whose POLL_OUT cannot be relied on (see pollout_unreliable).
 * - Owner, signal and O_ASYNC belong to the open file description, not the
 *   fd: a description shared by two loops signals only the owner set last,
 *   and fds of one loop on one description (dup(), a socket that is both
 *   stdin and stdout) share them (see "open file descriptions" below).
 * - A signal sent to a thread that is gone reaches nobody: the owner is
 *   set again whenever another thread runs the loop (sio__sd_enter()).
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

#include "sigbackend.h"
#include "vec.h"

#if !HAVE_DECL_O_ASYNC && HAVE_DECL_FASYNC
#define O_ASYNC FASYNC
#define HAVE_O_ASYNC 1
#elif HAVE_DECL_O_ASYNC
#define HAVE_O_ASYNC 1
#endif

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

static int
sd_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events)
{
	struct sio__sigdrive *sd = loop->bstate;
	struct sio__fdslot *slot = sio__slot(loop, fd);
	if (old == 0 && arm_first(loop, sd, fd) < 0)
		return -1;
	struct sio__pollset *from = slot->fallback ? &sd->fb : &sd->async;
	if (new_events == 0) {
		sio__pollset_del(loop, from, fd);
		disarm_last(loop, sd, fd, slot);
		return 0;
	}
	int to_poll = wants_poll(sd, slot, new_events);
	if (old != 0 && to_poll == slot->fallback) {
		sio__pollset_set(loop, from, fd, new_events);
		return 0;
	}
	struct sio__pollset *to = to_poll ? &sd->fb : &sd->async;
	if (SIO__VEC_RESERVE(to, to->n + 1) < 0) {
		int saved = errno;
		if (old == 0)
			disarm_last(loop, sd, fd, slot);
		errno = saved;
		return -1;
	}
	if (old != 0)
		sio__pollset_del(loop, from, fd);
	(void)sio__pollset_add(loop, to, fd, new_events);   /* has room */
	slot->fallback = (uint8_t)to_poll;
	return 0;
}

/* Arm, then keep sio_loop_fd()'s set in step with the fds polled directly:
 * they are the ones no signal tells of. */
int
sio__sd_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events)
{
	if (sd_arm(loop, fd, old, new_events) < 0)
		return -1;
	sio__sd_embed_sync(loop, fd);
	return 0;
}

/* ---- threads and fork ------------------------------------------------------ */

/* The first iteration in a forked child after sio_loop_fork(): take the
 * descriptions the child's loop still watches (owner, signal, O_ASYNC),
 * each through one of its fds, as the one the parent's records named may
 * be gone from the child's loop.  Not before: what the child stopped until
 * then stays the parent's. */
void
sio__sd_adopt(sio_loop *loop)
{
	struct sio__sigdrive *sd = loop->bstate;
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
	sio__sd_embed_fork(loop);
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
