/*
 * stream.c - buffered nonblocking connections (sio_stream) and the client
 * side's connect helpers, on sockets made and resolved by sockets.c.
 *
 * A stream is one fd watcher whose events follow its state: SIO_READ while
 * it may read (paused neither by the high watermark nor by the
 * application, no EOF yet), SIO_WRITE
 * while something is queued, SIO_URGENT while an urgent callback is set.
 * Writes go out at once when nothing is queued; the rest waits in a list
 * of chunks, sent in order, up to IOV_BATCH of them per sendmsg()/writev().
 *
 * Lifetime: user callbacks may close their own stream, or another one.
 * The memory must outlive every frame that may still look at it, so a
 * stream that ends is only marked (`reason`), its watcher stopped and its
 * queue dropped at once; the on_close call, the close() of the fd and the
 * free() come later, from the loop: when the outermost of our own
 * callbacks returns (`depth`), or from a zero-delay timer when the end
 * came from outside them.  Every entry point holds `depth` while it works,
 * so nothing it calls can free the stream under it.
 *
 * Timeouts: one timer per stream, armed for the earliest deadline it may
 * have to act on.  Reads and writes only store the loop's cached time;
 * when the timer fires it works out the real deadlines from those stamps
 * and either closes the stream or sleeps again for what is left.  So a
 * busy stream costs a heap operation per timeout period, not per read.
 *
 * Quirks handled: a vanished peer is EPIPE, not SIGPIPE (MSG_NOSIGNAL on
 * sockets; SIGPIPE held back around pipe writes); TCP reads stop at the
 * urgent mark by themselves, so in-band data before an urgent byte is
 * delivered before it; SOCK_SEQPACKET writes must not be coalesced, and a
 * message cut by a short buffer (MSG_TRUNC) would be silent loss.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "atfree.h"
#include "sockets.h"

/* Reads per callback at most, so that one busy stream does not starve the
 * others (the level-triggered loop calls it again). */
#define READS_PER_CALL 4

/* Chunks per sendmsg()/writev() at most (well under IOV_MAX). */
#define IOV_BATCH 64

/* Smallest chunk allocated: small writes share one. */
#define CHUNK_MIN 4096

#define NO_MARK UINT64_MAX

#define DEFAULT_LOW  (16 * 1024)
#define DEFAULT_HIGH (64 * 1024)

/* The longest timeout taken: far from where ms sums could overflow, and
 * within what sio_timer_start() accepts. */
#define TIMEOUT_MAX_MS (1ull << 40)

#define NO_DEADLINE UINT64_MAX

/* Queued bytes: data[off..len) is still to be written. */
struct chunk {
	struct chunk *next;
	size_t off, len, cap;
	int urgent;             /* data[0] goes out alone, with MSG_OOB */
	unsigned char data[];
};

struct sio_stream {
	sio_loop *loop;
	int fd;
	sio_io *io;             /* NULL once the stream ended */
	sio_stream_read_cb on_read;
	sio_stream_close_cb on_close;
	sio_stream_urgent_cb on_urgent;
	sio_stream_drain_cb on_drain;
	void *arg;

	struct chunk *head, *tail;
	size_t queued;          /* bytes in the chunks still to be written */
	size_t low, high;       /* watermarks */
	unsigned armed;         /* events last given to the watcher */

	unsigned is_socket : 1; /* send()/sendmsg(), shutdown() work */
	unsigned packet : 1;    /* SOCK_SEQPACKET: one write, one message */
	unsigned oob : 1;       /* TCP: urgent data can be sent */
	unsigned can_read : 1;  /* not opened write-only */
	unsigned can_write : 1; /* not opened read-only */
	unsigned paused : 1;    /* reading stopped by the high watermark */
	unsigned held : 1;      /* reading stopped by sio_stream_pause() */
	unsigned above_low : 1; /* queued rose above low since the last drain */
	unsigned eof : 1;       /* the peer's EOF was read */
	unsigned shut_wanted : 1;
	unsigned shut_done : 1;
	unsigned finishing : 1; /* on_close is running */
	unsigned urg_pending : 1; /* SIO_URGENT seen, the byte not yet read */
	uint64_t in_pos;        /* in-band bytes read so far */
	uint64_t taken_at;      /* in_pos of the mark whose byte we took, or
	                           NO_MARK (see urgent_guard()) */

	int reason;             /* SIO_CLOSE_*: the stream ended; 0 while open */
	int err;                /* the errno behind it */
	int depth;              /* frames of ours working on the stream */
	sio_timer *reaper;      /* finishes a stream that ended from outside */

	/* Timeouts (ms, on the loop's cached clock); timer NULL when both are
	 * off.  While the read count runs, read_mark is when it (re)started
	 * waiting; while it is stopped, how long it had waited. */
	sio_timer *timer;
	uint64_t read_ms, write_ms;
	uint64_t read_mark, write_mark;
	uint64_t timer_due;     /* when the timer fires, if timer_armed */
	unsigned timer_armed : 1;
	unsigned read_counting : 1;
	unsigned write_counting : 1;
};

/* ---- the queue ------------------------------------------------------------ */

static void
queue_drop(sio_stream *s)
{
	while (s->head != NULL) {
		struct chunk *c = s->head;
		s->head = c->next;
		free(c);
	}
	s->tail = NULL;
	s->queued = 0;
}

static struct chunk *
chunk_new(size_t cap)
{
	struct chunk *c = malloc(sizeof *c + cap);
	if (c != NULL)
		*c = (struct chunk){ .cap = cap };
	return c;
}

static void
queue_link(sio_stream *s, struct chunk *c)
{
	if (s->tail != NULL)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
}

/* Append a copy of data[0..len): into the room left in the last chunk,
 * then one new chunk.  All or nothing: -1 (ENOMEM) leaves the queue as
 * it was. */
static int
queue_append(sio_stream *s, const unsigned char *data, size_t len)
{
	struct chunk *t = s->tail;
	size_t room = 0;
	if (t != NULL && !t->urgent && !s->packet)
		room = t->cap - t->len;
	if (room > len)
		room = len;
	struct chunk *c = NULL;
	if (len > room) {
		size_t need = len - room;
		c = chunk_new(s->packet || need > CHUNK_MIN ? need : CHUNK_MIN);
		if (c == NULL) {
			errno = ENOMEM;
			return -1;
		}
	}
	if (room > 0) {
		memcpy(t->data + t->len, data, room);
		t->len += room;
	}
	if (c != NULL) {
		memcpy(c->data, data + room, len - room);
		c->len = len - room;
		queue_link(s, c);
	}
	s->queued += len;
	return 0;
}

/* `n` bytes went out: free the chunks they emptied. */
static void
queue_consume(sio_stream *s, size_t n)
{
	s->queued -= n;
	while (n > 0) {
		struct chunk *c = s->head;
		size_t take = c->len - c->off < n ? c->len - c->off : n;
		c->off += take;
		n -= take;
		if (c->off == c->len) {
			s->head = c->next;
			if (s->head == NULL)
				s->tail = NULL;
			free(c);
		}
	}
}

/* ---- the end of a stream ------------------------------------------------ */

/* The stream ends: no callback of it runs again, the queue is dropped.
 * on_close comes later, from stream_release(). */
static void
stream_end(sio_stream *s, int reason, int err)
{
	if (s->reason != 0)
		return;
	s->reason = reason;
	s->err = err;
	sio_io_stop(s->io);
	s->io = NULL;
	sio_timer_stop(s->timer);       /* from its own callback too: retired */
	s->timer = NULL;
	queue_drop(s);
}

/* A failed system call ends the stream; `err` says how. */
static void
stream_fail(sio_stream *s, int err)
{
	int reset = err == ECONNRESET || err == EPIPE || err == ENOTCONN;
	stream_end(s, reset ? SIO_CLOSE_RESET : SIO_CLOSE_ERROR, err);
}

/* on_close, then the fd and the memory go. */
static void
stream_finish(sio_stream *s)
{
	s->finishing = 1;
	sio_timer_stop(s->reaper);
	s->reaper = NULL;
	if (s->on_close != NULL)
		s->on_close(s, s->reason, s->err, s->arg);
	close(s->fd);
	free(s);
}

static void
stream_reap(sio_timer *t, void *arg)
{
	sio_stream *s = arg;
	sio_timer_stop(t);
	s->reaper = NULL;
	stream_finish(s);
}

/* The last step of every entry point (each starts with s->depth++): a
 * stream that ended meanwhile is finished now when we are the loop calling
 * our own watcher's callback, else from a zero-delay timer, so that
 * on_close never runs inside a call of the API. */
static void
stream_release(sio_stream *s, int from_loop)
{
	if (--s->depth > 0 || s->reason == 0 || s->finishing)
		return;
	if (from_loop) {
		stream_finish(s);
		return;
	}
	if (s->reaper != NULL)
		return;
	s->reaper = sio_timer_start(s->loop, 0, 0, stream_reap, s);
	if (s->reaper == NULL)
		stream_finish(s);       /* no memory for a timer: now, then */
	else
		sio__timer_fire_at_free(s->reaper);
}

/* ---- timeouts ------------------------------------------------------------- */

static uint64_t
stream_now(const sio_stream *s)
{
	return sio_loop_now(s->loop);
}

/* The earliest moment a running count runs out, or NO_DEADLINE. */
static uint64_t
next_deadline(const sio_stream *s)
{
	uint64_t due = NO_DEADLINE;
	if (s->read_counting)
		due = s->read_mark + s->read_ms;
	if (s->write_counting && s->write_mark + s->write_ms < due)
		due = s->write_mark + s->write_ms;
	return due;
}

/* Have the timer fire by `due` at the latest.  One due earlier is left
 * alone (no heap operation): it will find the later deadline and sleep
 * again for what is left. */
static void
timer_cover(sio_stream *s, uint64_t due)
{
	if (s->timer_armed && s->timer_due <= due)
		return;
	uint64_t now = stream_now(s);
	if (sio_timer_again(s->timer, due > now ? due - now : 0, 0) < 0) {
		stream_end(s, SIO_CLOSE_ERROR, errno);
		return;
	}
	s->timer_armed = 1;
	s->timer_due = due;
}

/* Start or stop the counts as the state asks: the read count while
 * SIO_READ is armed, the write count while something is queued.  Called
 * whenever the state may have changed, so it must cost nothing when the
 * counts stay as they are. */
static void
timeouts_follow(sio_stream *s)
{
	if (s->timer == NULL)
		return;
	unsigned rd = s->read_ms != 0 && (s->armed & SIO_READ);
	unsigned wr = s->write_ms != 0 && s->queued > 0;
	if (rd == s->read_counting && wr == s->write_counting)
		return;
	uint64_t now = stream_now(s);
	if (rd != s->read_counting) {
		/* "waiting since" becomes "waited so far", and back: a pause
		 * stops the count, it does not restart it. */
		s->read_mark = now - s->read_mark;
		s->read_counting = rd;
	}
	if (wr && !s->write_counting)
		s->write_mark = now;
	s->write_counting = wr;
	if (rd || wr)
		timer_cover(s, next_deadline(s));
}

/* poll() the fd for `events` without waiting: the revents, or 0. */
static short
poll_now(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;
	while ((n = poll(&p, 1, 0)) < 0 && errno == EINTR)
		;
	return n > 0 ? p.revents : 0;
}

/* A count ran out.  The timers run before the loop looks at the fds, so
 * a loop that was late (a long callback, a starved process) could close
 * a stream whose data or room arrived meanwhile and is about to be served
 * in this very iteration: the fd is asked first, which costs a poll() per
 * timeout that passes, never one per read. */
static void
forgive_if_ready(sio_stream *s, uint64_t now)
{
	short late = 0;
	if (s->read_counting && s->read_mark + s->read_ms <= now)
		late |= POLLIN;
	if (s->write_counting && s->write_mark + s->write_ms <= now)
		late |= POLLOUT;
	if (late == 0)
		return;
	short ready = poll_now(s->fd, late);
	short gone = ready & (POLLHUP | POLLERR);   /* the read or write says */
	if ((late & POLLIN) && (ready & POLLIN || gone))
		s->read_mark = now;
	if ((late & POLLOUT) && (ready & POLLOUT || gone))
		s->write_mark = now;
}

static void
stream_tick(sio_timer *t, void *arg)
{
	sio_stream *s = arg;
	(void)t;

	s->depth++;
	s->timer_armed = 0;
	uint64_t now = stream_now(s);
	forgive_if_ready(s, now);
	uint64_t due = next_deadline(s);
	/* Nothing counting: the timer rests until a count starts again. */
	if (due != NO_DEADLINE && due > now)
		timer_cover(s, due);
	else if (due != NO_DEADLINE)
		stream_end(s, SIO_CLOSE_TIMEOUT, ETIMEDOUT);
	stream_release(s, 1);
}

/* ---- reading and writing -------------------------------------------------- */

/* Pause or resume reading by the watermarks, and watch what the state
 * asks for. */
static void
stream_rearm(sio_stream *s)
{
	if (s->queued > s->high)
		s->paused = 1;
	else if (s->queued <= s->low)
		s->paused = 0;
	if (s->queued > s->low)
		s->above_low = 1;
	unsigned ev = 0;
	if (s->can_read && !s->eof && !s->paused && !s->held)
		ev |= SIO_READ;
	if (s->queued > 0)
		ev |= SIO_WRITE;
	if (s->on_urgent != NULL && !s->eof)
		ev |= SIO_URGENT;
	if (ev != s->armed) {
		if (sio_io_set(s->io, ev) < 0) {
			stream_end(s, SIO_CLOSE_ERROR, errno);
			return;
		}
		s->armed = ev;
	}
	timeouts_follow(s);
}

static void
stream_shut(sio_stream *s)
{
	if (!s->is_socket) {
		/* A pipe has no half-close: closing it is our EOF. */
		stream_end(s, SIO_CLOSE_LOCAL, 0);
		return;
	}
	/* Not shutdown(2) alone: it raises no signal here, and a write
	 * watcher the application keeps on this fd (TCP turns writable) would
	 * not hear of it on rtsig and sigio. */
	if (sio_shutdown(s->loop, s->fd, SHUT_WR) < 0) {
		stream_fail(s, errno);
		return;
	}
	s->shut_done = 1;
}

/* After anything changed: a drained queue completes a shutdown or, after
 * the peer's EOF, the stream; otherwise the events follow the state. */
static void
stream_settle(sio_stream *s)
{
	if (s->reason != 0)
		return;
	if (s->queued == 0) {
		if (s->shut_wanted && !s->shut_done)
			stream_shut(s);
		if (s->reason != 0)
			return;
		if (s->eof) {
			stream_end(s, SIO_CLOSE_EOF, 0);
			return;
		}
	}
	stream_rearm(s);
}

/* writev() to a pipe or FIFO, whose reader may be gone: EPIPE, never the
 * SIGPIPE that would kill the program (see sio__sigpipe_hold()). */
static ssize_t
pipe_writev(int fd, const struct iovec *iov, int cnt)
{
	sigset_t old;
	int was_pending = sio__sigpipe_hold(&old);
	ssize_t n = writev(fd, iov, cnt);
	sio__sigpipe_release(&old, was_pending, n < 0 && errno == EPIPE);
	return n;
}

/* One send of data[0..len): bytes written (0 when the fd is full), or -1
 * with errno. */
static ssize_t
send_some(sio_stream *s, const void *data, size_t len, int flags)
{
	for (;;) {
		struct iovec one = { (void *)data, len };
		ssize_t n = s->is_socket ? send(s->fd, data, len, flags | SIO__SEND_FLAGS)
		                         : pipe_writev(s->fd, &one, 1);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno != EINTR)
			return -1;
	}
}

/* Write what is queued until it is all out or the fd is full.  A failure
 * ends the stream. */
static void
stream_flush(sio_stream *s)
{
	while (s->head != NULL) {
		ssize_t n;
		if (s->head->urgent) {
			n = send(s->fd, s->head->data, 1, MSG_OOB | SIO__SEND_FLAGS);
		} else {
			struct iovec iov[IOV_BATCH];
			int cnt = 0;
			for (struct chunk *c = s->head; c != NULL && !c->urgent &&
			     cnt < IOV_BATCH; c = c->next) {
				iov[cnt].iov_base = c->data + c->off;
				iov[cnt++].iov_len = c->len - c->off;
				if (s->packet)
					break;  /* one message per send */
			}
			if (s->is_socket) {
				struct msghdr m = { .msg_iov = iov, .msg_iovlen = cnt };
				n = sendmsg(s->fd, &m, SIO__SEND_FLAGS);
			} else {
				n = pipe_writev(s->fd, iov, cnt);
			}
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			stream_fail(s, errno);
			return;
		}
		queue_consume(s, (size_t)n);
		if (s->write_counting && n > 0)
			s->write_mark = stream_now(s);
	}
}

/* After a flush: the queue fell to the low watermark from above it. */
static void
stream_drained(sio_stream *s)
{
	if (s->reason != 0 || !s->above_low || s->queued > s->low)
		return;
	s->above_low = 0;
	if (s->on_drain != NULL)
		s->on_drain(s, s->arg);
}

/* One read: bytes into buf, 0 at EOF, -1 with errno.  *cut is set when a
 * SOCK_SEQPACKET message did not fit. */
static ssize_t
read_some(sio_stream *s, unsigned char *buf, size_t len, int *cut)
{
	*cut = 0;
	for (;;) {
		ssize_t n;
		if (s->packet) {
			struct iovec iov = { .iov_base = buf, .iov_len = len };
			struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
			n = recvmsg(s->fd, &m, 0);
			*cut = n >= 0 && (m.msg_flags & MSG_TRUNC);
		} else {
			n = read(s->fd, buf, len);
		}
		if (n >= 0 || errno != EINTR)
			return n;
	}
}

/* Deliver the urgent byte, if one is there.  Returns 1 when delivered,
 * 0 when there is none (EINVAL: no urgent data, or read already) and -1
 * when it is announced but has not arrived (EAGAIN); errors of the
 * connection itself reach read(). */
static int
stream_urgent(sio_stream *s)
{
	unsigned char byte;
	int rc = sio_urgent_read(s->fd, &byte);
	if (rc != 1)
		return rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? -1 : 0;
	int mark = sio_at_mark(s->fd);
	/* Where the byte's mark is, so that it is not mistaken later for a
	 * mark whose byte is still to come: here, or FIONREAD bytes on (the
	 * count stops at a pending mark, taken or not). */
	int inq = 0;
#ifdef FIONREAD
	if (mark != 1 && ioctl(s->fd, FIONREAD, &inq) < 0)
		inq = 0;
#endif
	s->taken_at = s->in_pos + (mark == 1 ? 0 : (uint64_t)inq);
	s->on_urgent(s, byte, mark == 1, s->arg);
	return 1;
}

/* Before each read of a stream that takes urgent data: how much the read
 * may take.  Linux steps over an urgent byte that a read starts at, and
 * forgets it (tcp_recvmsg keeps it only while SIGURG is pending unblocked,
 * and the loop keeps SIGURG blocked while it works).  Looking at the mark
 * first is not enough: the byte can land between the look and the read, a
 * window that a read for stale readiness hits about once in 20,000 urgent
 * bytes.  So the read is bounded by what was there before the look:
 * FIONREAD counts the bytes up to a pending mark, and a mark that comes
 * later lies beyond them (the kernel places a new mark after the last byte
 * received).  With nothing there, a one-byte MSG_PEEK tells EOF and errors
 * from "nothing yet"; a peek steps over a mark without consuming it.
 *
 * Returns GUARD_READ with *len bounded, GUARD_AGAIN to look again (an
 * urgent byte delivered, or data came after the look), or GUARD_STOP: the
 * stream closed or paused, EOF or an error noted, nothing to read, or an
 * urgent byte announced and not arrived (its arrival makes the fd readable
 * again; nothing in band can be read before it). */
enum { GUARD_READ, GUARD_AGAIN, GUARD_STOP };

static int
urgent_guard(sio_stream *s, size_t *len)
{
	int inq = -1;
#ifdef FIONREAD
	if (ioctl(s->fd, FIONREAD, &inq) < 0)
		inq = -1;
#endif
	/* The count first, then the mark: in that order a mark not seen
	 * cannot lie within the count. */
	if (sio_at_mark(s->fd) == 1) {
		/* Still at the mark of a byte already delivered: the look
		 * cannot tell it from a new mark, and if the peer's next urgent
		 * byte landed just now, recv(MSG_OOB) would take that one, out
		 * of its place.  So read: the read steps over the old byte's
		 * place and stops at a new mark.  Left open: an urgent byte
		 * right behind the old one, with no in-band byte between,
		 * landing just now, is stepped over too (TCP keeps one urgent
		 * byte: a peer sending them back to back loses some anyway). */
		if (s->taken_at == s->in_pos)
			return GUARD_READ;
		int rc = stream_urgent(s);
		if (rc < 0)
			return GUARD_STOP;
		s->urg_pending = 0;
		if (rc > 0)
			return s->reason != 0 || !(s->armed & SIO_READ) ?
			       GUARD_STOP : GUARD_AGAIN;
		/* At a mark whose byte is gone (read through the fd by someone
		 * else): read past its place, as above. */
		return GUARD_READ;
	}
	if (inq < 0)
		return GUARD_READ;      /* no count: the read as it would be */
	if (inq > 0) {
		if ((size_t)inq < *len)
			*len = (size_t)inq;
		return GUARD_READ;
	}
	unsigned char c;
	ssize_t n;
	while ((n = recv(s->fd, &c, 1, MSG_PEEK)) < 0 && errno == EINTR)
		;
	if (n > 0)
		return GUARD_AGAIN;
	if (n == 0)
		s->eof = 1;     /* stream_settle() decides what follows */
	else if (errno != EAGAIN && errno != EWOULDBLOCK)
		stream_fail(s, errno);
	return GUARD_STOP;
}

static void
stream_read(sio_stream *s)
{
	unsigned char buf[SIO_STREAM_READ_MAX];

	for (int i = 0; i < READS_PER_CALL; i++) {
		int cut;
		size_t len = sizeof buf;
		if (s->on_urgent != NULL) {
			int g = urgent_guard(s, &len);
			if (g == GUARD_STOP)
				return;
			if (g == GUARD_AGAIN)
				continue;
		}
		ssize_t n = read_some(s, buf, len, &cut);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				stream_fail(s, errno);
			return;
		}
		if (n == 0) {
			s->eof = 1;     /* stream_settle() decides what follows */
			return;
		}
		if (cut) {
			stream_end(s, SIO_CLOSE_ERROR, EMSGSIZE);
			return;
		}
		s->in_pos += (uint64_t)n;
		/* Before on_read: a pause in it turns the mark into "waited 0". */
		if (s->read_counting)
			s->read_mark = stream_now(s);
		if (s->on_read != NULL)
			s->on_read(s, buf, (size_t)n, s->arg);
		/* The callback may have closed us, or written enough to pause
		 * reading (sio_stream_write() rearms at once). */
		if (s->reason != 0 || !(s->armed & SIO_READ))
			return;
		/* A short read is most likely the end of what is there (spare a
		 * read), unless it stopped at the urgent mark. */
		if (!s->packet && (size_t)n < sizeof buf && !s->urg_pending)
			return;
	}
}

static void
stream_io_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	sio_stream *s = arg;

	s->depth++;
	if (s->queued > 0 && (revents & (SIO_WRITE | SIO_HUP | SIO_ERROR))) {
		stream_flush(s);
		stream_drained(s);
	}
	/* Interest may have changed in the flush: stream_settle() runs only
	 * at the end, so check what is armed. */
	if (s->reason == 0 && s->on_urgent != NULL && (revents & SIO_URGENT)) {
		if (s->armed & SIO_READ)
			s->urg_pending = 1;     /* stream_read() puts it in place */
		else if (stream_urgent(s) < 0)  /* paused: now, at_mark says where */
			s->urg_pending = 1;     /* not arrived: on resuming, then */
	}
	if (s->reason == 0 && (s->armed & SIO_READ) &&
	    (revents & (SIO_READ | SIO_HUP | SIO_ERROR) || s->urg_pending))
		stream_read(s);
	stream_settle(s);
	stream_release(s, 1);
}

/* ---- the API ------------------------------------------------------------------ */

/* What kind of fd a stream is given: sockets must be connected stream or
 * seqpacket sockets. */
static int
stream_probe(sio_stream *s, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	if (!S_ISSOCK(st.st_mode)) {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0)
			return -1;
		s->can_read = (fl & O_ACCMODE) != O_WRONLY;
		s->can_write = (fl & O_ACCMODE) != O_RDONLY;
		return 0;
	}
	int type = 0, listening = 0;
	socklen_t len = sizeof type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return -1;
#ifdef SO_ACCEPTCONN
	len = sizeof listening;
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0)
		listening = 0;
#endif
	if ((type != SOCK_STREAM && type != SOCK_SEQPACKET) || listening) {
		errno = EINVAL;
		return -1;
	}
	struct sockaddr_storage ss;
	len = sizeof ss;
	ss.ss_family = AF_UNSPEC;
	(void)getsockname(fd, (struct sockaddr *)&ss, &len);
	s->is_socket = 1;
	s->packet = type == SOCK_SEQPACKET;
	s->oob = type == SOCK_STREAM &&
	         (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	s->can_read = s->can_write = 1;
	sio__nosigpipe(fd);
	return 0;
}

sio_stream *
sio_stream_new(sio_loop *loop, int fd, sio_stream_read_cb on_read,
               sio_stream_close_cb on_close, void *arg)
{
	if (loop == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	sio_stream *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	s->loop = loop;
	s->fd = fd;
	s->on_read = on_read;
	s->on_close = on_close;
	s->arg = arg;
	s->low = DEFAULT_LOW;
	s->high = DEFAULT_HIGH;
	s->taken_at = NO_MARK;
	if (stream_probe(s, fd) < 0)
		goto err;
	s->armed = s->can_read ? SIO_READ : 0;
	s->io = sio_io_start(loop, fd, s->armed, stream_io_cb, s);
	if (s->io == NULL)
		goto err;
	return s;
err:;
	int saved = errno;
	free(s);
	errno = saved;
	return NULL;
}

/* Checks shared by the writers.  Returns 0 or -1 with errno. */
static int
write_allowed(const sio_stream *s)
{
	if (s->reason != 0 || s->shut_wanted) {
		errno = EPIPE;
		return -1;
	}
	if (!s->can_write) {
		errno = EBADF;
		return -1;
	}
	return 0;
}

/* sio_stream_write() with s->depth held. */
static int
stream_write(sio_stream *s, const unsigned char *data, size_t len)
{
	size_t done = 0;

	if (write_allowed(s) < 0)
		return -1;
	if (len == 0)
		return 0;
	if (s->head == NULL) {
		ssize_t n = send_some(s, data, len, 0);
		if (n < 0 && s->packet && errno == EMSGSIZE)
			return -1;      /* nothing went out: the stream is intact */
		if (n < 0) {
			int saved = errno;
			stream_fail(s, saved);
			errno = saved;
			return -1;
		}
		done = (size_t)n;
	}
	if (done < len && queue_append(s, data + done, len - done) < 0) {
		if (done > 0)   /* a hole in the byte stream: it cannot go on */
			stream_end(s, SIO_CLOSE_ERROR, ENOMEM);
		errno = ENOMEM;
		return -1;
	}
	stream_settle(s);
	return 0;
}

int
sio_stream_write(sio_stream *s, const void *data, size_t len)
{
	if (s == NULL || (data == NULL && len > 0)) {
		errno = EINVAL;
		return -1;
	}
	s->depth++;
	int rc = stream_write(s, data, len);
	int saved = errno;
	stream_release(s, 0);
	errno = saved;
	return rc;
}

/* sio_stream_write_urgent() with s->depth held. */
static int
stream_write_urgent(sio_stream *s, unsigned char byte)
{
	if (write_allowed(s) < 0)
		return -1;
	if (!s->oob) {
		errno = EOPNOTSUPP;
		return -1;
	}
	if (s->head == NULL) {
		ssize_t n = send_some(s, &byte, 1, MSG_OOB);
		if (n < 0) {
			int saved = errno;
			stream_fail(s, saved);
			errno = saved;
			return -1;
		}
		if (n == 1)
			return 0;
	}
	struct chunk *c = chunk_new(1);
	if (c == NULL) {
		errno = ENOMEM;
		return -1;
	}
	c->data[0] = byte;
	c->len = 1;
	c->urgent = 1;
	queue_link(s, c);
	s->queued++;
	stream_settle(s);
	return 0;
}

int
sio_stream_write_urgent(sio_stream *s, unsigned char byte)
{
	if (s == NULL) {
		errno = EINVAL;
		return -1;
	}
	s->depth++;
	int rc = stream_write_urgent(s, byte);
	int saved = errno;
	stream_release(s, 0);
	errno = saved;
	return rc;
}

int
sio_stream_shutdown(sio_stream *s)
{
	if (s == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (s->reason != 0) {
		errno = EPIPE;
		return -1;
	}
	if (s->shut_wanted)
		return 0;
	s->depth++;
	s->shut_wanted = 1;
	stream_settle(s);
	stream_release(s, 0);
	return 0;
}

void
sio_stream_close(sio_stream *s)
{
	if (s == NULL)
		return;
	s->depth++;
	stream_end(s, SIO_CLOSE_LOCAL, 0);
	stream_release(s, 0);
}

int
sio_stream_set_watermarks(sio_stream *s, size_t low, size_t high)
{
	if (s == NULL || low >= high) {
		errno = EINVAL;
		return -1;
	}
	s->depth++;
	s->low = low;
	s->high = high;
	stream_settle(s);
	stream_release(s, 0);
	return 0;
}

int
sio_stream_on_urgent(sio_stream *s, sio_stream_urgent_cb cb)
{
	if (s == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (cb != NULL && !s->oob) {
		errno = EOPNOTSUPP;
		return -1;
	}
	s->depth++;
	s->on_urgent = cb;
	stream_settle(s);
	stream_release(s, 0);
	return 0;
}

int
sio_stream_set_timeouts(sio_stream *s, uint64_t read_ms, uint64_t write_ms)
{
	if (s == NULL || s->reason != 0 || read_ms > TIMEOUT_MAX_MS ||
	    write_ms > TIMEOUT_MAX_MS) {
		errno = EINVAL;
		return -1;
	}
	if (read_ms == 0 && write_ms == 0) {
		sio_timer_stop(s->timer);
		s->timer = NULL;
		s->timer_armed = 0;
	} else if (s->timer == NULL) {
		/* Armed for the shorter timeout: it fires early at worst. */
		uint64_t first = read_ms == 0 ? write_ms :
		                 write_ms == 0 || read_ms < write_ms ? read_ms : write_ms;
		s->timer = sio_timer_start(s->loop, first, 0, stream_tick, s);
		if (s->timer == NULL)
			return -1;
		s->timer_armed = 1;
		s->timer_due = stream_now(s) + first;
	}
	s->depth++;
	s->read_ms = read_ms;
	s->write_ms = write_ms;
	/* Both counts start afresh from this call. */
	s->read_counting = s->write_counting = 0;
	s->read_mark = 0;
	timeouts_follow(s);
	stream_release(s, 0);
	return 0;
}

/* sio_stream_pause() and sio_stream_resume(). */
static int
stream_hold(sio_stream *s, unsigned hold)
{
	if (s == NULL || s->reason != 0) {
		errno = EINVAL;
		return -1;
	}
	s->depth++;
	s->held = hold;
	stream_settle(s);
	stream_release(s, 0);
	return 0;
}

int
sio_stream_pause(sio_stream *s)
{
	return stream_hold(s, 1);
}

int
sio_stream_resume(sio_stream *s)
{
	return stream_hold(s, 0);
}

int
sio_stream_on_drain(sio_stream *s, sio_stream_drain_cb cb)
{
	if (s == NULL || s->reason != 0) {
		errno = EINVAL;
		return -1;
	}
	s->on_drain = cb;
	return 0;
}

size_t
sio_stream_queued(const sio_stream *s)
{
	return s == NULL ? 0 : s->queued;
}

int
sio_stream_fd(const sio_stream *s)
{
	return s == NULL ? -1 : s->fd;
}

/* ---- connecting ------------------------------------------------------------- */

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A nonblocking connect() of `fd`, waited for up to timeout_ms. */
static int
connect_wait(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	/* EINTR: the connection goes on in the background, as EINPROGRESS. */
	if (errno != EINPROGRESS && errno != EINTR)
		return -1;
	long long deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		long long left = timeout_ms < 0 ? -1 : deadline - now_ms();
		if (timeout_ms >= 0 && left < 0)
			left = 0;
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		int soerr = 0;
		socklen_t sl = sizeof soerr;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -1;
		if (soerr != 0) {
			errno = soerr;
			return -1;
		}
		return 0;
	}
}

int
sio_connect_tcp(const char *host, const char *service, int timeout_ms)
{
	struct addrinfo *res;
	int err = EADDRNOTAVAIL;

	if (host == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (sio__resolve(host, service, SOCK_STREAM, 0, &res) < 0)
		return -1;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		int fd = sio__socket(ai->ai_family, SOCK_STREAM, ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect_wait(fd, ai->ai_addr, ai->ai_addrlen, timeout_ms) == 0) {
			freeaddrinfo(res);
			return fd;
		}
		err = errno;
		close(fd);
	}
	freeaddrinfo(res);
	errno = err;
	return -1;
}

/* Unix connect() does not complete in the background: a full backlog makes
 * a nonblocking one fail with EAGAIN.  So it is made blocking, bounded by
 * SO_SNDTIMEO, which Linux and the BSDs apply to it. */
static int
unix_connect_blocking(int fd, const struct sockaddr *sa, socklen_t len,
                      int timeout_ms)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -1;
	struct timeval tv = { 0, 0 };
	if (timeout_ms > 0) {
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
	}
	if (timeout_ms == 0) {
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);    /* do not wait at all */
	} else if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
		return -1;
	}
	int rc;
	do
		rc = connect(fd, sa, len);
	while (rc < 0 && errno == EINTR);
	if (rc < 0 && errno == EISCONN)
		rc = 0;         /* connected while we were interrupted */
	if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		errno = ETIMEDOUT;
	int saved = errno;
	struct timeval zero = { 0, 0 };
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
	if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 && rc == 0)
		return -1;
	errno = saved;
	return rc;
}

int
sio_connect_unix(const char *path, int type, int timeout_ms)
{
	struct sockaddr_un sun;
	socklen_t len;

	if (type != SOCK_STREAM && type != SOCK_SEQPACKET) {
		errno = EINVAL;
		return -1;
	}
	if (sio__unix_address(path, &sun, &len) < 0)
		return -1;
	int fd = sio__socket(AF_UNIX, type, 0);
	if (fd < 0)
		return -1;
	if (unix_connect_blocking(fd, (struct sockaddr *)&sun, len, timeout_ms) < 0) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}
