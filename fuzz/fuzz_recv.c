/*
 * fuzz_recv - the library's receive paths, fed by a peer that sends
 * whatever the input says: sio_dgram on a Unix SOCK_DGRAM or
 * SOCK_SEQPACKET socket, and sio_stream on a Unix SOCK_STREAM or
 * SOCK_SEQPACKET socket, on a real loop (the best backend, or
 * FUZZ_SIO_BACKEND).  The library does not parse what it receives, so the
 * check is that it is delivered intact: every datagram whole, or cut to
 * the buffer size with `truncated` set; every record of a SOCK_SEQPACKET
 * stream as one on_read; the bytes of a stream in order, then one on_close
 * with SIO_CLOSE_EOF after the peer's shutdown; nothing lost, nothing
 * extra, no event missed (each batch must arrive within a bounded number
 * of SIO_RUN_NOWAIT iterations).
 *
 * Input: [0] mode (0 dgram, 1 seqpacket dgram, 2 stream, 3 seqpacket
 * stream), [1] receive buffer size (sio_dgram), [2] batch size (messages
 * sent before the loop runs), then messages: one length byte, that many
 * bytes (cut at the end of the input).  A zero-length record on a
 * SOCK_SEQPACKET socket reads as the peer's close (recv returns 0 for
 * both), so the seqpacket modes skip zero-length messages.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sigio.h"

#define MAX_MSGS   4096
#define MAX_ROUNDS 200          /* NOWAIT iterations a batch may take */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct rx {
	const uint8_t *msg[MAX_MSGS];
	size_t len[MAX_MSGS];
	size_t nmsgs;                   /* messages sent so far */
	size_t got;                     /* messages (or records) received */
	size_t bufsize;                 /* sio_dgram's buffer */
	uint8_t *bytes;                 /* stream: everything sent, in order */
	size_t sent_bytes, got_bytes;
	int gone, closed, reason, seqpacket;
};

static void
check(int ok, const char *what)
{
	if (!ok) {
		fprintf(stderr, "fuzz_recv: %s\n", what);
		abort();
	}
}

static void
on_dgram(sio_dgram *d, const void *data, size_t len, const struct sockaddr *from,
         socklen_t fromlen, int truncated, void *arg)
{
	struct rx *r = arg;

	if (data == NULL) {             /* SOCK_SEQPACKET: the peer closed */
		check(r->seqpacket && len == 0 && !r->gone, "a close without a peer close");
		r->gone = 1;
		return;
	}
	check(r->got < r->nmsgs, "a datagram nobody sent");
	size_t want = r->len[r->got];
	size_t fit = want < r->bufsize ? want : r->bufsize;
	check(len == fit, "a datagram of the wrong length");
	check(truncated == (want > r->bufsize), "truncated is wrong");
	check(len == 0 || memcmp(data, r->msg[r->got], len) == 0, "a datagram altered");
	r->got_bytes += want;           /* accounted, cut or not */
	r->got++;
}

static void
on_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct rx *r = arg;

	check(len > 0 && r->got_bytes + len <= r->sent_bytes, "more bytes than were sent");
	check(memcmp(data, r->bytes + r->got_bytes, len) == 0, "stream bytes altered");
	if (r->seqpacket) {             /* one record per call */
		check(r->got < r->nmsgs && len == r->len[r->got], "a record cut or merged");
		r->got++;
	}
	r->got_bytes += len;
}

static void
on_close(sio_stream *s, int reason, int err, void *arg)
{
	struct rx *r = arg;

	check(!r->closed, "on_close twice");
	r->closed = 1;
	r->reason = reason;
}

static sio_loop *
the_loop(void)
{
	static sio_loop *loop;

	if (loop == NULL) {
		signal(SIGPIPE, SIG_IGN);
		loop = sio_loop_new(getenv("FUZZ_SIO_BACKEND"));
		check(loop != NULL, "sio_loop_new");
	}
	return loop;
}

/* Run the loop until done(r), within MAX_ROUNDS iterations. */
static void
run_until(sio_loop *loop, struct rx *r, int (*done)(const struct rx *), const char *what)
{
	for (int i = 0; i < MAX_ROUNDS && !done(r); i++)
		check(sio_loop_run(loop, SIO_RUN_NOWAIT) == 0, "sio_loop_run");
	check(done(r), what);
}

static int
all_in(const struct rx *r)
{
	return r->got == r->nmsgs && r->got_bytes == r->sent_bytes;
}

static int
ended(const struct rx *r)
{
	return r->gone || r->closed;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t bufsizes[] = { 1, 7, 64, 255, 4096, 0 };
	static struct rx r;
	sio_loop *loop = the_loop();
	sio_dgram *d = NULL;
	sio_stream *s = NULL;
	int sv[2], mode, batch, type;

	if (size < 3)
		return 0;
	mode = data[0] % 4;
	batch = 1 + data[2] % 16;
	memset(&r, 0, sizeof r);
	r.seqpacket = mode == 1 || mode == 3;
	r.bufsize = bufsizes[data[1] % 6];
	if (r.bufsize == 0)
		r.bufsize = 65536;      /* sio_dgram's default for 0 */
	type = mode == 0 ? SOCK_DGRAM : mode == 2 ? SOCK_STREAM : SOCK_SEQPACKET;
	check(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	if (mode < 2)
		d = sio_dgram_new(loop, sv[0], data[1] % 6 == 5 ? 0 : r.bufsize, on_dgram, &r);
	else
		s = sio_stream_new(loop, sv[0], on_read, on_close, &r);
	check(d != NULL || s != NULL, "sio_dgram_new / sio_stream_new");
	r.bytes = malloc(size);
	check(r.bytes != NULL, "malloc");

	size_t i = 3;
	while (i < size && r.nmsgs < MAX_MSGS) {
		size_t n = data[i++];
		if (n > size - i)
			n = size - i;
		const uint8_t *m = data + i;
		i += n;
		if (n == 0 && r.seqpacket)
			continue;       /* it would read as a close */
		ssize_t w;
		do
			w = send(sv[1], m, n, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		check(w == (ssize_t)n, "send (the harness's)");
		r.msg[r.nmsgs] = m;
		r.len[r.nmsgs++] = n;
		memcpy(r.bytes + r.sent_bytes, m, n);
		r.sent_bytes += n;
		if (mode == 2)
			r.got = r.nmsgs;        /* a stream has no messages */
		if (r.nmsgs % (size_t)batch == 0)
			run_until(loop, &r, all_in, "a batch did not arrive");
	}
	if (mode == 2)
		r.got = r.nmsgs;
	run_until(loop, &r, all_in, "the last batch did not arrive");

	if (mode == 0) {
		sio_dgram_free(d);
		close(sv[1]);
	} else {
		/* The peer goes: a SOCK_SEQPACKET dgram hears of it once, a
		 * stream closes with EOF after delivering everything. */
		if (s != NULL)
			shutdown(sv[1], SHUT_WR);
		else
			close(sv[1]);
		run_until(loop, &r, ended, "the peer's close was not heard");
		check(s == NULL || r.reason == SIO_CLOSE_EOF, "a stream closed but not by EOF");
		check(all_in(&r), "bytes after the close");
		if (d != NULL)
			sio_dgram_free(d);
		else
			close(sv[1]);
		/* The stream is freed by the loop after on_close. */
		check(sio_loop_run(loop, SIO_RUN_NOWAIT) == 0, "sio_loop_run");
	}
	free(r.bytes);
	return 0;
}
