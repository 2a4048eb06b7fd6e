/*
 * test_loop.c - loops: creation and backend choice, run modes, stopping
 * (from a callback and from another thread), statistics, argument checking,
 * the SIGIO disposition, and the select backend's FD_SETSIZE limit.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* ---- helpers ---------------------------------------------------------- */

/* What a callback saw. */
struct rec {
	int calls;
	int fd;
	unsigned revents;
	void *arg;
	int stop_after;     /* > 0: sio_loop_stop() at this many calls */
	int stop_io_after;  /* > 0: sio_io_stop() itself at this many calls */
	int drain;          /* read what is there */
	sio_loop *loop;
};

static void
rec_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct rec *r = arg;

	r->calls++;
	r->fd = fd;
	r->revents = revents;
	r->arg = arg;
	if (r->drain)
		t_drain(fd);
	if (r->stop_after > 0 && r->calls == r->stop_after)
		sio_loop_stop(r->loop);
	if (r->stop_io_after > 0 && r->calls == r->stop_io_after)
		sio_io_stop(io);
}

static void
never_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)io; (void)fd; (void)revents;
	(*(int *)arg)++;
}

static bool
name_in_backends(const char *name)
{
	return name != NULL && t_have_backend(name);
}

static void
close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

/* ---- creation and backend choice ------------------------------------- */

/* The library reports the version the header (and configure) says. */
Test(loop, version, .timeout = SIO_TEST_TIMEOUT)
{
	char want[32];

	snprintf(want, sizeof want, "%d.%d.%d", SIO_VERSION_MAJOR, SIO_VERSION_MINOR,
	         SIO_VERSION_PATCH);
	cr_assert_str_eq(sio_version(), want);
	cr_assert_str_eq(sio_version(), PACKAGE_VERSION);
	cr_assert_eq(sio_version_number(), SIO_VERSION_NUMBER);
	cr_assert_eq(SIO_VERSION_NUMBER, SIO_VERSION_MAJOR * 10000 +
	             SIO_VERSION_MINOR * 100 + SIO_VERSION_PATCH);
}

Test(loop, backends_listed, .timeout = SIO_TEST_TIMEOUT)
{
	const char *names[8] = { NULL };
	const char *one[1] = { NULL };
	size_t n = sio_backends(names, 8);
	bool poll_seen = false, select_seen = false;

	cr_assert_geq(n, 2, "sio_backends() lists %zu backends, poll and "
	              "select are always built", n);
	cr_assert_leq(n, 8, "sio_backends() lists %zu backends", n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_not_null(names[i], "sio_backends() name %zu is NULL", i);
		poll_seen |= strcmp(names[i], "poll") == 0;
		select_seen |= strcmp(names[i], "select") == 0;
		cr_assert(strcmp(names[i], "sigio") == 0 ||
		          strcmp(names[i], "poll") == 0 ||
		          strcmp(names[i], "select") == 0 ||
		          strcmp(names[i], "rtsig") == 0,
		          "sio_backends() lists unknown backend \"%s\"", names[i]);
	}
	cr_assert(poll_seen, "sio_backends() does not list \"poll\"");
	cr_assert(select_seen, "sio_backends() does not list \"select\"");
	cr_assert_eq(sio_backends(NULL, 0), n,
	             "sio_backends(NULL, 0) must return the full count");
	cr_assert_eq(sio_backends(one, 1), n,
	             "sio_backends(names, 1) must return the full count");
	cr_assert_str_eq(one[0], names[0],
	                 "sio_backends(names, 1) must store the best backend");
}

Test(loop, auto_backend, .timeout = SIO_TEST_TIMEOUT)
{
	sio_loop *loop;

	unsetenv("SIGIO_BACKEND");
	loop = t_loop_new(NULL);
	cr_assert(name_in_backends(sio_loop_backend(loop)),
	          "sio_loop_new(NULL) picked \"%s\", not in sio_backends()",
	          sio_loop_backend(loop) ? sio_loop_backend(loop) : "(null)");
	t_loop_free(loop);

	loop = t_loop_new("auto");
	cr_assert(name_in_backends(sio_loop_backend(loop)),
	          "sio_loop_new(\"auto\") picked \"%s\", not in sio_backends()",
	          sio_loop_backend(loop) ? sio_loop_backend(loop) : "(null)");
	t_loop_free(loop);
}

SIO_BACKEND_TEST(loop, named_backend)
{
	sio_loop *loop;

	setenv("SIGIO_BACKEND", "bogus", 1); /* an explicit name ignores it */
	loop = t_loop_new(be->name);
	cr_assert_str_eq(sio_loop_backend(loop), be->name,
	                 "sio_loop_new(\"%s\") gave a \"%s\" loop", be->name,
	                 sio_loop_backend(loop));
	t_loop_free(loop);
}

Test(loop, unknown_backend, .timeout = SIO_TEST_TIMEOUT)
{
	static const char *bad[] = { "kqueue-nope", "POLL", "poll ", "" };

	unsetenv("SIGIO_BACKEND");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		cr_assert_null(sio_loop_new(bad[i]),
		               "sio_loop_new(\"%s\") must fail", bad[i]);
		cr_assert_eq(errno, EINVAL,
		             "sio_loop_new(\"%s\"): errno %d (%s), want EINVAL",
		             bad[i], errno, strerror(errno));
	}
}

Test(loop, rtsig_not_built, .timeout = SIO_TEST_TIMEOUT)
{
	if (t_have_backend("rtsig"))
		cr_skip_test("this build has the rtsig backend");
	errno = 0;
	cr_assert_null(sio_loop_new("rtsig"),
	               "sio_loop_new(\"rtsig\") must fail: not built");
	cr_assert_eq(errno, ENOSYS, "sio_loop_new(\"rtsig\"): errno %d (%s), "
	             "want ENOSYS", errno, strerror(errno));
}

Test(loop, sigio_not_built, .timeout = SIO_TEST_TIMEOUT)
{
	if (t_have_backend("sigio"))
		cr_skip_test("this build has the sigio backend");
	errno = 0;
	cr_assert_null(sio_loop_new("sigio"),
	               "sio_loop_new(\"sigio\") must fail in a --disable-sigio "
	               "build");
	cr_assert_eq(errno, ENOSYS, "sio_loop_new(\"sigio\"): errno %d (%s), "
	             "want ENOSYS", errno, strerror(errno));
}

SIO_BACKEND_TEST(loop, env_backend)
{
	sio_loop *loop;

	setenv("SIGIO_BACKEND", be->name, 1);
	loop = t_loop_new(NULL);
	cr_assert_str_eq(sio_loop_backend(loop), be->name,
	                 "SIGIO_BACKEND=%s but sio_loop_new(NULL) gave \"%s\"",
	                 be->name, sio_loop_backend(loop));
	t_loop_free(loop);

	loop = t_loop_new("auto");
	cr_assert_str_eq(sio_loop_backend(loop), be->name,
	                 "SIGIO_BACKEND=%s but sio_loop_new(\"auto\") gave "
	                 "\"%s\"", be->name, sio_loop_backend(loop));
	t_loop_free(loop);
}

Test(loop, env_backend_poll, .timeout = SIO_TEST_TIMEOUT)
{
	sio_loop *loop;

	setenv("SIGIO_BACKEND", "poll", 1);
	loop = t_loop_new(NULL);
	cr_assert_str_eq(sio_loop_backend(loop), "poll",
	                 "SIGIO_BACKEND=poll but sio_loop_new(NULL) gave \"%s\"",
	                 sio_loop_backend(loop));
	t_loop_free(loop);

	/* An explicit name ignores the variable. */
	loop = t_loop_new("select");
	cr_assert_str_eq(sio_loop_backend(loop), "select",
	                 "sio_loop_new(\"select\") with SIGIO_BACKEND=poll gave "
	                 "\"%s\"", sio_loop_backend(loop));
	t_loop_free(loop);
}

Test(loop, env_backend_bogus, .timeout = SIO_TEST_TIMEOUT)
{
	sio_loop *loop;

	setenv("SIGIO_BACKEND", "bogus", 1);
	errno = 0;
	cr_assert_null(sio_loop_new(NULL),
	               "SIGIO_BACKEND=bogus: sio_loop_new(NULL) must fail");
	cr_assert_eq(errno, EINVAL, "SIGIO_BACKEND=bogus: errno %d (%s), want "
	             "EINVAL", errno, strerror(errno));
	errno = 0;
	cr_assert_null(sio_loop_new("auto"),
	               "SIGIO_BACKEND=bogus: sio_loop_new(\"auto\") must fail");
	cr_assert_eq(errno, EINVAL, "SIGIO_BACKEND=bogus: errno %d (%s), want "
	             "EINVAL", errno, strerror(errno));

	/* Set but empty: as if unset. */
	setenv("SIGIO_BACKEND", "", 1);
	loop = sio_loop_new(NULL);
	cr_assert_not_null(loop, "SIGIO_BACKEND=\"\" must be ignored: %s",
	                   strerror(errno));
	cr_assert(name_in_backends(sio_loop_backend(loop)),
	          "SIGIO_BACKEND=\"\": unexpected backend \"%s\"",
	          sio_loop_backend(loop));
	t_loop_free(loop);
}

Test(loop, free_null, .timeout = SIO_TEST_TIMEOUT)
{
	t_loop_free(NULL);
	sio_io_stop(NULL);
	cr_assert(true, "t_loop_free(NULL) and sio_io_stop(NULL) returned");
}

/* ---- run modes -------------------------------------------------------- */

SIO_BACKEND_TEST(run, no_watchers)
{
	sio_loop *loop = t_loop_new(be->name);

	t_run(loop, SIO_RUN_DEFAULT);
	t_run(loop, SIO_RUN_ONCE);
	t_run(loop, SIO_RUN_NOWAIT);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(run, nowait_not_ready)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	int calls = 0;

	t_fixture_watch(&f, SIO_READ, never_cb, &calls);
	for (int i = 0; i < 5; i++)
		t_run(loop, SIO_RUN_NOWAIT);
	cr_assert_eq(calls, 0, "NOWAIT called the callback of a fd with no data "
	             "%d times", calls);
	t_fixture_close(&f);
}

SIO_BACKEND_TEST(run, once_returns_after_callback)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct rec r = { .loop = loop };

	t_fixture_watch(&f, SIO_READ, rec_cb, &r);
	t_write_all(f.sv[1], "x", 1);
	/* The callback leaves the byte unread and the watcher active: only
	 * ONCE's own rule can make it return. */
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(r.calls, 1, "ONCE returned after %d callbacks, want 1",
	             r.calls);
	cr_assert_eq(r.fd, f.sv[0], "callback got fd %d, want %d", r.fd, f.sv[0]);
	cr_assert(r.revents & SIO_READ, "revents %#x lacks SIO_READ", r.revents);
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(r.calls, 2, "second ONCE: %d callbacks in all, want 2 "
	             "(the byte is still unread)", r.calls);
	t_fixture_close(&f);
}

SIO_BACKEND_TEST(run, stop_from_callback)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct rec r = { .loop = loop, .stop_after = 3 };

	/* Always writable: the loop would never run out of work. */
	t_fixture_watch(&f, SIO_WRITE, rec_cb, &r);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 3, "DEFAULT returned after %d callbacks, the "
	             "callback stopped the loop at 3", r.calls);
	cr_assert(r.revents & SIO_WRITE, "revents %#x lacks SIO_WRITE",
	          r.revents);

	/* The stop was consumed: the next run goes on until stopped again. */
	r.stop_after = 6;
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 6, "second DEFAULT: %d callbacks in all, want 6 "
	             "(a stop must apply to one run only)", r.calls);
	t_fixture_close(&f);
}

SIO_BACKEND_TEST(run, stop_before_run)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct rec r = { .loop = loop };

	t_fixture_watch(&f, SIO_WRITE, rec_cb, &r);
	sio_loop_stop(loop);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_leq(r.calls, 1, "a stop before the run must end it after at "
	              "most one iteration, got %d callbacks", r.calls);
	t_fixture_close(&f);
}

SIO_BACKEND_TEST(run, paused_watcher)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	int calls = 0;
	sio_io *io;

	t_write_all(f.sv[1], "x", 1);
	io = t_fixture_watch(&f, 0, never_cb, &calls);
	cr_assert_eq(sio_io_events(io), 0, "sio_io_events %#x, want 0",
	             sio_io_events(io));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(calls, 0, "a paused watcher was called %d times", calls);

	/* Unpause: it fires (data is waiting); pause again: DEFAULT ends. */
	cr_assert_eq(sio_io_set(io, SIO_READ), 0, "sio_io_set: %s",
	             strerror(errno));
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(calls, 1, "the unpaused watcher ran %d times, want 1",
	             calls);
	cr_assert_eq(sio_io_set(io, 0), 0, "sio_io_set(0): %s",
	             strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(calls, 1, "a paused watcher was called (%d calls)", calls);
	t_fixture_close(&f);
}

/* Pauses itself on its first call. */
static void
pause_self_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)fd; (void)revents;
	(*(int *)arg)++;
	cr_assert_eq(sio_io_set(io, 0), 0, "sio_io_set(0) in callback: %s",
	             strerror(errno));
}

SIO_BACKEND_TEST(run, pause_in_callback_ends_default)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	int calls = 0;

	t_fixture_watch(&f, SIO_WRITE, pause_self_cb, &calls);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(calls, 1, "the watcher paused itself, yet ran %d times",
	             calls);
	t_fixture_close(&f);
}

SIO_BACKEND_TEST(run, bad_mode)
{
	sio_loop *loop = t_loop_new(be->name);
	static const int modes[] = { -1, 3, 42 };

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		errno = 0;
		cr_assert_eq(sio_loop_run(loop, modes[i]), -1,
		             "sio_loop_run(mode %d) must fail", modes[i]);
		cr_assert_eq(errno, EINVAL, "sio_loop_run(mode %d): errno %d "
		             "(%s), want EINVAL", modes[i], errno, strerror(errno));
	}
	errno = 0;
	cr_assert_eq(sio_loop_run(NULL, SIO_RUN_NOWAIT), -1,
	             "sio_loop_run(NULL) must fail");
	cr_assert_eq(errno, EINVAL, "sio_loop_run(NULL): errno %d (%s), want "
	             "EINVAL", errno, strerror(errno));
	t_loop_free(loop);
}

struct reenter {
	sio_loop *loop;
	int calls;
	int rc[3];
	int err[3];
};

static void
reenter_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	static const int modes[3] = { SIO_RUN_NOWAIT, SIO_RUN_ONCE,
	                              SIO_RUN_DEFAULT };
	struct reenter *r = arg;

	(void)fd; (void)revents;
	r->calls++;
	for (int i = 0; i < 3; i++) {
		errno = 0;
		r->rc[i] = sio_loop_run(r->loop, modes[i]);
		r->err[i] = errno;
	}
	sio_io_stop(io);
}

SIO_BACKEND_TEST(run, reentrant_ebusy)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct reenter r = { .loop = loop };

	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_WRITE, reenter_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "callback ran %d times, want 1", r.calls);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(r.rc[i], -1, "sio_loop_run(mode %d) from a callback "
		             "returned %d, want -1", i, r.rc[i]);
		cr_assert_eq(r.err[i], EBUSY, "sio_loop_run(mode %d) from a "
		             "callback: errno %d (%s), want EBUSY", i, r.err[i],
		             strerror(r.err[i]));
	}
	t_fixture_close(&f);
}

/* The signal mask seen inside a callback. */
struct mask_rec {
	int calls;
	int sigio_blocked;
};

static void
mask_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct mask_rec *m = arg;
	sigset_t cur;

	(void)fd; (void)revents;
	m->calls++;
	pthread_sigmask(SIG_BLOCK, NULL, &cur);
	m->sigio_blocked = sigismember(&cur, SIGIO);
	sio_io_stop(io);
}

SIO_BACKEND_TEST(run, sigmask_restored)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct mask_rec m = { 0 };
	sigset_t before, after;

	sigemptyset(&before);
	sigaddset(&before, SIGUSR1);
	cr_assert_eq(pthread_sigmask(SIG_SETMASK, &before, NULL), 0,
	             "pthread_sigmask");
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_WRITE, mask_cb, &m),
	                   "sio_io_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(m.calls, 1, "callback ran %d times, want 1", m.calls);
	if (t_is(be, "sigio"))
		cr_assert_eq(m.sigio_blocked, 1, "SIGIO must be blocked while "
		             "the sigio loop runs callbacks");
	pthread_sigmask(SIG_BLOCK, NULL, &after);
	cr_assert(sigismember(&after, SIGUSR1), "sio_loop_run lost the "
	          "caller's blocked SIGUSR1");
	cr_assert(!sigismember(&after, SIGIO), "sio_loop_run left SIGIO "
	          "blocked after returning");
	t_fixture_close(&f);
}

/* ---- stopping from another thread ------------------------------------ */

struct stopper {
	sio_loop *loop;
	sem_t go;
};

static void *
stopper_main(void *arg)
{
	struct stopper *s = arg;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	while (sem_wait(&s->go) != 0)
		;
	/* Not a wait for the loop: only gives it time to fall asleep, so the
	 * stop below (usually) has to wake it.  Either way it must return. */
	nanosleep(&ts, NULL);
	sio_loop_stop(s->loop);
	return NULL;
}

/* Tells the stopper thread the loop runs, then stops itself. */
static void
go_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)fd; (void)revents;
	sem_post(&((struct stopper *)arg)->go);
	sio_io_stop(io);
}

SIO_BACKEND_TEST(run, stop_from_thread)
{
	sio_loop *loop = t_loop_new(be->name);
	struct stopper s = { .loop = loop };
	int quiet[2], busy[2], calls = 0;
	pthread_t th;
	sio_io *io;

	t_socketpair(quiet);
	t_socketpair(busy);
	cr_assert_eq(sem_init(&s.go, 0, 0), 0, "sem_init");
	io = sio_io_start(loop, quiet[0], SIO_READ, never_cb, &calls);
	cr_assert_not_null(io, "sio_io_start: %s", strerror(errno));
	cr_assert_not_null(sio_io_start(loop, busy[0], SIO_WRITE, go_cb, &s),
	                   "sio_io_start: %s", strerror(errno));
	cr_assert_eq(pthread_create(&th, NULL, stopper_main, &s), 0,
	             "pthread_create");
	t_run(loop, SIO_RUN_DEFAULT);
	pthread_join(th, NULL);
	cr_assert_eq(calls, 0, "the never-ready watcher was called %d times",
	             calls);
	sio_io_stop(io);
	t_loop_free(loop);
	sem_destroy(&s.go);
	close_pair(quiet);
	close_pair(busy);
}

/* ---- statistics ------------------------------------------------------ */

/* Reads one message of `want` bytes in small pieces. */
struct reader {
	int calls;
	size_t got;
	size_t want;
};

static void
reader_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct reader *r = arg;
	char buf[7];
	ssize_t n;

	(void)revents;
	r->calls++;
	n = read(fd, buf, sizeof(buf));
	if (n > 0)
		r->got += (size_t)n;
	if (r->got >= r->want)
		sio_io_stop(io);
}

static bool
reader_done(void *arg)
{
	struct reader *r = arg;

	return r->got >= r->want;
}

SIO_BACKEND_TEST(stats, counts)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct reader r = { .want = 100 };
	char data[100] = { 0 };
	struct sio_stats s0, s1;

	s0 = t_stats(loop);
	for (size_t i = 0; i < sizeof(s0.reserved) / sizeof(s0.reserved[0]); i++)
		cr_assert_eq(s0.reserved[i], 0, "stats.reserved[%zu] is %llu, "
		             "want 0", i, (unsigned long long)s0.reserved[i]);
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, reader_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_write_all(f.sv[1], data, sizeof(data));
	cr_assert(t_run_until(loop, reader_done, &r, SIO_TEST_MAX_ONCE),
	          "read %zu of 100 bytes", r.got);
	s1 = t_stats(loop);
	cr_assert_geq(s1.callbacks, (uint64_t)r.calls, "stats.callbacks %llu < "
	              "%d callbacks counted", (unsigned long long)s1.callbacks,
	              r.calls);
	cr_assert_gt(s1.iterations, 0, "stats.iterations is 0 after running");
	cr_assert_geq(s1.iterations, s0.iterations, "iterations went down");
	cr_assert_geq(s1.signals, s0.signals, "signals went down");
	cr_assert_geq(s1.wakeups, s0.wakeups, "wakeups went down");
	cr_assert_geq(s1.rescans, s0.rescans, "rescans went down");
	cr_assert_geq(s1.sleeps, s0.sleeps, "sleeps went down");
	cr_assert_eq(s1.fallback_fds, 0, "fallback_fds %llu with no watcher "
	             "left", (unsigned long long)s1.fallback_fds);
	t_fixture_close(&f);
}

/* A watcher on a writable fd that writes one byte to `peer` (the other end
 * of the read watcher's socketpair) and stops itself. */
struct kicker {
	int peer;
};

static void
kick_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)fd; (void)revents;
	t_write_all(((struct kicker *)arg)->peer, "k", 1);
	sio_io_stop(io);
}

static void
read_one_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct reader *r = arg;

	(void)revents;
	r->calls++;
	r->got += t_drain(fd);
	if (r->got >= r->want)
		sio_io_stop(io);
}

SIO_BACKEND_TEST(stats, signals_from_callback)
{
	sio_loop *loop;
	struct reader r = { .want = 1 };
	struct kicker k;
	int rd[2], wr[2];

	if (!t_signal_driven(be))
		cr_skip_test("%s is not signal-driven", be->name);
	loop = t_loop_new(be->name);
	t_socketpair(rd);
	t_socketpair(wr);
	k.peer = rd[1];
	/* The read watcher is established (checked, found idle) first. */
	cr_assert_not_null(sio_io_start(loop, rd[0], SIO_READ, read_one_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "read callback ran before any data");
	/* Data arrives while the loop runs another fd's callback: only the
	 * SIGIO it raises can tell the loop. */
	cr_assert_not_null(sio_io_start(loop, wr[0], SIO_WRITE, kick_cb, &k),
	                   "sio_io_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.got, 1, "the read watcher got %zu bytes, want 1", r.got);
	cr_assert_gt(t_stats(loop).signals, 0, "stats.signals is 0 on %s "
	             "after an event only a signal announced", be->name);
	t_loop_free(loop);
	close_pair(rd);
	close_pair(wr);
}

struct writer_thread {
	int fd;
	sem_t go;
};

static void *
writer_main(void *arg)
{
	struct writer_thread *w = arg;
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	while (sem_wait(&w->go) != 0)
		;
	/* Gives the loop time to fall asleep (not a wait for the loop). */
	nanosleep(&ts, NULL);
	while (write(w->fd, "t", 1) != 1 && errno == EINTR)
		;
	return NULL;
}

static void
post_go_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)fd; (void)revents;
	sem_post(&((struct writer_thread *)arg)->go);
	sio_io_stop(io);
}

SIO_BACKEND_TEST(stats, signals_from_thread)
{
	sio_loop *loop;
	struct reader r = { .want = 1 };
	struct writer_thread w;
	int rd[2], go[2];
	pthread_t th;

	if (!t_signal_driven(be))
		cr_skip_test("%s is not signal-driven", be->name);
	loop = t_loop_new(be->name);
	t_socketpair(rd);
	t_socketpair(go);
	w.fd = rd[1];
	cr_assert_eq(sem_init(&w.go, 0, 0), 0, "sem_init");
	cr_assert_not_null(sio_io_start(loop, rd[0], SIO_READ, read_one_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	cr_assert_not_null(sio_io_start(loop, go[0], SIO_WRITE, post_go_cb, &w),
	                   "sio_io_start: %s", strerror(errno));
	cr_assert_eq(pthread_create(&th, NULL, writer_main, &w), 0,
	             "pthread_create");
	t_run(loop, SIO_RUN_DEFAULT);
	pthread_join(th, NULL);
	cr_assert_eq(r.got, 1, "the read watcher got %zu bytes, want 1", r.got);
	cr_assert_gt(t_stats(loop).signals, 0, "stats.signals is 0 on %s "
	             "after data written by another thread woke the loop",
	             be->name);
	t_loop_free(loop);
	sem_destroy(&w.go);
	close_pair(rd);
	close_pair(go);
}

SIO_BACKEND_TEST(stats, bad_arguments)
{
	sio_loop *loop = t_loop_new(be->name);
	struct sio_stats s;

	errno = 0;
	cr_assert_eq(sio_loop_stats(NULL, &s), -1,
	             "sio_loop_stats(NULL, &s) must fail");
	cr_assert_eq(errno, EINVAL, "sio_loop_stats(NULL, &s): errno %d (%s), "
	             "want EINVAL", errno, strerror(errno));
	errno = 0;
	cr_assert_eq(sio_loop_stats(loop, NULL), -1,
	             "sio_loop_stats(loop, NULL) must fail");
	cr_assert_eq(errno, EINVAL, "sio_loop_stats(loop, NULL): errno %d (%s), "
	             "want EINVAL", errno, strerror(errno));
	t_loop_free(loop);
}

/* ---- argument checking ----------------------------------------------- */

/* sio_io_start() must fail with `err`. */
static void
expect_start_fails(sio_loop *loop, int fd, unsigned events, sio_io_cb cb,
                   int err, const char *what)
{
	int dummy = 0;
	sio_io *io;

	errno = 0;
	io = sio_io_start(loop, fd, events, cb, &dummy);
	cr_assert_null(io, "sio_io_start with %s must fail", what);
	cr_assert_eq(errno, err, "sio_io_start with %s: errno %d (%s), want %d "
	             "(%s)", what, errno, strerror(errno), err, strerror(err));
}

SIO_BACKEND_TEST(args, io_start)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	int closed[2];

	t_socketpair(closed);
	close(closed[0]);
	close(closed[1]);
	expect_start_fails(loop, -1, SIO_READ, never_cb, EBADF, "fd -1");
	expect_start_fails(loop, closed[0], SIO_READ, never_cb, EBADF,
	                   "a closed fd");
	expect_start_fails(loop, f.sv[0], SIO_READ, NULL, EINVAL, "a NULL callback");
	expect_start_fails(NULL, f.sv[0], SIO_READ, never_cb, EINVAL, "a NULL loop");
	expect_start_fails(loop, f.sv[0], 0x800, never_cb, EINVAL,
	                   "event bit 0x800");
	expect_start_fails(loop, f.sv[0], SIO_READ | 0x800, never_cb, EINVAL,
	                   "SIO_READ|0x800");
	expect_start_fails(loop, f.sv[0], SIO_HUP, never_cb, EINVAL,
	                   "SIO_HUP (revents only)");
	/* Nothing was left behind: DEFAULT has no watcher to run. */
	t_run(loop, SIO_RUN_DEFAULT);
	t_fixture_close(&f);
}

SIO_BACKEND_TEST(args, io_set_and_accessors)
{
	struct t_fixture f;
	int calls = 0;
	sio_io *io;

	t_fixture_open(&f, be);
	errno = 0;
	cr_assert_eq(sio_io_set(NULL, SIO_READ), -1, "sio_io_set(NULL) must fail");
	cr_assert_eq(errno, EINVAL, "sio_io_set(NULL): errno %d (%s), want "
	             "EINVAL", errno, strerror(errno));

	io = t_fixture_watch(&f, SIO_READ | SIO_EDGE, never_cb, &calls);
	cr_assert_eq(sio_io_fd(io), f.sv[0], "sio_io_fd %d, want %d",
	             sio_io_fd(io), f.sv[0]);
	cr_assert_eq(sio_io_events(io), SIO_READ | SIO_EDGE,
	             "sio_io_events %#x, want %#x", sio_io_events(io),
	             SIO_READ | SIO_EDGE);

	errno = 0;
	cr_assert_eq(sio_io_set(io, 0x800), -1, "sio_io_set(0x800) must fail");
	cr_assert_eq(errno, EINVAL, "sio_io_set(0x800): errno %d (%s), want "
	             "EINVAL", errno, strerror(errno));
	errno = 0;
	cr_assert_eq(sio_io_set(io, SIO_ERROR), -1,
	             "sio_io_set(SIO_ERROR) must fail: revents only");
	cr_assert_eq(errno, EINVAL, "sio_io_set(SIO_ERROR): errno %d (%s), "
	             "want EINVAL", errno, strerror(errno));
	cr_assert_eq(sio_io_events(io), SIO_READ | SIO_EDGE, "a failed "
	             "sio_io_set changed the events to %#x", sio_io_events(io));

	cr_assert_eq(sio_io_set(io, SIO_WRITE), 0, "sio_io_set(SIO_WRITE): %s",
	             strerror(errno));
	cr_assert_eq(sio_io_events(io), SIO_WRITE, "sio_io_events %#x after "
	             "sio_io_set(SIO_WRITE)", sio_io_events(io));
	cr_assert_eq(sio_io_set(io, 0), 0, "sio_io_set(0): %s", strerror(errno));
	cr_assert_eq(sio_io_events(io), 0, "sio_io_events %#x after "
	             "sio_io_set(0)", sio_io_events(io));
	cr_assert_eq(calls, 0, "callback ran without running the loop");
	t_fixture_close(&f);
}

/* ---- the SIGIO disposition ------------------------------------------- */

static volatile sig_atomic_t my_sigio_count;

static void
my_sigio(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	my_sigio_count++;
}

/* Install my_sigio with distinctive flags and mask; returns what the
 * kernel reports back for it. */
static struct sigaction
install_mine(void)
{
	struct sigaction sa, got;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = my_sigio;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	cr_assert_eq(sigaction(SIGIO, &sa, NULL), 0, "sigaction: %s",
	             strerror(errno));
	cr_assert_eq(sigaction(SIGIO, NULL, &got), 0, "sigaction: %s",
	             strerror(errno));
	return got;
}

static struct sigaction
current_sigio(void)
{
	struct sigaction sa;

	cr_assert_eq(sigaction(SIGIO, NULL, &sa), 0, "sigaction: %s",
	             strerror(errno));
	return sa;
}

static bool
is_mine(const struct sigaction *sa, const struct sigaction *mine)
{
	return (sa->sa_flags & SA_SIGINFO) &&
	       sa->sa_sigaction == my_sigio &&
	       sa->sa_flags == mine->sa_flags &&
	       sigismember(&sa->sa_mask, SIGUSR2) &&
	       !sigismember(&sa->sa_mask, SIGUSR1);
}

SIO_BACKEND_TEST(signals, disposition_restored)
{
	struct sigaction mine = install_mine(), now;
	sio_loop *loop;
	int sv[2];
	struct rec r = { .drain = 1 };
	sio_io *io;

	loop = t_loop_new(be->name);
	r.loop = loop;
	t_socketpair(sv);
	io = sio_io_start(loop, sv[0], SIO_READ, rec_cb, &r);
	cr_assert_not_null(io, "sio_io_start: %s", strerror(errno));
	t_write_all(sv[1], "x", 1);
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(r.calls, 1, "callback ran %d times, want 1", r.calls);
	now = current_sigio();
	if (t_is(be, "sigio"))
		cr_assert(!is_mine(&now, &mine), "a sigio loop exists but the "
		          "SIGIO handler is still the test's own");
	else if (!t_signal_driven(be))
		cr_assert(is_mine(&now, &mine), "a %s loop changed the SIGIO "
		          "disposition", be->name);
	/* Freed with the watcher still started. */
	t_loop_free(loop);
	now = current_sigio();
	cr_assert(is_mine(&now, &mine), "after sio_loop_free the SIGIO handler "
	          "or its flags (%#x, want %#x) or mask are not the test's own",
	          now.sa_flags, mine.sa_flags);
	close_pair(sv);
}

SIO_BACKEND_TEST(signals, default_disposition_restored)
{
	struct sigaction now;
	sio_loop *loop;
	int sv[2], calls = 0;

	signal(SIGIO, SIG_IGN);
	loop = t_loop_new(be->name);
	t_socketpair(sv);
	cr_assert_not_null(sio_io_start(loop, sv[0], SIO_READ, never_cb, &calls),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 1);
	t_loop_free(loop);
	now = current_sigio();
	cr_assert(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN,
	          "SIG_IGN was not restored for SIGIO after sio_loop_free");

	signal(SIGIO, SIG_DFL);
	loop = t_loop_new(be->name);
	t_loop_free(loop);
	now = current_sigio();
	cr_assert(!(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_DFL,
	          "SIG_DFL was not restored for SIGIO after sio_loop_free");
	close_pair(sv);
}

static void
two_sigio_loops(bool free_first_first)
{
	struct sigaction mine, now;
	sio_loop *a, *b;
	int sv[2], calls = 0;

	if (!t_have_backend("sigio"))
		cr_skip_test("no sigio backend in this build");
	mine = install_mine();
	a = t_loop_new("sigio");
	b = t_loop_new("sigio");
	t_socketpair(sv);
	cr_assert_not_null(sio_io_start(a, sv[0], SIO_READ, never_cb, &calls),
	                   "sio_io_start: %s", strerror(errno));
	cr_assert_not_null(sio_io_start(b, sv[1], SIO_READ, never_cb, &calls),
	                   "sio_io_start: %s", strerror(errno));
	now = current_sigio();
	cr_assert(!is_mine(&now, &mine), "two sigio loops exist but SIGIO is "
	          "the test's own");
	t_loop_free(free_first_first ? a : b);
	now = current_sigio();
	cr_assert(!is_mine(&now, &mine), "one sigio loop is left but SIGIO was "
	          "restored already (freed the %s loop)",
	          free_first_first ? "first" : "second");
	t_loop_free(free_first_first ? b : a);
	now = current_sigio();
	cr_assert(is_mine(&now, &mine), "after the last sigio loop was freed "
	          "the SIGIO disposition is not the test's own");
	close_pair(sv);
}

Test(signals, two_sigio_loops_in_order, .timeout = SIO_TEST_TIMEOUT)
{
	two_sigio_loops(true);
}

Test(signals, two_sigio_loops_reverse, .timeout = SIO_TEST_TIMEOUT)
{
	two_sigio_loops(false);
}

Test(signals, mixed_loops, .timeout = SIO_TEST_TIMEOUT)
{
	struct sigaction mine, now;
	sio_loop *s, *p;

	if (!t_have_backend("sigio"))
		cr_skip_test("no sigio backend in this build");
	mine = install_mine();
	p = t_loop_new("poll");
	s = t_loop_new("sigio");
	t_loop_free(p);
	now = current_sigio();
	cr_assert(!is_mine(&now, &mine), "freeing a poll loop restored SIGIO "
	          "while a sigio loop exists");
	t_loop_free(s);
	now = current_sigio();
	cr_assert(is_mine(&now, &mine), "SIGIO not restored after the sigio "
	          "loop was freed");
}

/* ---- the select backend's FD_SETSIZE --------------------------------- */

SIO_BACKEND_TEST(select, fd_setsize)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rec r = { .drain = 1, .stop_io_after = 1 };
	int sv[2], big = FD_SETSIZE + 476;
	sio_io *io;

	r.loop = loop;
	cr_assert_gt(t_raise_nofile(), (rlim_t)big, "RLIMIT_NOFILE too low to "
	             "open fd %d", big);
	t_socketpair(sv);
	cr_assert_eq(dup2(sv[0], big), big, "dup2(%d, %d): %s", sv[0], big,
	             strerror(errno));
	errno = 0;
	io = sio_io_start(loop, big, SIO_READ, rec_cb, &r);
	if (t_is(be, "select")) {
		cr_assert_null(io, "select accepted fd %d >= FD_SETSIZE (%d)", big,
		               FD_SETSIZE);
		cr_assert_eq(errno, ERANGE, "select, fd %d: errno %d (%s), want "
		             "ERANGE", big, errno, strerror(errno));
	} else {
		cr_assert_not_null(io, "%s refused fd %d: %s", be->name, big,
		                   strerror(errno));
		t_write_all(sv[1], "x", 1);
		t_run(loop, SIO_RUN_DEFAULT);
		cr_assert_eq(r.calls, 1, "watcher on fd %d ran %d times, want 1",
		             big, r.calls);
		cr_assert_eq(r.fd, big, "callback got fd %d, want %d", r.fd, big);
		cr_assert(r.revents & SIO_READ, "revents %#x lacks SIO_READ",
		          r.revents);
	}
	t_loop_free(loop);
	close(big);
	close_pair(sv);
}

static void
app_sigio_handler(int signo)
{
	(void)signo;
}

/* "auto" must not take SIGIO from an application that handles it, while
 * naming a signal-driven backend gives it to the runtime until the last
 * loop is freed. */
Test(disposition, auto_leaves_application_sigio_alone, .timeout = SIO_TEST_TIMEOUT)
{
	struct sigaction mine = { .sa_handler = app_sigio_handler }, now;
	sigemptyset(&mine.sa_mask);
	cr_assert_eq(sigaction(SIGIO, &mine, NULL), 0);
	unsetenv("SIGIO_BACKEND");
	sio_loop *loop = sio_loop_new(NULL);
	cr_assert_not_null(loop, "sio_loop_new(NULL): %s", strerror(errno));
	cr_assert(strcmp(sio_loop_backend(loop), "poll") == 0 ||
	          strcmp(sio_loop_backend(loop), "select") == 0,
	          "auto took %s although the application handles SIGIO",
	          sio_loop_backend(loop));
	sigaction(SIGIO, NULL, &now);
	cr_assert_eq((void *)now.sa_handler, (void *)app_sigio_handler,
	             "the application's SIGIO handler was replaced");
	sio_loop_free(loop);
	if (!t_have_backend("sigio"))
		return;
	loop = sio_loop_new("sigio");
	cr_assert_not_null(loop, "sio_loop_new(\"sigio\"): %s", strerror(errno));
	sigaction(SIGIO, NULL, &now);
	cr_assert_neq((void *)now.sa_handler, (void *)app_sigio_handler,
	              "a named sigio backend runs without its handler");
	sio_loop_free(loop);
	sigaction(SIGIO, NULL, &now);
	cr_assert_eq((void *)now.sa_handler, (void *)app_sigio_handler,
	             "the application's handler was not restored");
}

/* ---- two loops in one thread (issue 16, item 2) ------------------------------ */

/* A loop's readiness signals go to the thread that runs it; a second loop
 * run by the same thread drains the thread's queue.  What it took for the
 * first loop must reach the first loop: its watcher runs. */
struct two_loops {
	sio_loop *a, *b;
	int pa[2], pb[2];
	struct rec ra, rb;
	int nested;             /* b runs inside a callback of a */
};

static bool
two_b_got(void *arg)
{
	return ((struct two_loops *)arg)->rb.calls > 0;
}

/* A callback of one loop: data for `a` arrives while the signals of the
 * running loop are blocked, then `b` runs and drains them. */
static void
two_send_then_run_b(sio_timer *t, void *arg)
{
	struct two_loops *x = arg;
	(void)t;
	t_write_all(x->pa[1], "a", 1);
	t_write_all(x->pb[1], "b", 1);
	if (x->nested) {
		cr_assert(t_run_until(x->b, two_b_got, x, SIO_TEST_MAX_ONCE),
		          "the nested loop's own watcher never ran");
	}
}

static void
two_loops(const struct sio_test_backend *be, int nested)
{
	struct two_loops x = { .nested = nested };
	x.a = t_loop_new(be->name);
	x.b = t_loop_new(be->name);
	x.ra.drain = x.rb.drain = 1;
	t_socketpair(x.pa);
	t_socketpair(x.pb);
	sio_io *wa = sio_io_start(x.a, x.pa[0], SIO_READ, rec_cb, &x.ra);
	sio_io *wb = sio_io_start(x.b, x.pb[0], SIO_READ, rec_cb, &x.rb);
	cr_assert(wa != NULL && wb != NULL, "sio_io_start: %s", strerror(errno));
	/* Settled: neither watcher is rechecked without a signal now. */
	t_run_nowait(x.a, 2);
	t_run_nowait(x.b, 2);
	sio_timer *t;
	if (nested) {
		t = sio_timer_start(x.a, 0, 0, two_send_then_run_b, &x);
	} else {
		/* In turn: b runs while a's data arrives, then a runs. */
		t = sio_timer_start(x.b, 0, 0, two_send_then_run_b, &x);
		cr_assert(t_run_until(x.b, two_b_got, &x, SIO_TEST_MAX_ONCE));
		cr_assert_eq(x.ra.calls, 0);
	}
	cr_assert_not_null(t);
	t_guard(x.a, 5);
	cr_assert(t_run_until(x.a, t_flag_set, &x.ra.calls, SIO_TEST_MAX_ONCE),
	          "[%s] the other loop of the thread took this loop's signal: "
	          "its watcher never ran", be->name);
	sio_timer_stop(t);
	sio_io_stop(wa);
	sio_io_stop(wb);
	t_loop_free(x.b);
	t_loop_free(x.a);
	close(x.pa[0]); close(x.pa[1]);
	close(x.pb[0]); close(x.pb[1]);
}

SIO_BACKEND_TEST(thread, two_loops_nested)
{
	two_loops(be, 1);
}

SIO_BACKEND_TEST(thread, two_loops_in_turn)
{
	two_loops(be, 0);
}

/* ---- a new thread with a dead thread's id (issue 16, item 3) ------------------- */

/* Thread ids are reused once their thread is gone.  To have one reused at
 * will, the test runs in a new pid namespace (root only), where
 * /proc/sys/kernel/ns_last_pid sets the next id.  A loop run by a thread
 * that got the id of the last thread that ran it must still re-point its
 * fds: owned by the dead thread, they signal nobody. */
enum { TID_OK, TID_LOST, TID_NO_REUSE, TID_SETUP };

struct tid_run {
	sio_loop *loop;
	int sv[2];
	pid_t tid;
	int got, lost;
};

static void
tid_read(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct tid_run *r = arg;
	char b[8];
	(void)io; (void)revents;
	while (read(fd, b, sizeof b) > 0)
		r->got = 1;
	if (r->got)
		sio_loop_stop(r->loop);
}

static void
tid_send(sio_timer *t, void *arg)
{
	struct tid_run *r = arg;
	(void)t;
	if (write(r->sv[1], "x", 1) != 1)
		r->lost = 1;
}

static void
tid_give_up(sio_timer *t, void *arg)
{
	struct tid_run *r = arg;
	(void)t;
	r->lost = 1;
	sio_loop_stop(r->loop);
}

/* The first thread: runs the loop once, so that it owns the fds. */
static void *
tid_first(void *arg)
{
	struct tid_run *r = arg;
	r->tid = (pid_t)syscall(SYS_gettid);
	(void)sio_loop_run(r->loop, SIO_RUN_NOWAIT);
	return NULL;
}

/* The second: if it got the first one's id, a byte sent from a callback
 * (while the loop works, its signal blocked) must reach the watcher. */
static void *
tid_second(void *arg)
{
	struct tid_run *r = arg;
	if ((pid_t)syscall(SYS_gettid) != r->tid)
		return NULL;
	sio_timer *send = sio_timer_start(r->loop, 0, 0, tid_send, r);
	sio_timer *limit = sio_timer_start(r->loop, 3000, 0, tid_give_up, r);
	if (send == NULL || limit == NULL ||
	    sio_loop_run(r->loop, SIO_RUN_DEFAULT) != 0)
		r->lost = 1;
	sio_timer_stop(send);
	sio_timer_stop(limit);
	r->tid = -1;            /* it ran */
	return NULL;
}

static int
tid_set_last(pid_t last)
{
	FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
	if (f == NULL)
		return -1;
	int ok = fprintf(f, "%d", (int)last) > 0;
	return fclose(f) == 0 && ok ? 0 : -1;
}

/* In the new namespace: exit status TID_*. */
static int
tid_scenario(const char *backend)
{
	struct tid_run r = { .got = 0 };
	pthread_t th;
	r.loop = sio_loop_new(backend);
	if (r.loop == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, r.sv) != 0 ||
	    sio_io_start(r.loop, r.sv[0], SIO_READ, tid_read, &r) == NULL ||
	    pthread_create(&th, NULL, tid_first, &r) != 0)
		return TID_SETUP;
	pthread_join(th, NULL);
	/* A joined thread's id is freed a moment later: try again until the
	 * next thread gets it. */
	pid_t want = r.tid;
	for (int i = 0; i < 1000 && r.tid == want; i++) {
		if (tid_set_last(want - 1) < 0)
			return TID_NO_REUSE;
		if (pthread_create(&th, NULL, tid_second, &r) != 0)
			return TID_SETUP;
		pthread_join(th, NULL);
	}
	if (r.tid == want)
		return TID_NO_REUSE;
	return r.got && !r.lost ? TID_OK : TID_LOST;
}

static int
wait_status(pid_t pid)
{
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

SIO_BACKEND_TEST(thread, reused_thread_id)
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Its children are the namespace's: the first is its init. */
		if (unshare(CLONE_NEWPID) != 0)
			_exit(100);
		pid_t init = fork();
		if (init < 0)
			_exit(TID_SETUP);
		if (init == 0)
			_exit(tid_scenario(be->name));
		_exit(wait_status(init));
	}
	int code = wait_status(pid);
	if (code == 100 || code == TID_NO_REUSE)
		cr_skip_test("[%s] cannot have a thread id reused here (%s): "
		             "needs root for a pid namespace and ns_last_pid",
		             be->name, code == 100 ? "unshare refused" :
		             "ns_last_pid not writable");
	cr_assert_neq(code, TID_SETUP, "[%s] set-up failed in the namespace",
	              be->name);
	cr_assert_eq(code, TID_OK, "[%s] a loop run by a thread that got a "
	             "dead thread's id heard nothing (status %d)", be->name,
	             code);
}
