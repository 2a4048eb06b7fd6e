/*
 * test_dispatch.c - what callbacks may do to watchers while the loop
 * dispatches: stop themselves, stop another watcher that is ready in the
 * same iteration (on another fd or on the same fd), start watchers; and fds
 * closed while watched, with and without their number being reused.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static void
close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

/* ---- a callback that stops itself ------------------------------------ */

struct counter {
	int calls;
	unsigned revents;
	int stop;     /* sio_io_stop() itself */
	int drain;    /* read what is there */
};

static void
count_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct counter *c = arg;

	c->calls++;
	c->revents = revents;
	if (c->drain)
		t_drain(fd);
	if (c->stop)
		sio_io_stop(io);
}

SIO_BACKEND_TEST(dispatch, stop_self)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct counter c = { .stop = 1 };

	t_write_all(f.sv[1], "pending", 7);
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, count_cb, &c),
	                   "sio_io_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(c.calls, 1, "ONCE ran the callback %d times", c.calls);
	/* The data is still there: a stopped watcher must not run again. */
	t_run_nowait(loop, 5);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(c.calls, 1, "a watcher that stopped itself ran %d times",
	             c.calls);
	cr_assert(t_poll_now(f.sv[0], POLLIN) & POLLIN, "the data was consumed");
	t_fixture_close(&f);
}

/* ---- stopping another watcher ready in the same iteration ------------- */

struct duel {
	sio_io *io[2];
	int calls[2];
	int total;
};

struct duelist {
	struct duel *d;
	int me;
};

/* Stops the other watcher, then itself. */
static void
duel_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct duelist *p = arg;
	struct duel *d = p->d;
	int other = 1 - p->me;

	(void)fd; (void)revents;
	d->calls[p->me]++;
	d->total++;
	if (d->io[other] != NULL) {
		sio_io_stop(d->io[other]);
		d->io[other] = NULL;
	}
	sio_io_stop(io);
	d->io[p->me] = NULL;
}

static void
check_duel(const char *backend, int fd0, unsigned ev0, int fd1, unsigned ev1)
{
	sio_loop *loop = t_loop_new(backend);
	struct duel d = { { NULL, NULL }, { 0, 0 }, 0 };
	struct duelist p0 = { &d, 0 }, p1 = { &d, 1 };

	d.io[0] = sio_io_start(loop, fd0, ev0, duel_cb, &p0);
	cr_assert_not_null(d.io[0], "sio_io_start: %s", strerror(errno));
	d.io[1] = sio_io_start(loop, fd1, ev1, duel_cb, &p1);
	cr_assert_not_null(d.io[1], "sio_io_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_ONCE);
	t_run_nowait(loop, 3);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(d.total, 1, "both watchers were ready, the first stopped "
	             "the other, yet %d callbacks ran (watcher 0: %d, watcher "
	             "1: %d)", d.total, d.calls[0], d.calls[1]);
	cr_assert(d.calls[0] == 0 || d.calls[1] == 0, "the stopped watcher "
	          "was called (%d, %d)", d.calls[0], d.calls[1]);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(dispatch, stop_other)
{
	int a[2], b[2];

	t_socketpair(a);
	t_socketpair(b);
	t_write_all(a[1], "a", 1);
	t_write_all(b[1], "b", 1);
	check_duel(be->name, a[0], SIO_READ, b[0], SIO_READ);
	close_pair(a);
	close_pair(b);
}

SIO_BACKEND_TEST(dispatch, stop_other_same_fd)
{
	int sv[2];

	t_socketpair(sv);
	t_write_all(sv[1], "x", 1);
	check_duel(be->name, sv[0], SIO_READ, sv[0], SIO_READ);
	close_pair(sv);
}

SIO_BACKEND_TEST(dispatch, stop_other_same_fd_read_write)
{
	int sv[2];

	t_socketpair(sv);
	t_write_all(sv[1], "x", 1);
	check_duel(be->name, sv[0], SIO_READ, sv[0], SIO_WRITE);
	close_pair(sv);
}

/* ---- fds closed while watched --------------------------------------- */

/* Called for the old watcher of a closed fd. */
struct ghost {
	int calls;
	unsigned revents;
};

static void
ghost_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct ghost *g = arg;

	(void)io; (void)fd;
	g->calls++;
	g->revents = revents;
}

/* Reuse fd number `x` for a new socketpair end; the peer in *peer. */
static void
reuse_number(int x, int *peer)
{
	int sv[2];

	t_socketpair(sv);
	if (sv[0] != x) {
		cr_assert_eq(dup2(sv[0], x), x, "dup2(%d, %d): %s", sv[0], x,
		             strerror(errno));
		close(sv[0]);
	}
	*peer = sv[1];
	cr_assert(t_fd_open(x), "fd %d is not open after reuse", x);
}

static void
check_reuse(const char *backend, bool run_between, bool stop_old_first)
{
	sio_loop *loop = t_loop_new(backend);
	struct ghost old = { 0 };
	struct counter fresh = { .drain = 1, .stop = 0 };
	int a[2], x, peer;
	sio_io *old_io, *new_io;
	bool sigio = strcmp(backend, "sigio") == 0 ||
	             strcmp(backend, "rtsig") == 0;

	t_socketpair(a);
	x = a[0];
	old_io = sio_io_start(loop, x, SIO_READ, ghost_cb, &old);
	cr_assert_not_null(old_io, "sio_io_start: %s", strerror(errno));
	if (run_between) {
		t_run_nowait(loop, 2);
		cr_assert_eq(old.calls, 0, "old watcher ran before any data");
	}
	/* Close X with its watcher still started, and reuse the number. */
	close(a[0]);
	close(a[1]);
	reuse_number(x, &peer);
	t_write_all(peer, "new", 3);

	new_io = sio_io_start(loop, x, SIO_READ, count_cb, &fresh);
	cr_assert_not_null(new_io, "sio_io_start on reused fd %d: %s", x,
	                   strerror(errno));
	if (sigio)
		cr_assert(t_getfl(x) & O_ASYNC, "%s: the new watcher on reused "
		          "fd %d did not get O_ASYNC", backend, x);
	cr_assert(t_run_until(loop, t_flag_set, &fresh.calls, 10),
	          "the new watcher on reused fd %d never ran", x);
	t_run_nowait(loop, 3);
	cr_assert_eq(old.calls, 0, "the old watcher of closed fd %d ran %d "
	             "times (revents %#x) after its number was reused", x,
	             old.calls, old.revents);
	cr_assert(fresh.revents & SIO_READ, "new watcher revents %#x",
	          fresh.revents);

	if (stop_old_first) {
		sio_io_stop(old_io);
		if (sigio)
			cr_assert(t_getfl(x) & O_ASYNC, "stopping the old watcher "
			          "cleared O_ASYNC on reused fd %d while its new "
			          "watcher lives", x);
		/* The new one still works. */
		t_write_all(peer, "more", 4);
		fresh.calls = 0;
		cr_assert(t_run_until(loop, t_flag_set, &fresh.calls, 10),
		          "the new watcher stopped working when the old one "
		          "was stopped");
		sio_io_stop(new_io);
	} else {
		sio_io_stop(new_io);
		sio_io_stop(old_io);
	}
	cr_assert_eq(t_getfl(x) & O_ASYNC, 0, "O_ASYNC left on fd %d after "
	             "both watchers stopped", x);
	t_write_all(peer, "late", 4);
	t_run_nowait(loop, 2);
	cr_assert_eq(old.calls, 0, "old watcher ran after being stopped");
	t_loop_free(loop);
	close(x);
	close(peer);
}

SIO_BACKEND_TEST(dispatch, fd_reused)
{
	check_reuse(be->name, true, true);
}

SIO_BACKEND_TEST(dispatch, fd_reused_before_running)
{
	check_reuse(be->name, false, true);
}

SIO_BACKEND_TEST(dispatch, fd_reused_stop_new_first)
{
	check_reuse(be->name, true, false);
}

static void
check_closed(const char *backend, bool run_between)
{
	sio_loop *loop = t_loop_new(backend);
	struct ghost g = { 0 };
	struct counter other = { .drain = 1, .stop = 1 };
	int a[2], b[2], x;
	sio_io *io;

	t_socketpair(a);
	t_socketpair(b);
	x = a[0];
	io = sio_io_start(loop, x, SIO_READ, ghost_cb, &g);
	cr_assert_not_null(io, "sio_io_start: %s", strerror(errno));
	if (run_between) {
		t_run_nowait(loop, 2);
		cr_assert_eq(g.calls, 0, "watcher ran before any data");
	}
	close(a[0]);
	close(a[1]);
	/* The loop must not sleep forever on the dead watcher.  Another fd's
	 * event gives it a reason to look (on sigio, a plain SIGIO is a
	 * rescan of every fd). */
	cr_assert_not_null(sio_io_start(loop, b[0], SIO_READ, count_cb, &other),
	                   "sio_io_start: %s", strerror(errno));
	t_write_all(b[1], "b", 1);
	if (strcmp(backend, "rtsig") == 0) {
		/* rtsig learns only of fds that signal, and a closed fd sends
		 * nothing: its watcher is found dead at the next full rescan,
		 * not now (as with epoll, a watcher must be stopped before its
		 * fd is closed).  Force that rescan to check it is harmless. */
		t_run(loop, SIO_RUN_ONCE);
		kill(getpid(), SIGIO);
	}
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(other.calls, 1, "the other watcher ran %d times, want 1",
	             other.calls);
	cr_assert_leq(g.calls, 1, "the watcher of closed fd %d ran %d times, "
	              "at most once with SIO_ERROR is allowed", x, g.calls);
	if (g.calls == 1)
		cr_assert(g.revents & SIO_ERROR, "closed fd reported with revents "
		          "%#x, want SIO_ERROR", g.revents);
	/* DEFAULT returned: the watcher is dead, sio_io_set refuses it. */
	errno = 0;
	cr_assert_eq(sio_io_set(io, SIO_READ), -1, "sio_io_set on the dead "
	             "watcher of closed fd %d succeeded", x);
	cr_assert_eq(errno, EINVAL, "sio_io_set on a dead watcher: errno %d "
	             "(%s), want EINVAL", errno, strerror(errno));
	t_run_nowait(loop, 3);
	cr_assert_leq(g.calls, 1, "dead watcher ran again (%d calls)", g.calls);
	sio_io_stop(io);
	cr_assert(!t_fd_open(x), "fd %d was reopened behind the test's back", x);
	t_loop_free(loop);
	close_pair(b);
}

SIO_BACKEND_TEST(dispatch, fd_closed_while_watched)
{
	check_closed(be->name, true);
}

SIO_BACKEND_TEST(dispatch, fd_closed_before_running)
{
	check_closed(be->name, false);
}

SIO_BACKEND_TEST(dispatch, fd_closed_alone)
{
	/* The only watcher: DEFAULT must find the fd closed and return. */
	sio_loop *loop = t_loop_new(be->name);
	struct ghost g = { 0 };
	int a[2];
	sio_io *io;

	t_socketpair(a);
	io = sio_io_start(loop, a[0], SIO_READ, ghost_cb, &g);
	cr_assert_not_null(io, "sio_io_start: %s", strerror(errno));
	close(a[0]);
	close(a[1]);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_leq(g.calls, 1, "closed fd reported %d times", g.calls);
	if (g.calls == 1)
		cr_assert(g.revents & SIO_ERROR, "closed fd reported with revents "
		          "%#x, want SIO_ERROR", g.revents);
	sio_io_stop(io);
	t_loop_free(loop);
}

/* ---- starting watchers from a callback ------------------------------- */

struct restart {
	sio_loop *loop;
	int old_calls;
	int new_calls;
	uint64_t old_iter;
	uint64_t new_iter;
	sio_io *new_io;
	int start_fd;    /* the fd the callback starts a watcher on */
};

static void
new_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct restart *r = arg;

	(void)revents;
	r->new_calls++;
	r->new_iter = t_stats(r->loop).iterations;
	t_drain(fd);
	sio_io_stop(io);
	r->new_io = NULL;
}

/* Stops itself and starts a watcher on r->start_fd. */
static void
old_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct restart *r = arg;

	(void)fd; (void)revents;
	r->old_calls++;
	r->old_iter = t_stats(r->loop).iterations;
	sio_io_stop(io);
	r->new_io = sio_io_start(r->loop, r->start_fd, SIO_READ, new_cb, r);
	cr_assert_not_null(r->new_io, "sio_io_start in a callback: %s",
	                   strerror(errno));
}

static void
check_start_in_callback(const char *backend, bool same_fd)
{
	sio_loop *loop = t_loop_new(backend);
	struct restart r = { .loop = loop };
	int a[2], b[2];

	t_socketpair(a);
	t_socketpair(b);
	t_write_all(a[1], "a", 1);
	t_write_all(b[1], "b", 1);
	r.start_fd = same_fd ? a[0] : b[0];
	cr_assert_not_null(sio_io_start(loop, a[0], SIO_READ, old_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(r.old_calls, 1, "first watcher ran %d times", r.old_calls);
	cr_assert_eq(r.new_calls, 0, "the watcher started in a callback ran in "
	             "the same iteration");
	cr_assert(t_run_until(loop, t_flag_set, &r.new_calls, 5), "the watcher "
	          "started in a callback on a ready fd never ran");
	cr_assert_eq(r.new_calls, 1, "new watcher ran %d times", r.new_calls);
	cr_assert_gt(r.new_iter, r.old_iter, "new watcher ran in iteration "
	             "%llu, not after %llu", (unsigned long long)r.new_iter,
	             (unsigned long long)r.old_iter);
	t_run_nowait(loop, 3);
	cr_assert_eq(r.old_calls, 1, "the stopped watcher ran again");
	t_loop_free(loop);
	close_pair(a);
	close_pair(b);
}

SIO_BACKEND_TEST(dispatch, restart_same_fd_in_callback)
{
	check_start_in_callback(be->name, true);
}

SIO_BACKEND_TEST(dispatch, start_other_in_callback)
{
	check_start_in_callback(be->name, false);
}

/* A callback stops a watcher on the same fd that is later in the order and
 * starts a replacement: the stopped one never runs, the new one does. */
struct swap {
	sio_loop *loop;
	sio_io *victim;
	int victim_calls;
	int swapper_calls;
	int replacement_calls;
};

static void
victim_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)io; (void)fd; (void)revents;
	((struct swap *)arg)->victim_calls++;
}

static void
replacement_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)fd; (void)revents;
	((struct swap *)arg)->replacement_calls++;
	sio_io_stop(io);
}

static void
swapper_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct swap *s = arg;

	(void)revents;
	s->swapper_calls++;
	sio_io_stop(io);
	if (s->victim != NULL) {
		sio_io_stop(s->victim);
		s->victim = NULL;
		cr_assert_not_null(sio_io_start(s->loop, fd, SIO_READ,
		                   replacement_cb, s), "sio_io_start: %s",
		                   strerror(errno));
	}
}

SIO_BACKEND_TEST(dispatch, replace_watcher_in_callback)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct swap s = { .loop = loop };

	t_write_all(f.sv[1], "x", 1);
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_WRITE, swapper_cb, &s),
	                   "sio_io_start: %s", strerror(errno));
	s.victim = sio_io_start(loop, f.sv[0], SIO_READ, victim_cb, &s);
	cr_assert_not_null(s.victim, "sio_io_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	/* Either may run first; if the victim ran first it was not stopped
	 * yet, so only "after the stop" matters. */
	cr_assert_eq(s.swapper_calls, 1, "swapper ran %d times",
	             s.swapper_calls);
	cr_assert_leq(s.victim_calls, 1, "stopped watcher ran %d times",
	              s.victim_calls);
	cr_assert_eq(s.replacement_calls, 1, "replacement ran %d times",
	             s.replacement_calls);
	t_fixture_close(&f);
}
