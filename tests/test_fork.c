/*
 * test_fork.c - sio_loop_fork(): after fork(), the child's loop serves the
 * fds it keeps while the parent's loop keeps serving the ones whose
 * inherited watchers the child stopped (or whose loop it freed); the
 * child's timers, async handles and signal watchers run on its own
 * self-pipe, and its wake-ups never reach the parent.
 *
 * The child never calls Criterion: it reports by exit status (0, or one of
 * the codes below) and over a pipe, and leaves with _exit().  The parent
 * waits for it with waitpid() and for its reports with blocking reads on
 * pipes (set-up, not the loop).  On the signal-driven backends an open file
 * description has one owner and one O_ASYNC flag, shared by parent and
 * child: a watcher the parent stops clears the flag for both, so the parent
 * stops what the child keeps before the child first runs its loop, as
 * sio_loop_fork() documents.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* Why a child failed: its exit status. */
enum {
	CHILD_OK = 0,
	CHILD_FORK_CALL = 10,   /* sio_loop_fork() failed */
	CHILD_NO_GO,            /* the parent's go never came */
	CHILD_RUN,              /* sio_loop_run() failed */
	CHILD_LOST,             /* data for a kept fd never reached it */
	CHILD_DATA,             /* the wrong data */
	CHILD_SERVED_PARENTS,   /* a watcher it stopped ran */
	CHILD_OWNER,            /* a kept fd is not owned by the child */
	CHILD_ASYNC_FLAG,       /* O_ASYNC missing on a kept fd */
	CHILD_PARENT_OWNER,     /* the parent's fd changed owner */
	CHILD_PARENT_FLAG,      /* the parent's fd lost O_ASYNC */
	CHILD_HANDLES,          /* a timer, async or signal callback missing */
	CHILD_SETUP,            /* a system call of the test failed */
	CHILD_ALIVE,            /* it survived a signal that kills by default */
	CHILD_APP_HANDLER,      /* the application's own handler did not run */
	CHILD_MASK,             /* it started with another signal mask */
	CHILD_RETURNED,         /* the inherited run returned in the child */
	CHILD_CODES
};

static const char *const child_why[CHILD_CODES] = {
	[CHILD_OK] = "ok",
	[CHILD_FORK_CALL] = "sio_loop_fork() failed",
	[CHILD_NO_GO] = "the parent's go never came",
	[CHILD_RUN] = "sio_loop_run() failed or hung",
	[CHILD_LOST] = "data on an fd the child kept never reached its loop",
	[CHILD_DATA] = "the child read the wrong data",
	[CHILD_SERVED_PARENTS] = "a watcher the child stopped ran in the child",
	[CHILD_OWNER] = "an fd the child kept is not owned by the child's thread",
	[CHILD_ASYNC_FLAG] = "an fd the child kept has no O_ASYNC",
	[CHILD_PARENT_OWNER] = "the parent's fd changed owner in the child",
	[CHILD_PARENT_FLAG] = "the parent's fd lost O_ASYNC in the child",
	[CHILD_HANDLES] = "a timer, async or signal callback did not run in "
	                  "the child",
	[CHILD_SETUP] = "a system call of the test failed in the child",
	[CHILD_ALIVE] = "the child survived a SIGTERM whose disposition was "
	                "the default",
	[CHILD_APP_HANDLER] = "the application's own handler did not run in "
	                      "the child",
	[CHILD_MASK] = "the child forked from a callback started with a "
	               "signal mask other than the application's",
	[CHILD_RETURNED] = "the inherited run returned in the child without "
	                   "the child's watcher having run",
};

static pid_t
my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

/* The thread that owns fd's description (F_GETOWN_EX), or -1. */
static pid_t
owner_of(int fd)
{
#ifdef F_GETOWN_EX
	struct f_owner_ex o;

	if (fcntl(fd, F_GETOWN_EX, &o) < 0)
		return -1;
	return o.pid;
#else
	return fcntl(fd, F_GETOWN);
#endif
}

static bool
has_async(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl >= 0 && (fl & O_ASYNC);
}

/* Reads what arrives on a watched fd. */
struct reader {
	char buf[32];
	size_t n;
	int calls;
};

static void
reader_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct reader *r = arg;
	ssize_t n;

	(void)io; (void)revents;
	r->calls++;
	while ((n = read(fd, r->buf + r->n, sizeof(r->buf) - 1 - r->n)) > 0)
		r->n += (size_t)n;
}

static bool
got_data(void *arg)
{
	return ((struct reader *)arg)->n > 0;
}

/* ---- the two processes' channels ------------------------------------------------- */

struct chan {
	int go[2];              /* parent -> child: "the parent is ready" */
	int rep[2];             /* child -> parent: "the child's loop runs" */
};

static void
chan_open(struct chan *c)
{
	cr_assert_eq(pipe(c->go), 0, "pipe: %s", strerror(errno));
	cr_assert_eq(pipe(c->rep), 0, "pipe: %s", strerror(errno));
}

/* In each process after fork(): keep its own ends. */
static void
chan_child(struct chan *c)
{
	close(c->go[1]);
	close(c->rep[0]);
}

static void
chan_parent(struct chan *c)
{
	close(c->go[0]);
	close(c->rep[1]);
}

static void
chan_close_parent(struct chan *c)
{
	close(c->go[1]);
	close(c->rep[0]);
}

/* Child: wait for the parent's go (EOF: the parent is gone). */
static void
child_wait_go(struct chan *c)
{
	char g;
	ssize_t n;

	do
		n = read(c->go[0], &g, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		_exit(CHILD_NO_GO);
}

static void
parent_go(struct chan *c)
{
	t_write_all(c->go[1], "g", 1);
}

/* Parent: wait (set-up, bounded) for the child's report that its loop
 * runs. */
static void
parent_wait_report(struct chan *c, pid_t pid)
{
	struct pollfd pfd = { .fd = c->rep[0], .events = POLLIN };
	char r;
	int n;

	do
		n = poll(&pfd, 1, 10000);
	while (n < 0 && errno == EINTR);
	cr_assert_eq(n, 1, "the child (pid %d) never reported", (int)pid);
	cr_assert_eq(read(c->rep[0], &r, 1), 1, "the child (pid %d) died "
	             "before its loop ran", (int)pid);
}

/* A one-shot timer of the child's loop: tells the parent the loop runs
 * (and so has adopted the fds it keeps). */
static void
report_cb(sio_timer *t, void *arg)
{
	int fd = *(int *)arg;

	(void)t;
	if (write(fd, "r", 1) != 1)
		_exit(CHILD_SETUP);
}

/* Child: run until done(arg) or the guard; exit on failure. */
static void
child_run_until(sio_loop *loop, bool (*done)(void *), void *arg)
{
	for (int i = 0; i < SIO_TEST_MAX_ONCE && !done(arg); i++) {
		if (sio_loop_run(loop, SIO_RUN_ONCE) != 0 || t_guard_fired())
			_exit(CHILD_RUN);
	}
	if (!done(arg))
		_exit(CHILD_LOST);
}

/* Parent: the child's exit status must be 0. */
static void
parent_reap(pid_t pid, const char *backend)
{
	int status, code;
	pid_t got;

	do
		got = waitpid(pid, &status, 0);
	while (got < 0 && errno == EINTR);
	cr_assert_eq(got, pid, "waitpid: %s", strerror(errno));
	cr_assert(WIFEXITED(status), "[%s] the child died of signal %d",
	          backend, WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	code = WEXITSTATUS(status);
	cr_assert_eq(code, 0, "[%s] the child failed (exit %d): %s", backend,
	             code, code < CHILD_CODES && child_why[code] != NULL ?
	             child_why[code] : "?");
}

static void
close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

/* fork() with the channels open, each process keeping its own ends; the
 * child's copy of the loop is put under a shorter guard.  Returns fork()'s
 * value. */
static pid_t
fork_with_chan(struct chan *c, sio_loop *loop)
{
	pid_t pid;

	chan_open(c);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		chan_child(c);
		t_guard(loop, SIO_TEST_GUARD / 2);
	} else {
		chan_parent(c);
	}
	return pid;
}

/* The fixture of the tests that fork with fds watched: a loop watching
 * (reader_cb) a[0] and b[0] of two socketpairs, run twice so that both
 * watchers are settled before the fork. */
struct pairs {
	sio_loop *loop;
	int a[2], b[2];         /* an end a test closes itself is set to -1 */
	sio_io *wa, *wb;
	struct reader r[2];     /* what the watchers of a[0] and b[0] read */
};

static sio_loop *
pairs_open(struct pairs *p, const struct sio_test_backend *be)
{
	memset(p, 0, sizeof(*p));
	p->loop = t_loop_new(be->name);
	t_socketpair(p->a);
	t_socketpair(p->b);
	p->wa = sio_io_start(p->loop, p->a[0], SIO_READ, reader_cb, &p->r[0]);
	p->wb = sio_io_start(p->loop, p->b[0], SIO_READ, reader_cb, &p->r[1]);
	cr_assert(p->wa != NULL && p->wb != NULL, "sio_io_start: %s",
	          strerror(errno));
	t_run_nowait(p->loop, 2);
	return p->loop;
}

/* Frees the loop (and with it the watchers still started), then closes
 * the ends still open. */
static void
pairs_close(struct pairs *p)
{
	t_loop_free(p->loop);
	for (int i = 0; i < 2; i++) {
		if (p->a[i] >= 0)
			close(p->a[i]);
		if (p->b[i] >= 0)
			close(p->b[i]);
	}
}

/* ---- the child keeps one fd, the parent the other ------------------------------ */

SIO_BACKEND_TEST(fork, child_keeps_one_parent_keeps_other)
{
	struct pairs p;
	sio_loop *loop = pairs_open(&p, be);
	struct chan c;
	pid_t pid, parent_tid = my_tid();

	pid = fork_with_chan(&c, loop);
	if (pid == 0) {
		if (sio_loop_fork(loop) != 0)
			_exit(CHILD_FORK_CALL);
		sio_io_stop(p.wb);                /* b stays the parent's */
		if (t_signal_driven(be) && (!has_async(p.b[0]) ||
		                            owner_of(p.b[0]) != parent_tid))
			_exit(has_async(p.b[0]) ? CHILD_PARENT_OWNER :
			      CHILD_PARENT_FLAG);
		child_wait_go(&c);
		if (sio_timer_start(loop, 0, 0, report_cb, &c.rep[1]) == NULL)
			_exit(CHILD_SETUP);
		child_run_until(loop, got_data, &p.r[0]);
		if (p.r[0].n != 1 || p.r[0].buf[0] != 'a')
			_exit(CHILD_DATA);
		if (p.r[1].calls != 0)
			_exit(CHILD_SERVED_PARENTS);
		if (t_signal_driven(be) && owner_of(p.a[0]) != my_tid())
			_exit(CHILD_OWNER);
		if (t_signal_driven(be) && !has_async(p.a[0]))
			_exit(CHILD_ASYNC_FLAG);
		_exit(CHILD_OK);
	}
	/* a is the child's from now on: stop it here before the child runs
	 * (stopping clears O_ASYNC on the shared description). */
	sio_io_stop(p.wa);
	close(p.a[0]);
	p.a[0] = -1;
	parent_go(&c);
	parent_wait_report(&c, pid);
	/* The child's loop runs, and may sleep: these wake the right one. */
	t_write_all(p.a[1], "a", 1);
	t_write_all(p.b[1], "b", 1);
	cr_assert(t_run_until(loop, got_data, &p.r[1], SIO_TEST_MAX_ONCE), "[%s] the "
	          "parent's loop never served the fd whose inherited watcher "
	          "the child stopped", be->name);
	cr_assert(p.r[1].n == 1 && p.r[1].buf[0] == 'b', "[%s] the parent read \"%.*s\"",
	          be->name, (int)p.r[1].n, p.r[1].buf);
	parent_reap(pid, be->name);
	if (t_signal_driven(be)) {
		cr_assert(has_async(p.b[0]), "[%s] the parent's fd lost O_ASYNC",
		          be->name);
		cr_assert_eq(owner_of(p.b[0]), parent_tid, "[%s] the parent's fd "
		             "is owned by %d, not the parent's thread %d",
		             be->name, (int)owner_of(p.b[0]), (int)parent_tid);
	}
	/* And keeps serving it after the child is gone. */
	p.r[1].n = 0;
	t_write_all(p.b[1], "b", 1);
	cr_assert(t_run_until(loop, got_data, &p.r[1], SIO_TEST_MAX_ONCE), "[%s] the "
	          "parent's loop stopped serving its fd after the child exited",
	          be->name);
	sio_io_stop(p.wb);
	chan_close_parent(&c);
	pairs_close(&p);
}

/* ---- the child frees its copy of the loop ---------------------------------------- */

static bool
got_both(void *arg)
{
	struct reader *r = arg;

	return r[0].n > 0 && r[1].n > 0;
}

SIO_BACKEND_TEST(fork, child_frees_loop_parent_keeps_all)
{
	struct pairs p;
	sio_loop *loop = pairs_open(&p, be);
	pid_t pid, parent_tid = my_tid();

	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* E.g. before exec: the child wants none of it. */
		if (sio_loop_fork(loop) != 0)
			_exit(CHILD_FORK_CALL);
		sio_loop_free(loop);
		if (t_signal_driven(be) && (!has_async(p.a[0]) || !has_async(p.b[0])))
			_exit(CHILD_PARENT_FLAG);
		_exit(CHILD_OK);
	}
	parent_reap(pid, be->name);
	if (t_signal_driven(be)) {
		cr_assert(has_async(p.a[0]) && has_async(p.b[0]), "[%s] the child's "
		          "sio_loop_free cleared O_ASYNC on the parent's fds",
		          be->name);
		cr_assert(owner_of(p.a[0]) == parent_tid &&
		          owner_of(p.b[0]) == parent_tid, "[%s] the parent's fds "
		          "changed owner", be->name);
	}
	t_write_all(p.a[1], "a", 1);
	t_write_all(p.b[1], "b", 1);
	cr_assert(t_run_until(loop, got_both, p.r, SIO_TEST_MAX_ONCE), "[%s] after "
	          "the child freed its loop, the parent served %zu and %zu "
	          "bytes of its two fds", be->name, p.r[0].n, p.r[1].n);
	pairs_close(&p);
}

/* The child stops nothing and frees nothing: it just exits. */
SIO_BACKEND_TEST(fork, child_exits_untouched)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct reader r = { .n = 0 };
	pid_t pid;

	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, reader_cb, &r),
	                   "sio_io_start: %s", strerror(errno));
	t_run_nowait(loop, 2);
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(CHILD_OK);
	parent_reap(pid, be->name);
	t_write_all(f.sv[1], "a", 1);
	cr_assert(t_run_until(loop, got_data, &r, SIO_TEST_MAX_ONCE), "[%s] the "
	          "parent's fd went deaf after a child exited", be->name);
	t_fixture_close(&f);
}

/* ---- the child keeps everything, the parent starts afresh ------------------------ */

SIO_BACKEND_TEST(fork, child_keeps_all_parent_serves_new)
{
	struct pairs p;
	sio_loop *loop = pairs_open(&p, be);
	struct reader rc = { .n = 0 };
	int cp[2];
	struct chan c;
	pid_t pid;

	pid = fork_with_chan(&c, loop);
	if (pid == 0) {
		if (sio_loop_fork(loop) != 0)
			_exit(CHILD_FORK_CALL);
		child_wait_go(&c);
		if (sio_timer_start(loop, 0, 0, report_cb, &c.rep[1]) == NULL)
			_exit(CHILD_SETUP);
		child_run_until(loop, got_both, p.r);
		if (p.r[0].buf[0] != 'a' || p.r[1].buf[0] != 'b')
			_exit(CHILD_DATA);
		if (t_signal_driven(be) && (owner_of(p.a[0]) != my_tid() ||
		                            owner_of(p.b[0]) != my_tid()))
			_exit(CHILD_OWNER);
		_exit(CHILD_OK);
	}
	sio_io_stop(p.wa);
	sio_io_stop(p.wb);
	close(p.a[0]);
	close(p.b[0]);
	p.a[0] = p.b[0] = -1;
	/* A new fd, watched by the parent only. */
	t_socketpair(cp);
	cr_assert_not_null(sio_io_start(loop, cp[0], SIO_READ, reader_cb, &rc),
	                   "sio_io_start: %s", strerror(errno));
	parent_go(&c);
	parent_wait_report(&c, pid);
	t_write_all(p.a[1], "a", 1);
	t_write_all(p.b[1], "b", 1);
	t_write_all(cp[1], "c", 1);
	cr_assert(t_run_until(loop, got_data, &rc, SIO_TEST_MAX_ONCE), "[%s] the "
	          "parent's new fd was never served", be->name);
	parent_reap(pid, be->name);
	chan_close_parent(&c);
	pairs_close(&p);
	close_pair(cp);
}

/* ---- the child stops everything inherited and serves its own ------------------- */

SIO_BACKEND_TEST(fork, child_stops_inherited_serves_own)
{
	struct pairs p;
	sio_loop *loop = pairs_open(&p, be);
	struct chan c;
	pid_t pid, parent_tid = my_tid();

	pid = fork_with_chan(&c, loop);
	if (pid == 0) {
		struct reader own = { .n = 0 };
		int sv[2];

		if (sio_loop_fork(loop) != 0)
			_exit(CHILD_FORK_CALL);
		sio_io_stop(p.wa);
		sio_io_stop(p.wb);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0 ||
		    sio_io_start(loop, sv[0], SIO_READ, reader_cb, &own) == NULL ||
		    sio_timer_start(loop, 0, 0, report_cb, &c.rep[1]) == NULL)
			_exit(CHILD_SETUP);
		/* Runs (adopting nothing) while the parent serves a and b. */
		if (sio_loop_run(loop, SIO_RUN_ONCE) != 0)
			_exit(CHILD_RUN);
		if (write(sv[1], "o", 1) != 1)
			_exit(CHILD_SETUP);
		child_run_until(loop, got_data, &own);
		if (own.buf[0] != 'o')
			_exit(CHILD_DATA);
		child_wait_go(&c);      /* the parent has read a and b */
		if (p.r[0].calls != 0 || p.r[1].calls != 0)
			_exit(CHILD_SERVED_PARENTS);
		if (t_signal_driven(be) && (owner_of(p.a[0]) != parent_tid ||
		                            owner_of(p.b[0]) != parent_tid))
			_exit(CHILD_PARENT_OWNER);
		if (t_signal_driven(be) && (!has_async(p.a[0]) || !has_async(p.b[0])))
			_exit(CHILD_PARENT_FLAG);
		_exit(CHILD_OK);
	}
	parent_wait_report(&c, pid);
	t_write_all(p.a[1], "a", 1);
	t_write_all(p.b[1], "b", 1);
	cr_assert(t_run_until(loop, got_both, p.r, SIO_TEST_MAX_ONCE), "[%s] the "
	          "parent served %zu and %zu bytes of the fds the child stopped "
	          "and left to it", be->name, p.r[0].n, p.r[1].n);
	parent_go(&c);
	parent_reap(pid, be->name);
	if (t_signal_driven(be))
		cr_assert(has_async(p.a[0]) && has_async(p.b[0]), "[%s] O_ASYNC lost",
		          be->name);
	chan_close_parent(&c);
	pairs_close(&p);
}

/* ---- timers, async handles and signal watchers in the child ------------------- */

struct handles {
	int timer_calls;
	int async_calls;
	int signal_calls;
};

static void
h_timer_cb(sio_timer *t, void *arg)
{
	(void)t;
	((struct handles *)arg)->timer_calls++;
}

static void
h_async_cb(sio_async *a, void *arg)
{
	(void)a;
	((struct handles *)arg)->async_calls++;
}

static void
h_signal_cb(sio_signal *s, int signo, unsigned count, void *arg)
{
	(void)s; (void)signo; (void)count;
	((struct handles *)arg)->signal_calls++;
}

static bool
h_all(void *arg)
{
	struct handles *h = arg;

	return h->timer_calls > 0 && h->async_calls > 0 && h->signal_calls > 0;
}

SIO_BACKEND_TEST(fork, child_handles_use_own_pipe)
{
	sio_loop *loop = t_loop_new(be->name);
	struct handles h = { 0 };
	sio_async *a;
	sio_signal *s;
	sio_timer *t;
	pid_t pid;

	a = sio_async_new(loop, h_async_cb, &h);
	s = sio_signal_start(loop, SIGUSR1, h_signal_cb, &h);
	t = sio_timer_start(loop, 5, 0, h_timer_cb, &h);
	cr_assert(a != NULL && s != NULL && t != NULL, "set-up: %s",
	          strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		t_guard(loop, SIO_TEST_GUARD / 2);
		if (sio_loop_fork(loop) != 0)
			_exit(CHILD_FORK_CALL);
		/* Wake-ups of the child's own, into its own pipe. */
		sio_async_send(a);
		raise(SIGUSR1);
		child_run_until(loop, h_all, &h);
		if (h.async_calls != 1 || h.signal_calls != 1)
			_exit(CHILD_HANDLES);
		sio_loop_free(loop);
		_exit(CHILD_OK);
	}
	parent_reap(pid, be->name);
	/* None of the child's wake-ups reached the parent's loop. */
	t_run_nowait(loop, 3);
	cr_assert_eq(h.async_calls, 0, "[%s] the child's sio_async_send ran "
	             "the parent's callback", be->name);
	cr_assert_eq(h.signal_calls, 0, "[%s] the child's SIGUSR1 ran the "
	             "parent's watcher", be->name);
	/* The parent's own still work, its timer included. */
	sio_async_send(a);
	raise(SIGUSR1);
	cr_assert(t_run_until(loop, h_all, &h, SIO_TEST_MAX_ONCE), "[%s] the "
	          "parent's timer (%d), async (%d) or signal watcher (%d) did "
	          "not run after the fork", be->name, h.timer_calls,
	          h.async_calls, h.signal_calls);
	sio_timer_stop(t);
	sio_signal_stop(s);
	sio_async_free(a);
	t_loop_free(loop);
}

/* ---- a child that never touches the loop (issue 16, item 5) ---------------------- */

static volatile sig_atomic_t app_usr2;

static void
app_usr2_handler(int signo)
{
	(void)signo;
	app_usr2 = 1;
}

static void
count_signal_cb(sio_signal *s, int signo, unsigned count, void *arg)
{
	(void)s; (void)signo;
	*(unsigned *)arg += count;
}

/* The parent watches SIGTERM (its disposition was the default) and
 * SIGUSR2 (the application had a handler of its own).  A child that never
 * calls sio_loop_fork() is not the runtime's: its SIGUSR2 runs the
 * application's handler, its SIGTERM kills it, and neither ever reaches
 * the parent's loop through the self-pipe they share. */
SIO_BACKEND_TEST(fork, child_without_fork_call_keeps_its_signals)
{
	struct sigaction sa = { .sa_handler = app_usr2_handler }, dfl = {
		.sa_handler = SIG_DFL };
	unsigned term = 0, usr2 = 0;
	sio_loop *loop;
	sio_signal *st, *su;
	pid_t pid;
	int status;

	sigemptyset(&sa.sa_mask);
	sigemptyset(&dfl.sa_mask);
	cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	cr_assert_eq(sigaction(SIGTERM, &dfl, NULL), 0);
	loop = t_loop_new(be->name);
	st = sio_signal_start(loop, SIGTERM, count_signal_cb, &term);
	su = sio_signal_start(loop, SIGUSR2, count_signal_cb, &usr2);
	cr_assert(st != NULL && su != NULL, "sio_signal_start: %s",
	          strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		raise(SIGUSR2);
		if (!app_usr2)
			_exit(CHILD_APP_HANDLER);
		raise(SIGTERM);
		_exit(CHILD_ALIVE);
	}
	while (waitpid(pid, &status, 0) < 0)
		cr_assert_eq(errno, EINTR, "waitpid: %s", strerror(errno));
	cr_assert(!WIFEXITED(status) || WEXITSTATUS(status) == 0,
	          "[%s] the child failed (exit %d): %s", be->name,
	          WEXITSTATUS(status), WEXITSTATUS(status) < CHILD_CODES ?
	          child_why[WEXITSTATUS(status)] : "?");
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	          "[%s] the child did not die of its SIGTERM", be->name);
	t_run_nowait(loop, 3);
	cr_assert_eq(term + usr2, 0, "[%s] the child's signals ran the "
	             "parent's watchers (SIGTERM %u, SIGUSR2 %u)", be->name,
	             term, usr2);
	cr_assert_eq(app_usr2, 0, "the parent's own handler ran");
	/* The parent's watchers still hear the parent's signals. */
	raise(SIGUSR2);
	t_run_nowait(loop, 3);
	cr_assert_eq(usr2, 1, "[%s] the parent's SIGUSR2 watcher ran %u "
	             "times", be->name, usr2);
	sio_signal_stop(st);
	sio_signal_stop(su);
	t_loop_free(loop);
}

/* ---- a child forked from a callback (issue 16, items 6 and 8) -------------------- */

struct cb_fork {
	sio_loop *loop;
	const struct sio_test_backend *be;
	int parent_fd;          /* the parent's watched socket */
	sio_io *parent_io;      /* its watcher */
	struct reader parent_r;
	int own[2];             /* made by the child after fork() */
	struct reader own_r;
	sigset_t app_mask;      /* the mask the application ran the loop with */
	int mode;               /* what the child does, below */
	pid_t parent;
	pid_t child;
};

enum { CB_FORK_TAKE_OVER, CB_FORK_FREE, CB_FORK_MASK };

static void
child_own_read(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct reader *r = arg;

	reader_cb(io, fd, revents, r);
	if (r->n > 0)
		_exit(CHILD_OK);        /* the inherited run served the child */
}

static void
child_own_write(sio_timer *t, void *arg)
{
	struct cb_fork *f = arg;

	(void)t;
	if (write(f->own[1], "c", 1) != 1)
		_exit(CHILD_SETUP);
}

/* The callback that forks.  The child never returns into the parent's
 * test code: it _exit()s from a callback, or the run's return is caught
 * (CHILD_RETURNED). */
static void
fork_in_callback(sio_timer *t, void *arg)
{
	struct cb_fork *f = arg;
	sigset_t cur;

	(void)t;
	f->child = fork();
	if (f->child != 0) {
		sio_loop_stop(f->loop);         /* the parent's run only */
		return;
	}
	switch (f->mode) {
	case CB_FORK_MASK:
		if (pthread_sigmask(SIG_BLOCK, NULL, &cur) != 0)
			_exit(CHILD_SETUP);
		for (int s = 1; s < 65; s++)
			if (sigismember(&cur, s) != sigismember(&f->app_mask, s))
				_exit(CHILD_MASK);
		_exit(CHILD_OK);
	case CB_FORK_FREE:
		/* Before exec, say: the child wants none of the loop. */
		sio_loop_free(f->loop);
		_exit(CHILD_OK);
	default:
		break;
	}
	/* Take the loop over and go on with the inherited run: stop what the
	 * parent keeps, serve a socket of the child's own. */
	t_guard(f->loop, SIO_TEST_GUARD / 2);
	if (sio_loop_fork(f->loop) != 0)
		_exit(CHILD_FORK_CALL);
	sio_io_stop(f->parent_io);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, f->own) != 0)
		_exit(CHILD_SETUP);
	if (sio_io_start(f->loop, f->own[0], SIO_READ, child_own_read,
	                 &f->own_r) == NULL ||
	    sio_timer_start(f->loop, 20, 0, child_own_write, f) == NULL)
		_exit(CHILD_SETUP);
}

/* The parent: a watcher on a socket of its own, a timer that forks.  After
 * the child is done, the parent's socket must still be the parent's
 * (owner, O_ASYNC) and serve it. */
static void
fork_from_callback(const struct sio_test_backend *be, int mode)
{
	struct cb_fork f = { .be = be, .mode = mode, .parent = getpid() };
	sigset_t usr1;
	int p[2];
	pid_t parent_tid = my_tid();

	/* The application runs its loop with SIGUSR1 blocked, as its own. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &usr1, NULL), 0);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, NULL, &f.app_mask), 0);
	f.loop = t_loop_new(be->name);
	t_socketpair(p);
	f.parent_fd = p[0];
	f.parent_io = sio_io_start(f.loop, p[0], SIO_READ, reader_cb, &f.parent_r);
	cr_assert_not_null(f.parent_io, "sio_io_start: %s", strerror(errno));
	t_run_nowait(f.loop, 2);
	sio_timer *t = sio_timer_start(f.loop, 0, 0, fork_in_callback, &f);
	cr_assert_not_null(t);
	int rc = sio_loop_run(f.loop, SIO_RUN_DEFAULT);
	if (getpid() != f.parent)
		_exit(CHILD_RETURNED);
	cr_assert_eq(rc, 0, "sio_loop_run: %s", strerror(errno));
	cr_assert_gt(f.child, 0, "fork: %s", strerror(errno));
	parent_reap(f.child, be->name);
	if (t_signal_driven(be)) {
		cr_assert(has_async(p[0]), "[%s] the child cleared O_ASYNC on the "
		          "parent's fd", be->name);
		cr_assert_eq(owner_of(p[0]), parent_tid, "[%s] the child took the "
		             "parent's fd", be->name);
	}
	t_write_all(p[1], "p", 1);
	cr_assert(t_run_until(f.loop, got_data, &f.parent_r, SIO_TEST_MAX_ONCE),
	          "[%s] the parent's fd went deaf after the child", be->name);
	sio_timer_stop(t);
	t_loop_free(f.loop);
	close_pair(p);
	cr_assert_eq(pthread_sigmask(SIG_UNBLOCK, &usr1, NULL), 0);
}

/* sio_loop_fork() from a callback's child: allowed (the run in progress is
 * the parent's), and the child goes on with the inherited run, served by
 * signals of its own. */
SIO_BACKEND_TEST(fork, child_of_callback_takes_loop_over)
{
	fork_from_callback(be, CB_FORK_TAKE_OVER);
}

/* sio_loop_free() from a callback's child, which then never returns into
 * the run: the parent's fds stay the parent's. */
SIO_BACKEND_TEST(fork, child_of_callback_frees_loop)
{
	fork_from_callback(be, CB_FORK_FREE);
}

/* A child forked from a callback starts with the mask the application ran
 * the loop with: none of the runtime's signals (SIGIO, SIGURG, the
 * real-time signal) blocked behind its back, through exec too. */
SIO_BACKEND_TEST(fork, child_of_callback_gets_application_mask)
{
	fork_from_callback(be, CB_FORK_MASK);
}
