/*
 * test_rtsig.c - what the signal-driven backends promise beyond the core
 * suite: nothing lost when the kernel's real-time queue or the self-pipe
 * overflows, one loop per thread, stale records, the choice of signal.
 *
 * The core suites (test_io, test_dispatch, test_many, test_loop) already
 * run on rtsig; these tests are specific to the signal plumbing.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "testutil.h"

#define NPAIRS 500

struct many {
	int sv[NPAIRS][2];
	sio_io *io[NPAIRS];
	int calls[NPAIRS];
	int delivered;          /* pairs whose byte arrived */
	int trigger[2];         /* a watcher whose callback makes them ready */
};

static void
many_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct many *m = arg;
	for (int i = 0; i < NPAIRS; i++) {
		if (m->io[i] != io)
			continue;
		m->calls[i]++;
		if (t_drain(fd) > 0)
			m->delivered++;
		return;
	}
}

/* Runs inside the loop, so with its signals blocked: every write below
 * queues a signal instead of running the handler. */
static void
trigger_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct many *m = arg;
	t_drain(fd);
	for (int i = 0; i < NPAIRS; i++)
		t_write_all(m->sv[i][1], "x", 1);
	sio_io_stop(io);
}

static bool
all_delivered(void *arg)
{
	return ((struct many *)arg)->delivered == NPAIRS;
}

static void
many_open(struct many *m, sio_loop *loop)
{
	t_raise_nofile();
	for (int i = 0; i < NPAIRS; i++) {
		t_socketpair(m->sv[i]);
		m->io[i] = sio_io_start(loop, m->sv[i][0], SIO_READ, many_cb, m);
		cr_assert_not_null(m->io[i], "sio_io_start #%d: %s", i, strerror(errno));
	}
	t_socketpair(m->trigger);
	cr_assert_not_null(sio_io_start(loop, m->trigger[0], SIO_READ, trigger_cb, m));
	/* Let the start-up checks pass so that only signals remain. */
	t_run_nowait(loop, 2);
}

static void
many_close(struct many *m)
{
	for (int i = 0; i < NPAIRS; i++) {
		close(m->sv[i][0]);
		close(m->sv[i][1]);
	}
	close(m->trigger[0]);
	close(m->trigger[1]);
}

/* RLIMIT_SIGPENDING lowered to a handful: the kernel cannot queue one
 * real-time signal per event and sends plain SIGIO instead, which must
 * make the loop rescan and find every ready fd. */
Test(rtsig, queue_overflow_loses_nothing, .timeout = SIO_TEST_TIMEOUT)
{
	if (!t_have_backend("rtsig"))
		cr_skip_test("this build has no rtsig backend");
	/* Criterion runs each test in its own process: the limit dies with it. */
	struct rlimit rl = { 8, 8 };
	cr_assert_eq(setrlimit(RLIMIT_SIGPENDING, &rl), 0, "setrlimit: %s",
	             strerror(errno));
	sio_loop *loop = t_loop_new("rtsig");
	struct many *m = calloc(1, sizeof *m);
	many_open(m, loop);

	t_write_all(m->trigger[1], "go", 2);
	cr_assert(t_run_until(loop, all_delivered, m, SIO_TEST_MAX_ONCE),
	          "%d of %d events delivered after the queue overflowed",
	          m->delivered, NPAIRS);
	struct sio_stats st = t_stats(loop);
	cr_assert_gt(st.queue_overflows, 0, "no queue overflow was seen "
	             "(RLIMIT_SIGPENDING 8, %d events)", NPAIRS);
	cr_assert_gt(st.rescans, 0, "the overflow did not force a rescan");
	for (int i = 0; i < NPAIRS; i++)
		cr_assert_geq(m->calls[i], 1, "pair %d never called", i);
	many_close(m);
	free(m);
	t_loop_free(loop);
}

/* Without the limit, the same burst is delivered from the queue, record by
 * record, with no rescan: the cost of an event does not depend on how many
 * fds are watched. */
Test(rtsig, burst_without_rescan, .timeout = SIO_TEST_TIMEOUT)
{
	if (!t_have_backend("rtsig"))
		cr_skip_test("this build has no rtsig backend");
	sio_loop *loop = t_loop_new("rtsig");
	struct many *m = calloc(1, sizeof *m);
	many_open(m, loop);
	struct sio_stats before = t_stats(loop);

	t_write_all(m->trigger[1], "go", 2);
	cr_assert(t_run_until(loop, all_delivered, m, SIO_TEST_MAX_ONCE),
	          "%d of %d events delivered", m->delivered, NPAIRS);
	struct sio_stats st = t_stats(loop);
	cr_assert_eq(st.rescans, before.rescans, "a burst the queue can hold "
	             "caused %llu rescans", (unsigned long long)(st.rescans - before.rescans));
	cr_assert_geq(st.signals - before.signals, NPAIRS, "only %llu signals for "
	              "%d events", (unsigned long long)(st.signals - before.signals), NPAIRS);
	for (int i = 0; i < NPAIRS; i++)
		cr_assert_eq(m->calls[i], 1, "pair %d called %d times, want 1",
		             i, m->calls[i]);
	many_close(m);
	free(m);
	t_loop_free(loop);
}

/* ---- the self-pipe full ------------------------------------------------------ */

#define NSAT 200

struct sat {
	int sv[NSAT][2];
	int delivered;
};

static void
sat_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct sat *s = arg;
	if (t_drain(fd) > 0)
		s->delivered++;
	sio_io_stop(io);
}

static bool
sat_done(void *arg)
{
	return ((struct sat *)arg)->delivered == NSAT;
}

/* Fill the self-pipe (sio_loop_stop() writes one wake-up record into it
 * each time), then make fds ready while the loop is not running, so that
 * the handler runs for each event and finds the pipe full. */
SIO_BACKEND_TEST(rtsig, selfpipe_full_loses_nothing)
{
	if (!t_signal_driven(be))
		cr_skip_test("%s has no signal handler", be->name);
	sio_loop *loop = t_loop_new(be->name);
	struct sat *s = calloc(1, sizeof *s);
	t_raise_nofile();
	for (int i = 0; i < NSAT; i++) {
		t_socketpair(s->sv[i]);
		cr_assert_not_null(sio_io_start(loop, s->sv[i][0], SIO_READ, sat_cb, s));
	}
	t_run_nowait(loop, 2);
	for (int i = 0; i < 20000; i++)     /* far more than a pipe holds */
		sio_loop_stop(loop);
	for (int i = 0; i < NSAT; i++)
		t_write_all(s->sv[i][1], "y", 1);
	cr_assert(t_run_until(loop, sat_done, s, SIO_TEST_MAX_ONCE),
	          "%d of %d events delivered with the self-pipe full",
	          s->delivered, NSAT);
	struct sio_stats st = t_stats(loop);
	cr_assert_gt(st.pipe_overflows, 0, "the handler never found the pipe full");
	cr_assert_gt(st.rescans, 0, "the full pipe did not force a rescan");
	for (int i = 0; i < NSAT; i++) {
		close(s->sv[i][0]);
		close(s->sv[i][1]);
	}
	free(s);
	t_loop_free(loop);
}

/* ---- one loop per thread ------------------------------------------------------ */

#define NTHREADS 4
#define PER_THREAD 250

struct worker {
	sio_loop *loop;
	pthread_t self;
	int sv[PER_THREAD][2];
	int delivered;
	atomic_int wrong_thread;
	pthread_barrier_t *ready;
};

static void
worker_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct worker *w = arg;
	char buf[16];
	if (!pthread_equal(pthread_self(), w->self))
		atomic_fetch_add(&w->wrong_thread, 1);
	if (read(fd, buf, sizeof buf) > 0)      /* not t_drain: no asserts here */
		w->delivered++;
	sio_io_stop(io);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	w->self = pthread_self();
	for (int i = 0; i < PER_THREAD; i++)
		if (sio_io_start(w->loop, w->sv[i][0], SIO_READ, worker_cb, w) == NULL)
			return (void *)"sio_io_start failed";
	/* The start-up checks, then wait for the main thread's writes. */
	sio_loop_run(w->loop, SIO_RUN_NOWAIT);
	pthread_barrier_wait(w->ready);
	if (sio_loop_run(w->loop, SIO_RUN_DEFAULT) < 0)
		return (void *)"sio_loop_run failed";
	return NULL;
}

SIO_BACKEND_TEST(rtsig, loop_per_thread)
{
	if (t_is(be, "select"))
		cr_skip_test("2,000 fds do not fit below FD_SETSIZE");
	struct worker *w = calloc(NTHREADS, sizeof *w);
	pthread_t tid[NTHREADS];
	pthread_barrier_t ready;
	t_raise_nofile();
	pthread_barrier_init(&ready, NULL, NTHREADS + 1);
	/* This thread runs no loop: it blocks the runtime's signals, so any
	 * that were sent to it (or to the process) would stay pending here. */
	sigset_t rt, pend;
	sigemptyset(&rt);
	sigaddset(&rt, SIGIO);
	for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
		sigaddset(&rt, s);
	for (int t = 0; t < NTHREADS; t++) {
		w[t].loop = t_loop_new(be->name);
		w[t].ready = &ready;
		for (int i = 0; i < PER_THREAD; i++)
			t_socketpair(w[t].sv[i]);
	}
	pthread_sigmask(SIG_BLOCK, &rt, NULL);
	for (int t = 0; t < NTHREADS; t++)
		cr_assert_eq(pthread_create(&tid[t], NULL, worker_main, &w[t]), 0);
	pthread_barrier_wait(&ready);
	for (int i = 0; i < PER_THREAD; i++)
		for (int t = 0; t < NTHREADS; t++)
			t_write_all(w[t].sv[i][1], "z", 1);
	for (int t = 0; t < NTHREADS; t++) {
		void *err;
		pthread_join(tid[t], &err);
		cr_assert_null(err, "thread %d: %s", t, (const char *)err);
		cr_assert_eq(w[t].delivered, PER_THREAD, "thread %d got %d of %d "
		             "events", t, w[t].delivered, PER_THREAD);
		cr_assert_eq(atomic_load(&w[t].wrong_thread), 0, "thread %d: %d "
		             "callbacks ran on another thread", t,
		             atomic_load(&w[t].wrong_thread));
	}
	sigpending(&pend);
	if (!strcmp(be->name, "rtsig") || !strcmp(be->name, "sigio"))
		for (int s = 1; s < NSIG; s++)
			cr_assert(!sigismember(&rt, s) || !sigismember(&pend, s),
			          "signal %d reached the thread that runs no loop", s);
	for (int t = 0; t < NTHREADS; t++) {
		for (int i = 0; i < PER_THREAD; i++) {
			close(w[t].sv[i][0]);
			close(w[t].sv[i][1]);
		}
		t_loop_free(w[t].loop);
	}
	pthread_barrier_destroy(&ready);
	free(w);
}

/* ---- stale records -------------------------------------------------------------- */

struct stale {
	sio_loop *loop;
	int a[2];               /* the fd closed with a record queued */
	int b[2];               /* its number reused */
	sio_io *old_io, *new_io;
	int old_calls, new_calls, trigger_calls;
	unsigned new_revents;
};

static void
stale_old_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	((struct stale *)arg)->old_calls++;
}

static void
stale_new_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct stale *s = arg;
	s->new_calls++;
	s->new_revents = revents;
	t_drain(fd);
	sio_io_stop(io);
	s->new_io = NULL;
}

/* With the loop's signals blocked: queue a record for a[0], then stop its
 * watcher, close it, and give its number to a new socket and watcher. */
static void
stale_trigger_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct stale *s = arg;
	int x = s->a[0];
	s->trigger_calls++;
	t_drain(fd);
	sio_io_stop(io);
	t_write_all(s->a[1], "old", 3);         /* queues a record for x */
	sio_io_stop(s->old_io);
	s->old_io = NULL;
	close(s->a[0]);
	close(s->a[1]);
	t_socketpair(s->b);
	if (s->b[0] != x) {                     /* take the number back */
		cr_assert_eq(dup2(s->b[0], x), x);
		close(s->b[0]);
		s->b[0] = x;
	}
	s->new_io = sio_io_start(s->loop, x, SIO_READ, stale_new_cb, s);
	cr_assert_not_null(s->new_io);
}

SIO_BACKEND_TEST(rtsig, stale_record_after_reuse)
{
	struct stale s = { 0 };
	int trig[2];
	s.loop = t_loop_new(be->name);
	t_socketpair(s.a);
	t_socketpair(trig);
	s.old_io = sio_io_start(s.loop, s.a[0], SIO_READ, stale_old_cb, &s);
	cr_assert_not_null(s.old_io);
	cr_assert_not_null(sio_io_start(s.loop, trig[0], SIO_READ, stale_trigger_cb, &s));
	t_run_nowait(s.loop, 2);
	t_write_all(trig[1], "t", 1);
	t_run(s.loop, SIO_RUN_ONCE);
	cr_assert_eq(s.trigger_calls, 1);
	/* The new socket has no data: its watcher may get a spurious call from
	 * the old record, but the stopped one never runs. */
	t_run_nowait(s.loop, 3);
	cr_assert_eq(s.old_calls, 0, "a stopped watcher ran %d times for a "
	             "record of its closed fd", s.old_calls);
	cr_assert_leq(s.new_calls, 1, "the new watcher ran %d times", s.new_calls);
	if (s.new_io != NULL)
		sio_io_stop(s.new_io);
	t_loop_free(s.loop);
	close(s.b[0]);
	close(s.b[1]);
	close(trig[0]);
	close(trig[1]);
}

/* ---- choosing the signal ------------------------------------------------------------ */

Test(rtsig, signal_choice, .timeout = SIO_TEST_TIMEOUT)
{
	if (!t_have_backend("rtsig"))
		cr_skip_test("this build has no rtsig backend");
	/* By default: a real-time signal the application does not use. */
	struct sigaction mine = { .sa_handler = SIG_IGN };
	sigaction(SIGRTMAX, &mine, NULL);
	sio_loop *loop = t_loop_new("rtsig");
	int s = sio_rtsig_get();
	cr_assert(s >= SIGRTMIN && s <= SIGRTMAX, "signal %d is not real-time", s);
	cr_assert_neq(s, SIGRTMAX, "took SIGRTMAX, which the application uses");
	cr_assert_eq(sio_rtsig_set(s == SIGRTMIN ? SIGRTMIN + 1 : SIGRTMIN), -1,
	             "changed the signal while a loop uses it");
	cr_assert_eq(errno, EBUSY);
	t_loop_free(loop);
	cr_assert_eq(sio_rtsig_get(), 0, "no rtsig loop, yet a signal in use");

	/* By API call. */
	cr_assert_eq(sio_rtsig_set(SIGRTMIN + 3), 0, "sio_rtsig_set: %s", strerror(errno));
	loop = t_loop_new("rtsig");
	cr_assert_eq(sio_rtsig_get(), SIGRTMIN + 3);
	t_loop_free(loop);
	cr_assert_eq(sio_rtsig_set(0), 0);

	/* By environment: SIGRTMIN+k. */
	setenv("SIGIO_RTSIG", "2", 1);
	loop = t_loop_new("rtsig");
	cr_assert_eq(sio_rtsig_get(), SIGRTMIN + 2, "SIGIO_RTSIG=2 gave %d, want %d",
	             sio_rtsig_get(), SIGRTMIN + 2);
	t_loop_free(loop);
	setenv("SIGIO_RTSIG", "9999", 1);
	errno = 0;
	cr_assert_null(sio_loop_new("rtsig"), "SIGIO_RTSIG=9999 accepted");
	cr_assert_eq(errno, EINVAL);
	unsetenv("SIGIO_RTSIG");

	cr_assert_eq(sio_rtsig_set(SIGINT), -1, "SIGINT accepted as real-time");
	cr_assert_eq(errno, EINVAL);
}

/* The drain without a signalfd (sigtimedwait) delivers the same. */
Test(rtsig, sigtimedwait_drain, .timeout = SIO_TEST_TIMEOUT)
{
	if (!t_have_backend("rtsig"))
		cr_skip_test("this build has no rtsig backend");
	setenv("SIGIO_DRAIN", "sigtimedwait", 1);
	sio_loop *loop = t_loop_new("rtsig");
	struct many *m = calloc(1, sizeof *m);
	many_open(m, loop);
	t_write_all(m->trigger[1], "go", 2);
	cr_assert(t_run_until(loop, all_delivered, m, SIO_TEST_MAX_ONCE),
	          "%d of %d events delivered", m->delivered, NPAIRS);
	many_close(m);
	free(m);
	t_loop_free(loop);
	unsetenv("SIGIO_DRAIN");
}

/* ---- the handler route ------------------------------------------------------------ */

struct sleeper {
	pid_t loop_tid;
	int fd;
	int calls;
	long sleep_call;        /* SYS_ppoll or SYS_poll */
	sio_loop *loop;         /* stopped by a read, if set */
};

/* True once thread `tid` is blocked in system call `nr`: the loop is
 * asleep. */
static bool
in_syscall(pid_t tid, long nr)
{
	char path[64], buf[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/syscall", (int)tid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return false;
	bool yes = fgets(buf, sizeof buf, f) != NULL && atol(buf) == nr;
	fclose(f);
	return yes;
}

/* Wait until thread `tid` sleeps in system call `nr` or `nr2` (-1: none).
 * Nothing tells another thread that a loop sleeps: look at what its thread
 * is doing, a millisecond apart, for at most 10 seconds. */
static bool
wait_asleep(pid_t tid, long nr, long nr2)
{
	for (int i = 0; i < 10000; i++) {
		if (in_syscall(tid, nr) || (nr2 >= 0 && in_syscall(tid, nr2)))
			return true;
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	return false;
}

static void *
wake_writer(void *arg)
{
	struct sleeper *s = arg;
	(void)wait_asleep(s->loop_tid, s->sleep_call, -1);
	if (write(s->fd, "w", 1) != 1)
		return (void *)"write failed";
	return NULL;
}

static void
sleeper_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct sleeper *s = arg;
	char c;
	if (read(fd, &c, 1) == 1) {
		s->calls++;
		if (s->loop != NULL)
			sio_loop_stop(s->loop);
	}
}

/* A signal that arrives while the loop sleeps runs the handler, whose
 * record on the self-pipe wakes the loop: the route that covers the race
 * between the last check and the sleep.  rtsig sleeps on its signalfd
 * instead (below): SIGIO_SLEEP=handler puts it on this route, which
 * stays the way where there is no signalfd. */
static void
sleep_woken(const struct sio_test_backend *be, bool by_signalfd)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct sleeper s = { .loop_tid = (pid_t)syscall(SYS_gettid),
	                     .sleep_call = by_signalfd ? SYS_poll : SYS_ppoll };
	s.fd = f.sv[1];
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, sleeper_cb, &s));
	t_run_nowait(loop, 2);
	struct sio_stats before = t_stats(loop);
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, wake_writer, &s), 0);
	t_run(loop, SIO_RUN_ONCE);
	void *err;
	pthread_join(th, &err);
	cr_assert_null(err, "%s", (const char *)err);
	struct sio_stats st = t_stats(loop);
	cr_assert_eq(s.calls, 1, "callback ran %d times", s.calls);
	cr_assert_gt(st.sleeps, before.sleeps, "the loop never slept");
	if (by_signalfd)
		cr_assert_eq(st.wakeups, before.wakeups, "the self-pipe woke "
		             "the loop: the handler ran");
	else
		cr_assert_gt(st.wakeups, before.wakeups, "the self-pipe never "
		             "woke the loop");
	cr_assert_gt(st.signals, before.signals, "no signal was counted");
	t_fixture_close(&f);
}

SIO_BACKEND_TEST(rtsig, handler_wakes_sleeping_loop)
{
	if (!t_signal_driven(be))
		cr_skip_test("%s has no signal handler", be->name);
	setenv("SIGIO_SLEEP", "handler", 1);
	sleep_woken(be, false);
}

SIO_BACKEND_TEST(rtsig, signalfd_wakes_sleeping_loop)
{
	if (!t_sleeps_on_signalfd(be))
		cr_skip_test("%s does not sleep on a signalfd", be->name);
	sleep_woken(be, true);
}

/* Between runs the runtime's signals are not blocked: the handler takes
 * them at once and the records wait in the self-pipe for the next run. */
SIO_BACKEND_TEST(rtsig, handler_between_runs)
{
	if (!t_signal_driven(be))
		cr_skip_test("%s has no signal handler", be->name);
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct sleeper s = { 0 };
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, sleeper_cb, &s));
	t_run_nowait(loop, 2);
	struct sio_stats before = t_stats(loop);
	t_write_all(f.sv[1], "x", 1);     /* the handler runs here, in this thread */
	t_run(loop, SIO_RUN_ONCE);
	struct sio_stats st = t_stats(loop);
	cr_assert_eq(s.calls, 1);
	cr_assert_gt(st.wakeups, before.wakeups, "the handler's record was not read");
	t_fixture_close(&f);
}

/* Scan /proc's status of thread `tid` for the line `fmt` (one sscanf
 * conversion into `out`); 1 if found, 0 if not or unreadable. */
static int
task_status(pid_t tid, const char *fmt, void *out)
{
	char path[64], line[128];
	snprintf(path, sizeof path, "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "r");
	int found = 0;
	if (f == NULL)
		return 0;
	while (!found && fgets(line, sizeof line, f) != NULL)
		found = sscanf(line, fmt, out) == 1;
	fclose(f);
	return found;
}

/* Whether thread `tid` has `signo` blocked now (SigBlk: during ppoll(),
 * the mask it sleeps with); -1 if that cannot be read. */
static int
thread_blocks(pid_t tid, int signo)
{
	unsigned long long mask;
	if (!task_status(tid, "SigBlk: %llx", &mask))
		return -1;
	return (int)((mask >> (signo - 1)) & 1);
}

struct fullsleep {
	pid_t loop_tid;
	int spurious[2];        /* raises a SIGIO, then is read dry */
	int wake_fd;            /* the writer's end of the watched pair */
	int sigio_blocked;      /* in the sleep's mask, seen by the writer */
	struct sleeper s;
};

static void *
fullsleep_writer(void *arg)
{
	struct fullsleep *fs = arg;
	if (!wait_asleep(fs->loop_tid, SYS_ppoll, -1))
		return (void *)"the loop never slept in ppoll()";
	fs->sigio_blocked = thread_blocks(fs->loop_tid, SIGIO);
	if (write(fs->wake_fd, "w", 1) != 1)
		return (void *)"write failed";
	return NULL;
}

/* In a callback (the runtime's signals blocked): raise a SIGIO for an fd
 * that is not ready any more by the time the loop looks. */
static void
raise_spurious_sigio(sio_timer *t, void *arg)
{
	struct fullsleep *fs = arg;
	(void)t;
	char c;
	t_write_all(fs->spurious[1], "s", 1);
	cr_assert_eq(read(fs->spurious[0], &c, 1), 1, "read: %s", strerror(errno));
}

/* The sigio backend's sleep after a plain SIGIO polls every watched fd.
 * Any readiness ends that poll by itself, so it keeps the readiness
 * signals blocked: a signal raised as the loop wakes waits for the next
 * drain instead of interrupting a thread that already runs (which cost
 * a third of the backend's time at 16 connections).  The loop must still
 * wake for an fd made ready while it sleeps so, with no handler run. */
SIO_BACKEND_TEST(rtsig, full_sleep_keeps_sigio_blocked)
{
	if (strcmp(be->name, "sigio") != 0)
		cr_skip_test("only plain SIGIO asks for a rescan each time");
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct fullsleep fs = { .loop_tid = (pid_t)syscall(SYS_gettid),
	                        .wake_fd = f.sv[1], .sigio_blocked = -1 };
	t_socketpair(fs.spurious);
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, sleeper_cb, &fs.s));
	cr_assert_not_null(sio_io_start(loop, fs.spurious[0], SIO_READ, sleeper_cb,
	                                &fs.s));
	t_run_nowait(loop, 2);
	struct sio_stats before = t_stats(loop);
	/* The iteration whose timer raises the SIGIO sleeps after it
	 * (SIO_RUN_DEFAULT: the timer's run does not end it); the callback
	 * that reads the writer's byte stops the run. */
	fs.s.loop = loop;
	cr_assert_not_null(sio_timer_start(loop, 0, 0, raise_spurious_sigio, &fs));
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, fullsleep_writer, &fs), 0);
	t_run(loop, SIO_RUN_DEFAULT);
	void *err;
	pthread_join(th, &err);
	cr_assert_null(err, "%s", (const char *)err);
	struct sio_stats st = t_stats(loop);
	cr_assert_eq(fs.s.calls, 1, "callbacks read %d bytes", fs.s.calls);
	cr_assert_gt(st.rescans, before.rescans, "the SIGIO asked for no rescan");
	cr_assert_eq(fs.sigio_blocked, 1, "SIGIO was %s in the sleep's mask",
	             fs.sigio_blocked == 0 ? "unblocked" : "unknown");
	cr_assert_eq(st.wakeups, before.wakeups, "the handler woke the loop");
	close(fs.spurious[0]);
	close(fs.spurious[1]);
	t_fixture_close(&f);
}

/* ---- several loops: no loop is woken by another's signals ------------------------ */

/* The voluntary context switches of thread `tid` so far. */
static long
ctxt_switches(pid_t tid)
{
	long n = -1;
	(void)task_status(tid, "voluntary_ctxt_switches: %ld", &n);
	return n;
}

struct bystander {
	const char *backend;
	int rd;                 /* a pipe nothing is written to until the end */
	_Atomic pid_t tid;
	struct sleeper s;       /* counts what it read */
};

static void *
bystander_main(void *arg)
{
	struct bystander *b = arg;
	sio_loop *loop = sio_loop_new(b->backend);
	if (loop == NULL)
		return (void *)"sio_loop_new failed";
	if (sio_io_start(loop, b->rd, SIO_READ, sleeper_cb, &b->s) == NULL)
		return (void *)"sio_io_start failed";
	atomic_store(&b->tid, (pid_t)syscall(SYS_gettid));
	int rc = sio_loop_run(loop, SIO_RUN_ONCE);
	sio_loop_free(loop);
	return rc == 0 ? NULL : (void *)"sio_loop_run failed";
}

/* A sleep on a signalfd waits on the process's queue, which every signal
 * queued to any thread wakes: a loop asleep that way would be woken by
 * each readiness signal of every other loop (and go back to sleep having
 * found nothing), as memcached's dispatcher was by its workers'.  With a
 * second loop, they sleep on the handler's route, which a signal sent to
 * another thread leaves alone: 500 events of one loop must not switch the
 * other's sleeping thread in and out 500 times. */
SIO_BACKEND_TEST(rtsig, sleeping_loop_not_woken_by_another_loops_signals)
{
	if (!t_sleeps_on_signalfd(be))
		cr_skip_test("%s does not sleep on a signalfd", be->name);
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct sleeper s = { 0 };
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, sleeper_cb, &s));
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct bystander b = { .backend = be->name, .rd = p[0] };
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, bystander_main, &b), 0);
	pid_t tid = 0;
	for (int i = 0; i < 10000 && (tid = atomic_load(&b.tid)) == 0; i++) {
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
	cr_assert(tid != 0, "the second loop never started");
	(void)wait_asleep(tid, SYS_ppoll, SYS_poll);
	bool on_handler = in_syscall(tid, SYS_ppoll);
	long before = ctxt_switches(tid);
	for (int i = 0; i < 500; i++) {
		t_write_all(f.sv[1], "x", 1);
		t_run(loop, SIO_RUN_ONCE);
	}
	long after = ctxt_switches(tid);
	cr_assert_eq(s.calls, 500);
	t_write_all(p[1], "w", 1);
	void *err;
	pthread_join(th, &err);
	cr_assert_null(err, "%s", (const char *)err);
	cr_assert_eq(b.s.calls, 1);
	cr_assert_lt(after - before, 20, "the sleeping loop's thread was woken "
	             "%ld times by 500 signals of another loop", after - before);
	cr_assert(on_handler, "the second loop did not sleep in ppoll(), on "
	          "the handler's route");
	close(p[0]);
	close(p[1]);
	t_fixture_close(&f);
}
