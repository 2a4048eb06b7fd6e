/*
 * test_io.c - fd watchers: read and write readiness on socketpairs, pipes
 * and TCP; level-triggered and edge-triggered delivery; fds ready before the
 * watcher starts; sio_io_set(); EOF, hang-up and errors; regular files (the
 * sigio backend's poll fallback); the fd flags a watcher sets and undoes;
 * the application's own shutdown of a watched socket (sio_shutdown());
 * several fds on one open file description (dup(), the inetd pattern).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_SYS_SYSCALL_H
#include <sys/syscall.h>
#endif

#include "testutil.h"

/* ---- helpers ---------------------------------------------------------- */

/* What a callback saw. */
struct rec {
	int calls;
	int fd;
	unsigned revents;
	unsigned all_revents;   /* OR of every revents */
	void *arg;
	char data[256];         /* what a reading callback read */
	size_t len;
	ssize_t last_read;      /* return value of the callback's read() */
	int last_errno;
	int stop;               /* sio_io_stop() itself after reading */
};

static void
rec_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct rec *r = arg;

	r->calls++;
	r->fd = fd;
	r->revents = revents;
	r->all_revents |= revents;
	r->arg = arg;
	if (revents & (SIO_READ | SIO_HUP | SIO_ERROR)) {
		errno = 0;
		r->last_read = read(fd, r->data + r->len, sizeof(r->data) - r->len);
		r->last_errno = errno;
		if (r->last_read > 0)
			r->len += (size_t)r->last_read;
	}
	if (r->stop)
		sio_io_stop(io);
}

static bool
rec_called(void *arg)
{
	return ((struct rec *)arg)->calls > 0;
}

static void
close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

/* A read watcher on rfd sees what is written to wfd, with its fd and arg. */
static void
check_read_ready(const char *backend, int rfd, int wfd)
{
	sio_loop *loop = t_loop_new(backend);
	struct rec r = { .stop = 1 };

	cr_assert_not_null(sio_io_start(loop, rfd, SIO_READ, rec_cb, &r),
	                   "sio_io_start(%d, SIO_READ): %s", rfd, strerror(errno));
	t_run_nowait(loop, 3);
	cr_assert_eq(r.calls, 0, "read watcher ran %d times before any data",
	             r.calls);
	t_write_all(wfd, "hello", 5);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "read watcher ran %d times, want 1", r.calls);
	cr_assert_eq(r.fd, rfd, "callback got fd %d, want %d", r.fd, rfd);
	cr_assert_eq(r.arg, &r, "callback got the wrong arg");
	cr_assert(r.revents & SIO_READ, "revents %#x lacks SIO_READ", r.revents);
	cr_assert_eq(r.revents & SIO_WRITE, 0, "revents %#x has SIO_WRITE, "
	             "which was not watched", r.revents);
	cr_assert_eq(r.len, 5, "callback read %zu bytes, want 5", r.len);
	cr_assert_arr_eq(r.data, "hello", 5, "callback read the wrong bytes");
	t_loop_free(loop);
}

/* A write watcher on a fresh wfd fires with SIO_WRITE. */
static void
check_write_ready(const char *backend, int wfd)
{
	sio_loop *loop = t_loop_new(backend);
	struct rec r = { .stop = 1 };

	cr_assert_not_null(sio_io_start(loop, wfd, SIO_WRITE, rec_cb, &r),
	                   "sio_io_start(%d, SIO_WRITE): %s", wfd, strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "write watcher ran %d times, want 1", r.calls);
	cr_assert_eq(r.fd, wfd, "callback got fd %d, want %d", r.fd, wfd);
	cr_assert_eq(r.arg, &r, "callback got the wrong arg");
	cr_assert(r.revents & SIO_WRITE, "revents %#x lacks SIO_WRITE",
	          r.revents);
	cr_assert_eq(r.revents & SIO_READ, 0, "revents %#x has SIO_READ, "
	             "which was not watched (and no data is there)", r.revents);
	t_loop_free(loop);
}

/* ---- readiness on each kind of fd ------------------------------------ */

SIO_BACKEND_TEST(io, read_socketpair)
{
	int sv[2];

	t_socketpair(sv);
	check_read_ready(be->name, sv[0], sv[1]);
	close_pair(sv);
}

SIO_BACKEND_TEST(io, read_pipe)
{
	int p[2];

	t_pipe(p);
	check_read_ready(be->name, p[0], p[1]);
	close_pair(p);
}

SIO_BACKEND_TEST(io, read_tcp)
{
	int c, s;

	t_tcp_pair(&c, &s);
	check_read_ready(be->name, s, c);
	check_read_ready(be->name, c, s);
	close(c);
	close(s);
}

/* Accepting: a listener is readable when a connection is pending. */
SIO_BACKEND_TEST(io, read_tcp_accept)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rec r = { .stop = 1 };
	unsigned short port;
	int lfd = t_tcp_listen(&port), c, s, err;
	struct sockaddr_in sin;

	cr_assert_not_null(sio_io_start(loop, lfd, SIO_READ, rec_cb, &r),
	                   "sio_io_start(listener): %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "listener fired with no connection pending");
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(c, 0, "socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	err = connect(c, (struct sockaddr *)&sin, sizeof(sin)) == 0 ? 0 : errno;
	cr_assert(err == 0 || err == EINPROGRESS, "connect: %s", strerror(err));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "listener watcher ran %d times, want 1",
	             r.calls);
	cr_assert(r.revents & SIO_READ, "listener revents %#x lacks SIO_READ",
	          r.revents);
	s = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	cr_assert_geq(s, 0, "accept after SIO_READ on the listener: %s",
	              strerror(errno));
	t_loop_free(loop);
	close(s);
	close(c);
	close(lfd);
}

SIO_BACKEND_TEST(io, write_socketpair)
{
	int sv[2];

	t_socketpair(sv);
	check_write_ready(be->name, sv[0]);
	close_pair(sv);
}

SIO_BACKEND_TEST(io, write_pipe)
{
	int p[2];

	t_pipe(p);
	check_write_ready(be->name, p[1]);
	close_pair(p);
}

SIO_BACKEND_TEST(io, write_tcp)
{
	int c, s;

	t_tcp_pair(&c, &s);
	check_write_ready(be->name, c);
	check_write_ready(be->name, s);
	close(c);
	close(s);
}

/* ---- write readiness after the peer drains a full buffer ------------- */

struct drain_case {
	sio_io *writer;
	sio_io *reader;
	size_t drained;        /* bytes the reader took */
	size_t drained_at_write; /* ... when the writer fired */
	int writer_calls;
	unsigned writer_revents;
};

static void
drain_reader_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct drain_case *d = arg;

	(void)io; (void)revents;
	d->drained += t_drain(fd);
}

static void
drain_writer_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct drain_case *d = arg;

	(void)fd;
	d->writer_calls++;
	d->writer_revents = revents;
	d->drained_at_write = d->drained;
	sio_io_stop(io);
	sio_io_stop(d->reader);
	d->reader = NULL;
}

/* Fill wfd until EAGAIN and until poll() agrees it is not writable. */
static size_t
fill_until_blocked(int wfd)
{
	size_t total = 0;

	for (int i = 0; i < 100; i++) {
		total += t_fill(wfd);
		if (!(t_poll_now(wfd, POLLOUT) & POLLOUT))
			return total;
	}
	cr_assert_fail("fd %d stays writable after %zu bytes", wfd, total);
	return total;
}

static void
check_write_after_drain(const char *backend, int wfd, int rfd)
{
	sio_loop *loop = t_loop_new(backend);
	struct drain_case d = { 0 };
	size_t filled = fill_until_blocked(wfd);

	d.writer = sio_io_start(loop, wfd, SIO_WRITE, drain_writer_cb, &d);
	cr_assert_not_null(d.writer, "sio_io_start(SIO_WRITE): %s",
	                   strerror(errno));
	t_run_nowait(loop, 3);
	cr_assert_eq(d.writer_calls, 0, "write watcher on a full fd ran %d "
	             "times", d.writer_calls);
	d.reader = sio_io_start(loop, rfd, SIO_READ, drain_reader_cb, &d);
	cr_assert_not_null(d.reader, "sio_io_start(SIO_READ): %s",
	                   strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(d.writer_calls, 1, "write watcher ran %d times, want 1",
	             d.writer_calls);
	cr_assert(d.writer_revents & SIO_WRITE, "revents %#x lacks SIO_WRITE",
	          d.writer_revents);
	cr_assert_gt(d.drained_at_write, 0, "the writer fired before the peer "
	             "drained anything (%zu bytes were queued)", filled);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(io, write_after_drain_socketpair)
{
	int sv[2];

	t_socketpair(sv);
	check_write_after_drain(be->name, sv[0], sv[1]);
	close_pair(sv);
}

SIO_BACKEND_TEST(io, write_after_drain_pipe)
{
	int p[2];

	t_pipe(p);
	check_write_after_drain(be->name, p[1], p[0]);
	close_pair(p);
}

SIO_BACKEND_TEST(io, write_after_drain_tcp)
{
	int c, s;

	t_tcp_pair(&c, &s);
	check_write_after_drain(be->name, c, s);
	close(c);
	close(s);
}

/* The peer is drained by another thread while the loop sleeps. */
struct drainer {
	int fd;
	size_t want;
};

static void *
drainer_main(void *arg)
{
	struct drainer *d = arg;
	struct timespec ts = { 0, 30 * 1000 * 1000 };
	char buf[4096];
	size_t got = 0;

	/* Gives the loop time to fall asleep (not a wait for the loop). */
	nanosleep(&ts, NULL);
	while (got < d->want) {
		struct pollfd pfd = { .fd = d->fd, .events = POLLIN };
		ssize_t n = read(d->fd, buf, sizeof(buf));

		if (n > 0)
			got += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			poll(&pfd, 1, 1000);
		else if (n == 0 || errno != EINTR)
			break;
	}
	return NULL;
}

SIO_BACKEND_TEST(io, write_after_drain_by_thread)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct rec r = { .stop = 1 };
	struct drainer d;
	pthread_t th;

	d.fd = f.sv[1];
	d.want = fill_until_blocked(f.sv[0]);
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_WRITE, rec_cb, &r),
	                   "sio_io_start(SIO_WRITE): %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "write watcher on a full fd ran %d times",
	             r.calls);
	cr_assert_eq(pthread_create(&th, NULL, drainer_main, &d), 0,
	             "pthread_create");
	t_run(loop, SIO_RUN_DEFAULT);
	pthread_join(th, NULL);
	cr_assert_eq(r.calls, 1, "write watcher ran %d times, want 1", r.calls);
	cr_assert(r.revents & SIO_WRITE, "revents %#x lacks SIO_WRITE",
	          r.revents);
	t_fixture_close(&f);
}

/* ---- level-triggered delivery ---------------------------------------- */

struct tenner {
	int calls;
	int empty_calls;  /* read() found nothing: a spurious call */
	unsigned char got[128];
	size_t len;
};

static void
ten_bytes_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct tenner *t = arg;
	ssize_t n;

	(void)io; (void)revents;
	t->calls++;
	n = read(fd, t->got + t->len, 10);
	if (n > 0)
		t->len += (size_t)n;
	else
		t->empty_calls++;
}

static bool
got_100(void *arg)
{
	return ((struct tenner *)arg)->len >= 100;
}

SIO_BACKEND_TEST(io, level_triggered)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct tenner t = { 0 };
	unsigned char data[100];

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 1);
	t_fixture_watch(&f, SIO_READ, ten_bytes_cb, &t);
	t_write_all(f.sv[1], data, sizeof(data));
	cr_assert(t_run_until(loop, got_100, &t, SIO_TEST_MAX_ONCE),
	          "level-triggered delivery stopped after %zu of 100 bytes "
	          "(%d calls)", t.len, t.calls);
	cr_assert_eq(t.len, 100, "read %zu bytes, want 100", t.len);
	cr_assert_arr_eq(t.got, data, 100, "bytes arrived out of order");
	cr_assert_eq(t.calls, 10, "reading 10 bytes a call, 100 bytes took %d "
	             "calls (%d of them read nothing), want 10", t.calls,
	             t.empty_calls);
	/* Drained: the callback is not called again. */
	t_run_nowait(loop, 5);
	cr_assert_eq(t.calls, 10, "callback called %d more times after its fd "
	             "was drained", t.calls - 10);
	t_fixture_close(&f);
}

/* ---- already ready when started -------------------------------------- */

SIO_BACKEND_TEST(io, ready_before_start)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct rec r = { .stop = 1 };

	t_write_all(f.sv[1], "early", 5);
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, rec_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	cr_assert(t_run_until(loop, rec_called, &r, 3), "a watcher started on a "
	          "readable fd did not fire within 3 iterations");
	cr_assert(r.revents & SIO_READ, "revents %#x lacks SIO_READ", r.revents);
	cr_assert_eq(r.len, 5, "read %zu bytes, want 5", r.len);
	cr_assert_arr_eq(r.data, "early", 5, "read the wrong bytes");
	t_fixture_close(&f);
}

SIO_BACKEND_TEST(io, ready_before_start_after_run)
{
	/* The loop has been running (and sleeping, on sigio) before. */
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct rec idle = { 0 }, r = { .stop = 1 };
	int a[2];
	sio_io *idle_io;

	t_socketpair(a);
	idle_io = sio_io_start(loop, a[0], SIO_READ, rec_cb, &idle);
	cr_assert_not_null(idle_io, "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	t_write_all(f.sv[1], "late", 4);
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, rec_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	cr_assert(t_run_until(loop, rec_called, &r, 3), "a watcher started on a "
	          "readable fd did not fire within 3 iterations");
	cr_assert_eq(r.len, 4, "read %zu bytes, want 4", r.len);
	cr_assert_eq(idle.calls, 0, "the idle watcher ran %d times", idle.calls);
	sio_io_stop(idle_io);
	t_fixture_close(&f);
	close_pair(a);
}

/* ---- sio_io_set ------------------------------------------------------ */

struct widen {
	int calls;
	int write_calls;
	int read_calls;
	unsigned revents;
};

/* Narrows itself back to SIO_READ when it sees SIO_WRITE. */
static void
widen_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct widen *w = arg;

	w->calls++;
	w->revents = revents;
	if (revents & SIO_WRITE) {
		w->write_calls++;
		cr_assert_eq(sio_io_set(io, SIO_READ), 0, "narrowing in the "
		             "callback: %s", strerror(errno));
	}
	if (revents & SIO_READ) {
		w->read_calls++;
		t_drain(fd);
	}
}

SIO_BACKEND_TEST(io, set_widen_narrow)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct widen w = { 0 };
	sio_io *io;

	io = t_fixture_watch(&f, SIO_READ, widen_cb, &w);
	t_run_nowait(loop, 3);
	cr_assert_eq(w.calls, 0, "READ watcher with no data ran %d times",
	             w.calls);

	cr_assert_eq(sio_io_set(io, SIO_READ | SIO_WRITE), 0, "sio_io_set: %s",
	             strerror(errno));
	cr_assert_eq(sio_io_events(io), SIO_READ | SIO_WRITE,
	             "sio_io_events %#x after widening", sio_io_events(io));
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(w.write_calls, 1, "after widening to WRITE on a writable "
	             "fd the watcher saw SIO_WRITE %d times in one ONCE, want 1",
	             w.write_calls);
	cr_assert_eq(w.read_calls, 0, "SIO_READ reported with no data");

	/* The callback narrowed it back to READ: no more SIO_WRITE. */
	cr_assert_eq(sio_io_events(io), SIO_READ,
	             "sio_io_events %#x after narrowing", sio_io_events(io));
	t_run_nowait(loop, 5);
	cr_assert_eq(w.calls, 1, "narrowed watcher ran %d more times",
	             w.calls - 1);

	/* Still alive for READ. */
	t_write_all(f.sv[1], "r", 1);
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(w.read_calls, 1, "narrowed watcher missed SIO_READ");
	cr_assert_eq(w.revents & SIO_WRITE, 0, "narrowed watcher got SIO_WRITE "
	             "(revents %#x)", w.revents);

	/* Narrowing from outside a callback works as well. */
	cr_assert_eq(sio_io_set(io, SIO_READ | SIO_WRITE), 0, "sio_io_set: %s",
	             strerror(errno));
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(w.write_calls, 2, "second widening: SIO_WRITE seen %d "
	             "times in all, want 2", w.write_calls);
	t_fixture_close(&f);
}

/* ---- edge-triggered -------------------------------------------------- */

#define EDGE_BURSTS 20
#define EDGE_MSGS 5      /* messages a burst */
#define EDGE_MSG_LEN 64

struct edge {
	sio_io *reader;
	sio_io *sender;
	int reader_calls;
	size_t received;     /* bytes the reader got */
	size_t sent;         /* bytes sent so far */
	int bursts;          /* bursts sent */
	int bad_byte;        /* index of the first wrong byte, or -1 */
	int wfd;
};

static unsigned char
edge_byte(size_t i)
{
	return (unsigned char)(i * 13 + i / 251);
}

/* Reads everything until EAGAIN, as SIO_EDGE requires. */
static void
edge_reader_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct edge *e = arg;
	unsigned char buf[100];

	(void)io; (void)revents;
	e->reader_calls++;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t k = 0; k < n; k++)
			if (buf[k] != edge_byte(e->received + (size_t)k) &&
			    e->bad_byte < 0)
				e->bad_byte = (int)(e->received + (size_t)k);
		e->received += (size_t)n;
	}
}

static void
edge_send_burst(struct edge *e)
{
	for (int m = 0; m < EDGE_MSGS; m++) {
		unsigned char msg[EDGE_MSG_LEN];

		for (size_t k = 0; k < sizeof(msg); k++)
			msg[k] = edge_byte(e->sent + k);
		t_write_all(e->wfd, msg, sizeof(msg));
		e->sent += sizeof(msg);
	}
	e->bursts++;
}

/* Sends the next burst once the reader has everything sent so far. */
static void
edge_sender_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct edge *e = arg;

	(void)fd; (void)revents;
	if (e->received < e->sent)
		return;
	if (e->bursts == EDGE_BURSTS) {
		sio_io_stop(io);
		e->sender = NULL;
		return;
	}
	edge_send_burst(e);
}

static bool
edge_done(void *arg)
{
	struct edge *e = arg;

	return e->sender == NULL;
}

SIO_BACKEND_TEST(io, edge_bursts_from_callback)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct edge e = { .bad_byte = -1 };
	int w[2];

	t_socketpair(w);
	e.wfd = f.sv[1];
	e.reader = sio_io_start(loop, f.sv[0], SIO_READ | SIO_EDGE,
	                        edge_reader_cb, &e);
	cr_assert_not_null(e.reader, "sio_io_start(SIO_READ|SIO_EDGE): %s",
	                   strerror(errno));
	/* The sender is another fd's watcher (always writable). */
	e.sender = sio_io_start(loop, w[0], SIO_WRITE, edge_sender_cb, &e);
	cr_assert_not_null(e.sender, "sio_io_start: %s", strerror(errno));
	cr_assert(t_run_until(loop, edge_done, &e, 100000), "edge-triggered "
	          "reader lost a wake-up: got %zu of %zu bytes sent in %d bursts",
	          e.received, e.sent, e.bursts);
	cr_assert_eq(e.received, (size_t)EDGE_BURSTS * EDGE_MSGS * EDGE_MSG_LEN,
	             "reader got %zu bytes, want %d", e.received,
	             EDGE_BURSTS * EDGE_MSGS * EDGE_MSG_LEN);
	cr_assert_eq(e.bad_byte, -1, "byte %d arrived wrong", e.bad_byte);
	cr_assert_geq(e.reader_calls, 1, "reader never called");
	sio_io_stop(e.reader);
	t_fixture_close(&f);
	close_pair(w);
}

/* A thread sends the bursts; the reader stops the loop when all came. */
struct edge_thread {
	int wfd;
	size_t total;
};

static void *
edge_thread_main(void *arg)
{
	struct edge_thread *et = arg;
	struct timespec ts = { 0, 2 * 1000 * 1000 };
	size_t sent = 0;

	for (int b = 0; b < EDGE_BURSTS; b++) {
		/* Spaced bursts, so that some find the loop asleep. */
		nanosleep(&ts, NULL);
		for (int m = 0; m < EDGE_MSGS; m++) {
			unsigned char msg[EDGE_MSG_LEN];
			size_t off = 0;

			for (size_t k = 0; k < sizeof(msg); k++)
				msg[k] = edge_byte(sent + k);
			while (off < sizeof(msg)) {
				ssize_t n = write(et->wfd, msg + off,
				                  sizeof(msg) - off);

				if (n > 0) {
					off += (size_t)n;
				} else if (n < 0 && errno == EAGAIN) {
					struct pollfd pfd = { et->wfd, POLLOUT, 0 };
					poll(&pfd, 1, 1000);
				} else if (n < 0 && errno != EINTR) {
					return NULL;
				}
			}
			sent += sizeof(msg);
		}
	}
	et->total = sent;
	return NULL;
}

struct edge_stopper {
	struct edge e;
	sio_loop *loop;
	size_t want;
};

static void
edge_reader_stop_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct edge_stopper *s = arg;

	edge_reader_cb(io, fd, revents, &s->e);
	if (s->e.received >= s->want)
		sio_io_stop(io);
}

SIO_BACKEND_TEST(io, edge_bursts_from_thread)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct edge_stopper s = { .e = { .bad_byte = -1 }, .loop = loop,
	                          .want = (size_t)EDGE_BURSTS * EDGE_MSGS *
	                                  EDGE_MSG_LEN };
	struct edge_thread et = { 0 };
	pthread_t th;

	et.wfd = f.sv[1];
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ | SIO_EDGE,
	                   edge_reader_stop_cb, &s),
	                   "sio_io_start(SIO_READ|SIO_EDGE): %s", strerror(errno));
	cr_assert_eq(pthread_create(&th, NULL, edge_thread_main, &et), 0,
	             "pthread_create");
	/* A lost edge hangs here: the test's timeout reports it. */
	t_run(loop, SIO_RUN_DEFAULT);
	pthread_join(th, NULL);
	cr_assert_eq(et.total, s.want, "the sender thread failed after %zu "
	             "bytes", et.total);
	cr_assert_eq(s.e.received, s.want, "reader got %zu bytes, want %zu",
	             s.e.received, s.want);
	cr_assert_eq(s.e.bad_byte, -1, "byte %d arrived wrong", s.e.bad_byte);
	t_fixture_close(&f);
}

/* ---- EOF, hang-up, errors -------------------------------------------- */

static void
check_eof(const char *backend, int rfd, int wfd_to_close)
{
	sio_loop *loop = t_loop_new(backend);
	struct rec r = { .stop = 1 };

	cr_assert_not_null(sio_io_start(loop, rfd, SIO_READ, rec_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "watcher ran before the peer closed");
	close(wfd_to_close);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "watcher ran %d times, want 1", r.calls);
	cr_assert(r.revents & (SIO_READ | SIO_HUP), "EOF reported as revents "
	          "%#x, want SIO_READ or SIO_HUP", r.revents);
	cr_assert_eq(r.last_read, 0, "read() after EOF returned %zd (%s), want 0",
	             r.last_read, strerror(r.last_errno));
	t_loop_free(loop);
}

SIO_BACKEND_TEST(io, eof_socketpair)
{
	int sv[2];

	t_socketpair(sv);
	check_eof(be->name, sv[0], sv[1]);
	close(sv[0]);
}

SIO_BACKEND_TEST(io, eof_pipe)
{
	int p[2];

	t_pipe(p);
	check_eof(be->name, p[0], p[1]);
	close(p[0]);
}

SIO_BACKEND_TEST(io, eof_tcp)
{
	int c, s;

	t_tcp_pair(&c, &s);
	check_eof(be->name, s, c);
	close(s);
}

/* The peer hung up: SIO_HUP wherever poll() itself reports POLLHUP (select
 * cannot tell, it reports the fd readable). */
static void
check_hup(const char *backend, int fd, void (*hang_up)(int peer), int peer,
          unsigned watch)
{
	sio_loop *loop = t_loop_new(backend);
	struct rec r = { .stop = 1 };
	short kernel;

	cr_assert_not_null(sio_io_start(loop, fd, watch, rec_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	if (watch & SIO_READ) {
		t_run_nowait(loop, 2);
		cr_assert_eq(r.calls, 0, "watcher ran before the hang-up");
	}
	hang_up(peer);
	kernel = t_poll_now(fd, POLLIN);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "watcher ran %d times, want 1", r.calls);
	cr_assert(r.revents & (SIO_READ | SIO_HUP), "hang-up reported as "
	          "revents %#x, want SIO_READ or SIO_HUP", r.revents);
	if ((kernel & POLLHUP) && strcmp(backend, "select") != 0)
		cr_assert(r.revents & SIO_HUP, "poll() reports POLLHUP (revents "
		          "%#x) but the %s backend gave revents %#x without SIO_HUP",
		          kernel, backend, r.revents);
	t_loop_free(loop);
}

static void
hang_up_close(int peer)
{
	close(peer);
}

static void
hang_up_shutdown(int peer)
{
	cr_assert_eq(shutdown(peer, SHUT_RDWR), 0, "shutdown: %s",
	             strerror(errno));
}

SIO_BACKEND_TEST(io, hup_socketpair_close)
{
	int sv[2];

	t_socketpair(sv);
	check_hup(be->name, sv[0], hang_up_close, sv[1], SIO_READ);
	close(sv[0]);
}

SIO_BACKEND_TEST(io, hup_socketpair_shutdown)
{
	int sv[2];

	t_socketpair(sv);
	check_hup(be->name, sv[0], hang_up_shutdown, sv[1], SIO_READ);
	close_pair(sv);
}

SIO_BACKEND_TEST(io, hup_reported_to_write_watcher)
{
	/* SIO_HUP is reported whatever was watched. */
	int sv[2];

	if (t_is(be, "select"))
		cr_skip_test("select cannot report a hang-up");
	t_socketpair(sv);
	{
		sio_loop *loop = t_loop_new(be->name);
		struct rec r = { .stop = 1 };
		short kernel;

		/* Fill sv[0] so it is not writable, then hang up the peer. */
		fill_until_blocked(sv[0]);
		cr_assert_not_null(sio_io_start(loop, sv[0], SIO_WRITE, rec_cb,
		                   &r), "sio_io_start: %s", strerror(errno));
		t_run_nowait(loop, 2);
		cr_assert_eq(r.calls, 0, "write watcher on a full fd ran");
		close(sv[1]);
		kernel = t_poll_now(sv[0], POLLOUT);
		t_run(loop, SIO_RUN_DEFAULT);
		cr_assert_eq(r.calls, 1, "write watcher ran %d times after the "
		             "hang-up, want 1", r.calls);
		if (kernel & POLLHUP)
			cr_assert(r.revents & SIO_HUP, "poll() reports POLLHUP "
			          "(%#x) but the write watcher got revents %#x",
			          kernel, r.revents);
		else
			cr_assert(r.revents & (SIO_WRITE | SIO_HUP | SIO_ERROR),
			          "revents %#x", r.revents);
		t_loop_free(loop);
	}
	close(sv[0]);
}

/* The first error on a socket: pending SO_ERROR, or what read() says. */
static int
socket_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);
	char c;

	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len), 0,
	             "getsockopt(SO_ERROR): %s", strerror(errno));
	if (err != 0)
		return err;
	if (read(fd, &c, 1) < 0)
		return errno;
	return 0;
}

struct err_rec {
	int calls;
	unsigned revents;
	short kernel;   /* what poll() said, inside the callback */
	int err;        /* socket_error() inside the callback */
};

static void
err_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct err_rec *e = arg;

	e->calls++;
	e->revents = revents;
	e->kernel = t_poll_now(fd, POLLIN | POLLOUT);
	e->err = socket_error(fd);
	sio_io_stop(io);
}

SIO_BACKEND_TEST(io, tcp_reset)
{
	sio_loop *loop = t_loop_new(be->name);
	struct err_rec e = { 0 };
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	int c, s;

	t_tcp_pair(&c, &s);
	cr_assert_not_null(sio_io_start(loop, c, SIO_READ, err_cb, &e),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(e.calls, 0, "watcher ran before the reset");
	cr_assert_eq(setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0,
	             "SO_LINGER: %s", strerror(errno));
	close(s);   /* sends RST */
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(e.calls, 1, "watcher ran %d times, want 1", e.calls);
	cr_assert_eq(e.err, ECONNRESET, "after a reset SO_ERROR/read gave %d "
	             "(%s), want ECONNRESET", e.err, strerror(e.err));
	if (t_is(be, "select")) {
		cr_assert(e.revents & (SIO_READ | SIO_ERROR), "reset reported as "
		          "revents %#x", e.revents);
	} else {
		cr_assert(e.revents & (SIO_ERROR | SIO_HUP), "reset reported as "
		          "revents %#x, want SIO_ERROR or SIO_HUP", e.revents);
		if (e.kernel & POLLERR)
			cr_assert(e.revents & SIO_ERROR, "poll() reports POLLERR "
			          "(%#x) but revents is %#x", e.kernel, e.revents);
	}
	t_loop_free(loop);
	close(c);
}

SIO_BACKEND_TEST(io, connect_refused)
{
	sio_loop *loop = t_loop_new(be->name);
	struct err_rec e = { 0 };
	unsigned short port = t_closed_port();
	struct sockaddr_in sin;
	int c, rc;

	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert_geq(c, 0, "socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	rc = connect(c, (struct sockaddr *)&sin, sizeof(sin));
	if (rc < 0 && errno == ECONNREFUSED)
		cr_skip_test("connect to a closed port was refused at once");
	cr_assert(rc < 0 && errno == EINPROGRESS, "nonblocking connect to "
	          "closed port %u: rc %d, %s", port, rc, strerror(errno));
	cr_assert_not_null(sio_io_start(loop, c, SIO_WRITE, err_cb, &e),
	                   "sio_io_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(e.calls, 1, "watcher ran %d times, want 1", e.calls);
	cr_assert_eq(e.err, ECONNREFUSED, "SO_ERROR is %d (%s), want "
	             "ECONNREFUSED", e.err, strerror(e.err));
	cr_assert(e.revents & SIO_WRITE || e.revents & SIO_ERROR,
	          "refused connect reported as revents %#x", e.revents);
	if (!t_is(be, "select")) {
		if (e.kernel & POLLERR)
			cr_assert(e.revents & SIO_ERROR, "poll() reports POLLERR "
			          "(%#x) but revents is %#x", e.kernel, e.revents);
		if (e.kernel & POLLOUT)
			cr_assert(e.revents & SIO_WRITE, "poll() reports POLLOUT "
			          "(%#x) but revents is %#x", e.kernel, e.revents);
	} else {
		cr_assert(e.revents & SIO_WRITE, "select: refused connect "
		          "reported as revents %#x, want SIO_WRITE", e.revents);
	}
	t_loop_free(loop);
	close(c);
}

/* ---- regular files --------------------------------------------------- */

struct file_rec {
	sio_loop *loop;
	int calls;
	unsigned revents;
	char data[16];
	ssize_t n;
	uint64_t fallback_in_cb;
};

static void
file_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct file_rec *f = arg;

	f->calls++;
	f->revents = revents;
	f->n = read(fd, f->data, sizeof(f->data));
	f->fallback_in_cb = t_stats(f->loop).fallback_fds;
	sio_io_stop(io);
}

SIO_BACKEND_TEST(io, regular_file)
{
	sio_loop *loop = t_loop_new(be->name);
	struct file_rec f = { .loop = loop };
	char path[] = "/tmp/sigio-test-XXXXXX";
	int fd = mkstemp(path);
	sio_io *io;

	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	t_write_all(fd, "file!", 5);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0, "lseek: %s", strerror(errno));

	io = sio_io_start(loop, fd, SIO_READ, file_cb, &f);
	cr_assert_not_null(io, "sio_io_start on a regular file: %s",
	                   strerror(errno));
	if (t_signal_driven(be))
		cr_assert_eq(t_stats(loop).fallback_fds, 1, "sigio: a watched "
		             "regular file must be a fallback fd (fallback_fds "
		             "%llu)",
		             (unsigned long long)t_stats(loop).fallback_fds);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(f.calls, 1, "file watcher ran %d times, want 1", f.calls);
	cr_assert(f.revents & SIO_READ, "revents %#x lacks SIO_READ", f.revents);
	cr_assert_eq(f.n, 5, "read %zd bytes from the file, want 5", f.n);
	cr_assert_arr_eq(f.data, "file!", 5, "read the wrong bytes");
	if (t_signal_driven(be)) {
		cr_assert_eq(f.fallback_in_cb, 1, "sigio: fallback_fds was %llu "
		             "while the file was watched, want 1",
		             (unsigned long long)f.fallback_in_cb);
		cr_assert_eq(t_stats(loop).fallback_fds, 0, "sigio: fallback_fds "
		             "%llu after the watcher stopped, want 0",
		             (unsigned long long)t_stats(loop).fallback_fds);
	}
	t_loop_free(loop);
	close(fd);
}

SIO_BACKEND_TEST(io, regular_file_write)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rec r = { .stop = 1 };
	char path[] = "/tmp/sigio-test-XXXXXX";
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	unlink(path);
	cr_assert_not_null(sio_io_start(loop, fd, SIO_WRITE, rec_cb, &r),
	                   "sio_io_start(SIO_WRITE) on a file: %s",
	                   strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "file write watcher ran %d times", r.calls);
	cr_assert(r.revents & SIO_WRITE, "revents %#x lacks SIO_WRITE",
	          r.revents);
	if (t_signal_driven(be))
		cr_assert_eq(t_stats(loop).fallback_fds, 0, "sigio: fallback_fds "
		             "%llu after the watcher stopped",
		             (unsigned long long)t_stats(loop).fallback_fds);
	t_loop_free(loop);
	close(fd);
}

/* ---- fd flags -------------------------------------------------------- */

SIO_BACKEND_TEST(io, fd_flags)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rec r = { 0 };
	int sv[2];
	bool sigio = t_signal_driven(be);
	sio_io *a, *b;

	t_socketpair_blocking(sv);
	cr_assert_eq(t_getfl(sv[0]) & (O_NONBLOCK | O_ASYNC), 0,
	             "a fresh blocking socket has O_NONBLOCK or O_ASYNC");
	a = sio_io_start(loop, sv[0], SIO_READ, rec_cb, &r);
	cr_assert_not_null(a, "sio_io_start: %s", strerror(errno));
	cr_assert(t_getfl(sv[0]) & O_NONBLOCK, "sio_io_start did not set "
	          "O_NONBLOCK");
	if (sigio)
		cr_assert(t_getfl(sv[0]) & O_ASYNC, "sigio: O_ASYNC not set on a "
		          "watched socket");
	else
		cr_assert_eq(t_getfl(sv[0]) & O_ASYNC, 0, "%s set O_ASYNC",
		             be->name);

#if defined(F_GETOWN_EX) && defined(HAVE_SYS_SYSCALL_H) && defined(SYS_gettid)
	if (sigio) {
		struct f_owner_ex owner;

		cr_assert_eq(fcntl(sv[0], F_GETOWN_EX, &owner), 0,
		             "F_GETOWN_EX: %s", strerror(errno));
		cr_assert(owner.type == F_OWNER_TID &&
		          owner.pid == (pid_t)syscall(SYS_gettid),
		          "sigio: owner of the fd is type %d id %d, want the "
		          "loop's thread %ld", owner.type, owner.pid,
		          (long)syscall(SYS_gettid));
	}
#endif

	/* A second watcher on the same fd; stopping the first keeps it. */
	b = sio_io_start(loop, sv[0], SIO_WRITE, rec_cb, &r);
	cr_assert_not_null(b, "second watcher on one fd: %s", strerror(errno));
	sio_io_stop(a);
	if (sigio)
		cr_assert(t_getfl(sv[0]) & O_ASYNC, "sigio: O_ASYNC cleared "
		          "while another watcher still watches the fd");
	sio_io_stop(b);
	cr_assert_eq(t_getfl(sv[0]) & O_ASYNC, 0, "O_ASYNC still set after the "
	             "last watcher stopped");
	cr_assert(t_getfl(sv[0]) & O_NONBLOCK, "O_NONBLOCK must stay after "
	          "sio_io_stop");

	/* sio_loop_free stops what is left, undoing O_ASYNC. */
	cr_assert_not_null(sio_io_start(loop, sv[1], SIO_READ, rec_cb,
	                   &r), "sio_io_start: %s", strerror(errno));
	if (sigio)
		cr_assert(t_getfl(sv[1]) & O_ASYNC, "sigio: O_ASYNC not set");
	t_loop_free(loop);
	cr_assert_eq(t_getfl(sv[1]) & O_ASYNC, 0, "O_ASYNC still set after "
	             "sio_loop_free");
	cr_assert(t_getfl(sv[1]) & O_NONBLOCK, "O_NONBLOCK must stay after "
	          "sio_loop_free");
	cr_assert(t_fd_open(sv[0]) && t_fd_open(sv[1]), "the library closed a "
	          "watched fd");
	close_pair(sv);
}

SIO_BACKEND_TEST(io, pipe_flags)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rec r = { 0 };
	int p[2];
	sio_io *io;

	cr_assert_eq(pipe(p), 0, "pipe: %s", strerror(errno));
	io = sio_io_start(loop, p[0], SIO_READ, rec_cb, &r);
	cr_assert_not_null(io, "sio_io_start on a pipe: %s", strerror(errno));
	cr_assert(t_getfl(p[0]) & O_NONBLOCK, "O_NONBLOCK not set on a pipe");
	if (t_signal_driven(be))
		cr_assert(t_getfl(p[0]) & O_ASYNC, "sigio: O_ASYNC not set on a "
		          "watched pipe");
	sio_io_stop(io);
	cr_assert_eq(t_getfl(p[0]) & O_ASYNC, 0, "O_ASYNC left on the pipe");
	t_loop_free(loop);
	close_pair(p);
}

/* ---- sio_shutdown(): the application's own shutdown of a watched socket -- */

/*
 * Linux raises no readiness signal at a socket's own side when its process
 * shuts it down (only the peer is signalled), although poll() reports the
 * new state at once: EOF after SHUT_RD, writable after a TCP SHUT_WR.  The
 * poll and select backends see it by themselves; rtsig and sigio learn of
 * it only through sio_shutdown(), which tells the loop.
 */

/* Where sio_shutdown() is called from. */
enum { FROM_TIMER, FROM_THREAD };

struct shut_case {
	sio_loop *loop;
	int fd;                 /* the watched end, shut down */
	int peer;
	int how;
	pid_t loop_tid;         /* the thread that runs the loop, or 0 */
	int rc, err;            /* what sio_shutdown() returned, and errno */
};

static const char *
how_name(int how)
{
	return how == SHUT_RD ? "SHUT_RD" : how == SHUT_WR ? "SHUT_WR" :
	       how == SHUT_RDWR ? "SHUT_RDWR" : "?";
}

static void
shut_now(struct shut_case *sc)
{
	errno = 0;
	sc->rc = sio_shutdown(sc->loop, sc->fd, sc->how);
	sc->err = errno;
}

static void
shut_timer_cb(sio_timer *t, void *arg)
{
	(void)t;
	shut_now(arg);
}

/* The state of thread `tid` of this process ('S': asleep), or 0 when
 * /proc cannot say. */
static char
thread_state(pid_t tid)
{
	char path[64], buf[512];
	ssize_t n;
	int fd;
	char *paren;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", (long)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* "tid (comm) S ...": comm may hold spaces and parentheses. */
	paren = strrchr(buf, ')');
	return paren != NULL && paren[1] == ' ' ? paren[2] : 0;
}

/* Waits until the loop's thread sleeps (in the loop's wait: it does
 * nothing else), so that the shutdown finds it asleep; if /proc cannot
 * tell, goes ahead, which tests the same thing less sharply. */
static void *
shut_thread_main(void *arg)
{
	struct shut_case *sc = arg;
	struct timespec ms = { 0, 1000 * 1000 };

	for (int i = 0; i < 10000 && sc->loop_tid != 0; i++) {
		char st = thread_state(sc->loop_tid);

		if (st == 'S' || st == 0)
			break;
		nanosleep(&ms, NULL);
	}
	shut_now(sc);
	return NULL;
}

static pid_t
own_tid(void)
{
#if defined(HAVE_SYS_SYSCALL_H) && defined(SYS_gettid)
	return (pid_t)syscall(SYS_gettid);
#else
	return 0;
#endif
}

/* A connected pair: TCP over 127.0.0.1, or an AF_UNIX socketpair. */
static void
shut_pair(bool tcp, int *fd, int *peer)
{
	if (tcp) {
		t_tcp_pair(fd, peer);
	} else {
		int sv[2];

		t_socketpair(sv);
		*fd = sv[0];
		*peer = sv[1];
	}
}

/* Starts the shutdown of sc->fd from a timer of the loop or from another
 * thread (*th), once the loop runs. */
static void
shut_start(struct shut_case *sc, int from, pthread_t *th)
{
	if (from == FROM_TIMER) {
		/* 1 ms: the loop falls asleep first, and the timer wakes it. */
		cr_assert_not_null(sio_timer_start(sc->loop, 1, 0, shut_timer_cb,
		                   sc), "sio_timer_start: %s", strerror(errno));
		return;
	}
	sc->loop_tid = own_tid();
	cr_assert_eq(pthread_create(th, NULL, shut_thread_main, sc), 0,
	             "pthread_create");
}

/* A read watcher on a quiet socket, the loop asleep: sio_shutdown(how)
 * from a timer or another thread makes the watcher run and read EOF. */
static void
check_shutdown_wakes_reader(const char *backend, bool tcp, int how, int from)
{
	sio_loop *loop = t_loop_new(backend);
	struct rec r = { .stop = 1 };
	struct shut_case sc = { .loop = loop, .how = how, .rc = -2 };
	const char *what = tcp ? "TCP" : "AF_UNIX";
	const char *where = from == FROM_TIMER ? "a timer" : "another thread";
	pthread_t th;
	bool ran;

	shut_pair(tcp, &sc.fd, &sc.peer);
	cr_assert_not_null(sio_io_start(loop, sc.fd, SIO_READ, rec_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "%s: the read watcher ran before anything "
	             "happened", what);
	shut_start(&sc, from, &th);
	ran = t_run_until(loop, rec_called, &r, SIO_TEST_MAX_ONCE);
	if (from == FROM_THREAD)
		pthread_join(th, NULL);
	cr_assert_eq(sc.rc, 0, "%s: sio_shutdown(%s) from %s returned %d (%s)",
	             what, how_name(how), where, sc.rc, strerror(sc.err));
	cr_assert(ran, "[%s] %s: the read watcher never ran after "
	          "sio_shutdown(%s) from %s, though poll() says %#x", backend,
	          what, how_name(how), where, t_poll_now(sc.fd, POLLIN));
	cr_assert_eq(r.calls, 1, "the read watcher ran %d times, want 1",
	             r.calls);
	cr_assert(r.revents & (SIO_READ | SIO_HUP), "%s %s reported as revents "
	          "%#x, want SIO_READ or SIO_HUP", what, how_name(how), r.revents);
	cr_assert_eq(r.last_read, 0, "%s: read() after %s returned %zd (%s), "
	             "want 0 (EOF)", what, how_name(how), r.last_read,
	             strerror(r.last_errno));
	t_loop_free(loop);
	close(sc.fd);
	close(sc.peer);
}

static void
check_shutdown_wakes_readers(const char *backend, bool tcp, int from)
{
	check_shutdown_wakes_reader(backend, tcp, SHUT_RD, from);
	check_shutdown_wakes_reader(backend, tcp, SHUT_RDWR, from);
}

SIO_BACKEND_TEST(io, shutdown_wakes_reader_tcp_timer)
{
	check_shutdown_wakes_readers(be->name, true, FROM_TIMER);
}

SIO_BACKEND_TEST(io, shutdown_wakes_reader_unix_timer)
{
	check_shutdown_wakes_readers(be->name, false, FROM_TIMER);
}

SIO_BACKEND_TEST(io, shutdown_wakes_reader_tcp_thread)
{
	check_shutdown_wakes_readers(be->name, true, FROM_THREAD);
}

SIO_BACKEND_TEST(io, shutdown_wakes_reader_unix_thread)
{
	check_shutdown_wakes_readers(be->name, false, FROM_THREAD);
}

/* A write watcher on a TCP socket whose send buffer is full, the loop
 * asleep: sio_shutdown(SHUT_WR) makes it writable (poll() says POLLOUT),
 * and the watcher's send() fails with EPIPE.  (An AF_UNIX socket stays
 * unwritable after SHUT_WR, for poll() as for the loop.) */
static void
check_shutdown_wakes_writer(const char *backend, int from)
{
	sio_loop *loop = t_loop_new(backend);
	struct t_send_probe w = { 0 };
	struct shut_case sc = { .loop = loop, .how = SHUT_WR, .rc = -2 };
	const char *where = from == FROM_TIMER ? "a timer" : "another thread";
	pthread_t th;
	bool ran;

	shut_pair(true, &sc.fd, &sc.peer);
	fill_until_blocked(sc.fd);
	cr_assert_not_null(sio_io_start(loop, sc.fd, SIO_WRITE, t_send_probe_cb,
	                   &w), "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(w.calls, 0, "the write watcher on a full socket ran");
	shut_start(&sc, from, &th);
	ran = t_run_until(loop, t_send_probe_called, &w, SIO_TEST_MAX_ONCE);
	if (from == FROM_THREAD)
		pthread_join(th, NULL);
	cr_assert_eq(sc.rc, 0, "sio_shutdown(SHUT_WR) from %s returned %d (%s)",
	             where, sc.rc, strerror(sc.err));
	cr_assert(ran, "[%s] the write watcher never ran after "
	          "sio_shutdown(SHUT_WR) from %s, though poll() says %#x",
	          backend, where, t_poll_now(sc.fd, POLLOUT));
	cr_assert_eq(w.calls, 1, "the write watcher ran %d times", w.calls);
	cr_assert(w.revents & SIO_WRITE, "revents %#x lacks SIO_WRITE",
	          w.revents);
	cr_assert(w.sent == -1 && w.send_errno == EPIPE, "send() after SHUT_WR "
	          "returned %zd (%s), want EPIPE", w.sent, strerror(w.send_errno));
	t_loop_free(loop);
	close(sc.fd);
	close(sc.peer);
}

SIO_BACKEND_TEST(io, shutdown_wakes_writer_tcp_timer)
{
	check_shutdown_wakes_writer(be->name, FROM_TIMER);
}

SIO_BACKEND_TEST(io, shutdown_wakes_writer_tcp_thread)
{
	check_shutdown_wakes_writer(be->name, FROM_THREAD);
}

/* The kernel's limit, as it is: a plain shutdown(2) of a watched socket
 * by its own process is seen by poll() at once, and so by the poll and
 * select backends, but raises no signal: rtsig and sigio do not look at
 * the socket, until sio_shutdown() tells them (a second shutdown of the
 * same direction changes nothing, the loop is told). */
static void
check_plain_shutdown(const struct sio_test_backend *be, bool tcp)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rec r = { .stop = 1 };
	const char *what = tcp ? "TCP" : "AF_UNIX";
	int fd, peer;

	shut_pair(tcp, &fd, &peer);
	cr_assert_not_null(sio_io_start(loop, fd, SIO_READ, rec_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "the read watcher ran before the shutdown");
	cr_assert_eq(shutdown(fd, SHUT_RD), 0, "shutdown: %s", strerror(errno));
	cr_assert(t_poll_now(fd, POLLIN) & POLLIN, "%s: poll() does not report "
	          "a socket shut down for reading readable", what);
	t_run_nowait(loop, 3);
	if (!t_signal_driven(be)) {
		cr_assert_eq(r.calls, 1, "%s: the read watcher ran %d times after "
		             "a plain shutdown, want 1 (poll() sees it)", what,
		             r.calls);
	} else {
		cr_assert_eq(r.calls, 0, "%s: the read watcher ran after a plain "
		             "shutdown: this kernel signals a local shutdown, "
		             "and sio_shutdown(3) should say so", what);
		cr_assert_eq(sio_shutdown(loop, fd, SHUT_RD), 0,
		             "sio_shutdown: %s", strerror(errno));
		cr_assert(t_run_until(loop, rec_called, &r, SIO_TEST_MAX_ONCE),
		          "%s: sio_shutdown() after a plain shutdown did not "
		          "wake the watcher", what);
	}
	cr_assert_eq(r.last_read, 0, "read() after SHUT_RD returned %zd (%s)",
	             r.last_read, strerror(r.last_errno));
	t_loop_free(loop);
	close(fd);
	close(peer);
}

SIO_BACKEND_TEST(io, shutdown_plain_unseen_by_signals)
{
	check_plain_shutdown(be, true);
	check_plain_shutdown(be, false);
}

/* More notes than the self-pipe holds: the one for the watched socket is
 * lost, and the overflow makes the loop look at every fd instead. */
SIO_BACKEND_TEST(io, shutdown_note_survives_full_pipe)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rec r = { .stop = 1 };
	int fd, peer, other[2];

	shut_pair(true, &fd, &peer);
	t_socketpair(other);
	cr_assert_not_null(sio_io_start(loop, fd, SIO_READ, rec_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "the read watcher ran before the shutdown");
	/* 16-byte records: 8192 fill a pipe of 64 KiB, Linux's default,
	 * twice over. */
	for (int i = 0; i < 8192; i++)
		cr_assert_eq(sio_shutdown(loop, other[0], SHUT_RD), 0,
		             "sio_shutdown(unwatched) #%d: %s", i, strerror(errno));
	cr_assert_eq(sio_shutdown(loop, fd, SHUT_RD), 0, "sio_shutdown: %s",
	             strerror(errno));
	cr_assert(t_run_until(loop, rec_called, &r, SIO_TEST_MAX_ONCE),
	          "the read watcher never ran: its note was lost in a full "
	          "self-pipe and nothing made up for it");
	cr_assert_eq(r.last_read, 0, "read() after SHUT_RD returned %zd (%s)",
	             r.last_read, strerror(r.last_errno));
	cr_assert_geq(t_stats(loop).pipe_overflows, 1, "the self-pipe never "
	              "overflowed: the test did not test a lost note");
	t_loop_free(loop);
	close(fd);
	close(peer);
	close_pair(other);
}

/* Bad arguments get an errno and change nothing; an fd the loop does not
 * watch is shut down all the same, and wakes no watcher. */
SIO_BACKEND_TEST(io, shutdown_arguments)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rec r = { 0 };
	int fd, peer, p[2], quiet[2], unconnected, closed;
	struct pollfd pfd = { .events = POLLIN };
	char c;

	shut_pair(true, &fd, &peer);
	t_socketpair(quiet);
	cr_assert_not_null(sio_io_start(loop, quiet[0], SIO_READ, rec_cb, &r),
	                   "sio_io_start: %s", strerror(errno));

	errno = 0;
	cr_assert_eq(sio_shutdown(NULL, fd, SHUT_RD), -1, "NULL loop accepted");
	cr_assert_eq(errno, EINVAL, "NULL loop: %s, want EINVAL", strerror(errno));
	for (int how = -1; how <= 3; how += 4) {
		errno = 0;
		cr_assert_eq(sio_shutdown(loop, fd, how), -1, "how %d accepted", how);
		cr_assert_eq(errno, EINVAL, "how %d: %s, want EINVAL", how,
		             strerror(errno));
	}
	cr_assert_eq(t_poll_now(fd, POLLIN) & POLLIN, 0, "a refused call shut "
	             "the socket down");
	cr_assert_eq(t_poll_now(peer, POLLIN) & POLLIN, 0, "a refused call shut "
	             "the socket down (the peer sees EOF)");

	errno = 0;
	cr_assert_eq(sio_shutdown(loop, -1, SHUT_RD), -1, "fd -1 accepted");
	cr_assert_eq(errno, EBADF, "fd -1: %s, want EBADF", strerror(errno));
	closed = dup(fd);
	cr_assert_geq(closed, 0, "dup: %s", strerror(errno));
	close(closed);
	errno = 0;
	cr_assert_eq(sio_shutdown(loop, closed, SHUT_RD), -1, "closed fd accepted");
	cr_assert_eq(errno, EBADF, "closed fd: %s, want EBADF", strerror(errno));
	t_pipe(p);
	errno = 0;
	cr_assert_eq(sio_shutdown(loop, p[0], SHUT_RD), -1, "a pipe accepted");
	cr_assert_eq(errno, ENOTSOCK, "pipe: %s, want ENOTSOCK", strerror(errno));
	unconnected = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(unconnected, 0, "socket: %s", strerror(errno));
	errno = 0;
	cr_assert_eq(sio_shutdown(loop, unconnected, SHUT_WR), -1,
	             "an unconnected socket accepted");
	cr_assert_eq(errno, ENOTCONN, "unconnected: %s, want ENOTCONN",
	             strerror(errno));

	/* Not watched: shut down, errno untouched, no watcher runs. */
	errno = EDOM;
	cr_assert_eq(sio_shutdown(loop, fd, SHUT_WR), 0, "unwatched fd: %s",
	             strerror(errno));
	cr_assert_eq(errno, EDOM, "success changed errno to %s", strerror(errno));
	t_run_nowait(loop, 3);
	cr_assert_eq(r.calls, 0, "a quiet watcher ran after another fd's "
	             "sio_shutdown");
	pfd.fd = peer;
	cr_assert_eq(poll(&pfd, 1, 10000), 1, "the peer of the unwatched fd "
	             "did not become readable after sio_shutdown(SHUT_WR)");
	cr_assert_eq(read(peer, &c, 1), 0, "the peer of the unwatched fd saw no "
	             "EOF after sio_shutdown(SHUT_WR)");

	t_loop_free(loop);
	close(fd);
	close(peer);
	close_pair(p);
	close_pair(quiet);
	close(unconnected);
}

/* ---- one open file description under several fds ---------------------- */

/* Owner and O_ASYNC belong to the open file description, and an rtsig
 * record names the fd through which O_ASYNC was turned on.  The tests below
 * start the first watcher on `fd` and the next on a dup() of it, so the
 * kernel names the description by `fd`. */

/* Reads until EAGAIN; stops itself once `want` bytes came (extra calls
 * that read nothing are allowed by the API).  dup_reader_done() waits for
 * `until` bytes. */
struct dup_reader {
	int calls;
	size_t want;
	size_t until;
	size_t len;
	char data[64];
};

static void
dup_read_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct dup_reader *r = arg;
	ssize_t n;

	(void)revents;
	r->calls++;
	while (r->len < sizeof(r->data) &&
	       ((n = read(fd, r->data + r->len, sizeof(r->data) - r->len)) > 0 ||
	        (n < 0 && errno == EINTR)))
		if (n > 0)
			r->len += (size_t)n;
	if (r->len >= r->want)
		sio_io_stop(io);
}

static bool
dup_reader_done(void *arg)
{
	struct dup_reader *r = arg;

	return r->len >= r->until;
}

/* True when the description behind `fd` has O_ASYNC. */
static bool
has_async(int fd)
{
	return (t_getfl(fd) & O_ASYNC) != 0;
}

/*
 * A reader (the survivor) and a `leaver` watcher (SIO_READ or SIO_WRITE)
 * watch `fd` and a dup() of it, the leaver on `fd` itself when
 * `leaver_first`.  The leaver stops and its fd is closed; what the peer
 * wrote before and writes after must reach the survivor, and O_ASYNC stays
 * until the survivor stops too.  Takes `fd` (closes it).
 */
static void
check_dup_survivor(const struct sio_test_backend *be, int fd, int peer,
                   unsigned leaver_events, bool leaver_first)
{
	sio_loop *loop = t_loop_new(be->name);
	struct dup_reader r = { .want = 6, .until = 3 };
	struct rec l = { 0 };
	int d = dup(fd);
	int lfd = leaver_first ? fd : d, sfd = leaver_first ? d : fd;
	sio_io *leaver = NULL, *survivor;
	bool async_kept;

	cr_assert_geq(d, 0, "dup: %s", strerror(errno));
	if (leaver_first)
		leaver = sio_io_start(loop, lfd, leaver_events, rec_cb, &l);
	survivor = sio_io_start(loop, sfd, SIO_READ, dup_read_cb, &r);
	cr_assert_not_null(survivor, "sio_io_start(survivor): %s", strerror(errno));
	if (!leaver_first)
		leaver = sio_io_start(loop, lfd, leaver_events, rec_cb, &l);
	cr_assert_not_null(leaver, "sio_io_start(leaver): %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "the reader ran before any data");

	/* Announced while the leaver still watches: the record may name it. */
	t_write_all(peer, "one", 3);
	sio_io_stop(leaver);
	close(lfd);
	async_kept = has_async(sfd);
	cr_assert(t_run_until(loop, dup_reader_done, &r, SIO_TEST_MAX_ONCE),
	          "data sent while the %s watcher of fd %d stopped never "
	          "reached the reader of its %s (got %zu bytes)",
	          leaver_events == SIO_READ ? "read" : "write", lfd,
	          leaver_first ? "dup" : "original", r.len);
	/* Nothing ready any more: from here on only a signal can tell. */
	t_run_nowait(loop, 2);
	r.until = 6;
	t_write_all(peer, "two", 3);
	cr_assert(t_run_until(loop, dup_reader_done, &r, SIO_TEST_MAX_ONCE),
	          "data sent after the %s watcher of fd %d stopped never "
	          "reached the reader of its %s (got %zu bytes)",
	          leaver_events == SIO_READ ? "read" : "write", lfd,
	          leaver_first ? "dup" : "original", r.len);
	cr_assert_arr_eq(r.data, "onetwo", 6, "the reader got the wrong bytes");
	if (t_signal_driven(be))
		cr_assert(async_kept, "O_ASYNC was cleared while fd %d of the "
		          "same description was still watched", sfd);
	cr_assert_not(has_async(sfd), "O_ASYNC left on after the last watcher "
	              "of the description stopped");
	t_loop_free(loop);
	close(sfd);
}

/* (a) The dup's watcher stops; the original's still hears. */
SIO_BACKEND_TEST(io, dup_stop_dup_reader)
{
	int sv[2], c, s;

	t_socketpair(sv);
	check_dup_survivor(be, sv[0], sv[1], SIO_READ, false);
	close(sv[1]);
	t_tcp_pair(&c, &s);
	check_dup_survivor(be, s, c, SIO_READ, false);
	close(c);
}

/* (c) The watcher of the fd the kernel names the description by stops;
 * the dup's watcher still hears, also of what was sent just before. */
SIO_BACKEND_TEST(io, dup_stop_first_reader)
{
	int sv[2], c, s;

	t_socketpair(sv);
	check_dup_survivor(be, sv[0], sv[1], SIO_READ, true);
	close(sv[1]);
	t_tcp_pair(&c, &s);
	check_dup_survivor(be, s, c, SIO_READ, true);
	close(c);
}

/* (b) The inetd pattern, the other way round: a write watcher on one fd
 * stops, in either order, and the reader on the other still hears. */
SIO_BACKEND_TEST(io, dup_stop_writer)
{
	for (int first = 0; first < 2; first++) {
		int sv[2], c, s;

		t_socketpair(sv);
		check_dup_survivor(be, sv[0], sv[1], SIO_WRITE, first);
		close(sv[1]);
		t_tcp_pair(&c, &s);
		check_dup_survivor(be, s, c, SIO_WRITE, first);
		close(c);
	}
}

static bool
writer_called(void *arg)
{
	return ((struct drain_case *)arg)->writer_calls > 0;
}

/*
 * (b) The inetd pattern: a reader on `s`, a writer on a dup() of it (or
 * the writer first, when `writer_first`), the send buffer full.  When the
 * peer drains it the writer must hear SIO_WRITE, whichever fd the kernel
 * names the description by.  TCP: an AF_UNIX socket's write interest is
 * polled, not signalled.
 */
static void
check_dup_writer(const char *backend, bool writer_first)
{
	sio_loop *loop = t_loop_new(backend);
	struct drain_case dc = { 0 };
	struct dup_reader r = { .want = 1 };
	int c, s, d;
	sio_io *reader;

	t_tcp_pair(&c, &s);
	d = dup(s);
	cr_assert_geq(d, 0, "dup: %s", strerror(errno));
	fill_until_blocked(d);
	if (writer_first)
		dc.writer = sio_io_start(loop, d, SIO_WRITE, drain_writer_cb, &dc);
	reader = sio_io_start(loop, s, SIO_READ, dup_read_cb, &r);
	cr_assert_not_null(reader, "sio_io_start(reader): %s", strerror(errno));
	if (!writer_first)
		dc.writer = sio_io_start(loop, d, SIO_WRITE, drain_writer_cb, &dc);
	cr_assert_not_null(dc.writer, "sio_io_start(writer): %s",
	                   strerror(errno));
	t_run_nowait(loop, 3);
	cr_assert_eq(dc.writer_calls, 0, "the writer ran on a full buffer");
	dc.reader = sio_io_start(loop, c, SIO_READ, drain_reader_cb, &dc);
	cr_assert_not_null(dc.reader, "sio_io_start(drain): %s", strerror(errno));
	cr_assert(t_run_until(loop, writer_called, &dc, SIO_TEST_MAX_ONCE),
	          "the writer on dup %d (started %s the reader on fd %d) never "
	          "heard that the drained buffer is writable", d,
	          writer_first ? "before" : "after", s);
	cr_assert(dc.writer_revents & SIO_WRITE, "revents %#x lacks SIO_WRITE",
	          dc.writer_revents);
	cr_assert_eq(r.calls, 0, "the reader ran with nothing to read");
	sio_io_stop(reader);
	t_loop_free(loop);
	close(d);
	close(s);
	close(c);
}

SIO_BACKEND_TEST(io, dup_inetd_write_after_drain)
{
	check_dup_writer(be->name, false);
	check_dup_writer(be->name, true);
}

/* The fd the kernel names the description by is closed under its watcher
 * and its number given to another socket, which a new watcher takes: the
 * dup's watcher still hears, and the new one hears its own socket. */
SIO_BACKEND_TEST(io, dup_first_fd_reused)
{
	sio_loop *loop = t_loop_new(be->name);
	struct dup_reader old = { .want = 1 }, r = { .want = 3 },
	                  nr = { .want = 3 };
	int sv[2], other[2], d;
	sio_io *gone;

	t_socketpair(sv);
	t_socketpair(other);
	d = dup(sv[0]);
	cr_assert_geq(d, 0, "dup: %s", strerror(errno));
	gone = sio_io_start(loop, sv[0], SIO_READ, dup_read_cb, &old);
	cr_assert_not_null(gone, "sio_io_start: %s", strerror(errno));
	cr_assert_not_null(sio_io_start(loop, d, SIO_READ, dup_read_cb, &r),
	                   "sio_io_start(dup): %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(dup2(other[0], sv[0]), sv[0], "dup2: %s", strerror(errno));
	cr_assert_not_null(sio_io_start(loop, sv[0], SIO_READ, dup_read_cb, &nr),
	                   "sio_io_start(reused number): %s", strerror(errno));
	t_write_all(sv[1], "dup", 3);
	t_write_all(other[1], "new", 3);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.len, 3, "the dup's reader got %zu bytes, want 3", r.len);
	cr_assert_arr_eq(r.data, "dup", 3, "the dup's reader got the wrong bytes");
	cr_assert_eq(nr.len, 3, "the new socket's reader got %zu bytes, want 3",
	             nr.len);
	cr_assert_arr_eq(nr.data, "new", 3, "the new socket's reader got the "
	                 "wrong bytes");
	cr_assert_eq(old.calls, 0, "the watcher of the closed fd ran");
	sio_io_stop(gone);
	t_loop_free(loop);
	close(d);
	close_pair(sv);
	close_pair(other);
}

/* Two opens of one FIFO are two descriptions on one inode: each keeps its
 * own O_ASYNC, and stopping the watcher of one leaves the other served. */
SIO_BACKEND_TEST(io, fifo_opened_twice)
{
	sio_loop *loop = t_loop_new(be->name);
	struct dup_reader r1 = { .want = 1 }, r2 = { .want = 3, .until = 3 };
	char dir[] = "/tmp/sigio-fifo-XXXXXX", path[64];
	int a, b, w;
	sio_io *first;

	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/f", dir);
	cr_assert_eq(mkfifo(path, 0600), 0, "mkfifo: %s", strerror(errno));
	a = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	b = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	w = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	cr_assert(a >= 0 && b >= 0 && w >= 0, "open fifo: %s", strerror(errno));
	unlink(path);
	rmdir(dir);
	first = sio_io_start(loop, a, SIO_READ, dup_read_cb, &r1);
	cr_assert_not_null(first, "sio_io_start: %s", strerror(errno));
	cr_assert_not_null(sio_io_start(loop, b, SIO_READ, dup_read_cb, &r2),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	sio_io_stop(first);
	if (t_signal_driven(be)) {
		cr_assert_not(has_async(a), "O_ASYNC left on a description "
		              "nobody watches (taken for the other open?)");
		cr_assert(has_async(b), "O_ASYNC cleared on the other open");
	}
	t_write_all(w, "abc", 3);
	cr_assert(t_run_until(loop, dup_reader_done, &r2, SIO_TEST_MAX_ONCE),
	          "the second open's reader never heard (got %zu bytes)", r2.len);
	cr_assert_arr_eq(r2.data, "abc", 3, "the reader got the wrong bytes");
	cr_assert_eq(r1.calls, 0, "the stopped watcher ran");
	t_loop_free(loop);
	close(a);
	close(b);
	close(w);
}

/* sio_shutdown() through one fd shuts the description down: the watcher of
 * its dup() hears of it, although the kernel signals nothing (see
 * lib/shutdown.c). */
SIO_BACKEND_TEST(io, dup_shutdown)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rec r = { .stop = 1 };
	int c, s, d;

	t_tcp_pair(&c, &s);
	d = dup(s);
	cr_assert_geq(d, 0, "dup: %s", strerror(errno));
	cr_assert_not_null(sio_io_start(loop, d, SIO_READ, rec_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "the reader ran before the shutdown");
	cr_assert_eq(sio_shutdown(loop, s, SHUT_RD), 0, "sio_shutdown: %s",
	             strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "the reader of the dup ran %d times after "
	             "sio_shutdown(SHUT_RD) through the original, want 1",
	             r.calls);
	cr_assert_eq(r.last_read, 0, "read() after SHUT_RD returned %zd (%s), "
	             "want 0 (EOF)", r.last_read, strerror(r.last_errno));
	t_loop_free(loop);
	close(d);
	close(s);
	close(c);
}
