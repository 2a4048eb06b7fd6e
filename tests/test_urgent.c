/*
 * test_urgent.c - TCP urgent (out-of-band) data over loopback: the byte
 * reaches a SIO_URGENT callback, which reads it with sio_urgent_read(),
 * with the in-band data around it intact; sent before the run, from a
 * callback, and from another thread while the loop sleeps.  sio_at_mark()
 * against sockatmark(), sio_urgent_read() without urgent data, and
 * watchers that want only one of SIO_READ and SIO_URGENT.
 *
 * TCP's rule, which the reading callback follows: a read stops at the
 * mark, and reading in band past the mark discards an urgent byte not yet
 * read.  So at the mark the callback reads no further in band until its
 * SIO_URGENT call has read the urgent byte.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#define INBAND_BEFORE "abc"
#define INBAND_AFTER "defgh"
#define URGENT_BYTE '!'

/* Send "abc", then the urgent byte, then "defgh".  Returns 0, or -1 (for
 * helper threads, which must not assert). */
static int
send_with_urgent(int fd)
{
	static const char before[] = INBAND_BEFORE, after[] = INBAND_AFTER;
	const char urgent = URGENT_BYTE;

	if (send(fd, before, sizeof(before) - 1, 0) != sizeof(before) - 1)
		return -1;
	if (send(fd, &urgent, 1, MSG_OOB) != 1)
		return -1;
	if (send(fd, after, sizeof(after) - 1, 0) != sizeof(after) - 1)
		return -1;
	return 0;
}

struct urg {
	char inband[64];
	size_t n;               /* in-band bytes read */
	unsigned char byte;     /* the urgent byte read */
	int got_urgent;         /* sio_urgent_read() returned 1 */
	int urgent_calls;       /* callbacks with SIO_URGENT */
	int calls;
	int at_mark;            /* times sio_at_mark() said 1 */
	int mark_mismatch;      /* sio_at_mark() != sockatmark() */
	int urgent_errors;      /* sio_urgent_read() failed otherwise */
	int read_errors;
	unsigned revents;       /* all revents seen, or'ed */
	int eof;
};

static void
try_urgent(struct urg *u, int fd)
{
	unsigned char b;
	int r = sio_urgent_read(fd, &b);

	if (r == 1) {
		u->byte = b;
		u->got_urgent++;
	} else if (r == 0 || (errno != EINVAL && errno != EAGAIN)) {
		/* EINVAL: none (spurious call, or read already); EAGAIN:
		 * announced, not yet arrived. */
		u->urgent_errors++;
	}
}

static void
urg_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct urg *u = arg;

	(void)io;
	u->calls++;
	u->revents |= revents;
	if (revents & SIO_URGENT) {
		u->urgent_calls++;
		if (!u->got_urgent)
			try_urgent(u, fd);
	}
	if (!(revents & SIO_READ))
		return;
	for (;;) {
		int mark = sio_at_mark(fd);
		ssize_t n;

		if (mark != sockatmark(fd))
			u->mark_mismatch++;
		if (mark == 1) {
			u->at_mark++;
			/* Past the mark the urgent byte would be lost: leave it
			 * to the SIO_URGENT call, which must come (POLLPRI
			 * stays up while the byte is unread).  So the byte is
			 * only ever read because SIO_URGENT was reported. */
			if (!u->got_urgent)
				return;
		}
		n = read(fd, u->inband + u->n, sizeof(u->inband) - u->n);
		if (n > 0) {
			u->n += (size_t)n;
			if (u->n == sizeof(u->inband))
				return;
			continue;
		}
		if (n == 0)
			u->eof = 1;
		else if (errno != EAGAIN && errno != EINTR)
			u->read_errors++;
		return;
	}
}

static bool
urg_done(void *arg)
{
	struct urg *u = arg;

	return u->got_urgent &&
	       u->n == strlen(INBAND_BEFORE) + strlen(INBAND_AFTER);
}

/* Watches only SIO_READ and reads nothing: must never see SIO_URGENT. */
static void
read_only_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)io; (void)fd;
	*(unsigned *)arg |= revents;
}

static void
check_delivery(const char *backend, const struct urg *u, unsigned ro)
{
	cr_assert_eq(u->got_urgent, 1, "[%s] the urgent byte was read %d times",
	             backend, u->got_urgent);
	cr_assert_eq(u->byte, URGENT_BYTE, "[%s] urgent byte %#x, want %#x",
	             backend, u->byte, URGENT_BYTE);
	cr_assert_geq(u->urgent_calls, 1, "[%s] no SIO_URGENT callback",
	              backend);
	cr_assert(u->n == strlen(INBAND_BEFORE INBAND_AFTER) &&
	          memcmp(u->inband, INBAND_BEFORE INBAND_AFTER, u->n) == 0,
	          "[%s] in-band data \"%.*s\", want \"%s\"", backend, (int)u->n,
	          u->inband, INBAND_BEFORE INBAND_AFTER);
	cr_assert_eq(u->mark_mismatch, 0, "[%s] sio_at_mark disagreed with "
	             "sockatmark %d times", backend, u->mark_mismatch);
	cr_assert_geq(u->at_mark, 1, "[%s] the reader was never at the mark",
	              backend);
	cr_assert_eq(u->urgent_errors, 0, "[%s] sio_urgent_read failed %d "
	             "times", backend, u->urgent_errors);
	cr_assert_eq(u->read_errors, 0, "[%s] read failed", backend);
	cr_assert(!u->eof, "[%s] unexpected EOF", backend);
	cr_assert_eq(ro & SIO_URGENT, 0, "[%s] a watcher of SIO_READ only got "
	             "SIO_URGENT (revents %#x)", backend, ro);
	cr_assert(ro & SIO_READ, "[%s] the SIO_READ-only watcher never ran",
	          backend);
}

/* ---- how the data is sent ------------------------------------------------------- */

enum how { BEFORE_RUN, FROM_CALLBACK, FROM_THREAD };

struct sender {
	int client;
	int gate[2];            /* FROM_THREAD: the timer opens it */
	int failed;
};

static void
send_timer_cb(sio_timer *t, void *arg)
{
	struct sender *s = arg;

	(void)t;
	if (s->gate[1] >= 0)
		t_write_all(s->gate[1], "g", 1);
	else if (send_with_urgent(s->client) != 0)
		s->failed++;
}

static void *
sender_main(void *arg)
{
	struct sender *s = arg;
	char c;
	ssize_t n;

	do
		n = read(s->gate[0], &c, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || send_with_urgent(s->client) != 0)
		s->failed++;
	return NULL;
}

static void
check_urgent(const char *backend, enum how how)
{
	sio_loop *loop = t_loop_new(backend);
	struct urg u = { .n = 0 };
	struct sender s = { .gate = { -1, -1 } };
	unsigned ro = 0;
	int server;
	sio_io *io, *rio;
	sio_timer *t = NULL;
	pthread_t th;

	t_tcp_pair(&s.client, &server);
	io = sio_io_start(loop, server, SIO_READ | SIO_URGENT, urg_cb, &u);
	cr_assert_not_null(io, "sio_io_start: %s", strerror(errno));
	rio = sio_io_start(loop, server, SIO_READ, read_only_cb, &ro);
	cr_assert_not_null(rio, "sio_io_start: %s", strerror(errno));
	switch (how) {
	case BEFORE_RUN:
		cr_assert_eq(send_with_urgent(s.client), 0, "send: %s",
		             strerror(errno));
		break;
	case FROM_CALLBACK:
		t = sio_timer_start(loop, 1, 0, send_timer_cb, &s);
		cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
		break;
	case FROM_THREAD:
		cr_assert_eq(pipe(s.gate), 0, "pipe: %s", strerror(errno));
		t = sio_timer_start(loop, 1, 0, send_timer_cb, &s);
		cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
		cr_assert_eq(pthread_create(&th, NULL, sender_main, &s), 0,
		             "pthread_create");
		break;
	}
	cr_assert(t_run_until(loop, urg_done, &u, SIO_TEST_MAX_ONCE), "[%s] "
	          "urgent byte read %d times, %zu of %zu in-band bytes, after "
	          "%d callbacks (%d with SIO_URGENT)", backend, u.got_urgent,
	          u.n, strlen(INBAND_BEFORE INBAND_AFTER), u.calls,
	          u.urgent_calls);
	if (how == FROM_THREAD)
		pthread_join(th, NULL);
	cr_assert_eq(s.failed, 0, "[%s] sending failed", backend);
	/* Read: the urgent byte is not reported again. */
	t_run_nowait(loop, 3);
	check_delivery(backend, &u, ro);
	cr_assert_eq(u.got_urgent, 1, "[%s] read twice", backend);

	sio_io_stop(rio);
	sio_io_stop(io);
	sio_timer_stop(t);
	t_loop_free(loop);
	close(s.client);
	close(server);
	if (s.gate[0] >= 0) {
		close(s.gate[0]);
		close(s.gate[1]);
	}
}

SIO_BACKEND_TEST(urgent, sent_before_run)
{
	check_urgent(be->name, BEFORE_RUN);
}

SIO_BACKEND_TEST(urgent, sent_from_callback)
{
	check_urgent(be->name, FROM_CALLBACK);
}

SIO_BACKEND_TEST(urgent, sent_from_thread_while_sleeping)
{
	check_urgent(be->name, FROM_THREAD);
}

/* ---- a watcher of SIO_URGENT only ------------------------------------------------------ */

struct only {
	int calls;
	unsigned revents;
	unsigned char byte;
	int got;
};

static void
urgent_only_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct only *o = arg;
	unsigned char b;

	o->calls++;
	o->revents |= revents;
	if (sio_urgent_read(fd, &b) == 1) {
		o->byte = b;
		o->got++;
		sio_io_stop(io);
	}
}

SIO_BACKEND_TEST(urgent, urgent_only_watcher)
{
	sio_loop *loop = t_loop_new(be->name);
	struct only o = { 0 };
	int client, server;
	char buf[16];
	const char urgent = URGENT_BYTE;

	t_tcp_pair(&client, &server);
	cr_assert_not_null(sio_io_start(loop, server, SIO_URGENT, urgent_only_cb,
	                   &o), "sio_io_start: %s", strerror(errno));
	/* In-band data alone is not what it watches. */
	t_write_all(client, "xyz", 3);
	t_run_nowait(loop, 3);
	cr_assert_eq(o.calls, 0, "[%s] a SIO_URGENT-only watcher ran for "
	             "in-band data (revents %#x)", be->name, o.revents);
	cr_assert_eq(send(client, &urgent, 1, MSG_OOB), 1, "send MSG_OOB: %s",
	             strerror(errno));
	cr_assert(t_run_until(loop, t_flag_set, &o.got, SIO_TEST_MAX_ONCE),
	          "[%s] the urgent byte never reached a SIO_URGENT-only "
	          "watcher (%d calls)", be->name, o.calls);
	cr_assert_eq(o.byte, URGENT_BYTE, "[%s] urgent byte %#x", be->name,
	             o.byte);
	cr_assert(o.revents & SIO_URGENT, "[%s] revents %#x", be->name,
	          o.revents);
	cr_assert_eq(o.revents & SIO_READ, 0, "[%s] a SIO_URGENT-only watcher "
	             "got SIO_READ", be->name);
	/* The in-band data is untouched. */
	t_read_all(server, buf, 3);
	cr_assert(memcmp(buf, "xyz", 3) == 0, "in-band data changed");
	t_loop_free(loop);
	close(client);
	close(server);
}

/* ---- sio_at_mark and sio_urgent_read on their own ------------------------------------- */

/* Same return and errno as sockatmark(). */
static void
same_as_sockatmark(int fd, const char *what)
{
	int r, e, want, want_e;

	errno = 0;
	r = sio_at_mark(fd);
	e = errno;
	errno = 0;
	want = sockatmark(fd);
	want_e = errno;
	cr_assert_eq(r, want, "sio_at_mark on %s: %d, sockatmark: %d", what, r,
	             want);
	if (want < 0)
		cr_assert_eq(e, want_e, "sio_at_mark on %s: errno %d (%s), "
		             "sockatmark: %d (%s)", what, e, strerror(e), want_e,
		             strerror(want_e));
}

SIO_BACKEND_TEST(urgent, at_mark_is_sockatmark)
{
	sio_loop *loop = t_loop_new(be->name);
	struct only o = { 0 };
	int client, server, p[2];
	char buf[8];
	const char urgent = URGENT_BYTE;

	t_tcp_pair(&client, &server);
	same_as_sockatmark(server, "a TCP socket without urgent data");
	cr_assert_eq(sio_at_mark(server), 0, "at the mark with no urgent data");
	t_write_all(client, "ab", 2);
	cr_assert_eq(send(client, &urgent, 1, MSG_OOB), 1, "send: %s",
	             strerror(errno));
	/* The loop says when the byte is there. */
	cr_assert_not_null(sio_io_start(loop, server, SIO_URGENT, urgent_only_cb,
	                   &o), "sio_io_start: %s", strerror(errno));
	cr_assert(t_run_until(loop, t_flag_set, &o.got, SIO_TEST_MAX_ONCE),
	          "[%s] the urgent byte never came", be->name);
	same_as_sockatmark(server, "a TCP socket before the mark");
	cr_assert_eq(sio_at_mark(server), 0, "at the mark with \"ab\" before "
	             "it");
	t_read_all(server, buf, 2);             /* stops at the mark */
	same_as_sockatmark(server, "a TCP socket at the mark");
	cr_assert_eq(sio_at_mark(server), 1, "not at the mark after reading "
	             "the bytes before it");
	t_write_all(client, "c", 1);
	t_read_all(server, buf, 1);
	cr_assert_eq(buf[0], 'c', "in-band byte after the mark: %#x", buf[0]);
	same_as_sockatmark(server, "a TCP socket past the mark");
	cr_assert_eq(sio_at_mark(server), 0, "still at the mark after reading "
	             "past it");

	t_pipe(p);
	same_as_sockatmark(p[0], "a pipe");
	close(p[0]);
	close(p[1]);
	same_as_sockatmark(p[0], "a closed fd");
	same_as_sockatmark(-1, "fd -1");
	t_loop_free(loop);
	close(client);
	close(server);
}

SIO_BACKEND_TEST(urgent, urgent_read_without_urgent_data)
{
	sio_loop *loop = t_loop_new(be->name);
	struct only o = { 0 };
	int client, server;
	unsigned char b;
	const char urgent = URGENT_BYTE;

	t_tcp_pair(&client, &server);
	errno = 0;
	cr_assert_eq(sio_urgent_read(server, &b), -1, "sio_urgent_read with no "
	             "urgent data did not fail");
	cr_assert_eq(errno, EINVAL, "sio_urgent_read with no urgent data: "
	             "errno %d (%s), want EINVAL", errno, strerror(errno));
	errno = 0;
	cr_assert_eq(sio_urgent_read(server, NULL), -1, "sio_urgent_read(NULL) "
	             "did not fail");
	cr_assert_eq(errno, EINVAL, "sio_urgent_read(NULL): errno %d", errno);
	/* In-band data is no urgent data either. */
	t_write_all(client, "in", 2);
	cr_assert_not_null(sio_io_start(loop, server, SIO_URGENT, urgent_only_cb,
	                   &o), "sio_io_start: %s", strerror(errno));
	cr_assert_eq(send(client, &urgent, 1, MSG_OOB), 1, "send: %s",
	             strerror(errno));
	cr_assert(t_run_until(loop, t_flag_set, &o.got, SIO_TEST_MAX_ONCE),
	          "[%s] the urgent byte never came", be->name);
	/* Read once: a second read finds none. */
	errno = 0;
	cr_assert_eq(sio_urgent_read(server, &b), -1, "the urgent byte was read "
	             "twice");
	cr_assert_eq(errno, EINVAL, "second sio_urgent_read: errno %d (%s), "
	             "want EINVAL", errno, strerror(errno));
	t_loop_free(loop);
	close(client);
	close(server);
}
