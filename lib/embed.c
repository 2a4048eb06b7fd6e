/*
 * embed.c - sio_loop_fd() for the signal-driven backends: one fd that
 * another event loop can watch, readable whenever this loop, not running,
 * has something to do.
 *
 * Between runs the runtime's signals are not blocked (the run blocks them,
 * and sio__signals_restore() gives the thread its mask back), so each one
 * runs the handler, which writes its record into the self-pipe: the pipe's
 * read end already says "a watched fd changed, a signal came, an async
 * handle was sent to".  A signal that arrived during the run's last moments
 * is delivered when the run unblocks it, and is written into the pipe
 * then: none is lost.  Two things the pipe does not cover:
 * - the fds polled directly (the fallback set: fds that cannot signal,
 *   write interest of AF_UNIX streams, urgent data without SIGURG): no
 *   signal ever tells of them;
 * - a thread that blocks the runtime's signals itself: they stay pending,
 *   and only the signalfd sees them.
 * Hence an epoll set of the three, kept in step with the fallback set by
 * the arming of each fd (sio__sd_arm()).  Epoll refuses regular files;
 * those are always ready, so the loop counts them (loop->embed_out) and
 * sio_loop_timeout() says 0 while there are any.
 *
 * What epoll cannot see is the recheck set (fds whose callback ran, and
 * new watchers whose fd was ready before it was armed: no signal will
 * come); sio_loop_timeout() says 0 while it is not empty.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#ifdef HAVE_SYS_EPOLL_H
#include <sys/epoll.h>
#endif

#include "sigbackend.h"

#ifdef HAVE_SYS_EPOLL_H

/* Put `fd` in the set with `pevents` (poll bits, which epoll shares on
 * Linux), or take it out (0).  Returns 0 or -1 with errno. */
static int
embed_ctl(int efd, int fd, short pevents)
{
	struct epoll_event ev = { .events = (uint32_t)(uint16_t)pevents,
	                          .data.fd = fd };
	if (pevents == 0) {
		/* A closed fd left the set by itself: nothing to take out. */
		if (epoll_ctl(efd, EPOLL_CTL_DEL, fd, NULL) < 0 &&
		    errno != ENOENT && errno != EBADF)
			return -1;
		return 0;
	}
	if (epoll_ctl(efd, EPOLL_CTL_MOD, fd, &ev) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	return epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev);
}

/* Keep `fd`'s place in the set as its slot says: in it with the events
 * polled for while it is in the fallback set, else out. */
void
sio__sd_embed_sync(sio_loop *loop, int fd)
{
	struct sio__sigdrive *sd = loop->bstate;
	struct sio__fdslot *slot = sio__slot(loop, fd);
	if (sd->efd < 0 || slot == NULL)
		return;
	short want = 0;
	if (slot->fallback && slot->bindex >= 0)
		want = sd->fb.v[slot->bindex].events;
	int refused = embed_ctl(sd->efd, fd, want) < 0 && want != 0;
	/* EPERM (a regular file, always ready) or out of memory: the outer
	 * loop cannot be told, so it must not sleep. */
	if (refused != slot->embed_out) {
		slot->embed_out = (uint8_t)refused;
		if (refused)
			loop->embed_out++;
		else
			loop->embed_out--;
	}
}

/* The pipe, the signalfd and the fallback set as they are now. */
static int
embed_fill(sio_loop *loop, struct sio__sigdrive *sd)
{
	if (embed_ctl(sd->efd, loop->pipe_rd, POLLIN) < 0 ||
	    (sd->sfd >= 0 && embed_ctl(sd->efd, sd->sfd, POLLIN) < 0))
		return -1;
	for (size_t i = 1; i < sd->fb.n; i++)
		sio__sd_embed_sync(loop, sd->fb.v[i].fd);
	return 0;
}

static int
embed_open(sio_loop *loop, struct sio__sigdrive *sd)
{
	sd->efd = epoll_create1(EPOLL_CLOEXEC);
	if (sd->efd < 0)
		return -1;
	if (embed_fill(loop, sd) < 0) {
		int saved = errno;
		sio__sd_embed_close(loop);
		errno = saved;
		return -1;
	}
	return 0;
}

int
sio__sd_embed_fd(sio_loop *loop)
{
	struct sio__sigdrive *sd = loop->bstate;
	if (sd->efd < 0 && embed_open(loop, sd) < 0)
		return -1;
	return sd->efd;
}

/* sio_loop_fork(): an epoll set is shared with the parent across fork(),
 * and holds the parent's pipe.  The child gets a set of its own under the
 * same number, which the application may have handed to its outer loop. */
void
sio__sd_embed_fork(sio_loop *loop)
{
	struct sio__sigdrive *sd = loop->bstate;
	if (sd->efd < 0)
		return;
	int old = sd->efd;
	int fresh = epoll_create1(EPOLL_CLOEXEC);
	if (fresh < 0)
		return;         /* out of fds: the set stays the shared one */
	int rc;
	while ((rc = dup3(fresh, old, O_CLOEXEC)) < 0 && errno == EINTR)
		;
	close(fresh);
	if (rc < 0)
		return;
	for (int fd = 0; fd < loop->nslots; fd++)
		if (loop->slots[fd].embed_out) {
			loop->slots[fd].embed_out = 0;
			loop->embed_out--;
		}
	(void)embed_fill(loop, sd);
}

void
sio__sd_embed_close(sio_loop *loop)
{
	struct sio__sigdrive *sd = loop->bstate;
	if (sd->efd >= 0)
		close(sd->efd);
	sd->efd = -1;
}

#else /* !HAVE_SYS_EPOLL_H */

int
sio__sd_embed_fd(sio_loop *loop)
{
	(void)loop;
	errno = ENOSYS;
	return -1;
}

void
sio__sd_embed_sync(sio_loop *loop, int fd)
{
	(void)loop;
	(void)fd;
}

void
sio__sd_embed_fork(sio_loop *loop)
{
	(void)loop;
}

void
sio__sd_embed_close(sio_loop *loop)
{
	(void)loop;
}

#endif
