/*
 * echo-client - talk to an echo service, like nc: copy stdin to the server
 * and what comes back to stdout, through one sigio loop that watches both
 * stdin and the socket.
 *
 * Usage: echo-client [--backend=NAME]
 *                    (--tcp=HOST:PORT | --udp=HOST:PORT | --unix=PATH | --seqpacket=PATH)
 *                    [--urgent=CHAR] [--count=N --size=B] [--timeout=MS]
 *
 *   - Connecting never blocks the loop: TCP with sio_connect_start() (the
 *     name looked up on a worker thread, its addresses raced as RFC 8305
 *     says), Unix paths with sio_connect_unix_start() (a full backlog is
 *     waited for), UDP with sio_getaddrinfo().  --timeout=MS bounds it,
 *     the lookup included (default: no limit but the kernel's).
 *   - TCP and Unix stream: an sio_stream.  At the end of stdin the client
 *     half-closes (shutdown SHUT_WR once its queue is written) and copies
 *     the rest of the echo until the server closes.  Reading stdin pauses
 *     while more than 256 KiB wait to be sent.
 *   - UDP: each read of stdin is one datagram (a connected socket, an
 *     sio_dgram); at most 16 are in flight.  At the end of stdin it waits
 *     for the outstanding replies, 2 s at most.
 *   - SEQPACKET: each read of stdin is one record, sent with sendmsg on a
 *     plain sio_io watcher (records that find no room wait, SIO_WRITE);
 *     half-close as for streams.
 *   - --urgent=CHAR (TCP): send CHAR as urgent data (MSG_OOB) first, and
 *     report on stderr what came back as urgent data, and sockatmark().
 *     The half-close waits for that reply (5 s at most).
 *   - --count=N --size=B: instead of stdin, send N messages of B bytes and
 *     verify every byte that comes back, then print one line on stdout.
 *     Over UDP, datagrams that get no reply within 200 ms are sent again.
 *
 * stdout is written synchronously: a slow reader of our stdout slows the
 * loop, so we read the socket slower, and the server throttles itself.
 * SIGPIPE is ignored: a closed stdout is an EPIPE error.
 *
 * Exit status: 0 when everything went and came back, 1 for a runtime error
 * or a mismatch, 2 for bad usage.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "sigio.h"
#include "echo-common.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define PROG "echo-client"

enum kind { K_TCP, K_UDP, K_UNIX, K_SEQPACKET };
static const char *const kind_name[] = { "tcp", "udp", "unix", "seqpacket" };

#define STDIN_CHUNK     65536           /* one read of stdin (streams, records) */
#define UDP_CHUNK       4096            /* one read of stdin: one datagram */
#define PAUSE_AT        (256 * 1024)    /* stream queue that pauses stdin */
#define RESUME_AT       (64 * 1024)     /* ... and resumes it */
#define RESUME_CHECK_MS 20              /* queue check while paused */
#define UDP_WINDOW      16              /* datagrams in flight */
#define SEQ_WINDOW      32              /* records in flight (count mode) */
#define UDP_LINGER_MS   2000            /* wait for the last UDP replies */
#define RESEND_MS       200             /* UDP count mode: resend after */
#define RESEND_TRIES    10
#define URGENT_WAIT_MS  5000
#define STALL_MS        10000           /* count mode: no progress at all */
#define MAX_SIZE        (16u * 1024 * 1024)

struct client {
	sio_loop *loop;
	int kind;
	const char *target;             /* the option as given */
	char host[ECHO_HOST_MAX], port[ECHO_SERV_MAX];
	const char *path;
	char peer[200];                 /* "tcp 127.0.0.1:7007": for the summary */

	/* connecting */
	int timeout_ms;                 /* --timeout, -1: none of ours */
	sio_connector *connector;       /* tcp, unix, seqpacket */
	sio_lookup *lookup;             /* udp */
	sio_timer *lookup_timer;        /* udp: --timeout for the lookup */

	/* the connection */
	int fd;
	sio_stream *s;                  /* tcp, unix */
	sio_dgram *d;                   /* udp */
	sio_io *rec_io;                 /* seqpacket */
	unsigned char *held;            /* seqpacket: a record waiting for room */
	size_t held_len;
	int shut_wanted;                /* the half-close waits (urgent, held) */
	int shut_done;
	unsigned char *buf;             /* scratch: ECHO_RECORD_MAX */

	/* copy mode */
	sio_io *in_io;
	int in_eof, in_paused;
	sio_timer *resume;              /* checks the queue while stdin pauses */
	sio_timer *linger;              /* udp: the last replies */
	uint64_t recs_sent, recs_back;  /* udp, seqpacket */

	/* --urgent */
	int urgent, urgent_back;
	unsigned char urgent_byte;
	sio_timer *urgent_wait;

	/* --count/--size */
	int count_mode;
	uint64_t count, size;
	uint64_t bytes_sent, bytes_back;
	uint64_t next, base;            /* records: next to send, first unanswered */
	unsigned window;
	uint64_t *sent_at;              /* per window slot: when sent (ms) */
	unsigned *tries;
	unsigned char *acked;
	uint64_t resent, duplicates;
	sio_timer *tick;                /* resends, stall detection, progress */
	int progress;                   /* stderr is a terminal: show progress */
	int progress_shown;             /* a progress line is on the terminal */
	uint64_t last_progress;
	struct timespec t0;

	int done, rc;
};

static void finish(struct client *c, int rc);
static void progress_clear(struct client *c);
static void pump(struct client *c);
static void start_half_close(struct client *c);

/* ---- small helpers --------------------------------------------------------- */

static double
seconds_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Write everything to stdout.  stdout may share its open file description
 * with stdin (a terminal), which the loop made nonblocking: wait with
 * poll() on EAGAIN.  Returns 0, or -1 with errno. */
static int
write_stdout(const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = STDOUT_FILENO, .events = POLLOUT };
			(void)poll(&pfd, 1, -1);
			continue;
		}
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
fail(struct client *c, const char *what, int err)
{
	if (c->done)
		return;
	progress_clear(c);
	if (err != 0)
		fprintf(stderr, PROG ": %s: %s: %s\n", c->target, what, strerror(err));
	else
		fprintf(stderr, PROG ": %s: %s\n", c->target, what);
	finish(c, 1);
}

static const char *
printable(unsigned char b)
{
	static char s[4];
	snprintf(s, sizeof s, "%c", b >= 0x20 && b < 0x7f ? b : '.');
	return s;
}

/* ---- the end --------------------------------------------------------------- */

/* Stop everything; the loop ends once the stream (if any) has closed. */
static void
finish(struct client *c, int rc)
{
	if (c->done)
		return;
	c->done = 1;
	c->rc = rc;
	progress_clear(c);
	sio_io_stop(c->in_io);
	c->in_io = NULL;
	sio_timer_stop(c->resume);
	sio_timer_stop(c->linger);
	sio_timer_stop(c->urgent_wait);
	sio_timer_stop(c->tick);
	c->resume = c->linger = c->urgent_wait = c->tick = NULL;
	sio_connect_cancel(c->connector);
	c->connector = NULL;
	sio_lookup_cancel(c->lookup);
	c->lookup = NULL;
	sio_timer_stop(c->lookup_timer);
	c->lookup_timer = NULL;
	if (c->rec_io != NULL) {
		sio_io_stop(c->rec_io);
		c->rec_io = NULL;
		close(c->fd);
	}
	sio_dgram_free(c->d);
	c->d = NULL;
	if (c->s != NULL)
		sio_stream_close(c->s); /* on_stream_close() stops the loop */
	else
		sio_loop_stop(c->loop);
}

/* The summary of --count, and the exit. */
static void
count_done(struct client *c)
{
	progress_clear(c);
	printf("ok: %llu messages of %llu bytes echoed and verified over %s in %.3f s",
	       (unsigned long long)c->count, (unsigned long long)c->size, c->peer,
	       seconds_since(&c->t0));
	if (c->kind == K_UDP)
		printf(" (%llu resent, %llu duplicates)", (unsigned long long)c->resent,
		       (unsigned long long)c->duplicates);
	printf("\n");
	fflush(stdout);
	finish(c, 0);
}

/* The server closed its side (end of stream): the end, if nothing was
 * missing. */
static void
server_closed(struct client *c)
{
	if (c->urgent && !c->urgent_back) {
		fprintf(stderr, PROG ": %s: urgent: sent 0x%02x '%s', nothing came back\n",
		        c->target, c->urgent_byte, printable(c->urgent_byte));
		return finish(c, 1);
	}
	if (!c->count_mode)
		return finish(c, 0);
	if (c->kind == K_SEQPACKET ? c->base == c->count :
	    c->bytes_back == c->count * c->size)
		return count_done(c);
	fprintf(stderr, PROG ": %s: the server closed after %llu of %llu bytes\n",
	        c->target, (unsigned long long)c->bytes_back,
	        (unsigned long long)(c->count * c->size));
	finish(c, 1);
}

/* ---- urgent data ------------------------------------------------------------- */

static void
on_urgent(sio_stream *s, unsigned char byte, int at_mark, void *arg)
{
	struct client *c = arg;

	if (c->urgent_back)
		return;                 /* one was asked for */
	c->urgent_back = 1;
	sio_timer_stop(c->urgent_wait);
	c->urgent_wait = NULL;
	fprintf(stderr, PROG ": urgent: sent 0x%02x '%s', got 0x%02x '%s' back (sockatmark=%d)\n",
	        c->urgent_byte, printable(c->urgent_byte), byte, printable(byte),
	        at_mark);
	if (byte != c->urgent_byte)
		return fail(c, "urgent: a different byte came back", 0);
	if (c->shut_wanted)
		start_half_close(c);
}

static void
on_urgent_timeout(sio_timer *t, void *arg)
{
	struct client *c = arg;
	char what[96];

	snprintf(what, sizeof what, "urgent: sent 0x%02x '%s', nothing came back within %d s",
	         c->urgent_byte, printable(c->urgent_byte), URGENT_WAIT_MS / 1000);
	fail(c, what, 0);
}

/* The urgent byte goes out through the stream, in order after what is
 * queued (nothing, when it is sent first). */
static int
send_urgent(struct client *c)
{
	return sio_stream_write_urgent(c->s, c->urgent_byte);
}

/* ---- half-close ------------------------------------------------------------ */

/* Nothing more to send: shut our side down, once the urgent reply (if one
 * is awaited) came and the held record (if any) went. */
static void
start_half_close(struct client *c)
{
	if (c->shut_done || c->done)
		return;
	c->shut_wanted = 1;
	if (c->urgent && !c->urgent_back)
		return;                 /* on_urgent() calls again */
	if (c->held != NULL)
		return;                 /* on_rec_io() calls again */
	c->shut_done = 1;
	switch (c->kind) {
	case K_TCP:
	case K_UNIX:
		if (sio_stream_shutdown(c->s) < 0)
			fail(c, "shutdown", errno);
		break;
	case K_SEQPACKET:
		/* Watched by rec_io: the loop is told (sio_shutdown(3)). */
		if (sio_shutdown(c->loop, c->fd, SHUT_WR) < 0)
			fail(c, "shutdown", errno);
		break;
	case K_UDP:                     /* no half-close: wait for the replies */
		if (c->recs_back >= c->recs_sent)
			finish(c, 0);
		break;
	}
}

static void
on_linger_over(sio_timer *t, void *arg)
{
	struct client *c = arg;
	char what[96];

	c->linger = NULL;
	sio_timer_stop(t);
	snprintf(what, sizeof what, "%llu of %llu datagrams not echoed within %d s",
	         (unsigned long long)(c->recs_sent - c->recs_back),
	         (unsigned long long)c->recs_sent, UDP_LINGER_MS / 1000);
	fail(c, what, 0);
}

/* ---- records (udp, seqpacket) ------------------------------------------------ */

/* Send one record: on SEQPACKET, one that finds no room is held and goes
 * when the socket is writable; on UDP, it is dropped (and, in count mode,
 * sent again later).  Returns 0, or -1 after failing the client. */
static int
send_record(struct client *c, const void *data, size_t len)
{
	if (c->kind == K_UDP) {
		if (sio_dgram_send(c->d, data, len, NULL, 0) < 0 && errno != EAGAIN &&
		    errno != EWOULDBLOCK && errno != ENOBUFS) {
			fail(c, "send", errno);
			return -1;
		}
		return 0;
	}
	if (echo_send_record(c->fd, data, len) == 0)
		return 0;
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
		fail(c, "send", errno);
		return -1;
	}
	c->held = malloc(len > 0 ? len : 1);
	if (c->held == NULL) {
		fail(c, "malloc", errno);
		return -1;
	}
	memcpy(c->held, data, len);
	c->held_len = len;
	sio_io_set(c->rec_io, SIO_READ | SIO_WRITE);
	return 0;
}

/* The message of index i (count mode, records): an 8-byte big-endian index
 * when it fits, then the pattern. */
static void
make_record(const struct client *c, uint64_t i, unsigned char *out)
{
	for (uint64_t k = 0; k < c->size; k++)
		out[k] = k < 8 && c->size >= 8 ? (unsigned char)(i >> (56 - 8 * k)) :
		         echo_pattern(i * c->size + k);
}

/* A record came back in count mode: check it, and move the window. */
static void
count_record(struct client *c, const unsigned char *data, size_t len)
{
	uint64_t i = c->base;

	if (c->size >= 8) {
		if (len < 8)
			return fail(c, "a reply shorter than its index came back", 0);
		i = 0;
		for (int k = 0; k < 8; k++)
			i = i << 8 | data[k];
	}
	if (i < c->base || i >= c->next || c->acked[i % c->window]) {
		if (c->kind == K_UDP && i < c->next) {
			c->duplicates++;        /* a resent one, answered twice */
			return;
		}
		return fail(c, "a reply to no message sent came back", 0);
	}
	if (len != c->size) {
		char what[96];
		snprintf(what, sizeof what, "message %llu came back with %zu bytes, not %llu",
		         (unsigned long long)i, len, (unsigned long long)c->size);
		return fail(c, what, 0);
	}
	make_record(c, i, c->buf);
	if (memcmp(c->buf, data, len) != 0) {
		char what[96];
		snprintf(what, sizeof what, "message %llu came back altered",
		         (unsigned long long)i);
		return fail(c, what, 0);
	}
	c->acked[i % c->window] = 1;
	c->bytes_back += len;
	c->last_progress = sio_loop_now(c->loop);
	while (c->base < c->next && c->acked[c->base % c->window]) {
		c->acked[c->base % c->window] = 0;
		c->base++;
	}
	pump(c);
}

/* A record or datagram came back. */
static void
record_in(struct client *c, const void *data, size_t len, int truncated)
{
	if (truncated)
		return fail(c, "a reply came back truncated (MSG_TRUNC)", 0);
	if (c->count_mode)
		return count_record(c, data, len);
	c->recs_back++;
	if (write_stdout(data, len) < 0)
		return fail(c, "stdout", errno);
	if (c->kind == K_UDP && c->in_paused && c->recs_sent - c->recs_back < UDP_WINDOW) {
		c->in_paused = 0;
		sio_io_set(c->in_io, SIO_READ);
		sio_timer_stop(c->linger);
		c->linger = NULL;
	}
	if (c->kind == K_UDP && c->in_eof && c->recs_back >= c->recs_sent)
		finish(c, 0);
}

static void
on_dgram(sio_dgram *d, const void *data, size_t len, const struct sockaddr *from,
         socklen_t fromlen, int truncated, void *arg)
{
	record_in(arg, data, len, truncated);
}

/* The SEQPACKET socket: a held record to send, records to read. */
static void
on_rec_io(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct client *c = arg;

	if (c->held != NULL) {
		if (echo_send_record(fd, c->held, c->held_len) == 0) {
			free(c->held);
			c->held = NULL;
			sio_io_set(io, SIO_READ);
			if (c->in_paused && !c->count_mode) {
				c->in_paused = 0;
				sio_io_set(c->in_io, SIO_READ);
			}
			if (c->shut_wanted)
				start_half_close(c);
			if (c->count_mode)
				pump(c);
		} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
			return fail(c, "send", errno);
		}
	}
	for (int i = 0; i < 64 && !c->done; i++) {
		int truncated;
		ssize_t n = echo_recv_record(fd, c->buf, ECHO_RECORD_MAX, &truncated);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			return fail(c, "recv", errno);
		if (n == 0)
			return server_closed(c);
		record_in(c, c->buf, (size_t)n, truncated);
	}
}

/* ---- streams (tcp, unix) ----------------------------------------------------- */

static void
resume_stdin_if_drained(struct client *c)
{
	if (c->in_paused && c->s != NULL && sio_stream_queued(c->s) <= RESUME_AT) {
		c->in_paused = 0;
		sio_timer_stop(c->resume);
		c->resume = NULL;
		sio_io_set(c->in_io, SIO_READ);
	}
}

/* The layer has no "queue drained" callback: while stdin pauses, look at
 * the queue now and then (echoes arriving look too). */
static void
on_resume_check(sio_timer *t, void *arg)
{
	resume_stdin_if_drained(arg);
}

static void
on_stream_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct client *c = arg;
	const unsigned char *p = data;

	if (c->done)
		return;
	if (!c->count_mode) {
		if (write_stdout(data, len) < 0)
			return fail(c, "stdout", errno);
		resume_stdin_if_drained(c);
		return;
	}
	for (size_t k = 0; k < len; k++)
		if (p[k] != echo_pattern(c->bytes_back + k)) {
			char what[128];
			snprintf(what, sizeof what, "byte %llu came back as 0x%02x, not 0x%02x",
			         (unsigned long long)(c->bytes_back + k), p[k],
			         echo_pattern(c->bytes_back + k));
			return fail(c, what, 0);
		}
	c->bytes_back += len;
	c->last_progress = sio_loop_now(c->loop);
	if (c->bytes_back > c->count * c->size)
		return fail(c, "more bytes came back than were sent", 0);
	pump(c);
}

static void
on_stream_close(sio_stream *s, int reason, int err, void *arg)
{
	struct client *c = arg;

	c->s = NULL;                    /* freed when this returns */
	if (c->done) {
		sio_loop_stop(c->loop);
		return;
	}
	switch (reason) {
	case SIO_CLOSE_EOF:
		return server_closed(c);
	case SIO_CLOSE_RESET:
		return fail(c, "connection reset by the server", err);
	default:
		return fail(c, "connection failed", err);
	}
}

/* ---- count mode ---------------------------------------------------------------- */

/* Send what the window allows. */
static void
pump(struct client *c)
{
	if (c->done || !c->count_mode)
		return;
	if (c->kind == K_TCP || c->kind == K_UNIX) {
		while (c->bytes_sent < c->count * c->size &&
		       sio_stream_queued(c->s) < PAUSE_AT) {
			for (uint64_t k = 0; k < c->size; k++)
				c->buf[k] = echo_pattern(c->bytes_sent + k);
			if (sio_stream_write(c->s, c->buf, c->size) < 0)
				return fail(c, "write", errno);
			c->bytes_sent += c->size;
		}
		if (c->bytes_sent == c->count * c->size)
			start_half_close(c);
		return;
	}
	while (c->next < c->count && c->next < c->base + c->window && c->held == NULL) {
		uint64_t i = c->next++;
		make_record(c, i, c->buf);
		c->sent_at[i % c->window] = sio_loop_now(c->loop);
		c->tries[i % c->window] = 1;
		if (send_record(c, c->buf, c->size) < 0)
			return;
	}
	if (c->base == c->count) {
		if (c->kind == K_UDP)
			count_done(c);
		else
			start_half_close(c);   /* then the server's EOF */
	}
}

/* Count mode on a terminal: one line, rewritten in place, of how much
 * has come back.  Plain output (a pipe, a file, a test) never sees it. */
static void
progress_show(struct client *c)
{
	uint64_t total = c->count, back = c->kind == K_SEQPACKET || c->kind == K_UDP ?
	                                  c->base : c->bytes_back / c->size;
	fprintf(stderr, "\r\033[K" PROG ": %llu/%llu messages back (%.0f%%), %.1f s",
	        (unsigned long long)back, (unsigned long long)total,
	        total ? 100.0 * (double)back / (double)total : 100.0, seconds_since(&c->t0));
	fflush(stderr);
	c->progress_shown = 1;
}

static void
progress_clear(struct client *c)
{
	if (c->progress_shown)
		fputs("\r\033[K", stderr);
	c->progress_shown = 0;
}

/* Every RESEND_MS / 2: resend unanswered UDP datagrams; give up on none
 * progressing at all; show progress on a terminal. */
static void
on_tick(sio_timer *t, void *arg)
{
	struct client *c = arg;
	uint64_t now = sio_loop_now(c->loop);

	if (now - c->last_progress > STALL_MS)
		return fail(c, "no echo for 10 s", 0);
	if (c->progress)
		progress_show(c);
	if (c->kind != K_UDP)
		return;
	for (uint64_t i = c->base; i < c->next && !c->done; i++) {
		unsigned slot = (unsigned)(i % c->window);
		if (c->acked[slot] || now - c->sent_at[slot] < RESEND_MS)
			continue;
		if (c->tries[slot] >= RESEND_TRIES) {
			char what[96];
			snprintf(what, sizeof what, "message %llu never came back (sent %u times)",
			         (unsigned long long)i, c->tries[slot]);
			return fail(c, what, 0);
		}
		c->tries[slot]++;
		c->resent++;
		c->sent_at[slot] = now;
		make_record(c, i, c->buf);
		if (send_record(c, c->buf, c->size) < 0)
			return;
	}
}

static int
count_start(struct client *c)
{
	c->buf = realloc(c->buf, c->size > ECHO_RECORD_MAX ? c->size : ECHO_RECORD_MAX);
	if (c->buf == NULL)
		return -1;
	if (c->kind == K_UDP || c->kind == K_SEQPACKET) {
		c->window = c->size < 8 ? 1 : c->kind == K_UDP ? UDP_WINDOW : SEQ_WINDOW;
		c->sent_at = calloc(c->window, sizeof *c->sent_at);
		c->tries = calloc(c->window, sizeof *c->tries);
		c->acked = calloc(c->window, 1);
		if (c->sent_at == NULL || c->tries == NULL || c->acked == NULL)
			return -1;
	}
	c->last_progress = sio_loop_now(c->loop);
	c->progress = isatty(STDERR_FILENO);
	c->tick = sio_timer_start(c->loop, RESEND_MS / 2, RESEND_MS / 2, on_tick, c);
	if (c->tick == NULL)
		return -1;
	pump(c);
	return 0;
}

/* ---- stdin (copy mode) ------------------------------------------------------------ */

static void
stdin_ended(struct client *c)
{
	c->in_eof = 1;
	sio_io_stop(c->in_io);
	c->in_io = NULL;
	start_half_close(c);
	if (c->kind == K_UDP && !c->done && c->recs_back < c->recs_sent)
		c->linger = sio_timer_start(c->loop, UDP_LINGER_MS, 0, on_linger_over, c);
}

static void
on_stdin(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct client *c = arg;
	size_t chunk = c->kind == K_UDP ? UDP_CHUNK : STDIN_CHUNK;

	for (int round = 0; round < 4 && !c->done; round++) {
		int full = c->kind == K_UDP ? c->recs_sent - c->recs_back >= UDP_WINDOW :
		           c->kind == K_SEQPACKET ? c->held != NULL :
		           sio_stream_queued(c->s) >= PAUSE_AT;
		if (full) {             /* wait: replies, room, the queue */
			c->in_paused = 1;
			sio_io_set(io, 0);
			if (c->kind == K_UDP && c->linger == NULL)   /* lost ones? */
				c->linger = sio_timer_start(c->loop, UDP_LINGER_MS, 0,
				                            on_linger_over, c);
			if ((c->kind == K_TCP || c->kind == K_UNIX) && c->resume == NULL)
				c->resume = sio_timer_start(c->loop, RESUME_CHECK_MS,
				                            RESUME_CHECK_MS, on_resume_check, c);
			return;
		}
		ssize_t n = read(fd, c->buf, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			return fail(c, "stdin", errno);
		if (n == 0)
			return stdin_ended(c);
		if (c->kind == K_TCP || c->kind == K_UNIX) {
			if (sio_stream_write(c->s, c->buf, (size_t)n) < 0)
				return fail(c, "write", errno);
		} else {
			c->recs_sent++;
			if (send_record(c, c->buf, (size_t)n) < 0)
				return;
		}
	}
}

/* ---- connecting ------------------------------------------------------------------- */

/* The connection is up: wrap it, and start the work. */
static void
connected(struct client *c)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char addr[160];

	if (getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0)
		sl = 0;
	if (c->kind == K_UNIX || c->kind == K_SEQPACKET)
		snprintf(c->peer, sizeof c->peer, "%s %s", kind_name[c->kind], c->path);
	else
		snprintf(c->peer, sizeof c->peer, "%s %s", kind_name[c->kind],
		         echo_peer_text((struct sockaddr *)&ss, sl, addr, sizeof addr));
	switch (c->kind) {
	case K_TCP:
	case K_UNIX:
		c->s = sio_stream_new(c->loop, c->fd, on_stream_read, on_stream_close, c);
		if (c->s == NULL) {
			close(c->fd);
			return fail(c, "sio_stream_new", errno);
		}
		/* The client throttles its own sending (PAUSE_AT): its reading
		 * must never pause behind its queue, or client and server would
		 * each wait for the other to read. */
		if (sio_stream_set_watermarks(c->s, RESUME_AT, SIZE_MAX) < 0)
			return fail(c, "sio_stream_set_watermarks", errno);
		break;
	case K_UDP:
		c->d = sio_dgram_new(c->loop, c->fd, 0, on_dgram, c);
		if (c->d == NULL) {
			close(c->fd);
			return fail(c, "sio_dgram_new", errno);
		}
		break;
	case K_SEQPACKET:
		c->rec_io = sio_io_start(c->loop, c->fd, SIO_READ, on_rec_io, c);
		if (c->rec_io == NULL) {
			close(c->fd);
			return fail(c, "sio_io_start", errno);
		}
		break;
	}
	if (c->urgent) {
		if (sio_stream_on_urgent(c->s, on_urgent) < 0)
			return fail(c, "sio_stream_on_urgent", errno);
		if (send_urgent(c) < 0)
			return fail(c, "sio_stream_write_urgent", errno);
		c->urgent_wait = sio_timer_start(c->loop, URGENT_WAIT_MS, 0,
		                                 on_urgent_timeout, c);
	}
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	if (c->count_mode) {
		if (count_start(c) < 0)
			fail(c, "count mode", errno);
		return;
	}
	c->in_io = sio_io_start(c->loop, STDIN_FILENO, SIO_READ, on_stdin, c);
	if (c->in_io == NULL) {
		if (errno == EBADF)     /* no stdin at all: nothing to send */
			return stdin_ended(c);
		fail(c, "watching stdin", errno);
	}
}

/* TCP, Unix, SEQPACKET: the connect is over (sio_connect_start() raced
 * the addresses of a name, as RFC 8305 says). */
static void
on_connect(sio_connector *conn, int fd, int err, void *arg)
{
	(void)conn;
	struct client *c = arg;
	const char *why = sio_listener_error();

	c->connector = NULL;
	if (err != 0) {
		fprintf(stderr, PROG ": %s: %s\n", c->target,
		        err == EADDRNOTAVAIL && *why ? why : strerror(err));
		return finish(c, 1);
	}
	c->fd = fd;
	connected(c);
}

/* UDP: connect() only fixes the peer, and completes at once; the first
 * address that takes it is the one. */
static void
on_udp_resolved(sio_lookup *q, int rc, const struct addrinfo *res, void *arg)
{
	(void)q;
	struct client *c = arg;
	int err = EADDRNOTAVAIL;

	c->lookup = NULL;
	sio_timer_stop(c->lookup_timer);
	c->lookup_timer = NULL;
	if (rc != 0) {
		fprintf(stderr, PROG ": %s: %s\n", c->target, gai_strerror(rc));
		return finish(c, 1);
	}
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		                ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			c->fd = fd;
			return connected(c);
		}
		err = errno;
		close(fd);
	}
	fail(c, "connect", err);
}

static void
on_lookup_timeout(sio_timer *t, void *arg)
{
	(void)t;
	struct client *c = arg;

	fprintf(stderr, PROG ": %s: no answer within %d ms\n", c->target, c->timeout_ms);
	finish(c, 1);           /* gives the lookup up */
}

/* Start: resolve and connect, without blocking the loop.  Returns 0, or
 * -1 after a message. */
static int
start(struct client *c)
{
	if (c->kind == K_UNIX || c->kind == K_SEQPACKET) {
		int type = c->kind == K_UNIX ? SOCK_STREAM : SOCK_SEQPACKET;
		c->connector = sio_connect_unix_start(c->loop, c->path, type, c->timeout_ms,
		                                      on_connect, c);
	} else if (c->kind == K_TCP) {
		/* No host: the loopback addresses, as getaddrinfo(NULL) gives. */
		c->connector = sio_connect_start(c->loop, c->host[0] ? c->host : "localhost",
		                                 c->port, c->timeout_ms, on_connect, c);
	} else {
		struct addrinfo hints;
		memset(&hints, 0, sizeof hints);
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_DGRAM;
		c->lookup = sio_getaddrinfo(c->loop, c->host[0] ? c->host : NULL, c->port,
		                            &hints, on_udp_resolved, c);
		if (c->lookup != NULL && c->timeout_ms >= 0) {
			c->lookup_timer = sio_timer_start(c->loop, (uint64_t)c->timeout_ms, 0,
			                                  on_lookup_timeout, c);
			if (c->lookup_timer == NULL) {
				sio_lookup_cancel(c->lookup);
				c->lookup = NULL;
			}
		}
	}
	if (c->connector == NULL && c->lookup == NULL) {
		fprintf(stderr, PROG ": %s: %s\n", c->target, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- options ------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: " PROG " [--backend=NAME]\n"
	        "                   (--tcp=HOST:PORT | --udp=HOST:PORT | --unix=PATH | --seqpacket=PATH)\n"
	        "                   [--urgent=CHAR] [--count=N --size=B] [--timeout=MS]\n"
	        "Copies stdin to the server and the replies to stdout; --count/--size sends\n"
	        "N messages of B bytes instead and verifies every byte that comes back.\n"
	        "--timeout gives up connecting (the name lookup included) after MS ms.\n");
}

/* The command line into *c and *backend.  Returns 0 to run, -1 after --help
 * (exit 0), or 2 after a message.  It never exits itself:
 * fuzz/fuzz_args_echo_client.c calls it on any argv. */
static int
parse_options(struct client *c, int argc, char **argv, const char **backend)
{
	static const char *const ep_opts[] = { "--tcp", "--udp", "--unix", "--seqpacket" };
	int have_count = 0, have_size = 0;
	unsigned long long n;
	const char *v;

	c->kind = -1;
	c->timeout_ms = -1;
	c->count = 1;
	c->size = 1024;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int kind = -1;
		for (int k = 0; k < 4; k++)
			if (echo_option_value(a, ep_opts[k]) != NULL)
				kind = k;
		if (kind >= 0) {
			const char *why;
			if (c->kind >= 0) {
				fprintf(stderr, PROG ": %s: one server at a time\n", a);
				return 2;
			}
			c->kind = kind;
			c->target = a;
			v = strchr(a, '=') + 1;
			if (kind == K_TCP || kind == K_UDP) {
				if (echo_split_hostport(v, c->host, sizeof c->host, c->port,
				                        sizeof c->port, &why) < 0) {
					fprintf(stderr, PROG ": %s: %s\n", a, why);
					return 2;
				}
			} else {
				struct sockaddr_un sun;
				if (v[0] == '\0' || strlen(v) >= sizeof sun.sun_path) {
					fprintf(stderr, PROG ": %s: %s\n", a, v[0] ? "path too long" :
					        "empty path");
					return 2;
				}
				c->path = v;
			}
		} else if ((v = echo_option_value(a, "--backend")) != NULL) {
			*backend = v;
		} else if ((v = echo_option_value(a, "--urgent")) != NULL) {
			if (strlen(v) != 1) {
				fprintf(stderr, PROG ": %s: wants one character\n", a);
				return 2;
			}
			c->urgent = 1;
			c->urgent_byte = (unsigned char)v[0];
		} else if ((v = echo_option_value(a, "--count")) != NULL) {
			if (echo_parse_uint(v, 1, 1ULL << 40, &n) < 0) {
				fprintf(stderr, PROG ": %s: wants a number, 1 or more\n", a);
				return 2;
			}
			c->count = n;
			have_count = 1;
		} else if ((v = echo_option_value(a, "--size")) != NULL) {
			if (echo_parse_uint(v, 1, MAX_SIZE, &n) < 0) {
				fprintf(stderr, PROG ": %s: wants a number from 1 to %u\n", a,
				        MAX_SIZE);
				return 2;
			}
			c->size = n;
			have_size = 1;
		} else if ((v = echo_option_value(a, "--timeout")) != NULL) {
			if (echo_parse_uint(v, 0, INT_MAX, &n) < 0) {
				fprintf(stderr, PROG ": %s: wants milliseconds, 0 to %d\n", a,
				        INT_MAX);
				return 2;
			}
			c->timeout_ms = (int)n;
		} else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return -1;
		} else {
			fprintf(stderr, PROG ": %s: unknown option (see --help)\n", a);
			return 2;
		}
	}
	if (c->kind < 0) {
		fprintf(stderr, PROG ": which server? give --tcp, --udp, --unix or --seqpacket\n");
		return 2;
	}
	if (c->urgent && c->kind != K_TCP) {
		fprintf(stderr, PROG ": --urgent: urgent data is TCP's (--tcp)\n");
		return 2;
	}
	c->count_mode = have_count || have_size;
	if (c->count_mode && c->kind == K_UDP && c->size > 65507) {
		fprintf(stderr, PROG ": --size=%llu: a UDP datagram holds at most 65507 bytes\n",
		        (unsigned long long)c->size);
		return 2;
	}
	if (c->count_mode && c->kind == K_SEQPACKET && c->size > ECHO_RECORD_MAX) {
		fprintf(stderr, PROG ": --size=%llu: records of at most %d bytes\n",
		        (unsigned long long)c->size, ECHO_RECORD_MAX);
		return 2;
	}
	if (c->count_mode && c->count > (~0ULL / c->size)) {
		fprintf(stderr, PROG ": --count * --size is too large\n");
		return 2;
	}
	return 0;
}

/* ---- main ---------------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	struct client c;
	const char *backend = NULL;
	int rc, in_flags;


	memset(&c, 0, sizeof c);
	c.fd = -1;
	signal(SIGPIPE, SIG_IGN);       /* a closed stdout is EPIPE, not death */
	if ((rc = parse_options(&c, argc, argv, &backend)) != 0)
		return rc < 0 ? 0 : rc;
	c.buf = malloc(ECHO_RECORD_MAX);
	if (c.buf == NULL) {
		perror(PROG ": malloc");
		return 1;
	}
	c.loop = sio_loop_new(backend);
	if (c.loop == NULL) {
		int e = errno;
		fprintf(stderr, PROG ": --backend=%s: %s\n", backend ? backend : "auto",
		        e == EINVAL ? "unknown backend" : strerror(e));
		free(c.buf);
		return e == EINVAL ? 2 : 1;
	}
	in_flags = fcntl(STDIN_FILENO, F_GETFL);
	if (start(&c) < 0)
		finish(&c, 1);
	else if (sio_loop_run(c.loop, SIO_RUN_DEFAULT) < 0)
		fail(&c, "sio_loop_run", errno);
	else if (!c.done)
		fail(&c, "the loop ended early", 0);
	/* A stream closed by finish() is freed by the loop: let it. */
	for (int i = 0; i < 100 && c.s != NULL; i++)
		if (sio_loop_run(c.loop, SIO_RUN_ONCE) < 0)
			break;
	sio_loop_free(c.loop);
	if (in_flags != -1)             /* the loop set O_NONBLOCK on it */
		(void)fcntl(STDIN_FILENO, F_SETFL, in_flags);
	free(c.held);
	free(c.buf);
	free(c.sent_at);
	free(c.tries);
	free(c.acked);
	return c.rc;
}
