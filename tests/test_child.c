/*
 * test_child.c - child watchers and sio_spawn(), on every backend: exit
 * codes and signal deaths reported once with the right status, a child
 * that exited before its watcher started, watchers stopped from their
 * callback and before the child exits, the errors, sio_child_kill()
 * before and after the reap, children nobody watches left to the
 * application, the application's SIGCHLD handler still called (and its
 * SA_NOCLDSTOP honoured), the disposition restored, two loops in two
 * threads each reaping its own children, a burst of children; then
 * spawn: stdio pipes carrying data through cat, /dev/null, fds given,
 * exec errors (no zombie, no fd left), cwd and environment, sessions and
 * process groups, fds not leaked, signals clean in the child.
 *
 * No test sleeps to wait: a child waits on a pipe the test holds (the
 * "gate"), a child's exit is awaited with waitid(WNOWAIT) where the test
 * must not reap it, and the loop runs until its callback said so.  Every
 * test ends by checking that it left no zombie (/proc).  Helper threads
 * never call cr_assert.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

/* ---- helpers ------------------------------------------------------------- */

/* Zombies whose parent is this process, counted from /proc. */
static int
zombies(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "opendir /proc: %s", strerror(errno));
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[512], state;
		const char *rp;
		int ppid;
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof buf, f) != NULL &&
		    (rp = strrchr(buf, ')')) != NULL &&
		    sscanf(rp + 1, " %c %d", &state, &ppid) == 2 &&
		    ppid == (int)getpid() && state == 'Z')
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static void
no_zombies(const struct sio_test_backend *be)
{
	cr_assert_eq(zombies(), 0, "[%s] zombies left behind", be->name);
}

/* A child that waits for one byte on a pipe and exits with that byte as
 * its status (0 at end of file).  *gate is the test's write end. */
static pid_t
fork_gated(int *gate)
{
	int p[2];
	pid_t pid;

	cr_assert_eq(pipe2(p, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		unsigned char c = 0;
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(c);
	}
	close(p[0]);
	*gate = p[1];
	return pid;
}

/* Open the gate: the child exits with `code`. */
static void
gate_open(int gate, unsigned char code)
{
	t_write_all(gate, &code, 1);
	close(gate);
}

static pid_t
fork_exit(int code)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0)
		_exit(code);
	return pid;
}

/* Block until `pid` has exited, without reaping it. */
static void
await_exit(pid_t pid)
{
	siginfo_t si;
	int rc;

	do
		rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT);
	while (rc < 0 && errno == EINTR);
	cr_assert_eq(rc, 0, "waitid(WNOWAIT): %s", strerror(errno));
}

/* What a child watcher saw. */
struct rep {
	int calls;
	pid_t pid;
	int status;
	int stop;               /* stop itself from the callback */
	sio_child *self;
	pthread_t thread;
};

static void
rep_cb(sio_child *c, pid_t pid, int status, void *arg)
{
	struct rep *r = arg;

	r->calls++;
	r->pid = pid;
	r->status = status;
	r->self = c;
	r->thread = pthread_self();
	if (r->stop)
		sio_child_stop(c);
}

static bool
rep_called(void *arg)
{
	return ((struct rep *)arg)->calls > 0;
}

static sio_child *
watch(sio_loop *loop, pid_t pid, struct rep *r)
{
	sio_child *c = sio_child_start(loop, pid, rep_cb, r);

	cr_assert_not_null(c, "sio_child_start(%d): %s", (int)pid,
	                   strerror(errno));
	return c;
}

static void
run_until_called(const struct sio_test_backend *be, sio_loop *loop,
                 struct rep *r)
{
	cr_assert(t_run_until(loop, rep_called, r, SIO_TEST_MAX_ONCE),
	          "[%s] the child's end was never reported", be->name);
}

static struct sigaction
disposition(int signo)
{
	struct sigaction sa;

	cr_assert_eq(sigaction(signo, NULL, &sa), 0, "sigaction: %s",
	             strerror(errno));
	return sa;
}

static bool
chld_is_default(void)
{
	struct sigaction sa = disposition(SIGCHLD);

	return !(sa.sa_flags & SA_SIGINFO) && sa.sa_handler == SIG_DFL;
}

/* ---- exit statuses ---------------------------------------------------------- */

SIO_BACKEND_TEST(child, exit_code_reported_once)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { 0 };
	int gate;
	pid_t pid = fork_gated(&gate);
	sio_child *c = watch(loop, pid, &r);

	cr_assert_eq(sio_child_pid(c), pid, "[%s] sio_child_pid", be->name);
	gate_open(gate, 7);
	run_until_called(be, loop, &r);
	cr_assert_eq(r.pid, pid, "[%s] callback pid %d, want %d", be->name,
	             (int)r.pid, (int)pid);
	cr_assert_eq(r.self, c, "[%s] callback got another handle", be->name);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 7,
	          "[%s] status %#x, want exit 7", be->name, r.status);
	/* Reaped by the runtime: nothing left for anybody. */
	cr_assert_eq(waitpid(pid, NULL, WNOHANG), -1, "[%s] child not reaped",
	             be->name);
	cr_assert_eq(errno, ECHILD, "[%s] waitpid: %s", be->name, strerror(errno));
	/* Inactive, but the handle is valid until stopped: DEFAULT returns,
	 * and the callback never runs again. */
	t_run(loop, SIO_RUN_DEFAULT);
	t_run_nowait(loop, 3);
	cr_assert_eq(r.calls, 1, "[%s] reported %d times", be->name, r.calls);
	cr_assert_eq(sio_child_pid(c), pid, "[%s] pid after the report", be->name);
	sio_child_stop(c);
	cr_assert(chld_is_default(), "[%s] SIGCHLD not restored", be->name);
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(child, exit_zero_and_255)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r0 = { .stop = 1 }, r1 = { .stop = 1 };

	watch(loop, fork_exit(0), &r0);
	watch(loop, fork_exit(255), &r1);
	t_run(loop, SIO_RUN_DEFAULT);   /* returns once both stopped */
	cr_assert_eq(r0.calls, 1, "[%s] first: %d calls", be->name, r0.calls);
	cr_assert_eq(r1.calls, 1, "[%s] second: %d calls", be->name, r1.calls);
	cr_assert(WIFEXITED(r0.status) && WEXITSTATUS(r0.status) == 0,
	          "[%s] status %#x, want exit 0", be->name, r0.status);
	cr_assert(WIFEXITED(r1.status) && WEXITSTATUS(r1.status) == 255,
	          "[%s] status %#x, want exit 255", be->name, r1.status);
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(child, signal_death_and_kill)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { 0 };
	int gate;
	pid_t pid = fork_gated(&gate);
	sio_child *c = watch(loop, pid, &r);

	cr_assert_eq(sio_child_kill(c, 0), 0, "[%s] kill(0) on a live child: %s",
	             be->name, strerror(errno));
	cr_assert_eq(sio_child_kill(c, SIGTERM), 0, "[%s] sio_child_kill: %s",
	             be->name, strerror(errno));
	run_until_called(be, loop, &r);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM,
	          "[%s] status %#x, want SIGTERM", be->name, r.status);
	/* Reaped: the pid may be another process's already. */
	errno = 0;
	cr_assert_eq(sio_child_kill(c, SIGKILL), -1, "[%s] kill after the reap "
	             "succeeded", be->name);
	cr_assert_eq(errno, ESRCH, "[%s] kill after reap: %s", be->name,
	             strerror(errno));
	errno = 0;
	cr_assert_eq(sio_child_kill(NULL, SIGTERM), -1, "[%s] NULL", be->name);
	cr_assert_eq(errno, EINVAL, "[%s] NULL: %s", be->name, strerror(errno));
	close(gate);
	sio_child_stop(c);
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(child, kill_with_a_bad_signal)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { .stop = 1 };
	int gate;
	pid_t pid = fork_gated(&gate);
	sio_child *c = watch(loop, pid, &r);

	errno = 0;
	cr_assert_eq(sio_child_kill(c, 1000), -1, "[%s] signal 1000 accepted",
	             be->name);
	cr_assert_eq(errno, EINVAL, "[%s] signal 1000: %s", be->name,
	             strerror(errno));
	gate_open(gate, 1);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 1,
	          "[%s] status %#x", be->name, r.status);
	no_zombies(be);
	t_loop_free(loop);
}

/* ---- when the watcher starts and stops ------------------------------------- */

SIO_BACKEND_TEST(child, exited_before_start)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { .stop = 1 };
	pid_t pid = fork_exit(42);

	await_exit(pid);        /* a zombie now, its SIGCHLD long gone */
	watch(loop, pid, &r);
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(r.calls, 1, "[%s] a child that had exited was not "
	             "reported on the next iteration", be->name);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 42,
	          "[%s] status %#x, want exit 42", be->name, r.status);
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(child, stopped_before_exit_is_left_unreaped)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { 0 };
	int gate, status;
	pid_t pid = fork_gated(&gate);
	sio_child *c = watch(loop, pid, &r);

	t_run_nowait(loop, 2);
	sio_child_stop(c);
	cr_assert(chld_is_default(), "[%s] SIGCHLD not restored", be->name);
	gate_open(gate, 9);
	await_exit(pid);
	t_run(loop, SIO_RUN_DEFAULT);   /* nothing active: returns */
	t_run_nowait(loop, 2);
	cr_assert_eq(r.calls, 0, "[%s] a stopped watcher ran", be->name);
	cr_assert_eq(waitpid(pid, &status, 0), pid, "[%s] the child was taken "
	             "from the application: %s", be->name, strerror(errno));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 9,
	          "[%s] status %#x", be->name, status);
	no_zombies(be);
	t_loop_free(loop);
}

/* A callback that stops another watcher whose child exited in the same
 * iteration: that one must not run. */
struct pair {
	sio_child *other;
	int calls;
};

static void
stop_other_cb(sio_child *c, pid_t pid, int status, void *arg)
{
	struct pair *p = arg;

	p->calls++;
	sio_child_stop(p->other);
	sio_child_stop(c);
}

SIO_BACKEND_TEST(child, stop_another_from_a_callback)
{
	sio_loop *loop = t_loop_new(be->name);
	struct pair a = { 0 }, b = { 0 };
	pid_t pa = fork_exit(1), pb = fork_exit(2);

	await_exit(pa);
	await_exit(pb);
	a.other = sio_child_start(loop, pb, stop_other_cb, &b);
	b.other = sio_child_start(loop, pa, stop_other_cb, &a);
	cr_assert(a.other != NULL && b.other != NULL, "[%s] start: %s", be->name,
	          strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(a.calls + b.calls, 1, "[%s] %d callbacks, want 1: a "
	             "stopped watcher ran", be->name, a.calls + b.calls);
	/* The one never reported is still the application's to reap. */
	int reaped = (waitpid(pa, NULL, WNOHANG) == pa) +
	             (waitpid(pb, NULL, WNOHANG) == pb);
	cr_assert_eq(reaped, 1, "[%s] %d children left to reap, want 1",
	             be->name, reaped);
	no_zombies(be);
	t_loop_free(loop);
}

/* A callback that starts a watcher on a new child. */
static sio_loop *chain_loop;

struct chain {
	int left;
	int calls;
	int bad;
};

static void
chain_cb(sio_child *c, pid_t pid, int status, void *arg)
{
	struct chain *ch = arg;

	ch->calls++;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != ch->left % 256)
		ch->bad++;
	sio_child_stop(c);
	if (--ch->left > 0) {
		pid_t p = fork();
		if (p == 0)
			_exit(ch->left % 256);
		if (p < 0 || sio_child_start(chain_loop, p, chain_cb,
		                             ch) == NULL)
			ch->bad++;
	}
}

SIO_BACKEND_TEST(child, start_from_a_callback)
{
	sio_loop *loop = t_loop_new(be->name);
	struct chain ch = { .left = 20 };

	chain_loop = loop;
	cr_assert_not_null(sio_child_start(loop, fork_exit(20), chain_cb, &ch),
	                   "[%s] start: %s", be->name, strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(ch.calls, 20, "[%s] %d of 20 children reported", be->name,
	             ch.calls);
	cr_assert_eq(ch.bad, 0, "[%s] %d wrong statuses or starts", be->name,
	             ch.bad);
	no_zombies(be);
	t_loop_free(loop);
}

/* ---- errors ------------------------------------------------------------------ */

static void
refused(sio_loop *loop, pid_t pid, sio_child_cb cb, int want, const char *why)
{
	struct rep r = { 0 };

	errno = 0;
	cr_assert_null(sio_child_start(loop, pid, cb, &r), "%s accepted", why);
	cr_assert_eq(errno, want, "%s: errno %d (%s), want %d", why, errno,
	             strerror(errno), want);
}

SIO_BACKEND_TEST(child, errors)
{
	sio_loop *loop = t_loop_new(be->name);
	sio_loop *other = t_loop_new(be->name);
	struct rep r = { .stop = 1 };
	int gate;
	pid_t pid = fork_gated(&gate), done = fork_exit(0);

	refused(NULL, pid, rep_cb, EINVAL, "a NULL loop");
	refused(loop, pid, NULL, EINVAL, "a NULL callback");
	refused(loop, 0, rep_cb, EINVAL, "pid 0");
	refused(loop, -1, rep_cb, EINVAL, "pid -1");
	refused(loop, getpid(), rep_cb, ECHILD, "the process itself");
	refused(loop, getppid(), rep_cb, ECHILD, "the parent");
	refused(loop, 1, rep_cb, ECHILD, "init");
	cr_assert_eq(waitpid(done, NULL, 0), done, "waitpid: %s", strerror(errno));
	refused(loop, done, rep_cb, ECHILD, "a child already reaped");
	cr_assert(chld_is_default(), "[%s] a refused start took SIGCHLD",
	          be->name);

	sio_child *c = watch(loop, pid, &r);
	refused(loop, pid, rep_cb, EBUSY, "a pid watched twice in one loop");
	refused(other, pid, rep_cb, EBUSY, "a pid watched in another loop");
	sio_child_stop(NULL);           /* ignored */
	errno = 0;
	cr_assert_eq(sio_child_pid(NULL), -1, "sio_child_pid(NULL)");
	cr_assert_eq(errno, EINVAL, "sio_child_pid(NULL): %s", strerror(errno));
	gate_open(gate, 0);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "[%s] %d calls", be->name, r.calls);
	(void)c;
	/* Reaped and stopped: the pid may be watched again (ECHILD now). */
	refused(other, pid, rep_cb, ECHILD, "a reaped pid");
	no_zombies(be);
	t_loop_free(other);
	t_loop_free(loop);
}

/* ---- other code's children and handlers -------------------------------------- */

SIO_BACKEND_TEST(child, unwatched_children_left_alone)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { .stop = 1 };
	int status;
	pid_t mine = fork_exit(5), theirs = fork_exit(6);

	await_exit(theirs);     /* its SIGCHLD comes while the loop works */
	watch(loop, mine, &r);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 5,
	          "[%s] status %#x", be->name, r.status);
	cr_assert_eq(waitpid(theirs, &status, WNOHANG), theirs, "[%s] the "
	             "application's child was taken: %s", be->name,
	             strerror(errno));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 6,
	          "[%s] the application's child: status %#x", be->name, status);
	no_zombies(be);
	t_loop_free(loop);
}

/* The application's own SIGCHLD handler, installed before the runtime. */
static volatile sig_atomic_t app_calls, app_stops, app_last_pid;

static void
app_handler(int signo, siginfo_t *si, void *uctx)
{
	app_calls++;
	if (si->si_code == CLD_STOPPED || si->si_code == CLD_CONTINUED)
		app_stops++;
	else
		app_last_pid = si->si_pid;
}

static void
app_plain_handler(int signo)
{
	app_calls++;
}

static void
install_app(int flags, bool siginfo)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	if (siginfo)
		sa.sa_sigaction = app_handler;
	else
		sa.sa_handler = app_plain_handler;
	sa.sa_flags = flags | (siginfo ? SA_SIGINFO : 0);
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGCHLD, &sa, NULL), 0, "sigaction: %s",
	             strerror(errno));
	app_calls = app_stops = app_last_pid = 0;
}

SIO_BACKEND_TEST(child, application_handler_still_called)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { .stop = 1 };
	pid_t pid;

	install_app(SA_RESTART, true);
	pid = fork_exit(3);
	watch(loop, pid, &r);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "[%s] not reported", be->name);
	/* The child's SIGCHLD ran the runtime's handler, then the
	 * application's, before the loop could reap it. */
	cr_assert_geq(app_calls, 1, "[%s] the application's handler was not "
	              "called", be->name);
	cr_assert_eq(app_last_pid, pid, "[%s] the application's handler saw "
	             "pid %d, want %d", be->name, (int)app_last_pid, (int)pid);
	/* Restored: the application's handler is the disposition again. */
	struct sigaction now = disposition(SIGCHLD);
	cr_assert(now.sa_sigaction == app_handler, "[%s] SIGCHLD disposition "
	          "not restored", be->name);
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(child, application_plain_handler_called)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { .stop = 1 };

	install_app(0, false);
	watch(loop, fork_exit(4), &r);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 4,
	          "[%s] status %#x", be->name, r.status);
	cr_assert_geq(app_calls, 1, "[%s] the application's handler was not "
	              "called", be->name);
	cr_assert(disposition(SIGCHLD).sa_handler == app_plain_handler,
	          "[%s] SIGCHLD disposition not restored", be->name);
	no_zombies(be);
	t_loop_free(loop);
}

/* A stopped and continued child is not reported, and an application
 * handler installed with SA_NOCLDSTOP does not hear of it either. */
SIO_BACKEND_TEST(child, stops_not_reported_nocldstop_kept)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { .stop = 1 };
	int gate;
	pid_t pid;
	siginfo_t si;

	install_app(SA_NOCLDSTOP | SA_RESTART, true);
	pid = fork_gated(&gate);
	sio_child *c = watch(loop, pid, &r);
	cr_assert_eq(sio_child_kill(c, SIGSTOP), 0, "SIGSTOP: %s", strerror(errno));
	cr_assert_eq(waitid(P_PID, (id_t)pid, &si, WSTOPPED | WNOWAIT), 0,
	             "waitid(WSTOPPED): %s", strerror(errno));
	t_run_nowait(loop, 3);
	cr_assert_eq(sio_child_kill(c, SIGCONT), 0, "SIGCONT: %s", strerror(errno));
	cr_assert_eq(waitid(P_PID, (id_t)pid, &si, WCONTINUED | WNOWAIT), 0,
	             "waitid(WCONTINUED): %s", strerror(errno));
	t_run_nowait(loop, 3);
	cr_assert_eq(r.calls, 0, "[%s] a stop or continue was reported", be->name);
	gate_open(gate, 8);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "[%s] %d calls", be->name, r.calls);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 8,
	          "[%s] status %#x", be->name, r.status);
	cr_assert_eq(app_stops, 0, "[%s] the application asked SA_NOCLDSTOP, "
	             "yet its handler heard of %d stops", be->name, (int)app_stops);
	cr_assert_geq(app_calls, 1, "[%s] the application's handler missed the "
	              "exit", be->name);
	no_zombies(be);
	t_loop_free(loop);
}

/* A sio_signal watcher of SIGCHLD and a child watcher in one loop share
 * the signal; each stops without taking it from the other. */
static void
sig_count_cb(sio_signal *s, int signo, unsigned count, void *arg)
{
	*(unsigned *)arg += count;
}

SIO_BACKEND_TEST(child, shares_sigchld_with_a_signal_watcher)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { .stop = 1 };
	unsigned seen = 0;
	sio_signal *s = sio_signal_start(loop, SIGCHLD, sig_count_cb, &seen);

	cr_assert_not_null(s, "sio_signal_start: %s", strerror(errno));
	watch(loop, fork_exit(11), &r);
	while (r.calls == 0 || seen == 0)
		t_run(loop, SIO_RUN_ONCE);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 11,
	          "[%s] status %#x", be->name, r.status);
	cr_assert(!chld_is_default(), "[%s] the child watcher's stop took "
	          "SIGCHLD from the signal watcher", be->name);
	sio_signal_stop(s);
	cr_assert(chld_is_default(), "[%s] SIGCHLD not restored", be->name);
	no_zombies(be);
	t_loop_free(loop);
}

/* ---- many children, several loops ---------------------------------------------- */

struct burst {
	int calls;
	int bad;
};

static void
burst_cb(sio_child *c, pid_t pid, int status, void *arg)
{
	struct burst *b = arg;

	b->calls++;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != pid % 200)
		b->bad++;
	sio_child_stop(c);
}

SIO_BACKEND_TEST(child, burst_of_children)
{
	sio_loop *loop = t_loop_new(be->name);
	struct burst b = { 0 };
	int n = t_under_valgrind() ? 100 : 1000, gate[2];

	/* They all wait on one pipe and exit at once when it closes. */
	cr_assert_eq(pipe2(gate, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		cr_assert_geq(pid, 0, "fork %d: %s", i, strerror(errno));
		if (pid == 0) {
			char c;
			close(gate[1]);
			while (read(gate[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(getpid() % 200);
		}
		cr_assert_not_null(sio_child_start(loop, pid, burst_cb, &b),
		                   "start %d: %s", i, strerror(errno));
	}
	close(gate[0]);
	close(gate[1]);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(b.calls, n, "[%s] %d of %d children reported", be->name,
	             b.calls, n);
	cr_assert_eq(b.bad, 0, "[%s] %d wrong statuses", be->name, b.bad);
	no_zombies(be);
	t_loop_free(loop);
}

/* Two loops, each run by its own thread with its own children.  The
 * lanes fork under one mutex and start running together: a child forked
 * by one lane while the other is inside sio_child_start() would hold a
 * copy of memory only the other thread pointed at, which valgrind counts
 * as lost when that child exits. */
struct lane {
	char backend[16];
	int n;
	int calls, bad, wrong_thread, failed, err;
	const char *what;
	pthread_t self;
	sio_loop *loop;
};

static pthread_mutex_t lane_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t lane_start;

static void
lane_cb(sio_child *c, pid_t pid, int status, void *arg)
{
	struct lane *l = arg;

	l->calls++;
	if (!pthread_equal(pthread_self(), l->self))
		l->wrong_thread++;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != pid % 100)
		l->bad++;
	sio_child_stop(c);
}

static void
lane_fail(struct lane *l, const char *what)
{
	if (!l->failed) {
		l->failed = 1;
		l->err = errno;
		l->what = what;
	}
}

static void
lane_fork(struct lane *l)
{
	pthread_mutex_lock(&lane_lock);
	for (int i = 0; i < l->n && !l->failed; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(getpid() % 100);
		if (pid < 0)
			lane_fail(l, "fork");
		else if (sio_child_start(l->loop, pid, lane_cb, l) == NULL)
			lane_fail(l, "sio_child_start");
	}
	pthread_mutex_unlock(&lane_lock);
}

static void *
lane_main(void *arg)
{
	struct lane *l = arg;

	l->self = pthread_self();
	pthread_mutex_lock(&lane_lock);
	l->loop = sio_loop_new(l->backend);
	pthread_mutex_unlock(&lane_lock);
	if (l->loop == NULL)
		lane_fail(l, "sio_loop_new");
	else
		lane_fork(l);
	pthread_barrier_wait(&lane_start);
	if (l->loop == NULL)
		return NULL;
	if (sio_loop_run(l->loop, SIO_RUN_DEFAULT) < 0)
		lane_fail(l, "sio_loop_run");
	sio_loop_free(l->loop);
	return NULL;
}

SIO_BACKEND_TEST(child, two_loops_two_threads)
{
	/* Static: a child forked by a lane thread has only that thread, and
	 * valgrind must find the lanes' loops (and their watchers) from a
	 * root there, not on this thread's stack. */
	static struct lane lanes[2];
	pthread_t t[2];
	sio_loop *guard = t_loop_new(be->name);   /* for the guard's alarm */

	cr_assert_eq(pthread_barrier_init(&lane_start, NULL, 2), 0);
	for (int i = 0; i < 2; i++) {
		memset(&lanes[i], 0, sizeof lanes[i]);
		snprintf(lanes[i].backend, sizeof lanes[i].backend, "%s", be->name);
		lanes[i].n = 50;
		cr_assert_eq(pthread_create(&t[i], NULL, lane_main, &lanes[i]), 0,
		             "pthread_create");
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(lanes[i].failed, 0, "[%s] lane %d: %s: %s",
		             be->name, i, lanes[i].what, strerror(lanes[i].err));
		cr_assert_eq(lanes[i].calls, lanes[i].n, "[%s] lane %d: %d of %d "
		             "reported", be->name, i, lanes[i].calls, lanes[i].n);
		cr_assert_eq(lanes[i].bad, 0, "[%s] lane %d: wrong statuses",
		             be->name, i);
		cr_assert_eq(lanes[i].wrong_thread, 0, "[%s] lane %d: a callback "
		             "ran on another thread", be->name, i);
	}
	cr_assert(chld_is_default(), "[%s] SIGCHLD not restored", be->name);
	no_zombies(be);
	t_loop_free(guard);
}

/* ---- sio_spawn --------------------------------------------------------------- */

static struct sio_spawn_opts
opts_of(const char *file, char *const *argv)
{
	struct sio_spawn_opts o = { .file = file, .argv = argv,
	                            .stdio = { SIO_STDIO_INHERIT, SIO_STDIO_INHERIT,
	                                       SIO_STDIO_INHERIT } };
	return o;
}

static sio_child *
spawn_ok(sio_loop *loop, const struct sio_spawn_opts *o, int pipes[3],
         struct rep *r)
{
	sio_child *c = sio_spawn(loop, o, pipes, rep_cb, r);

	cr_assert_not_null(c, "sio_spawn(%s): %s", o->file, strerror(errno));
	return c;
}

/* Open fds of this process. */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	cr_assert_not_null(d, "opendir: %s", strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;           /* the directory's own fd */
}

/* Everything the fd gives until end of file (a blocking read of the
 * child's output once it exited: set-up, not the loop). */
static size_t
slurp(int fd, char *buf, size_t size)
{
	size_t got = 0;

	cr_assert_eq(fcntl(fd, F_SETFL, 0), 0, "fcntl: %s", strerror(errno));
	for (;;) {
		ssize_t n = read(fd, buf + got, size - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_geq(n, 0, "read: %s", strerror(errno));
		if (n == 0 || (got += (size_t)n) == size - 1)
			break;
	}
	buf[got] = '\0';
	return got;
}

/* Spawn `o` with its stdout a pipe, run the loop until the child's end
 * was reported, and return its status, its output in `out`. */
static int
run_capture(const struct sio_test_backend *be, sio_loop *loop,
            struct sio_spawn_opts *o, char *out, size_t size)
{
	struct rep r = { .stop = 1 };
	int pipes[3];

	o->stdio[1] = SIO_STDIO_PIPE;
	spawn_ok(loop, o, pipes, &r);
	cr_assert(pipes[0] == -1 && pipes[2] == -1 && pipes[1] >= 0,
	          "[%s] pipes %d %d %d", be->name, pipes[0], pipes[1], pipes[2]);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1, "[%s] not reported", be->name);
	slurp(pipes[1], out, size);
	close(pipes[1]);
	return r.status;
}

SIO_BACKEND_TEST(spawn, exit_status_and_path_search)
{
	sio_loop *loop = t_loop_new(be->name);
	char *argv[] = { "sh", "-c", "exit 5", NULL };
	struct sio_spawn_opts o = opts_of("sh", argv);
	struct rep r = { .stop = 1 };
	int before = count_fds();

	spawn_ok(loop, &o, NULL, &r);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 5,
	          "[%s] status %#x, want exit 5", be->name, r.status);
	cr_assert_eq(count_fds(), before, "[%s] fds leaked", be->name);
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(spawn, argv_null_and_signal_death)
{
	sio_loop *loop = t_loop_new(be->name);
	struct sio_spawn_opts o = opts_of("cat", NULL);
	struct rep r = { 0 };
	int pipes[3];

	o.stdio[0] = SIO_STDIO_PIPE;
	sio_child *c = spawn_ok(loop, &o, pipes, &r);
	cr_assert_eq(sio_child_kill(c, SIGKILL), 0, "kill: %s", strerror(errno));
	run_until_called(be, loop, &r);
	cr_assert(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGKILL,
	          "[%s] status %#x", be->name, r.status);
	cr_assert_eq(sio_child_kill(c, SIGKILL), -1, "[%s] kill after reap",
	             be->name);
	cr_assert_eq(errno, ESRCH, "[%s] %s", be->name, strerror(errno));
	sio_child_stop(c);
	close(pipes[0]);
	no_zombies(be);
	t_loop_free(loop);
}

/* 10 MiB through cat: written into its stdin by one stream, read back
 * from its stdout by another, checked byte for byte. */
struct flow {
	size_t total, read, wrong;
	int in_closed, out_closed, out_reason;
};

static unsigned char
pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 4096);
}

static void
flow_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct flow *f = arg;
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern(f->read + i))
			f->wrong++;
	f->read += len;
}

static void
flow_out_closed(sio_stream *s, int reason, int err, void *arg)
{
	struct flow *f = arg;

	f->out_closed = 1;
	f->out_reason = reason;
}

static void
flow_in_closed(sio_stream *s, int reason, int err, void *arg)
{
	((struct flow *)arg)->in_closed = 1;
}

struct flow_done {
	struct flow *f;
	struct rep *r;
};

static bool
flow_finished(void *arg)
{
	struct flow_done *d = arg;

	return d->f->in_closed && d->f->out_closed && d->r->calls > 0;
}

SIO_BACKEND_TEST(spawn, pipes_through_cat)
{
	sio_loop *loop = t_loop_new(be->name);
	struct sio_spawn_opts o = opts_of("cat", NULL);
	struct rep r = { 0 };
	struct flow f = { .total = (t_under_valgrind() ? 1 : 10) << 20 };
	struct flow_done d = { &f, &r };
	int pipes[3];

	signal(SIGPIPE, SIG_IGN);       /* see sio_stream_new() on pipes */
	o.stdio[0] = o.stdio[1] = SIO_STDIO_PIPE;
	sio_child *c = spawn_ok(loop, &o, pipes, &r);
	for (int i = 0; i < 2; i++) {
		int fl = t_getfl(pipes[i]);
		cr_assert(fl & O_NONBLOCK, "[%s] pipes[%d] blocking", be->name, i);
		cr_assert(fcntl(pipes[i], F_GETFD) & FD_CLOEXEC, "[%s] pipes[%d] "
		          "not close-on-exec", be->name, i);
	}
	cr_assert_eq(t_getfl(pipes[0]) & O_ACCMODE, O_WRONLY, "[%s] stdin end",
	             be->name);
	cr_assert_eq(t_getfl(pipes[1]) & O_ACCMODE, O_RDONLY, "[%s] stdout end",
	             be->name);
	sio_stream *in = sio_stream_new(loop, pipes[0], NULL, flow_in_closed, &f);
	sio_stream *out = sio_stream_new(loop, pipes[1], flow_read,
	                                 flow_out_closed, &f);
	cr_assert(in != NULL && out != NULL, "sio_stream_new: %s", strerror(errno));
	unsigned char *buf = malloc(f.total);
	cr_assert_not_null(buf);
	for (size_t i = 0; i < f.total; i++)
		buf[i] = pattern(i);
	cr_assert_eq(sio_stream_write(in, buf, f.total), 0, "write: %s",
	             strerror(errno));
	free(buf);
	cr_assert_eq(sio_stream_shutdown(in), 0, "shutdown: %s", strerror(errno));
	cr_assert(t_run_until(loop, flow_finished, &d, 1000000), "[%s] the "
	          "flow stopped: %zu of %zu bytes back, in %d out %d child %d",
	          be->name, f.read, f.total, f.in_closed, f.out_closed, r.calls);
	cr_assert_eq(f.read, f.total, "[%s] %zu of %zu bytes", be->name, f.read,
	             f.total);
	cr_assert_eq(f.wrong, 0, "[%s] %zu wrong bytes", be->name, f.wrong);
	cr_assert_eq(f.out_reason, SIO_CLOSE_EOF, "[%s] stdout closed: %d",
	             be->name, f.out_reason);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
	          "[%s] cat: status %#x", be->name, r.status);
	sio_child_stop(c);
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(spawn, dev_null_and_given_fds)
{
	sio_loop *loop = t_loop_new(be->name);
	char *argv[] = { "sh", "-c",
	                 "if read x; then echo data; else echo eof; fi; "
	                 "echo to-err >&2", NULL };
	struct sio_spawn_opts o = opts_of("/bin/sh", argv);
	struct rep r = { .stop = 1 };
	int a[2], b[2];
	char out[256];

	/* stdout and stderr swapped on purpose: fd 1 gets b, fd 2 gets a. */
	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	o.stdio[0] = SIO_STDIO_NULL;
	o.stdio[1] = b[1];
	o.stdio[2] = a[1];
	spawn_ok(loop, &o, NULL, &r);
	close(a[1]);
	close(b[1]);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
	          "[%s] status %#x", be->name, r.status);
	slurp(b[0], out, sizeof out);
	cr_assert_str_eq(out, "eof\n", "[%s] stdout: '%s'", be->name, out);
	slurp(a[0], out, sizeof out);
	cr_assert_str_eq(out, "to-err\n", "[%s] stderr: '%s'", be->name, out);
	close(a[0]);
	close(b[0]);
	no_zombies(be);
	t_loop_free(loop);
}

/* sio_spawn() must fail with `want`, leaving no child, fd or watcher. */
static void
spawn_fails(const struct sio_test_backend *be, sio_loop *loop,
            struct sio_spawn_opts *o, int want, const char *why)
{
	struct rep r = { 0 };
	int pipes[3] = { 99, 99, 99 }, before = count_fds();

	o->stdio[0] = o->stdio[1] = SIO_STDIO_PIPE;
	errno = 0;
	cr_assert_null(sio_spawn(loop, o, pipes, rep_cb, &r), "[%s] %s: "
	               "sio_spawn succeeded", be->name, why);
	cr_assert_eq(errno, want, "[%s] %s: errno %d (%s), want %s", be->name,
	             why, errno, strerror(errno), strerror(want));
	cr_assert(pipes[0] == -1 && pipes[1] == -1 && pipes[2] == -1,
	          "[%s] %s: pipes %d %d %d", be->name, why, pipes[0], pipes[1],
	          pipes[2]);
	cr_assert_eq(count_fds(), before, "[%s] %s: fds left open", be->name, why);
	cr_assert_eq(zombies(), 0, "[%s] %s: a zombie left", be->name, why);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "[%s] %s: a child left",
	             be->name, why);
	cr_assert(chld_is_default(), "[%s] %s: SIGCHLD kept", be->name, why);
}

SIO_BACKEND_TEST(spawn, exec_errors)
{
	sio_loop *loop = t_loop_new(be->name);
	char dir[] = "/tmp/sio-spawn-XXXXXX", path[PATH_MAX];
	struct sio_spawn_opts o;
	int fd;

	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	o = opts_of("sio-no-such-program", NULL);
	spawn_fails(be, loop, &o, ENOENT, "a name not in PATH");
	o = opts_of("/nonexistent/prog", NULL);
	spawn_fails(be, loop, &o, ENOENT, "a missing path");
	o = opts_of("", NULL);
	spawn_fails(be, loop, &o, ENOENT, "an empty name");
	/* Not executable. */
	snprintf(path, sizeof path, "%s/noexec", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0, "open: %s", strerror(errno));
	close(fd);
	o = opts_of(path, NULL);
	if (geteuid() != 0)
		spawn_fails(be, loop, &o, EACCES, "a file without x");
	/* Executable, but no format the kernel knows (and no #!). */
	snprintf(path, sizeof path, "%s/garbage", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0755);
	cr_assert_geq(fd, 0, "open: %s", strerror(errno));
	t_write_all(fd, "\x01\x02\x03\x04garbage\n", 12);
	close(fd);
	o = opts_of(path, NULL);
	spawn_fails(be, loop, &o, ENOEXEC, "an unknown format");
	/* A bad working directory. */
	o = opts_of("true", NULL);
	o.cwd = "/nonexistent/dir";
	spawn_fails(be, loop, &o, ENOENT, "a missing cwd");
	unlink(path);
	snprintf(path, sizeof path, "%s/noexec", dir);
	unlink(path);
	rmdir(dir);
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(spawn, invalid_arguments)
{
	sio_loop *loop = t_loop_new(be->name);
	struct sio_spawn_opts o = opts_of("true", NULL);
	struct rep r = { 0 };
	int pipes[3];
	const char *why[] = { "NULL loop", "NULL opts", "NULL file",
	                      "NULL callback", "stdio -7", "unknown flag",
	                      "a pipe without pipes[]", "a closed fd" };

	for (int i = 0; i < 8; i++) {
		struct sio_spawn_opts w = o;
		sio_loop *l = i == 0 ? NULL : loop;
		sio_child_cb cb = i == 3 ? NULL : rep_cb;
		int *pp = pipes, want = EINVAL;
		if (i == 2)
			w.file = NULL;
		if (i == 4)
			w.stdio[1] = -7;
		if (i == 5)
			w.flags = 0x100;
		if (i == 6) {
			w.stdio[0] = SIO_STDIO_PIPE;
			pp = NULL;
		}
		if (i == 7) {
			w.stdio[2] = 987;
			want = EBADF;
		}
		errno = 0;
		cr_assert_null(sio_spawn(l, i == 1 ? NULL : &w, pp, cb, &r),
		               "[%s] %s accepted", be->name, why[i]);
		cr_assert_eq(errno, want, "[%s] %s: %s", be->name, why[i],
		             strerror(errno));
	}
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(spawn, cwd_and_environment)
{
	sio_loop *loop = t_loop_new(be->name);
	char *argv[] = { "sh", "-c", "pwd; echo \"$SIO_T\"; echo \"${HOME-unset}\"",
	                 NULL };
	char *envp[] = { "SIO_T=from-envp", "PATH=/usr/bin:/bin", NULL };
	struct sio_spawn_opts o = opts_of("sh", argv);
	char out[512], want[PATH_MAX + 64], real[PATH_MAX];

	cr_assert_not_null(realpath("/", real));
	o.cwd = "/";
	o.envp = envp;
	int st = run_capture(be, loop, &o, out, sizeof out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "[%s] status %#x",
	          be->name, st);
	snprintf(want, sizeof want, "%s\nfrom-envp\nunset\n", real);
	cr_assert_str_eq(out, want, "[%s] output '%s', want '%s'", be->name, out,
	                 want);
	/* envp NULL: the parent's environment; cwd NULL: its directory. */
	setenv("SIO_T", "from-parent", 1);
	o = opts_of("sh", argv);
	st = run_capture(be, loop, &o, out, sizeof out);
	cr_assert_not_null(getcwd(real, sizeof real));
	cr_assert(strncmp(out, real, strlen(real)) == 0 &&
	          strstr(out, "\nfrom-parent\n") != NULL,
	          "[%s] output '%s'", be->name, out);
	no_zombies(be);
	t_loop_free(loop);
}

static void
spawn_group(const struct sio_test_backend *be, int flags)
{
	sio_loop *loop = t_loop_new(be->name);
	struct sio_spawn_opts o = opts_of("cat", NULL);
	struct rep r = { .stop = 1 };
	int pipes[3];

	o.stdio[0] = SIO_STDIO_PIPE;
	o.flags = flags;
	sio_child *c = spawn_ok(loop, &o, pipes, &r);
	pid_t pid = sio_child_pid(c);
	/* sio_spawn() returns once the child exec'd: set up by then. */
	cr_assert_eq(getpgid(pid), pid, "[%s] flags %#x: pgid %d, pid %d",
	             be->name, flags, (int)getpgid(pid), (int)pid);
	if (flags & SIO_SPAWN_SETSID)
		cr_assert_eq(getsid(pid), pid, "[%s] sid %d, pid %d", be->name,
		             (int)getsid(pid), (int)pid);
	else
		cr_assert_eq(getsid(pid), getsid(0), "[%s] a new session",
		             be->name);
	close(pipes[0]);        /* cat reads EOF and exits */
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
	          "[%s] status %#x", be->name, r.status);
	no_zombies(be);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(spawn, setsid)
{
	spawn_group(be, SIO_SPAWN_SETSID);
}

SIO_BACKEND_TEST(spawn, setpgid)
{
	spawn_group(be, SIO_SPAWN_SETPGID);
}

SIO_BACKEND_TEST(spawn, no_fd_leaks_into_the_child)
{
	sio_loop *loop = t_loop_new(be->name);
	char *argv[] = { "ls", "/proc/self/fd", NULL };
	struct sio_spawn_opts o = opts_of("ls", argv);
	char out[1024];
	int p[2];

	/* Fds the child must not see, close-on-exec or not. */
	cr_assert_eq(pipe(p), 0);
	cr_assert_geq(dup2(p[0], 60), 0);
	cr_assert_geq(dup2(p[1], 61), 0);
	int st = run_capture(be, loop, &o, out, sizeof out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "[%s] ls: status %#x",
	          be->name, st);
	/* 0, 1, 2 and the directory ls reads (3): nothing else. */
	int n = 0;
	for (char *tok = strtok(out, "\n"); tok != NULL; tok = strtok(NULL, "\n")) {
		/* Under valgrind, ls runs under a valgrind of its own, whose
		 * fds ls sees too: only the parent's fds are looked for. */
		cr_assert(atoi(tok) != 60 && atoi(tok) != 61, "[%s] the parent's "
		          "fd %s reached the child", be->name, tok);
		n++;
		if (t_under_valgrind())
			continue;
		cr_assert(atoi(tok) <= 3, "[%s] fd %s leaked into the child",
		          be->name, tok);
	}
	cr_assert(n <= 4 || t_under_valgrind(), "[%s] %d fds in the child",
	          be->name, n);
	cr_assert_geq(n, 3, "[%s] %d fds in the child", be->name, n);
	close(60);
	close(61);
	close(p[0]);
	close(p[1]);
	no_zombies(be);
	t_loop_free(loop);
}

/* A hexadecimal signal set of /proc/PID/status ("SigBlk:\t...") from
 * `text`, without the signals the C library reserves for itself (glibc's
 * 32 and 33, below SIGRTMIN), which no program can reset: sigaction()
 * refuses them, so one ignored by whoever started the test stays so. */
static unsigned long long
sigset_line(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	unsigned long long set;

	cr_assert_not_null(p, "no %s in '%s'", key, text);
	set = strtoull(p + strlen(key), NULL, 16);
	for (int s = 32; s < SIGRTMIN; s++)
		set &= ~(1ull << (s - 1));
	return set;
}

SIO_BACKEND_TEST(spawn, signals_clean_in_the_child)
{
	sio_loop *loop = t_loop_new(be->name);
	char *argv[] = { "grep", "-E", "^(SigBlk|SigIgn)", "/proc/self/status",
	                 NULL };
	struct sio_spawn_opts o = opts_of("grep", argv);
	char out[512];
	sigset_t block;

	/* Ignored and blocked in the parent: neither may reach the child. */
	signal(SIGUSR1, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	cr_assert_eq(pthread_sigmask(SIG_BLOCK, &block, NULL), 0);
	int st = run_capture(be, loop, &o, out, sizeof out);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "[%s] grep: status %#x",
	          be->name, st);
	cr_assert_eq(sigset_line(out, "SigBlk:"), 0, "[%s] blocked in the "
	             "child: '%s'", be->name, out);
	cr_assert_eq(sigset_line(out, "SigIgn:"), 0, "[%s] ignored in the "
	             "child: '%s'", be->name, out);
	no_zombies(be);
	t_loop_free(loop);
}

struct many {
	int calls, bad;
};

static void
many_cb(sio_child *c, pid_t pid, int status, void *arg)
{
	struct many *m = arg;

	m->calls++;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		m->bad++;
	sio_child_stop(c);
}

SIO_BACKEND_TEST(spawn, thousand_true)
{
	sio_loop *loop = t_loop_new(be->name);
	struct sio_spawn_opts o = opts_of("true", NULL);
	struct many m = { 0 };
	/* Under valgrind each `true` runs under a valgrind of its own too:
	 * about a CPU second each. */
	int n = t_under_valgrind() ? 10 : 1000;

	o.stdio[0] = o.stdio[1] = SIO_STDIO_NULL;
	for (int i = 0; i < n; i++)
		cr_assert_not_null(sio_spawn(loop, &o, NULL, many_cb, &m),
		                   "[%s] spawn %d: %s", be->name, i, strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(m.calls, n, "[%s] %d of %d reported", be->name, m.calls, n);
	cr_assert_eq(m.bad, 0, "[%s] %d failed", be->name, m.bad);
	no_zombies(be);
	t_loop_free(loop);
}

/* Spawned again from the child's own callback, as a supervisor restarts
 * a program: from inside a run, with the runtime's signals blocked. */
struct respawn {
	sio_loop *loop;
	int left, calls, bad;
};

static void
respawn_cb(sio_child *c, pid_t pid, int status, void *arg)
{
	struct respawn *rs = arg;
	char code[16];

	rs->calls++;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != rs->left)
		rs->bad++;
	sio_child_stop(c);
	if (--rs->left < 0)
		return;
	snprintf(code, sizeof code, "exit %d", rs->left);
	char *argv[] = { "sh", "-c", code, NULL };
	struct sio_spawn_opts o = opts_of("sh", argv);
	if (sio_spawn(rs->loop, &o, NULL, respawn_cb, rs) == NULL)
		rs->bad++;
}

SIO_BACKEND_TEST(spawn, from_a_callback)
{
	sio_loop *loop = t_loop_new(be->name);
	struct respawn rs = { .loop = loop, .left = 5 };
	char *argv[] = { "sh", "-c", "exit 5", NULL };
	struct sio_spawn_opts o = opts_of("sh", argv);

	cr_assert_not_null(sio_spawn(loop, &o, NULL, respawn_cb, &rs),
	                   "sio_spawn: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(rs.calls, 6, "[%s] %d of 6 runs reported", be->name,
	             rs.calls);
	cr_assert_eq(rs.bad, 0, "[%s] %d wrong statuses or spawns", be->name,
	             rs.bad);
	no_zombies(be);
	t_loop_free(loop);
}

/* SIGCHLD ignored by the application: the kernel reaps its children by
 * itself.  A child that exited then is gone (ECHILD); while a watcher
 * exists the runtime's handler replaces SIG_IGN, so a watched child's
 * status is had; SIG_IGN comes back with the last watcher. */
SIO_BACKEND_TEST(child, sigchld_ignored_by_the_application)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r = { .stop = 1 };
	int gate;
	pid_t gone, pid;
	siginfo_t si;

	signal(SIGCHLD, SIG_IGN);
	gone = fork_exit(1);
	/* Auto-reaped: waitid() waits for it and then says there is none. */
	while (waitid(P_PID, (id_t)gone, &si, WEXITED) == 0 || errno == EINTR)
		;
	refused(loop, gone, rep_cb, ECHILD, "a child the kernel reaped");
	pid = fork_gated(&gate);
	watch(loop, pid, &r);
	gate_open(gate, 12);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 12,
	          "[%s] status %#x, want exit 12", be->name, r.status);
	cr_assert(disposition(SIGCHLD).sa_handler == SIG_IGN, "[%s] SIG_IGN "
	          "not restored", be->name);
	no_zombies(be);
	t_loop_free(loop);
}
