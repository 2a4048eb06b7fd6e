/*
 * selfpipe.c - the self-pipe: the one way from a signal handler (or another
 * thread) into the loop.
 *
 * The handler writes one fixed-size record per signal; records are smaller
 * than PIPE_BUF, so each write(2) is atomic and the reader always sees whole
 * records.  Both ends are nonblocking and close-on-exec: a full pipe makes
 * the writer fail with EAGAIN (the caller then raises a flag that forces a
 * rescan) instead of blocking inside a handler.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fdflags.h"
#include "sigio-internal.h"


int
sio__selfpipe_open(int *rd, int *wr)
{
	int p[2];
#ifdef HAVE_PIPE2
	if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
#else
	if (pipe(p) < 0)
		return -1;
	if (sio__fd_nonblock_cloexec(p[0]) < 0 ||
	    sio__fd_nonblock_cloexec(p[1]) < 0) {
		int saved = errno;
		close(p[0]);
		close(p[1]);
		errno = saved;
		return -1;
	}
#endif
	*rd = p[0];
	*wr = p[1];
	return 0;
}

void
sio__selfpipe_close(int *rd, int *wr)
{
	if (*rd >= 0)
		close(*rd);
	if (*wr >= 0)
		close(*wr);
	*rd = *wr = -1;
}

/* Async-signal-safe: write(2) only.  Returns 0, or -1 with errno (EAGAIN:
 * the pipe is full, and so certainly readable: the loop will wake). */
int
sio__selfpipe_write(int wr, const struct sio__sigrec *rec)
{
	for (;;) {
		ssize_t n = write(wr, rec, sizeof *rec);
		if (n == (ssize_t)sizeof *rec)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0)             /* impossible below PIPE_BUF */
			errno = EIO;
		return -1;
	}
}

/* A note from outside the handler (sio_shutdown(), any thread, or a
 * handler of the application's).  Unlike a wake-up, its content matters:
 * when the pipe is full it is lost, and `notes_lost` makes the drain
 * rescan every fd instead.  The flag is raised before a second try, not
 * after the failed write alone: the loop may have emptied the pipe and
 * looked at the flag between that write and the store, and would then
 * sleep on an empty pipe.  The second write either lands (the loop wakes
 * and finds the flag) or finds the pipe full again, which the loop has
 * yet to drain, flag raised.  Async-signal-safe. */
void
sio__selfpipe_post(sio_loop *loop, const struct sio__sigrec *rec)
{
	if (sio__selfpipe_write(loop->pipe_wr, rec) == 0 || errno != EAGAIN)
		return;
	atomic_store(&loop->notes_lost, 1);
	(void)sio__selfpipe_write(loop->pipe_wr, rec);
}

/* Up to `max` records waiting in the pipe, whole (each write(2) was
 * atomic).  What they mean is the loop's business (loop_read_pipe()). */
size_t
sio__selfpipe_read(int rd, struct sio__sigrec *recs, size_t max)
{
	for (;;) {
		ssize_t n = read(rd, recs, max * sizeof *recs);
		if (n < 0 && errno == EINTR)
			continue;
		return n <= 0 ? 0 : (size_t)n / sizeof *recs;   /* EAGAIN: empty */
	}
}
