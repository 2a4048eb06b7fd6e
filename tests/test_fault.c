/*
 * test_fault.c - the runtime under failing system calls: EINTR and EAGAIN
 * from reads, writes, accepts, waits and signal drains, short writes and
 * reads, fcntl refusing an owner, a signal or O_ASYNC, and pipe2/signalfd
 * out of fds.  Each test injects a fault (tests/fault.h) into a real
 * scenario and checks what can be seen from outside: every byte delivered
 * in order, callbacks counted, errno values, no fd left open, no hang (runs
 * are bounded), and that the fault really fired, so that no test passes
 * because its fault never reached the library.
 *
 * What each fault must lead to: a retry (EINTR), a wait for the next
 * readiness (EAGAIN, short counts), a fallback (poll() for an fd that
 * cannot signal, accept() without accept4(), sigtimedwait() without a
 * signalfd), or an error with its errno (sio_loop_run(), sio_io_start(),
 * sio_loop_new(), a stream's on_close), after which the loop still works.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault.h"
#include "testutil.h"

/* ---- helpers ---------------------------------------------------------- */

/* Fds below this are counted to see that nothing leaked. */
#define FD_SCAN 1024

static int
open_fds(void)
{
	int n = 0;
	for (int fd = 0; fd < FD_SCAN; fd++)
		if (fcntl(fd, F_GETFD) != -1)
			n++;
	return n;
}

/* The byte at offset i of the test stream: a pattern no offset error
 * hides. */
static unsigned char
pat(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

/* Every test starts with no rule armed and zero counters (Criterion runs
 * each test in its own process, but say it anyway): the suite's fixture,
 * run before each test. */
static void
fault_setup(void)
{
	fault_reset();
	cr_assert(fault_library_found(), "libsigio.so is not loaded as a shared "
	          "object: the wrappers cannot see its calls");
}

TestSuite(fault, .init = fault_setup);

/* Parameters for the tests that only mean something on a signal-driven
 * backend (owner, F_SETSIG, O_ASYNC, the signal drain). */
static struct sio_test_backend *
sig_params(size_t *n)
{
	size_t all;
	struct sio_test_backend *b = t_backend_params(&all);
	*n = 0;
	for (size_t i = 0; b != NULL && i < all; i++)
		if (t_signal_driven(&b[i]))
			b[(*n)++] = b[i];
	return b;
}

#define SIG_BACKEND_TEST(Suite, Name)                                         \
	ParameterizedTestParameters(Suite, Name)                              \
	{                                                                     \
		size_t n_;                                                    \
		struct sio_test_backend *b_ = sig_params(&n_);                \
		return cr_make_param_array(struct sio_test_backend, b_, n_,   \
		                           t_backend_params_free);            \
	}                                                                     \
	ParameterizedTest(const struct sio_test_backend *be, Suite, Name,     \
	                  .timeout = SIO_TEST_TIMEOUT)

/* ---- the echo: a stream echoing what the test's own watcher sends ------- */

#define ECHO_TOTAL (512 * 1024)
#define ECHO_CHUNK (16 * 1024)

struct echo {
	sio_loop *loop;
	sio_stream *s;          /* echoes: on_read writes back */
	sio_stream *out;        /* pipes: the stream written to (else s) */
	int tx, rx;             /* the test's ends: it writes tx, reads rx */
	sio_io *txw, *rxw;
	size_t sent, got;
	size_t bad_at;          /* first wrong byte + 1, or 0 */
	int closes, reason, err;
};

static void
echo_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct echo *e = arg;
	(void)s;
	if (sio_stream_write(e->out, data, len) < 0)
		e->err = errno;
}

static void
echo_close(sio_stream *s, int reason, int err, void *arg)
{
	struct echo *e = arg;
	(void)s;
	e->closes++;
	e->reason = reason;
	if (e->err == 0)
		e->err = err;
}

/* The test's side, writing: its own write() (never faulted). */
static void
tx_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct echo *e = arg;
	unsigned char buf[ECHO_CHUNK];
	size_t n = ECHO_TOTAL - e->sent < sizeof buf ? ECHO_TOTAL - e->sent : sizeof buf;
	for (size_t i = 0; i < n; i++)
		buf[i] = pat(e->sent + i);
	ssize_t w = write(fd, buf, n);
	if (w > 0)
		e->sent += (size_t)w;
	if (e->sent == ECHO_TOTAL)
		sio_io_set(io, 0);
}

/* ... and reading, checking every byte. */
static void
rx_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct echo *e = arg;
	unsigned char buf[ECHO_CHUNK];
	ssize_t n = read(fd, buf, sizeof buf);
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != pat(e->got + (size_t)i) && e->bad_at == 0)
			e->bad_at = e->got + (size_t)i + 1;
	if (n > 0)
		e->got += (size_t)n;
	if (n == 0)
		sio_io_set(io, 0);
}

static bool
echo_done(void *arg)
{
	struct echo *e = arg;
	return e->got == ECHO_TOTAL || e->bad_at != 0 || e->closes > 0;
}

static bool
echo_closed(void *arg)
{
	return ((struct echo *)arg)->closes > 0;
}

/* An echo stream on one end of a socketpair (`type` SOCK_STREAM), the
 * test on the other. */
static void
echo_socket(struct echo *e, const char *backend)
{
	int sv[2];
	memset(e, 0, sizeof *e);
	t_socketpair(sv);
	e->loop = t_loop_new(backend);
	e->s = e->out = sio_stream_new(e->loop, sv[0], echo_read, echo_close, e);
	cr_assert_not_null(e->s, "sio_stream_new: %s", strerror(errno));
	e->tx = e->rx = sv[1];
}

/* The same through two pipes: the test writes p_in[1], a stream reads
 * p_in[0] (read()) and hands it to a stream on p_out[1] (write(),
 * writev()), the test reads p_out[0]. */
static void
echo_pipes(struct echo *e, const char *backend)
{
	int in[2], out[2];
	memset(e, 0, sizeof *e);
	t_pipe(in);
	t_pipe(out);
	e->loop = t_loop_new(backend);
	e->out = sio_stream_new(e->loop, out[1], NULL, echo_close, e);
	cr_assert_not_null(e->out, "sio_stream_new(pipe out): %s", strerror(errno));
	e->s = sio_stream_new(e->loop, in[0], echo_read, echo_close, e);
	cr_assert_not_null(e->s, "sio_stream_new(pipe in): %s", strerror(errno));
	e->tx = in[1];
	e->rx = out[0];
}

/* Run the echo to its end and check it: every byte back, in order, the
 * stream still open. */
static void
echo_run(struct echo *e)
{
	e->txw = sio_io_start(e->loop, e->tx, SIO_WRITE, tx_cb, e);
	e->rxw = sio_io_start(e->loop, e->rx, SIO_READ, rx_cb, e);
	cr_assert(e->txw != NULL && e->rxw != NULL, "sio_io_start: %s",
	          strerror(errno));
	bool done = t_run_until(e->loop, echo_done, e, SIO_TEST_MAX_ONCE);
	cr_assert_eq(e->bad_at, 0, "byte %zu came back wrong", e->bad_at - 1);
	cr_assert_eq(e->closes, 0, "the stream closed (reason %d, %s)", e->reason,
	             strerror(e->err));
	cr_assert(done, "lost: %zu of %d bytes sent, %zu came back", e->sent,
	          ECHO_TOTAL, e->got);
	cr_assert_eq(e->got, (size_t)ECHO_TOTAL);
}

/* Close everything; the streams' on_close runs, the loop is freed. */
static void
echo_free(struct echo *e)
{
	int want = e->closes + (e->out != e->s ? 2 : 1);
	fault_reset();
	sio_io_stop(e->txw);
	sio_io_stop(e->rxw);
	sio_stream_close(e->s);
	if (e->out != e->s)
		sio_stream_close(e->out);
	for (int i = 0; i < 20 && e->closes < want; i++)
		t_run_nowait(e->loop, 1);
	cr_assert_eq(e->closes, want, "on_close ran %d times, want %d",
	             e->closes, want);
	close(e->tx);
	if (e->rx != e->tx)
		close(e->rx);
	t_loop_free(e->loop);
}

/* ---- the experiment: the wrappers see the library's calls ------------- */

static void
count_async(sio_async *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
}

Test(fault, interposition_reaches_the_library, .timeout = SIO_TEST_TIMEOUT)
{
	int fds = open_fds();
	sio_loop *loop = t_loop_new("poll");
	cr_assert_eq(fault_calls(FAULT_PIPE2 | FAULT_PIPE), 1,
	             "the self-pipe was made without a call the wrappers saw");
	int p[2];
	fault_last_pipe(p);
	cr_assert(t_fd_open(p[0]) && t_fd_open(p[1]), "fault_last_pipe: %d %d",
	          p[0], p[1]);
	cr_assert_eq(open_fds(), fds + 2);

	/* The test's own write is not the library's. */
	unsigned writes = fault_calls(FAULT_WRITE);
	int sv[2];
	t_socketpair(sv);
	t_write_all(sv[0], "x", 1);
	cr_assert_eq(fault_calls(FAULT_WRITE), writes);

	/* sio_async_send() writes to the self-pipe: seen, then faulted. */
	int calls = 0;
	sio_async *a = sio_async_new(loop, count_async, &calls);
	cr_assert_not_null(a);
	int id = fault_arm(FAULT_WRITE, p[1], EINTR, 1);
	cr_assert_geq(id, 0);
	cr_assert_eq(sio_async_send(a), 0);
	cr_assert_eq(fault_fired(id), 1, "the library's write was not faulted");
	cr_assert_eq(fault_calls(FAULT_WRITE), writes + 2,
	             "one EINTR and its retry: %u writes seen",
	             fault_calls(FAULT_WRITE) - writes);
	cr_assert(t_run_until(loop, t_flag_set, &calls, 10));
	cr_assert_eq(calls, 1);
	cr_assert_gt(fault_calls(FAULT_POLL), 0, "the loop's poll() was not seen");
	cr_assert_gt(fault_calls(FAULT_READ), 0, "the self-pipe read was not seen");
	sio_async_free(a);
	close(sv[0]);
	close(sv[1]);
	t_loop_free(loop);
	cr_assert_eq(open_fds(), fds);
}

/* ---- streams: EINTR, EAGAIN and short counts in the echo ----------------- */

/* Reads fail: EINTR every 2nd call (retried), EAGAIN every 3rd (the
 * stream waits: level-triggered delivery must call it again although the
 * data is still there and no new signal will come). */
SIO_BACKEND_TEST(fault, stream_read_eintr_eagain)
{
	struct echo e;
	echo_socket(&e, be->name);
	int fd = sio_stream_fd(e.s);
	int a = fault_add(&(struct fault_rule){ .calls = FAULT_READS, .fd = fd,
	                  .err = EINTR, .period = 2, .count = 40 });
	int b = fault_add(&(struct fault_rule){ .calls = FAULT_READS, .fd = fd,
	                  .err = EAGAIN, .period = 3, .count = 40 });
	echo_run(&e);
	cr_assert_gt(fault_fired(a), 0, "no EINTR was injected");
	cr_assert_gt(fault_fired(b), 0, "no EAGAIN was injected");
	echo_free(&e);
}

/* The fixture of the urgent-byte tests: a loop, a TCP connection over
 * 127.0.0.1 whose `client` end is the test's, and the stream under test on
 * its `server` end. */
struct conn {
	sio_loop *loop;
	int client, server;
	sio_stream *s;
};

/* A loop, then the connection; returns the loop. */
static sio_loop *
conn_open(struct conn *c, const struct sio_test_backend *be)
{
	memset(c, 0, sizeof *c);
	c->loop = t_loop_new(be->name);
	t_tcp_pair(&c->client, &c->server);
	return c->loop;
}

/* The stream on `server`, taking urgent bytes too. */
static sio_stream *
conn_stream(struct conn *c, sio_stream_read_cb on_read,
            sio_stream_close_cb on_close, sio_stream_urgent_cb on_urgent,
            void *arg)
{
	c->s = sio_stream_new(c->loop, c->server, on_read, on_close, arg);
	cr_assert_not_null(c->s, "sio_stream_new: %s", strerror(errno));
	cr_assert_eq(sio_stream_on_urgent(c->s, on_urgent), 0,
	             "sio_stream_on_urgent: %s", strerror(errno));
	return c->s;
}

/* With every rule disarmed: close the stream (and with it `server`), let
 * its on_close run, close `client`, free the loop. */
static void
conn_close(struct conn *c)
{
	fault_reset();
	sio_stream_close(c->s);
	t_run_nowait(c->loop, 2);
	close(c->client);
	t_loop_free(c->loop);
}

/* The urgent byte is announced but its recv(MSG_OOB) says EAGAIN (as
 * when the signal for it comes before the byte): the stream must not read
 * in band at the mark then, or the read steps over the byte when it lands
 * and the kernel forgets it.  The byte and the data after it arrive, each
 * once, in order. */
struct oob {
	unsigned char byte;
	int urgents, at_mark;
	char in[16];
	size_t len;
};

static void
oob_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct oob *o = arg;
	(void)s;
	if (len > sizeof o->in - o->len)
		len = sizeof o->in - o->len;
	memcpy(o->in + o->len, data, len);
	o->len += len;
}

static void
oob_urgent(sio_stream *s, unsigned char byte, int at_mark, void *arg)
{
	struct oob *o = arg;
	(void)s;
	o->byte = byte;
	o->at_mark = at_mark;
	o->urgents++;
}

static void
oob_close(sio_stream *s, int reason, int err, void *arg)
{
	(void)s, (void)reason, (void)err, (void)arg;
}

static bool
oob_done(void *arg)
{
	const struct oob *o = arg;
	return o->urgents > 0 && o->len >= 5;
}

SIO_BACKEND_TEST(fault, urgent_eagain_then_arrives)
{
	struct oob o = { 0 };
	struct conn c;
	sio_loop *loop = conn_open(&c, be);
	cr_assert_eq(send(c.client, "U", 1, MSG_OOB), 1, "send MSG_OOB: %s",
	             strerror(errno));
	t_write_all(c.client, "after", 5);
	int id = fault_arm(FAULT_RECV, c.server, EAGAIN, 1);
	conn_stream(&c, oob_read, oob_close, oob_urgent, &o);
	bool done = t_run_until(loop, oob_done, &o, SIO_TEST_MAX_ONCE);
	cr_assert_eq(fault_fired(id), 1, "[%s] the EAGAIN was not injected",
	             be->name);
	cr_assert(done, "[%s] %d urgent bytes, %zu in-band bytes: the byte was "
	          "stepped over", be->name, o.urgents, o.len);
	cr_assert_eq(o.urgents, 1, "[%s] %d urgent bytes", be->name, o.urgents);
	cr_assert_eq(o.byte, 'U', "urgent byte %#x", o.byte);
	cr_assert(o.at_mark, "the urgent byte not at the mark");
	cr_assert_eq(o.len, 5, "%zu in-band bytes", o.len);
	cr_assert_arr_eq(o.in, "after", 5, "in-band bytes");
	conn_close(&c);
}

/* A read made for data already taken starts at the mark of an urgent byte
 * that lands just then.  Linux steps over such a byte and forgets it; the
 * stream must bound its reads by what was there before it looked.  The
 * hook sends the byte at the stream's second read, after a full first
 * read, and waits for it to land before that read goes on. */
struct landing {
	struct oob u;           /* first: oob_urgent() takes the same arg */
	struct conn c;
	size_t len;             /* in-band bytes, all of them checked */
	int bad;
};

#define LANDING_BULK SIO_STREAM_READ_MAX

static void
urgent_lands(int fd, void *arg)
{
	struct landing *l = arg;
	(void)fd;
	cr_assert_eq(send(l->c.client, "L", 1, MSG_OOB), 1, "send MSG_OOB: %s",
	             strerror(errno));
	struct pollfd p = { .fd = l->c.server, .events = POLLPRI };
	cr_assert_eq(poll(&p, 1, 10000), 1, "the urgent byte did not land");
}

static void
landing_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct landing *l = arg;
	const unsigned char *d = data;
	(void)s;
	for (size_t i = 0; i < len; i++, l->len++)
		if (l->len >= LANDING_BULK || d[i] != (unsigned char)(l->len * 7))
			l->bad++;
}

static bool
landing_done(void *arg)
{
	const struct landing *l = arg;
	return l->u.urgents > 0 && l->len >= LANDING_BULK;
}

SIO_BACKEND_TEST(fault, urgent_lands_before_a_read)
{
	static unsigned char bulk[LANDING_BULK];
	struct landing l = { 0 };
	sio_loop *loop = conn_open(&l.c, be);
	for (size_t i = 0; i < sizeof bulk; i++)
		bulk[i] = (unsigned char)(i * 7);
	t_write_all(l.c.client, bulk, sizeof bulk);
	/* All of it there, so that the first read is a full one. */
	int inq = 0;
	for (int tries = 0; ioctl(l.c.server, FIONREAD, &inq) == 0 &&
	     inq < LANDING_BULK && tries < 10000; tries++)
		poll(NULL, 0, 1);       /* at most 10 s */
	cr_assert_eq(inq, LANDING_BULK, "only %d bytes arrived", inq);
	int id = fault_add(&(struct fault_rule){ .calls = FAULT_READS,
	                   .fd = l.c.server, .period = 2, .count = 1,
	                   .before = urgent_lands, .before_arg = &l });
	cr_assert_geq(id, 0, "fault_add");
	conn_stream(&l.c, landing_read, oob_close, oob_urgent, &l);
	bool done = t_run_until(loop, landing_done, &l, SIO_TEST_MAX_ONCE);
	cr_assert_eq(fault_fired(id), 1, "[%s] the byte was not sent at the "
	             "second read", be->name);
	cr_assert(done, "[%s] %d urgent bytes, %zu in-band bytes: the byte was "
	          "stepped over", be->name, l.u.urgents, l.len);
	cr_assert_eq(l.bad, 0, "[%s] %d in-band bytes wrong", be->name, l.bad);
	cr_assert_eq(l.u.urgents, 1, "[%s] %d urgent bytes", be->name, l.u.urgents);
	cr_assert_eq(l.u.byte, 'L', "urgent byte %#x", l.u.byte);
	cr_assert(l.u.at_mark, "the urgent byte not at the mark");
	conn_close(&l.c);
}

/* After an urgent byte is taken, the stream still stands at its mark, and
 * the look cannot tell that mark from a new one.  Here the peer's next
 * urgent byte, behind one in-band byte, lands at the stream's next call
 * after taking the first: a recv(MSG_OOB) there would take it before the
 * in-band byte, out of its place. */
struct twice {
	struct conn c;
	char in[8];
	size_t len;
	unsigned char bytes[4];
	size_t where[4];        /* in-band bytes before each urgent one */
	int marks[4], urgents;
};

static void
second_lands(int fd, void *arg)
{
	struct twice *t = arg;
	(void)fd;
	cr_assert_eq(send(t->c.client, "x", 1, 0), 1, "send: %s", strerror(errno));
	cr_assert_eq(send(t->c.client, "M", 1, MSG_OOB), 1, "send MSG_OOB: %s",
	             strerror(errno));
	struct pollfd p = { .fd = t->c.server, .events = POLLPRI };
	cr_assert_eq(poll(&p, 1, 10000), 1, "the second urgent byte did not land");
}

static void
twice_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct twice *t = arg;
	(void)s;
	for (size_t i = 0; i < len && t->len < sizeof t->in; i++)
		t->in[t->len++] = ((const char *)data)[i];
}

static void
twice_urgent(sio_stream *s, unsigned char byte, int at_mark, void *arg)
{
	struct twice *t = arg;
	(void)s;
	if (t->urgents < 4) {
		t->bytes[t->urgents] = byte;
		t->where[t->urgents] = t->len;
		t->marks[t->urgents] = at_mark;
	}
	t->urgents++;
}

static bool
twice_done(void *arg)
{
	const struct twice *t = arg;
	return t->urgents >= 2 && t->len >= 3;
}

SIO_BACKEND_TEST(fault, urgent_lands_after_one_taken)
{
	struct twice t = { 0 };
	sio_loop *loop = conn_open(&t.c, be);
	t_write_all(t.c.client, "ab", 2);
	cr_assert_eq(send(t.c.client, "U", 1, MSG_OOB), 1, "send MSG_OOB: %s",
	             strerror(errno));
	struct pollfd p = { .fd = t.c.server, .events = POLLPRI };
	cr_assert_eq(poll(&p, 1, 10000), 1, "the urgent byte did not land");
	/* The stream's calls: read "ab", recv(MSG_OOB) 'U', then the third. */
	int id = fault_add(&(struct fault_rule){ .calls = FAULT_READS,
	                   .fd = t.c.server, .period = 3, .count = 1,
	                   .before = second_lands, .before_arg = &t });
	cr_assert_geq(id, 0, "fault_add");
	conn_stream(&t.c, twice_read, oob_close, twice_urgent, &t);
	bool done = t_run_until(loop, twice_done, &t, SIO_TEST_MAX_ONCE);
	cr_assert_eq(fault_fired(id), 1, "[%s] the second byte was not sent",
	             be->name);
	cr_assert(done, "[%s] %d urgent bytes, %zu in-band bytes", be->name,
	          t.urgents, t.len);
	cr_assert_eq(t.len, 3, "[%s] %zu in-band bytes", be->name, t.len);
	cr_assert_arr_eq(t.in, "abx", 3, "[%s] in-band bytes", be->name);
	cr_assert_eq(t.urgents, 2, "[%s] %d urgent bytes", be->name, t.urgents);
	cr_assert(t.bytes[0] == 'U' && t.where[0] == 2 && t.marks[0],
	          "[%s] first urgent byte %#x after %zu in-band bytes, at_mark %d",
	          be->name, t.bytes[0], t.where[0], t.marks[0]);
	cr_assert(t.bytes[1] == 'M' && t.where[1] == 3 && t.marks[1],
	          "[%s] second urgent byte %#x after %zu in-band bytes, at_mark %d "
	          "(out of its place)", be->name, t.bytes[1], t.where[1], t.marks[1]);
	conn_close(&t.c);
}

/* Writes (send, sendmsg) fail with EINTR and EAGAIN, every other call:
 * what could not go out is queued and written later, in order. */
SIO_BACKEND_TEST(fault, stream_write_eintr_eagain)
{
	struct echo e;
	echo_socket(&e, be->name);
	int fd = sio_stream_fd(e.s);
	int a = fault_add(&(struct fault_rule){ .calls = FAULT_WRITES, .fd = fd,
	                  .err = EINTR, .period = 2, .count = 60 });
	int b = fault_add(&(struct fault_rule){ .calls = FAULT_WRITES, .fd = fd,
	                  .err = EAGAIN, .period = 2, .count = 60 });
	echo_run(&e);
	cr_assert_gt(fault_fired(a), 0, "no EINTR was injected");
	cr_assert_gt(fault_fired(b), 0, "no EAGAIN was injected");
	cr_assert_gt(fault_calls(FAULT_SEND), 0, "send() was not used");
	echo_free(&e);
}

/* Every send()/sendmsg() takes at most 1000 bytes: the rest of each
 * buffer is resumed where it stopped. */
SIO_BACKEND_TEST(fault, stream_short_writes)
{
	struct echo e;
	echo_socket(&e, be->name);
	int id = fault_arm_short(FAULT_WRITES, sio_stream_fd(e.s), 1000, 0);
	echo_run(&e);
	cr_assert_gt(fault_fired(id), ECHO_TOTAL / 1000 - 1,
	             "only %u short writes", fault_fired(id));
	cr_assert_gt(fault_calls(FAULT_SENDMSG), 0, "nothing was ever queued");
	echo_free(&e);
}

/* Every read() returns at most 1000 bytes: the stream takes a short read
 * for "that was all", so the rest must be delivered by the loop's
 * level-triggered recheck, not by a signal. */
SIO_BACKEND_TEST(fault, stream_short_reads)
{
	struct echo e;
	echo_socket(&e, be->name);
	int id = fault_arm_short(FAULT_READ, sio_stream_fd(e.s), 1000, 0);
	echo_run(&e);
	cr_assert_gt(fault_fired(id), ECHO_TOTAL / 1000 - 1,
	             "only %u short reads", fault_fired(id));
	echo_free(&e);
}

/* Pipes: read() on the way in, write() and writev() on the way out, with
 * EINTR, EAGAIN and short counts on all of them. */
SIO_BACKEND_TEST(fault, stream_pipes_all_faults)
{
	struct echo e;
	echo_pipes(&e, be->name);
	int in = sio_stream_fd(e.s), out = sio_stream_fd(e.out);
	int r1 = fault_add(&(struct fault_rule){ .calls = FAULT_READ, .fd = in,
	                   .err = EINTR, .period = 2, .count = 30 });
	int r2 = fault_add(&(struct fault_rule){ .calls = FAULT_READ, .fd = in,
	                   .err = EAGAIN, .period = 5, .count = 30 });
	int w1 = fault_add(&(struct fault_rule){ .calls = FAULT_WRITE | FAULT_WRITEV,
	                   .fd = out, .err = EINTR, .period = 3, .count = 30 });
	int w2 = fault_add(&(struct fault_rule){ .calls = FAULT_WRITE | FAULT_WRITEV,
	                   .fd = out, .err = EAGAIN, .period = 4, .count = 30 });
	int w3 = fault_arm_short(FAULT_WRITE | FAULT_WRITEV, out, 777, 0);
	echo_run(&e);
	cr_assert(fault_fired(r1) > 0 && fault_fired(r2) > 0,
	          "read faults: %u EINTR, %u EAGAIN", fault_fired(r1),
	          fault_fired(r2));
	cr_assert(fault_fired(w1) > 0 && fault_fired(w2) > 0 && fault_fired(w3) > 0,
	          "write faults: %u EINTR, %u EAGAIN, %u short", fault_fired(w1),
	          fault_fired(w2), fault_fired(w3));
	cr_assert_gt(fault_calls(FAULT_WRITEV), 0, "writev() was not used");
	echo_free(&e);
}

/* A seqpacket echo: recvmsg()/sendmsg() with EINTR and EAGAIN; every
 * message comes back whole, in order. */
#define NMSG 200

struct packets {
	int got, bad, closes;
};

static void
packet_echo(sio_stream *s, const void *data, size_t len, void *arg)
{
	(void)arg;
	sio_stream_write(s, data, len);
}

static void
packet_close(sio_stream *s, int reason, int err, void *arg)
{
	(void)s;
	(void)reason;
	(void)err;
	((struct packets *)arg)->closes++;
}

static void
packet_rx(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct packets *p = arg;
	unsigned char buf[512];
	ssize_t n = recv(fd, buf, sizeof buf, 0);
	if (n <= 0)
		return;
	size_t want = 1 + (size_t)p->got % 300;
	if ((size_t)n != want || buf[0] != (unsigned char)p->got ||
	    buf[n - 1] != (unsigned char)p->got)
		p->bad++;
	p->got++;
}

static bool
packets_done(void *arg)
{
	struct packets *p = arg;
	return p->got == NMSG || p->bad || p->closes;
}

SIO_BACKEND_TEST(fault, seqpacket_eintr_eagain)
{
	int sv[2];
	struct packets p = { 0 };
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
	             SOCK_CLOEXEC, 0, sv), 0, "socketpair: %s", strerror(errno));
	sio_loop *loop = t_loop_new(be->name);
	sio_stream *s = sio_stream_new(loop, sv[0], packet_echo, packet_close, &p);
	cr_assert_not_null(s);
	sio_io *rx = sio_io_start(loop, sv[1], SIO_READ, packet_rx, &p);
	cr_assert_not_null(rx);
	int a = fault_add(&(struct fault_rule){ .calls = FAULT_RECVMSG | FAULT_SENDMSG
	                  | FAULT_SEND, .fd = sv[0], .err = EINTR, .period = 2,
	                  .count = 50 });
	int b = fault_add(&(struct fault_rule){ .calls = FAULT_RECVMSG | FAULT_SENDMSG
	                  | FAULT_SEND, .fd = sv[0], .err = EAGAIN, .period = 3,
	                  .count = 50 });
	for (int i = 0; i < NMSG; i++) {
		unsigned char msg[300];
		size_t len = 1 + (size_t)i % 300;
		memset(msg, i & 0xff, len);
		t_write_all(sv[1], msg, len);   /* one write, one message */
	}
	cr_assert(t_run_until(loop, packets_done, &p, SIO_TEST_MAX_ONCE),
	          "lost: %d of %d messages back", p.got, NMSG);
	cr_assert_eq(p.bad, 0, "%d messages came back changed", p.bad);
	cr_assert_eq(p.closes, 0);
	cr_assert_eq(p.got, NMSG);
	cr_assert(fault_fired(a) > 0 && fault_fired(b) > 0, "%u EINTR, %u EAGAIN",
	          fault_fired(a), fault_fired(b));
	fault_reset();
	sio_io_stop(rx);
	sio_stream_close(s);
	t_run_nowait(loop, 3);
	cr_assert_eq(p.closes, 1);
	close(sv[1]);
	t_loop_free(loop);
}

/* ---- streams: errors are reported with their errno ----------------------- */

/* read() says ECONNRESET: on_close(SIO_CLOSE_RESET, ECONNRESET), once,
 * and the fd is closed. */
SIO_BACKEND_TEST(fault, stream_read_error_reported)
{
	struct echo e;
	echo_socket(&e, be->name);
	int fd = sio_stream_fd(e.s);
	int id = fault_arm(FAULT_READ, fd, ECONNRESET, 1);
	t_write_all(e.tx, "hello", 5);
	cr_assert(t_run_until(e.loop, echo_closed, &e, 100), "no on_close");
	cr_assert_eq(fault_fired(id), 1);
	cr_assert_eq(e.closes, 1);
	cr_assert_eq(e.reason, SIO_CLOSE_RESET, "reason %d", e.reason);
	cr_assert_eq(e.err, ECONNRESET, "err %s", strerror(e.err));
	t_run_nowait(e.loop, 3);
	cr_assert_eq(e.closes, 1, "on_close ran %d times", e.closes);
	cr_assert(!t_fd_open(fd), "the stream's fd is still open");
	close(e.tx);
	t_loop_free(e.loop);
}

/* send() says EIO: sio_stream_write() returns -1 with EIO, then
 * on_close(SIO_CLOSE_ERROR, EIO). */
SIO_BACKEND_TEST(fault, stream_write_error_reported)
{
	struct echo e;
	echo_socket(&e, be->name);
	int id = fault_arm(FAULT_WRITES, sio_stream_fd(e.s), EIO, 1);
	errno = 0;
	cr_assert_eq(sio_stream_write(e.s, "abc", 3), -1);
	cr_assert_eq(errno, EIO, "errno %s", strerror(errno));
	cr_assert_eq(fault_fired(id), 1);
	cr_assert(t_run_until(e.loop, echo_closed, &e, 100), "no on_close");
	cr_assert_eq(e.reason, SIO_CLOSE_ERROR, "reason %d", e.reason);
	cr_assert_eq(e.err, EIO, "err %s", strerror(e.err));
	close(e.tx);
	t_loop_free(e.loop);
}

/* ---- listeners: accept4() ------------------------------------------------ */

#define NCLIENTS 4

/* The fixture of the tests below: a loop and a listener on 127.0.0.1,
 * port 0, and what the listener accepted. */
struct accepts {
	sio_loop *loop;
	sio_listener *l;
	unsigned short port;    /* the listener's */
	int fds[NCLIENTS + 4];
	int n;
	int flags_ok;           /* every accepted fd nonblocking, close-on-exec */
};

static void
on_accept(sio_listener *l, int fd, const struct sockaddr *sa, socklen_t len,
          void *arg)
{
	struct accepts *a = arg;
	(void)l;
	(void)sa;
	(void)len;
	if ((fcntl(fd, F_GETFL) & O_NONBLOCK) && (fcntl(fd, F_GETFD) & FD_CLOEXEC))
		a->flags_ok++;
	if (a->n < (int)(sizeof a->fds / sizeof a->fds[0]))
		a->fds[a->n++] = fd;
	else
		close(fd);
}

struct want_n {
	struct accepts *a;
	int n;
};

static bool
accepted_n(void *arg)
{
	struct want_n *w = arg;
	return w->a->n >= w->n;
}

/* A loop, then the listener and its port; returns the loop. */
static sio_loop *
accepts_open(struct accepts *a, const struct sio_test_backend *be)
{
	char addr[SIO_ADDRSTRLEN];
	memset(a, 0, sizeof *a);
	a->loop = t_loop_new(be->name);
	a->l = sio_listen_tcp(a->loop, "127.0.0.1", "0", 0, on_accept, a);
	cr_assert_not_null(a->l, "sio_listen_tcp: %s", strerror(errno));
	cr_assert_not_null(sio_listener_address(a->l, 0, addr, sizeof addr));
	a->port = (unsigned short)atoi(strrchr(addr, ':') + 1);
	return a->loop;
}

static int
connect_local(unsigned short port)
{
	char svc[8];
	snprintf(svc, sizeof svc, "%u", port);
	int fd = sio_connect_tcp("127.0.0.1", svc, 10000);
	cr_assert_geq(fd, 0, "connect to port %u: %s", port, strerror(errno));
	return fd;
}

/* With every rule disarmed: close the accepted fds, free the listener and
 * the loop. */
static void
accepts_close(struct accepts *a)
{
	fault_reset();
	for (int i = 0; i < a->n; i++)
		close(a->fds[i]);
	sio_listener_free(a->l);
	t_loop_free(a->loop);
}

/* accept4() fails with EINTR and EAGAIN before each connection is taken:
 * every connection is accepted, exactly once. */
SIO_BACKEND_TEST(fault, accept_eintr_eagain)
{
	struct accepts a;
	int c[NCLIENTS];
	sio_loop *loop = accepts_open(&a, be);
	int lfd = sio_listener_fd(a.l, 0);
	int i1 = fault_add(&(struct fault_rule){ .calls = FAULT_ACCEPTS, .fd = lfd,
	                   .err = EINTR, .period = 2, .count = 6 });
	int i2 = fault_add(&(struct fault_rule){ .calls = FAULT_ACCEPTS, .fd = lfd,
	                   .err = EAGAIN, .period = 3, .count = 6 });
	for (int i = 0; i < NCLIENTS; i++)
		c[i] = connect_local(a.port);
	struct want_n w = { &a, NCLIENTS };
	cr_assert(t_run_until(loop, accepted_n, &w, 1000), "accepted %d of %d",
	          a.n, NCLIENTS);
	t_run_nowait(loop, 3);
	cr_assert_eq(a.n, NCLIENTS, "accepted %d connections for %d clients",
	             a.n, NCLIENTS);
	cr_assert_eq(a.flags_ok, NCLIENTS);
	cr_assert(fault_fired(i1) > 0 && fault_fired(i2) > 0, "%u EINTR, %u EAGAIN",
	          fault_fired(i1), fault_fired(i2));
	for (int i = 0; i < NCLIENTS; i++)
		close(c[i]);
	accepts_close(&a);
}

/* ---- a sleep the kernel refuses ------------------------------------------- */

static void
flag_timer(sio_timer *t, void *arg)
{
	(void)t;
	*(int *)arg = 1;
}

/* ppoll() failing with EFAULT, as valgrind 3.19 makes it fail when it
 * restarts an interrupted call (it hands the kernel a freed copy of the
 * mask): the loop looks once more without sleeping and sleeps again, and
 * the run goes on instead of failing with EFAULT ("Bad address"). */
SIO_BACKEND_TEST(fault, sleep_refused_with_efault)
{
	if (!t_signal_driven(be))
		cr_skip_test("%s does not sleep in ppoll()", be->name);
	setenv("SIGIO_SLEEP", "handler", 1);     /* rtsig too */
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	int fired = 0;
	cr_assert_not_null(sio_timer_start(loop, 20, 0, flag_timer, &fired));
	int id = fault_arm(FAULT_PPOLL, FAULT_ANY_FD, EFAULT, 1);
	cr_assert_geq(id, 0, "fault_arm");
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(fault_fired(id), 1, "[%s] no ppoll() was refused", be->name);
	cr_assert_eq(fired, 1);
	fault_reset();
	t_fixture_close(&f);
	unsetenv("SIGIO_SLEEP");
}

/* ---- a rescan looks before it sleeps ---------------------------------------- */

struct rescan_probe {
	sio_loop *loop;
	int wr;                 /* the writer's end of the watched pair */
	int reads;
};

static void
probe_write(sio_timer *t, void *arg)
{
	struct rescan_probe *p = arg;
	(void)t;
	t_write_all(p->wr, "x", 1);     /* signals blocked here: SIGIO queues */
}

static void
probe_read(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct rescan_probe *p = arg;
	char c;
	(void)io;
	(void)revents;
	if (read(fd, &c, 1) == 1 && ++p->reads == 1)
		sio_loop_stop(p->loop);
}

/* The sigio backend's rescan after a SIGIO polls every fd.  A poll that
 * may sleep hooks a wait entry onto each fd before the first ready one,
 * which made each event cost 2.6 times more at 1,000 idle fds
 * (bench/micro_event); the rescan that follows a signal first looks
 * without sleeping, and finds the fd ready: no ppoll() at all. */
SIO_BACKEND_TEST(fault, rescan_looks_before_it_sleeps)
{
	if (strcmp(be->name, "sigio") != 0)
		cr_skip_test("only plain SIGIO asks for a rescan each time");
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct rescan_probe p = { .loop = loop, .wr = f.sv[1] };
	t_fixture_watch(&f, SIO_READ, probe_read, &p);
	t_run_nowait(loop, 2);
	struct sio_stats before = t_stats(loop);
	cr_assert_not_null(sio_timer_start(loop, 0, 0, probe_write, &p));
	unsigned sleeps = fault_calls(FAULT_PPOLL);
	t_run(loop, SIO_RUN_DEFAULT);             /* until probe_read */
	struct sio_stats st = t_stats(loop);
	cr_assert_eq(p.reads, 1);
	cr_assert_gt(st.rescans, before.rescans, "no rescan");
	cr_assert_eq(fault_calls(FAULT_PPOLL), sleeps, "the rescan slept in "
	             "ppoll() with its fd ready (%u calls)",
	             fault_calls(FAULT_PPOLL) - sleeps);
	t_fixture_close(&f);
}

/* ---- a connector hands its fd over armed ---------------------------------- */

struct handover {
	sio_loop *loop;
	sio_stream *s;
	int connected;          /* the connect callback ran with an fd */
	int closed;             /* on_close ran */
	char got[8];
	size_t n;
};

static void
handover_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct handover *h = arg;
	(void)s;
	size_t k = len < sizeof h->got - h->n ? len : sizeof h->got - h->n;
	memcpy(h->got + h->n, data, k);
	h->n += k;
}

static void
handover_close(sio_stream *s, int reason, int err, void *arg)
{
	(void)s;
	(void)reason;
	(void)err;
	((struct handover *)arg)->closed = 1;
}

static void
handover_connected(sio_connector *c, int fd, int err, void *arg)
{
	struct handover *h = arg;
	(void)c;
	cr_assert_geq(fd, 0, "connect failed: %s", strerror(err));
	h->s = sio_stream_new(h->loop, fd, handover_read,
	                      handover_close, h);
	cr_assert_not_null(h->s, "sio_stream_new: %s", strerror(errno));
	h->connected = 1;
}

static void
count_call(int fd, void *arg)
{
	(void)fd;
	(void)arg;
}

static bool
handover_read_two(void *arg)
{
	return ((struct handover *)arg)->n >= 2;
}

/* The usual client: connect, then a stream on the fd from the connect
 * callback.  The connector's watcher outlives the callback, so the stream
 * finds the fd armed for signals already: F_SETSIG (with the owner and
 * O_ASYNC) is given once per connection, not once for the connect and
 * again for the stream (it was twice, 9 system calls more, before). */
SIO_BACKEND_TEST(fault, connector_hands_its_fd_over_armed)
{
	struct accepts a;
	sio_loop *loop = accepts_open(&a, be);
	int setsig = fault_add(&(struct fault_rule){ .calls = FAULT_FCNTL,
	                       .fd = FAULT_ANY_FD,
#ifdef F_SETSIG
	                       .cmd = F_SETSIG,
#else
	                       .cmd = F_SETOWN,
#endif
	                       .before = count_call });
	cr_assert_geq(setsig, 0, "fault_add");
	char svc[8];
	snprintf(svc, sizeof svc, "%u", a.port);
	struct handover h = { .loop = loop };
	cr_assert_not_null(sio_connect_start(loop, "127.0.0.1", svc, 10000,
	                                     handover_connected, &h));
	struct want_n w = { &a, 1 };
	cr_assert(t_run_until(loop, accepted_n, &w, 1000));
	cr_assert(t_run_until(loop, t_flag_set, &h.connected, 1000));
	t_write_all(a.fds[0], "hi", 2);
	cr_assert(t_run_until(loop, handover_read_two, &h, 1000));
	cr_assert_eq(memcmp(h.got, "hi", 2), 0);
	if (t_signal_driven(be))
		cr_assert_eq(fault_fired(setsig), 1, "[%s] the fd was armed %u times",
		             be->name, fault_fired(setsig));
	else
		cr_assert_eq(fault_fired(setsig), 0);
	sio_stream_close(h.s);       /* released from the loop: run it */
	cr_assert(t_run_until(loop, t_flag_set, &h.closed, 1000));
	accepts_close(&a);
}

/* A kernel without accept4() (ENOSYS): accept() and fcntl() instead, with
 * the same flags on the new fd, and accept()'s EINTR retried. */
SIO_BACKEND_TEST(fault, accept4_enosys_falls_back)
{
	struct accepts a;
	int c[2];
	sio_loop *loop = accepts_open(&a, be);
	int id = fault_arm(FAULT_ACCEPT4, sio_listener_fd(a.l, 0), ENOSYS, 0);
	/* ... and the accept() it falls back on is interrupted, twice. */
	int i2 = fault_arm(FAULT_ACCEPT, sio_listener_fd(a.l, 0), EINTR, 2);
	c[0] = connect_local(a.port);
	c[1] = connect_local(a.port);
	struct want_n w = { &a, 2 };
	cr_assert(t_run_until(loop, accepted_n, &w, 1000), "accepted %d of 2", a.n);
	cr_assert_eq(a.flags_ok, 2, "an fd from accept() lacks O_NONBLOCK or "
	             "FD_CLOEXEC");
	cr_assert_gt(fault_fired(id), 0);
	cr_assert_gt(fault_calls(FAULT_ACCEPT), 1, "accept() was not used");
	cr_assert_eq(fault_fired(i2), 2);
	close(c[0]);
	close(c[1]);
	accepts_close(&a);
}

/* accept4() says EMFILE once: the listener gives up its reserved fd to take
 * the connection and close it (counted as refused), opens the reserve
 * again, and accepts the next connection as usual.  No fd is lost. */
SIO_BACKEND_TEST(fault, accept_emfile_refuses_one)
{
	struct accepts a;
	sio_loop *loop = accepts_open(&a, be);
	int fds = open_fds();
	int id = fault_arm(FAULT_ACCEPT4, sio_listener_fd(a.l, 0), EMFILE, 1);
	int c1 = connect_local(a.port);
	for (int i = 0; i < 1000 && sio_listener_refused(a.l) == 0; i++)
		t_run_nowait(loop, 1);
	cr_assert_eq(fault_fired(id), 1);
	cr_assert_eq(sio_listener_refused(a.l), 1, "refused %llu",
	             (unsigned long long)sio_listener_refused(a.l));
	cr_assert_eq(a.n, 0, "the refused connection reached the callback");
	/* The client sees its connection closed. */
	struct pollfd p = { .fd = c1, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 10000), 1, "the refused client was not closed");
	char ch;
	cr_assert_leq(read(c1, &ch, 1), 0, "the refused client got data");
	int c2 = connect_local(a.port);
	struct want_n w = { &a, 1 };
	cr_assert(t_run_until(loop, accepted_n, &w, 1000), "the next client was "
	          "not accepted");
	cr_assert_eq(open_fds(), fds + 3, "fds: %d before, %d now (want +2 "
	             "clients, +1 accepted)", fds, open_fds());
	close(c1);
	close(c2);
	accepts_close(&a);
}

/* EMFILE twice (the refusal fails too): accepting pauses, and resumes by
 * itself; the waiting connection is then accepted.  The reserve is back. */
SIO_BACKEND_TEST(fault, accept_emfile_pauses_and_resumes)
{
	struct accepts a;
	sio_loop *loop = accepts_open(&a, be);
	int fds = open_fds();
	int id = fault_arm(FAULT_ACCEPT4, sio_listener_fd(a.l, 0), EMFILE, 2);
	int c = connect_local(a.port);
	struct want_n w = { &a, 1 };
	cr_assert(t_run_until(loop, accepted_n, &w, 1000), "never accepted after "
	          "the pause");
	cr_assert_eq(fault_fired(id), 2);
	cr_assert_eq(sio_listener_refused(a.l), 0);
	cr_assert_eq(open_fds(), fds + 2, "fds: %d before, %d now (want +1 "
	             "client, +1 accepted)", fds, open_fds());
	close(c);
	accepts_close(&a);
}

/* ---- the self-pipe: sio_async_send() and the drain ------------------------ */

struct sender {
	sio_async *a;
	int rc;
};

static void *
send_thread(void *arg)
{
	struct sender *s = arg;
	s->rc = sio_async_send(s->a);
	return NULL;
}

/* sio_async_send(a) from another thread while the loop runs until the
 * callback has counted a call in *calls; returns what sio_async_send()
 * returned. */
static int
send_from_thread(sio_loop *loop, sio_async *a, int *calls)
{
	struct sender s = { a, -2 };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, send_thread, &s), 0);
	bool woke = t_run_until(loop, t_flag_set, calls, 100);
	pthread_join(th, NULL);
	cr_assert(woke, "the wake-up was lost");
	return s.rc;
}

/* The wake-up's write() is interrupted (EINTR) three times, from another
 * thread, while the loop may be asleep: it is retried, the loop wakes, the
 * callback runs once. */
SIO_BACKEND_TEST(fault, async_send_write_eintr)
{
	int calls = 0, p[2];
	sio_loop *loop = t_loop_new(be->name);
	fault_last_pipe(p);
	sio_async *a = sio_async_new(loop, count_async, &calls);
	cr_assert_not_null(a);
	int id = fault_arm(FAULT_WRITE, p[1], EINTR, 3);
	cr_assert_eq(send_from_thread(loop, a, &calls), 0);
	cr_assert_eq(calls, 1);
	cr_assert_eq(fault_fired(id), 3);
	sio_async_free(a);
	t_loop_free(loop);
}

/* The self-pipe's read() says EINTR (retried) and EAGAIN (the records stay
 * in the pipe, which stays readable): the callback runs once, and the pipe
 * is emptied by a later iteration, not left to spin. */
SIO_BACKEND_TEST(fault, selfpipe_read_eintr_eagain)
{
	int calls = 0, p[2];
	sio_loop *loop = t_loop_new(be->name);
	fault_last_pipe(p);
	sio_async *a = sio_async_new(loop, count_async, &calls);
	int i1 = fault_arm(FAULT_READ, p[0], EINTR, 2);
	int i2 = fault_add(&(struct fault_rule){ .calls = FAULT_READ, .fd = p[0],
	                   .err = EAGAIN, .period = 2, .count = 2 });
	send_from_thread(loop, a, &calls);
	cr_assert_eq(calls, 1);
	/* sio_loop_stop() from here writes another record; the pipe must be
	 * empty after a few iterations whatever the faults did. */
	for (int i = 0; i < 3; i++) {
		sio_loop_stop(loop);
		t_run_nowait(loop, 1);
	}
	for (int i = 0; i < 10 && (t_poll_now(p[0], POLLIN) & POLLIN); i++)
		t_run_nowait(loop, 1);
	cr_assert_eq(t_poll_now(p[0], POLLIN) & POLLIN, 0, "the self-pipe is "
	             "never drained");
	cr_assert_eq(calls, 1);
	cr_assert_eq(fault_fired(i1), 2);
	cr_assert_gt(fault_fired(i2), 0, "no EAGAIN was injected");
	cr_assert_gt(t_stats(loop).wakeups, 0);
	sio_async_free(a);
	t_loop_free(loop);
}

/* ---- the waits: poll(), ppoll(), select() ---------------------------------- */

/* The fixture of the tests below: a loop of the backend under test, a
 * socketpair, the watcher a test starts on sv[0] (tio_read), and a timer
 * that writes a byte into sv[1] (tio_timer). */
struct tio {
	sio_loop *loop;
	int sv[2];
	sio_io *io;             /* the watcher on sv[0], stopped by tio_close() */
	int fired;              /* the timer's callback ran */
	int got;                /* bytes the watcher read */
};

/* The timer makes the socket readable: the loop must wake for the timer
 * and then for the fd, through whatever its waits say. */
static void
tio_timer(sio_timer *t, void *arg)
{
	struct tio *x = arg;
	x->fired++;
	t_write_all(x->sv[1], "t", 1);
	sio_timer_stop(t);
}

static void
tio_read(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct tio *x = arg;
	x->got += (int)t_drain(fd);
}

static bool
tio_got(void *arg)
{
	return ((struct tio *)arg)->got > 0;
}

/* A socketpair, then a loop; returns the loop.  Nothing watched yet. */
static sio_loop *
tio_open(struct tio *x, const struct sio_test_backend *be)
{
	memset(x, 0, sizeof *x);
	t_socketpair(x->sv);
	x->loop = t_loop_new(be->name);
	return x->loop;
}

/* With every rule disarmed: stop the watcher, close the pair, free the
 * loop. */
static void
tio_close(struct tio *x)
{
	fault_reset();
	sio_io_stop(x->io);
	close(x->sv[0]);
	close(x->sv[1]);
	t_loop_free(x->loop);
}

/* Every wait is interrupted (EINTR), ten times for each kind: the loop
 * goes round again, the timer fires once and the byte it sent is
 * delivered.  poll and select have one wait each; the signal-driven
 * backends poll() their checks (retried at once) and sleep in ppoll(), or
 * in poll() on rtsig's signalfd (the iteration ends, the next one looks
 * again). */
SIO_BACKEND_TEST(fault, wait_eintr_timer_and_io)
{
	struct tio x;
	sio_loop *loop = tio_open(&x, be);
	x.io = sio_io_start(loop, x.sv[0], SIO_READ, tio_read, &x);
	cr_assert_not_null(x.io);
	cr_assert_not_null(sio_timer_start(loop, 20, 0, tio_timer, &x));
	int ip = fault_arm(FAULT_POLL, FAULT_ANY_FD, EINTR, 10);
	int ipp = fault_arm(FAULT_PPOLL, FAULT_ANY_FD, EINTR, 10);
	int is = fault_arm(FAULT_SELECT, FAULT_ANY_FD, EINTR, 10);
	cr_assert(t_run_until(loop, tio_got, &x, SIO_TEST_MAX_ONCE),
	          "the byte was lost (timer fired %d times)", x.fired);
	cr_assert_eq(x.fired, 1);
	cr_assert_eq(x.got, 1);
	if (t_is(be, "select"))
		cr_assert_gt(fault_fired(is), 0, "select() was never interrupted");
	else
		cr_assert_gt(fault_fired(ip), 0, "poll() was never interrupted");
	if (t_signal_driven(be) && !t_sleeps_on_signalfd(be))
		cr_assert_gt(fault_fired(ipp), 0, "ppoll() was never interrupted");
	tio_close(&x);
}

/* A wait fails for want of memory (EAGAIN, then ENOMEM: what poll() and
 * select() say then): sio_loop_run() reports -1 with that errno, and the
 * loop still works afterwards: the data that was waiting is delivered.
 * The data is there before the watcher starts, so on the signal-driven
 * backends no signal announces it: only the check that failed knew. */
static void
wait_fails_once(const struct sio_test_backend *be, unsigned calls, int err)
{
	struct tio x;
	sio_loop *loop = tio_open(&x, be);
	t_write_all(x.sv[1], "d", 1);
	x.io = sio_io_start(loop, x.sv[0], SIO_READ, tio_read, &x);
	cr_assert_not_null(x.io);
	int id = fault_arm(calls, FAULT_ANY_FD, err, 1);
	errno = 0;
	cr_assert_eq(sio_loop_run(loop, SIO_RUN_ONCE), -1, "the failed wait was "
	             "not reported");
	cr_assert_eq(errno, err, "errno %s, want %s", strerror(errno),
	             strerror(err));
	cr_assert_eq(fault_fired(id), 1);
	cr_assert_eq(x.got, 0);
	cr_assert(t_run_until(loop, tio_got, &x, 100), "the waiting byte was lost "
	          "after the failed wait");
	tio_close(&x);
}

SIO_BACKEND_TEST(fault, wait_eagain_reported_then_works)
{
	wait_fails_once(be, FAULT_WAITS, EAGAIN);
}

SIO_BACKEND_TEST(fault, wait_enomem_reported_then_works)
{
	wait_fails_once(be, FAULT_WAITS, ENOMEM);
}

/* The signal-driven backends' sleep (ppoll, or poll on rtsig's signalfd)
 * fails: reported; the byte that comes later is delivered. */
SIG_BACKEND_TEST(fault, sleep_fails_reported_then_works)
{
	struct tio x;
	sio_loop *loop = tio_open(&x, be);
	x.io = sio_io_start(loop, x.sv[0], SIO_READ, tio_read, &x);
	int id = fault_arm(t_sleeps_on_signalfd(be) ? FAULT_POLL : FAULT_PPOLL,
	                   FAULT_ANY_FD, ENOMEM, 1);
	errno = 0;
	cr_assert_eq(sio_loop_run(loop, SIO_RUN_ONCE), -1);
	cr_assert_eq(errno, ENOMEM, "errno %s", strerror(errno));
	cr_assert_eq(fault_fired(id), 1);
	cr_assert_not_null(sio_timer_start(loop, 5, 0, tio_timer, &x));
	cr_assert(t_run_until(loop, tio_got, &x, 100), "the byte was lost");
	tio_close(&x);
}

/* Issue 16, item 7: a wait fails after the signals drained before it had
 * already made watchers pending (rtsig).  Nothing is dispatched, and the
 * pending list keeps nothing: a watcher stopped before the next run is
 * freed at once, and must never be called again (ASan: a use after free
 * in the dispatch).  The readiness the drained signals carried is not
 * lost: the other watchers still get their byte. */
#define UNPEND_N 8

struct unpend {
	int sv[UNPEND_N][2];
	sio_io *io[UNPEND_N];
	int calls[UNPEND_N];
	int extra[2];
	sio_io *late;
	int fault;
	sio_loop *loop;
};

static void
unpend_read(sio_io *io, int fd, unsigned revents, void *arg)
{
	int *calls = arg;
	char b[16];
	(void)io;
	(void)revents;
	(*calls)++;
	while (read(fd, b, sizeof b) > 0)
		;
}

static bool
unpend_rest_got(void *arg)
{
	struct unpend *u = arg;
	for (int i = 1; i < UNPEND_N; i++)
		if (u->calls[i] == 0)
			return false;
	return true;
}

static void
unpend_nothing(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)io; (void)fd; (void)revents; (void)arg;
}

/* Runs before the wait of its iteration, with the loop's signals blocked:
 * the bytes it sends are queued as signals that the wait drains first.  A
 * watcher started here makes that wait check at once, after the drain,
 * rather than defer the check: the check is what fails. */
static void
unpend_timer(sio_timer *t, void *arg)
{
	struct unpend *u = arg;
	(void)t;
	for (int i = 0; i < UNPEND_N; i++)
		t_write_all(u->sv[i][1], "d", 1);
	u->late = sio_io_start(u->loop, u->extra[0], SIO_READ,
	                       unpend_nothing, NULL);
	u->fault = fault_arm(FAULT_WAITS, FAULT_ANY_FD, EINVAL, 1);
}

SIO_BACKEND_TEST(fault, failed_wait_leaves_nothing_pending)
{
	struct unpend u;
	memset(&u, 0, sizeof u);
	sio_loop *loop = t_loop_new(be->name);
	for (int i = 0; i < UNPEND_N; i++) {
		t_socketpair(u.sv[i]);
		u.io[i] = sio_io_start(loop, u.sv[i][0], SIO_READ, unpend_read,
		                       &u.calls[i]);
		cr_assert_not_null(u.io[i]);
	}
	t_run_nowait(loop, 2);          /* settled: nothing left to check */
	t_socketpair(u.extra);
	u.loop = loop;
	sio_timer *t = sio_timer_start(loop, 0, 0, unpend_timer, &u);
	cr_assert_not_null(t);
	errno = 0;
	int rc = sio_loop_run(loop, SIO_RUN_NOWAIT);
	cr_assert_not_null(u.late);
	/* select() may dispatch instead (it is not told how many fds the
	 * process may have): what matters is what follows. */
	if (rc < 0)
		cr_assert_eq(errno, EINVAL, "errno %s", strerror(errno));
	else
		cr_assert(t_is(be, "select"), "[%s] the wait did not fail", be->name);
	int before = u.calls[0];
	sio_io_stop(u.io[0]);           /* outside a run: freed at once */
	cr_assert(t_run_until(loop, unpend_rest_got, &u, 100), "readiness "
	          "drained before the failed wait was lost");
	cr_assert_eq(u.calls[0], before, "a watcher stopped after a failed "
	             "wait was called");
	for (int i = 1; i < UNPEND_N; i++)
		sio_io_stop(u.io[i]);
	sio_io_stop(u.late);
	sio_timer_stop(t);
	for (int i = 0; i < UNPEND_N; i++) {
		close(u.sv[i][0]);
		close(u.sv[i][1]);
	}
	close(u.extra[0]);
	close(u.extra[1]);
	t_loop_free(loop);
}

/* ---- fcntl: owner, signal, O_ASYNC refused ---------------------------------- */

/* A watcher on sv[0] after `arm` armed its faults; a timer writes a byte
 * into sv[1] once the loop runs.  Checks that the byte arrives, that the
 * fd is polled (fallback) or signal-driven as `want_fallback` says, and
 * that stopping the watcher takes it out of the fallback count. */
static void
fcntl_scenario(const struct sio_test_backend *be, int (*arm)(int fd),
               int want_fallback)
{
	struct tio x;
	sio_loop *loop = tio_open(&x, be);
	int id = arm(x.sv[0]);
	cr_assert_geq(id, 0);
	x.io = sio_io_start(loop, x.sv[0], SIO_READ, tio_read, &x);
	cr_assert_not_null(x.io, "sio_io_start failed (%s) where it should have "
	                   "fallen back to poll()", strerror(errno));
	/* The rule returned is the last one the path reaches. */
	cr_assert_eq(fault_fired(id), 1, "the fcntl fault fired %u times",
	             fault_fired(id));
	cr_assert_eq(t_stats(loop).fallback_fds, (uint64_t)want_fallback,
	             "fallback_fds %llu, want %d",
	             (unsigned long long)t_stats(loop).fallback_fds, want_fallback);
	if (want_fallback)
		cr_assert_eq(t_getfl(x.sv[0]) & O_ASYNC, 0, "O_ASYNC left on a "
		             "polled fd");
	else
		cr_assert_neq(t_getfl(x.sv[0]) & O_ASYNC, 0, "no O_ASYNC");
	t_run_nowait(loop, 1);  /* the new watcher's first check: nothing */
	cr_assert_not_null(sio_timer_start(loop, 5, 0, tio_timer, &x));
	cr_assert(t_run_until(loop, tio_got, &x, 100), "the byte was lost");
	cr_assert_eq(x.got, 1);
	if (!want_fallback)
		cr_assert_gt(t_stats(loop).signals, 0, "the byte came without a "
		             "signal");
	sio_io_stop(x.io);
	x.io = NULL;            /* stopped outside a run: freed */
	cr_assert_eq(t_stats(loop).fallback_fds, 0);
	tio_close(&x);
}

static int
arm_setsig(int fd)
{
#ifdef F_SETSIG
	return fault_arm_fcntl(fd, F_SETSIG, 0, EINVAL, 1);
#else
	return fault_arm_fcntl(fd, F_SETOWN, 0, EINVAL, 1);
#endif
}

static int
arm_setown_ex_eperm(int fd)
{
#ifdef F_SETOWN_EX
	return fault_arm_fcntl(fd, F_SETOWN_EX, 0, EPERM, 1);
#else
	return fault_arm_fcntl(fd, F_SETOWN, 0, EPERM, 1);
#endif
}

static int
arm_setown_both(int fd)
{
#ifdef F_SETOWN_EX
	fault_arm_fcntl(fd, F_SETOWN_EX, 0, EINVAL, 1);
#endif
	return fault_arm_fcntl(fd, F_SETOWN, 0, EPERM, 1);
}

static int
arm_async_eperm(int fd)
{
	return fault_arm_fcntl(fd, F_SETFL, O_ASYNC, EPERM, 1);
}

static int
arm_async_ignored(int fd)
{
	return fault_arm_fcntl(fd, F_SETFL, O_ASYNC, 0, 1);
}

/* F_SETSIG refused (EINVAL): the fd cannot be given the backend's signal,
 * so it is polled. */
SIG_BACKEND_TEST(fault, fcntl_setsig_refused_falls_back)
{
	fcntl_scenario(be, arm_setsig, 1);
}

/* F_SETOWN_EX refused with EPERM: no owner, so no signal: polled. */
SIG_BACKEND_TEST(fault, fcntl_setown_ex_eperm_falls_back)
{
	fcntl_scenario(be, arm_setown_ex_eperm, 1);
}

/* F_SETOWN_EX and then F_SETOWN refused: polled. */
SIG_BACKEND_TEST(fault, fcntl_setown_refused_falls_back)
{
	fcntl_scenario(be, arm_setown_both, 1);
}

/* F_SETFL with O_ASYNC refused (EPERM): polled. */
SIG_BACKEND_TEST(fault, fcntl_o_async_refused_falls_back)
{
	fcntl_scenario(be, arm_async_eperm, 1);
}

/* F_SETFL with O_ASYNC "succeeds" and the flag is not there (a file that
 * takes O_ASYNC and never signals): polled. */
SIG_BACKEND_TEST(fault, fcntl_o_async_ignored_falls_back)
{
	fcntl_scenario(be, arm_async_ignored, 1);
}

/* F_SETOWN_EX says EINVAL (a kernel without it): the process becomes the
 * owner (F_SETOWN), the fd still signals, and the byte comes by signal. */
#ifdef F_SETOWN_EX
static int
arm_setown_ex_einval(int fd)
{
	return fault_arm_fcntl(fd, F_SETOWN_EX, 0, EINVAL, 1);
}

SIG_BACKEND_TEST(fault, fcntl_setown_ex_einval_uses_setown)
{
	fcntl_scenario(be, arm_setown_ex_einval, 0);
}
#endif

/* F_SETSIG says EBADF (the fd went away under the call): sio_io_start()
 * fails with EBADF rather than fall back, leaves nothing registered (the
 * loop has nothing to run for), and the same fd can be watched after. */
SIG_BACKEND_TEST(fault, fcntl_ebadf_reported)
{
	struct tio x;
	sio_loop *loop = tio_open(&x, be);
#ifdef F_SETSIG
	int id = fault_arm_fcntl(x.sv[0], F_SETSIG, 0, EBADF, 1);
#else
	int id = fault_arm_fcntl(x.sv[0], F_SETOWN, 0, EBADF, 1);
#endif
	errno = 0;
	cr_assert_null(sio_io_start(loop, x.sv[0], SIO_READ, tio_read, &x));
	cr_assert_eq(errno, EBADF, "errno %s", strerror(errno));
	cr_assert_eq(fault_fired(id), 1);
	cr_assert_eq(t_stats(loop).fallback_fds, 0);
	t_run(loop, SIO_RUN_DEFAULT);   /* returns at once: nothing active */
	x.io = sio_io_start(loop, x.sv[0], SIO_READ, tio_read, &x);
	cr_assert_not_null(x.io, "sio_io_start after the fault: %s", strerror(errno));
	cr_assert_neq(t_getfl(x.sv[0]) & O_ASYNC, 0, "no O_ASYNC");
	t_run_nowait(loop, 1);  /* the new watcher's first check: nothing */
	cr_assert_not_null(sio_timer_start(loop, 5, 0, tio_timer, &x));
	cr_assert(t_run_until(loop, tio_got, &x, 100), "the byte was lost");
	cr_assert_gt(t_stats(loop).signals, 0, "the byte came without a signal");
	tio_close(&x);
}

/* F_SETFL O_NONBLOCK refused on a blocking fd: sio_io_start() and
 * sio_stream_new() fail with that errno, the fd stays the caller's, open,
 * and the loop goes on working. */
SIO_BACKEND_TEST(fault, fcntl_nonblock_refused_reported)
{
	struct tio x = { .fired = 0 };
	t_socketpair_blocking(x.sv);
	sio_loop *loop = x.loop = t_loop_new(be->name);
	int id = fault_arm_fcntl(x.sv[0], F_SETFL, O_NONBLOCK, EPERM, 2);
	errno = 0;
	cr_assert_null(sio_io_start(loop, x.sv[0], SIO_READ, tio_read, NULL));
	cr_assert_eq(errno, EPERM, "sio_io_start: errno %s", strerror(errno));
	errno = 0;
	cr_assert_null(sio_stream_new(loop, x.sv[0], NULL, NULL, NULL));
	cr_assert_eq(errno, EPERM, "sio_stream_new: errno %s", strerror(errno));
	cr_assert_eq(fault_fired(id), 2);
	cr_assert(t_fd_open(x.sv[0]), "the fd was closed");
	cr_assert_eq(t_getfl(x.sv[0]) & O_NONBLOCK, 0);
	/* Nothing was left registered, and the fd can be watched now. */
	x.io = sio_io_start(loop, x.sv[0], SIO_READ, tio_read, &x);
	cr_assert_not_null(x.io, "sio_io_start after the fault: %s", strerror(errno));
	t_write_all(x.sv[1], "z", 1);
	cr_assert(t_run_until(loop, tio_got, &x, 100), "the byte was lost");
	tio_close(&x);
}

/* ---- loop creation: the self-pipe and the signalfd --------------------------- */

/* pipe2() out of fds: sio_loop_new() returns NULL with EMFILE and leaves
 * no fd open (and, under ASan or valgrind, no memory allocated). */
static void
loop_new_emfile(const char *backend)
{
	int fds = open_fds();
	int id = fault_arm(FAULT_PIPE | FAULT_PIPE2, FAULT_ANY_FD, EMFILE, 1);
	errno = 0;
	sio_loop *loop = sio_loop_new(backend);
	int err = errno;
	cr_assert_null(loop, "sio_loop_new(%s) worked without a self-pipe",
	               backend ? backend : "NULL");
	cr_assert_eq(err, EMFILE, "errno %s", strerror(err));
	cr_assert_eq(fault_fired(id), 1);
	cr_assert_eq(open_fds(), fds, "fds: %d before, %d after", fds, open_fds());
	loop = t_loop_new(backend);     /* nothing left in a bad state */
	t_loop_free(loop);
	cr_assert_eq(open_fds(), fds);
}

SIO_BACKEND_TEST(fault, loop_new_pipe_emfile)
{
	loop_new_emfile(be->name);
}

Test(fault, loop_new_auto_pipe_emfile, .timeout = SIO_TEST_TIMEOUT)
{
	loop_new_emfile(NULL);
}

/* signalfd() out of fds: the loop is made all the same and drains its
 * signals with sigtimedwait() instead; a byte announced by a signal
 * arrives. */
SIG_BACKEND_TEST(fault, loop_new_signalfd_emfile_falls_back)
{
	struct tio x = { .fired = 0 };
	t_socketpair(x.sv);
	int fds = open_fds();
	int id = fault_arm(FAULT_SIGNALFD, FAULT_ANY_FD, EMFILE, 1);
	errno = 0;
	sio_loop *loop = x.loop = sio_loop_new(be->name);
	cr_assert_not_null(loop, "sio_loop_new(%s) failed (%s) although it can do "
	                   "without a signalfd", be->name, strerror(errno));
	t_guard(loop, SIO_TEST_GUARD);
	cr_assert_eq(fault_fired(id), 1);
	cr_assert_eq(open_fds(), fds + 2, "want the self-pipe only");
	x.io = sio_io_start(loop, x.sv[0], SIO_READ, tio_read, &x);
	cr_assert_not_null(x.io);
	cr_assert_eq(t_stats(loop).fallback_fds, 0);
	/* The new watcher's first check, before the byte, so that only the
	 * signal can tell of it. */
	t_run_nowait(loop, 1);
	cr_assert_not_null(sio_timer_start(loop, 5, 0, tio_timer, &x));
	cr_assert(t_run_until(loop, tio_got, &x, 100), "the byte was lost");
	cr_assert_gt(fault_calls(FAULT_SIGTIMEDWAIT), 0, "no sigtimedwait() drain");
	cr_assert_gt(t_stats(loop).signals, 0, "no signal was consumed");
	tio_close(&x);
	cr_assert_eq(open_fds(), fds - 2, "the loop left fds open");
}

/* sio_loop_fork() cannot make the child's new pipe: -1 with EMFILE, the
 * loop keeps its pipe and works; a later sio_loop_fork() works. */
SIO_BACKEND_TEST(fault, loop_fork_pipe_emfile)
{
	int calls = 0, p[2], q[2];
	sio_loop *loop = t_loop_new(be->name);
	fault_last_pipe(p);
	int fds = open_fds();
	sio_async *a = sio_async_new(loop, count_async, &calls);
	int id = fault_arm(FAULT_PIPE | FAULT_PIPE2, FAULT_ANY_FD, EMFILE, 1);
	errno = 0;
	cr_assert_eq(sio_loop_fork(loop), -1);
	cr_assert_eq(errno, EMFILE, "errno %s", strerror(errno));
	cr_assert_eq(fault_fired(id), 1);
	cr_assert_eq(open_fds(), fds);
	cr_assert(t_fd_open(p[0]) && t_fd_open(p[1]), "the old pipe was closed");
	sio_async_send(a);
	cr_assert(t_run_until(loop, t_flag_set, &calls, 100), "no wake-up");
	cr_assert_eq(sio_loop_fork(loop), 0, "sio_loop_fork: %s", strerror(errno));
	fault_last_pipe(q);
	cr_assert_eq(open_fds(), fds, "the old pipe was not closed");
	calls = 0;
	sio_async_send(a);
	cr_assert(t_run_until(loop, t_flag_set, &calls, 100), "no wake-up on "
	          "the new pipe");
	sio_async_free(a);
	t_loop_free(loop);
}

/* ---- the signal drain: signalfd reads, sigtimedwait ------------------------ */

/* The drain is interrupted (EINTR: retried), then, right after the timer
 * made the fd ready, finds the queue "empty" (EAGAIN) although the signal
 * is queued.  The byte arrives either way: a loop that sleeps with the
 * signal unblocked is woken by the handler's record on the self-pipe; rtsig,
 * which sleeps on its signalfd, finds it readable and drains again.  The
 * loop runs without a break (SIO_RUN_DEFAULT) so that every drain happens
 * inside the run, where the runtime's signals are blocked. */
struct drain {
	struct tio x;
	unsigned calls;
	int fd;
	int eagain;             /* the EAGAIN rule, armed by the timer */
};

static void
drain_timer(sio_timer *t, void *arg)
{
	struct drain *d = arg;
	tio_timer(t, &d->x);    /* the write queues the signal (blocked) */
	d->eagain = fault_arm(d->calls, d->fd, EAGAIN, 1);
}

static void
drain_read(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct drain *d = arg;
	tio_read(io, fd, revents, &d->x);
	if (d->x.got > 0)
		sio_loop_stop(d->x.loop);
}

static void
drain_faults(const struct sio_test_backend *be, int via_sigtimedwait)
{
	struct drain d = { .eagain = -1 };
	if (via_sigtimedwait)
		setenv("SIGIO_DRAIN", "sigtimedwait", 1);
	sio_loop *loop = tio_open(&d.x, be);
	d.calls = via_sigtimedwait ? FAULT_SIGTIMEDWAIT : FAULT_READ;
	d.fd = via_sigtimedwait ? FAULT_ANY_FD : fault_last_signalfd();
	if (via_sigtimedwait)
		cr_assert_eq(fault_calls(FAULT_SIGNALFD), 0, "a signalfd was made");
	else
		cr_assert_geq(d.fd, 0, "no signalfd was made");
	d.x.io = sio_io_start(loop, d.x.sv[0], SIO_READ, drain_read, &d);
	/* The new watcher's first check, before the byte: afterwards only
	 * the signal can tell of it. */
	t_run_nowait(loop, 1);
	int i1 = fault_arm(d.calls, d.fd, EINTR, 3);
	cr_assert_not_null(sio_timer_start(loop, 5, 0, drain_timer, &d));
	t_guard(loop, 10);
	cr_assert_eq(sio_loop_run(loop, SIO_RUN_DEFAULT), 0, "sio_loop_run: %s",
	             strerror(errno));
	cr_assert_not(t_guard_fired(), "the byte was lost");
	cr_assert_eq(d.x.got, 1);
	cr_assert_eq(fault_fired(i1), 3);
	cr_assert_eq(fault_fired(d.eagain), 1, "the EAGAIN did not fire");
	struct sio_stats st = t_stats(loop);
	if (!t_sleeps_on_signalfd(be) || via_sigtimedwait)
		cr_assert_gt(st.wakeups, 0, "the handler's record did not wake "
		             "the loop (%llu signals, %llu sleeps, %llu "
		             "iterations, %llu rescans)",
		             (unsigned long long)st.signals,
		             (unsigned long long)st.sleeps,
		             (unsigned long long)st.iterations,
		             (unsigned long long)st.rescans);
	tio_close(&d.x);
}

SIG_BACKEND_TEST(fault, signalfd_read_eintr_eagain)
{
	drain_faults(be, 0);
}

SIG_BACKEND_TEST(fault, sigtimedwait_eintr_eagain)
{
	drain_faults(be, 1);
}

/* ---- TCP urgent data: recv(MSG_OOB), send(MSG_OOB) ------------------------- */

struct urg {
	unsigned char byte;
	int urgents, bytes, closes;
};

static void
urg_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	((struct urg *)arg)->bytes += (int)len;
}

static void
urg_cb(sio_stream *s, unsigned char byte, int at_mark, void *arg)
{
	struct urg *u = arg;
	u->byte = byte;
	u->urgents++;
}

static void
urg_close(sio_stream *s, int reason, int err, void *arg)
{
	((struct urg *)arg)->closes++;
}

static bool
urg_done(void *arg)
{
	struct urg *u = arg;
	return (u->urgents > 0 && u->bytes > 0) || u->closes;
}

SIO_BACKEND_TEST(fault, urgent_recv_send_eintr)
{
	struct conn c;
	struct urg u = { 0 };
	sio_loop *loop = conn_open(&c, be);
	sio_stream *s = conn_stream(&c, urg_read, urg_close, urg_cb, &u);
	int i1 = fault_arm(FAULT_RECV, c.server, EINTR, 2);
	int i2 = fault_arm(FAULT_SEND, c.server, EINTR, 1);
	cr_assert_eq(send(c.client, "a", 1, 0), 1);
	cr_assert_eq(send(c.client, "!", 1, MSG_OOB), 1);
	cr_assert(t_run_until(loop, urg_done, &u, 1000), "urgent byte lost "
	          "(%d urgent, %d bytes)", u.urgents, u.bytes);
	cr_assert_eq(u.byte, '!');
	cr_assert_eq(fault_fired(i1), 2, "recv(MSG_OOB) faults: %u",
	             fault_fired(i1));
	/* Our urgent byte goes out through an interrupted send(). */
	cr_assert_eq(sio_stream_write_urgent(s, '?'), 0, "write_urgent: %s",
	             strerror(errno));
	cr_assert_eq(fault_fired(i2), 1);
	struct pollfd p = { .fd = c.client, .events = POLLPRI };
	cr_assert_eq(poll(&p, 1, 10000), 1, "no urgent data at the peer");
	unsigned char b = 0;
	cr_assert_eq(recv(c.client, &b, 1, MSG_OOB), 1, "recv(MSG_OOB): %s",
	             strerror(errno));
	cr_assert_eq(b, '?');
	sio_stream_close(s);
	t_run_nowait(loop, 3);
	cr_assert_eq(u.closes, 1);
	close(c.client);
	t_loop_free(loop);
}

/* ---- datagrams: recvmsg, sendmsg -------------------------------------------- */

#define NDGRAM 100

struct dg {
	int got, bad;
};

static void
dg_cb(sio_dgram *d, const void *data, size_t len, const struct sockaddr *from,
      socklen_t fromlen, int truncated, void *arg)
{
	struct dg *g = arg;
	if (len != 4 || memcmp(data, &g->got, 4) != 0)
		g->bad++;
	g->got++;
}

static bool
dg_done(void *arg)
{
	struct dg *g = arg;
	return g->got >= NDGRAM || g->bad;
}

/* recvmsg() interrupted and "empty" by turns: every datagram arrives, in
 * order; sio_dgram_send() retries EINTR and reports EAGAIN. */
SIO_BACKEND_TEST(fault, dgram_eintr_eagain)
{
	int sv[2];
	struct dg g = { 0 };
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	             0, sv), 0);
	sio_loop *loop = t_loop_new(be->name);
	sio_dgram *d = sio_dgram_new(loop, sv[0], 64, dg_cb, &g);
	cr_assert_not_null(d, "sio_dgram_new: %s", strerror(errno));
	int i1 = fault_add(&(struct fault_rule){ .calls = FAULT_RECVMSG, .fd = sv[0],
	                   .err = EINTR, .period = 2, .count = 30 });
	int i2 = fault_add(&(struct fault_rule){ .calls = FAULT_RECVMSG, .fd = sv[0],
	                   .err = EAGAIN, .period = 3, .count = 30 });
	for (int i = 0; i < NDGRAM; i++)
		cr_assert_eq(send(sv[1], &i, 4, 0), 4, "send: %s", strerror(errno));
	cr_assert(t_run_until(loop, dg_done, &g, SIO_TEST_MAX_ONCE), "lost: %d "
	          "of %d datagrams", g.got, NDGRAM);
	cr_assert_eq(g.bad, 0, "%d datagrams wrong or out of order", g.bad);
	cr_assert_eq(g.got, NDGRAM);
	cr_assert(fault_fired(i1) > 0 && fault_fired(i2) > 0, "%u EINTR, %u EAGAIN",
	          fault_fired(i1), fault_fired(i2));

	int i3 = fault_arm(FAULT_SENDMSG, sv[0], EINTR, 2);
	cr_assert_eq(sio_dgram_send(d, "ping", 4, NULL, 0), 0, "sio_dgram_send: %s",
	             strerror(errno));
	cr_assert_eq(fault_fired(i3), 2);
	char buf[8];
	cr_assert_eq(recv(sv[1], buf, sizeof buf, 0), 4, "the datagram was lost");
	int i4 = fault_arm(FAULT_SENDMSG, sv[0], EAGAIN, 1);
	errno = 0;
	cr_assert_eq(sio_dgram_send(d, "ping", 4, NULL, 0), -1);
	cr_assert_eq(errno, EAGAIN, "errno %s", strerror(errno));
	cr_assert_eq(fault_fired(i4), 1);
	sio_dgram_free(d);
	close(sv[1]);
	t_loop_free(loop);
}
