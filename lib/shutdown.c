/*
 * shutdown.c - sio_shutdown(): the application's own shutdown(2) of a
 * socket the loop may watch, told to the loop.
 *
 * What the kernel does: Linux raises no readiness signal at a socket's own
 * side when its process shuts it down.  inet_shutdown() and unix_shutdown()
 * wake the socket's waiters (sk_state_change), which is why poll() and
 * epoll see the new state at once (EOF after SHUT_RD, writable after a TCP
 * SHUT_WR), but they call sk_wake_async() only for the peer, so no SIGIO
 * and no real-time signal reach the socket's owner (measured on TCP and
 * AF_UNIX, for SHUT_RD, SHUT_WR and SHUT_RDWR).  The poll and select
 * backends see it by themselves; rtsig and sigio would not look at the fd.
 *
 * So the shutdown is followed by a note through the self-pipe naming the
 * fd, as a stop or an async send wakes the loop: the loop decodes it into
 * a check, before it may sleep, of that fd and of every fd it watches on
 * the same open file description (loop_take_record() in loop.c).  The
 * pipe is the only way into a loop that works from any thread and from a
 * signal handler; a note lost to a full pipe forces a rescan instead
 * (sio__selfpipe_post()).
 */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>

#include "sigio-internal.h"

int
sio_shutdown(sio_loop *loop, int fd, int how)
{
	if (loop == NULL || (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)) {
		errno = EINVAL;
		return -1;
	}
	int saved = errno;
	int rc = shutdown(fd, how);
	int err = rc < 0 ? errno : saved;
	/* Told even when shutdown() failed: Linux marks an unconnected
	 * socket shut (poll() then reports it) and still says ENOTCONN.
	 * An fd the loop does not watch costs a wake-up and nothing else. */
	if (fd >= 0) {
		struct sio__sigrec rec = { 0, fd, 0 };
		sio__selfpipe_post(loop, &rec);
	}
	errno = err;
	return rc;
}
