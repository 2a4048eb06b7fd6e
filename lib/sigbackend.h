/*
 * sigbackend.h - what the two signal-driven backends (rtsig, sigio) share,
 * and how the rooms that serve them divide the work:
 *
 *   fasync.c    arming an fd for signals: owner, F_SETSIG and O_ASYNC, kept
 *               per open file description; the fds that cannot signal and
 *               are polled directly instead; the thread that owns them;
 *               handing them over after fork().
 *   sigqueue.c  the thread's queue of signals: taking the signals, draining
 *               the queue (signalfd, sigtimedwait) into records for the
 *               backend to decode, passing on what belongs to another loop
 *               of the thread.
 *   recheck.c   the check: one poll of the self-pipe, the directly polled
 *               fds and the recheck set (or every fd, on a rescan), which
 *               is also the sleep.
 *
 * The backends themselves (backend_rtsig.c, backend_sigio.c) say which
 * signal the kernel sends and what a record of it means.
 */
#ifndef SIGIO_SIGBACKEND_H
#define SIGIO_SIGBACKEND_H

#include <signal.h>

#include "sigio-internal.h"

/* The fds armed for signals, by device and inode: a hash table of
 * buckets chained through sio__fdslot.hnext. */
struct sio__descindex {
	int *head;                  /* first fd of each bucket, or -1 */
	size_t cap;                 /* buckets: 0 or a power of 2 */
	size_t n;                   /* fds in the table */
};

/* loop->bstate of a signal-driven loop. */
struct sio__sigdrive {
	struct sio__pollset async;  /* O_ASYNC fds, with the events they want */
	struct sio__pollset fb;     /* [0] self-pipe, then fds polled directly */
	struct sio__pollset check;  /* scratch: what one check polls */
	int setsig;                 /* F_SETSIG value: 0 = plain SIGIO */
	int by_process;             /* owner is the process, not a thread */
	int have_urg;               /* SIGURG is ours (urgent data signals) */
	int sfd;                    /* signalfd of `set`, or -1 */
	int sleep_on_sfd;           /* sleep with the signals blocked, woken
	                               by the signalfd (rtsig), not by the
	                               handler and the self-pipe */
	struct sio__descindex index; /* finds the fds of one description */
	int efd;                    /* sio_loop_fd()'s epoll fd, or -1 until
	                               asked for (embed.c) */
	sigset_t set;               /* the signals drained synchronously */
};

/* sigqueue.c: the backend's life, and its drain */
int sio__sd_init(sio_loop *loop, int setsig);   /* bstate; -1/errno */
void sio__sd_fini(sio_loop *loop);
/* Whether a sleep of this loop is on its signalfd now: the signals stay
 * blocked, nothing goes through the handler.  Only while it is the only
 * signal-driven loop of the process (see sigqueue.c). */
int sio__sd_sleeps_on_sfd(const struct sio__sigdrive *sd);
int sio__sd_drain(sio_loop *loop);

/* fasync.c: the backend table's members for arming and threads */
int sio__sd_arm(sio_loop *loop, int fd, unsigned old, unsigned new_events);
int sio__sd_enter(sio_loop *loop);
void sio__sd_leave(sio_loop *loop);
int sio__sd_fork(sio_loop *loop);
void sio__sd_adopt(sio_loop *loop);
int sio__sd_alias_of(sio_loop *loop, int fd);

/* recheck.c */
int sio__sd_check(sio_loop *loop, int timeout_ms, int queue);

/* embed.c: sio_loop_fd(), an epoll fd of the self-pipe, the signalfd and
 * the fds polled directly; kept in step by the arming of each fd. */
int sio__sd_embed_fd(sio_loop *loop);
void sio__sd_embed_sync(sio_loop *loop, int fd);
void sio__sd_embed_fork(sio_loop *loop);
void sio__sd_embed_close(sio_loop *loop);

#endif /* SIGIO_SIGBACKEND_H */
