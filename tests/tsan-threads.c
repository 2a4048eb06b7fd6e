/*
 * tsan-threads.c - the library's threaded uses, without Criterion (whose
 * runner cannot start under ThreadSanitizer), so that `make check-tsan`
 * can run them with -fsanitize=thread and want zero reports.  Also a
 * plain test of `make check`.  TAP output, one line per scenario and
 * backend (SIO_TEST_BACKENDS=a,b picks backends, as for the Criterion
 * suites; SIO_TSAN_SCENARIOS=a,b the scenarios):
 *
 *   loops     one loop per thread, each with a timer that writes into a
 *             socketpair and an fd watcher that reads it back; half the
 *             loops are made in the main thread and run in another
 *   async     sio_async_send() from many threads to one loop: no wake-up
 *             lost, every send counted once the senders are done
 *   signals   a signal watcher in one loop's thread while other threads
 *             run loops of their own; every kill() is heard, and
 *             sio_loop_stop() from another thread ends the loops
 *   churn     loops created and freed in several threads at once, with a
 *             signal watcher, an fd watcher and a timer each, while
 *             another thread sends that signal: the process's dispositions
 *             come back as they were (the application's handler, SIG_DFL
 *             for SIGIO, no rtsig signal held)
 *   shutdown  sio_shutdown() from several threads, each on a socket the
 *             loop's readers watch: every reader wakes and reads EOF
 *   children  one loop per thread, each spawning /bin/true (sio_spawn)
 *             and forking children it watches (sio_child_start) at once:
 *             every child reported once, on its own loop's thread, and
 *             SIGCHLD's disposition back to the default
 *   work      four loops in four threads submit work items (data written
 *             by the worker, read by done), cancel some, look names up
 *             (numeric, localhost) and cancel some of those, and free a
 *             last loop with work still queued and running
 *
 * Every wait is bounded (a guard timer in each loop, timed condition
 * waits, an alarm() for the whole program).  Nothing sleeps to wait for
 * something it could wait for.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sigio.h"

#define NLOOPS      4           /* loop threads in "loops", "signals", "churn" */
#define TICKS       40          /* timer ticks (bytes) per loop in "loops" */
#define NSENDERS    8           /* sender threads in "async" */
#define SENDS       2000        /* sends per sender */
#define NKILLS      100         /* signals sent in "signals" */
#define CHURN       200         /* loops created and freed per thread in "churn" */
#define NCHILD      20          /* children per loop in "children" */
#define NSHUT       8           /* sockets, each shut down by a thread, in "shutdown" */
#define GUARD_MS    20000       /* a loop that runs longer has failed */
#define WAIT_S      20          /* a condition wait that lasts longer has failed */

static int tap_n, tap_failed;

static void
tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s %d - ", ok ? "ok" : "not ok", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		tap_failed = 1;
}

/* A failure inside a scenario: one "#" line, and the scenario fails. */
static void
note(atomic_int *failed, const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	atomic_store(failed, 1);
}

/* A loop's guard: the scenario failed if it fires. */
struct guard {
	sio_loop *loop;
	atomic_int *failed;
	const char *what;
};

static void
on_guard(sio_timer *t, void *arg)
{
	struct guard *g = arg;

	note(g->failed, "%s: still running after %d ms", g->what, GUARD_MS);
	sio_loop_stop(g->loop);
}

/* Wait until *flag reaches `want` (or goes negative: a failure), or WAIT_S
 * seconds.  Returns 0, or -1. */
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond = PTHREAD_COND_INITIALIZER;

static void
wake_waiters(void)
{
	pthread_mutex_lock(&wait_lock);
	pthread_cond_broadcast(&wait_cond);
	pthread_mutex_unlock(&wait_lock);
}

static int
wait_for(atomic_int *flag, int want)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_S;
	pthread_mutex_lock(&wait_lock);
	while (atomic_load(flag) >= 0 && atomic_load(flag) < want && rc == 0)
		rc = pthread_cond_timedwait(&wait_cond, &wait_lock, &until);
	pthread_mutex_unlock(&wait_lock);
	return atomic_load(flag) >= want ? 0 : -1;
}

static const char *backends[8];
static size_t nbackends;

/* Whether `name` is in the comma-separated list in environment variable
 * `var` (an unset or empty list holds everything). */
static int
listed(const char *var, const char *name)
{
	const char *only = getenv(var), *p;
	size_t len = strlen(name);

	if (only == NULL || *only == '\0')
		return 1;
	for (p = only; (p = strstr(p, name)) != NULL; p += len)
		if ((p == only || p[-1] == ',') && (p[len] == '\0' || p[len] == ','))
			return 1;
	return 0;
}

static void
pick_backends(void)
{
	const char *names[8];
	size_t n = sio_backends(names, 8);

	for (size_t i = 0; i < n && i < 8; i++)
		if (listed("SIO_TEST_BACKENDS", names[i]))
			backends[nbackends++] = names[i];
}

/* ---- loops: one loop per thread, timers and an fd each ------------------------ */

struct pinger {
	const char *backend;
	atomic_int *failed;
	sio_loop *loop;
	int sv[2];
	sio_timer *tick, *guard_t;
	sio_io *io;
	struct guard guard;
	int ticks, bytes;
};

static void
on_tick(sio_timer *t, void *arg)
{
	struct pinger *p = arg;
	ssize_t n;

	do
		n = write(p->sv[1], "x", 1);
	while (n < 0 && errno == EINTR);
	if (n != 1) {
		note(p->failed, "loops: write: %s", n < 0 ? strerror(errno) : "short");
		sio_loop_stop(p->loop);
		return;
	}
	if (++p->ticks == TICKS) {
		sio_timer_stop(t);
		p->tick = NULL;
	}
}

static void
on_ping(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct pinger *p = arg;
	char buf[64];
	ssize_t n;

	while ((n = read(fd, buf, sizeof buf)) > 0)
		p->bytes += (int)n;
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		note(p->failed, "loops: read: %s", strerror(errno));
		sio_loop_stop(p->loop);
		return;
	}
	if (p->bytes >= TICKS) {        /* done: nothing left but the guard */
		sio_io_stop(io);
		p->io = NULL;
		sio_timer_stop(p->guard_t);
		p->guard_t = NULL;
	}
}

static void *
pinger_main(void *arg)
{
	struct pinger *p = arg;

	if (p->loop == NULL)            /* else made by the main thread: moved here */
		p->loop = sio_loop_new(p->backend);
	if (p->loop == NULL) {
		note(p->failed, "loops: sio_loop_new(%s): %s", p->backend, strerror(errno));
		return NULL;
	}
	p->guard = (struct guard){ p->loop, p->failed, "loops" };
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->sv) < 0) {
		note(p->failed, "loops: socketpair: %s", strerror(errno));
		sio_loop_free(p->loop);
		return NULL;
	}
	p->io = sio_io_start(p->loop, p->sv[0], SIO_READ, on_ping, p);
	p->tick = sio_timer_start(p->loop, 1, 1, on_tick, p);
	p->guard_t = sio_timer_start(p->loop, GUARD_MS, 0, on_guard, &p->guard);
	if (p->io == NULL || p->tick == NULL || p->guard_t == NULL)
		note(p->failed, "loops: a watcher: %s", strerror(errno));
	else if (sio_loop_run(p->loop, SIO_RUN_DEFAULT) < 0)
		note(p->failed, "loops: sio_loop_run: %s", strerror(errno));
	if (p->ticks != TICKS || p->bytes != TICKS)
		note(p->failed, "loops: %d ticks, %d bytes read, not %d", p->ticks, p->bytes, TICKS);
	sio_timer_stop(p->tick);
	sio_timer_stop(p->guard_t);
	sio_io_stop(p->io);
	sio_loop_free(p->loop);
	close(p->sv[0]);
	close(p->sv[1]);
	return NULL;
}

static void
test_loops(const char *backend)
{
	struct pinger p[NLOOPS];
	pthread_t th[NLOOPS];
	int started[NLOOPS];
	atomic_int failed = 0;

	memset(p, 0, sizeof p);
	for (int i = 0; i < NLOOPS; i++) {
		p[i].backend = backend;
		p[i].failed = &failed;
		/* Half the loops are made here and run in another thread: their
		 * fds' signals must follow the loop to that thread. */
		if (i % 2 && (p[i].loop = sio_loop_new(backend)) == NULL)
			note(&failed, "loops: sio_loop_new(%s): %s", backend, strerror(errno));
		started[i] = pthread_create(&th[i], NULL, pinger_main, &p[i]) == 0;
		if (!started[i]) {
			note(&failed, "pthread_create failed");
			sio_loop_free(p[i].loop);
		}
	}
	for (int i = 0; i < NLOOPS; i++)
		if (started[i])
			pthread_join(th[i], NULL);
	tap(!atomic_load(&failed), "loops %s: %d loops in %d threads (half made in the main "
	    "thread), %d timer ticks and bytes each", backend, NLOOPS, NLOOPS, TICKS);
}

/* ---- async: many senders, one loop --------------------------------------------- */

struct asyncs {
	const char *backend;
	atomic_int failed;
	atomic_int ready;               /* the loop and its handles exist */
	atomic_int produced;            /* increments, each before its send */
	atomic_int seen;                /* the most a callback saw */
	atomic_int calls;
	atomic_int quit_sent;           /* the main thread is done with `quit` */
	sio_loop *loop;
	sio_async *data, *quit;
	sio_timer *guard_t;
	struct guard guard;
};

static void
on_data(sio_async *a, void *arg)
{
	struct asyncs *s = arg;
	int got = atomic_load(&s->produced);

	atomic_fetch_add(&s->calls, 1);
	if (got > atomic_load(&s->seen)) {
		atomic_store(&s->seen, got);
		wake_waiters();
	}
}

/* The senders are joined: no thread can send any more, the handles may go. */
static void
on_quit(sio_async *a, void *arg)
{
	struct asyncs *s = arg;

	sio_async_free(s->data);
	sio_async_free(s->quit);
	sio_timer_stop(s->guard_t);
	s->data = s->quit = NULL;
	s->guard_t = NULL;
}

static void *
async_loop_main(void *arg)
{
	struct asyncs *s = arg;

	s->loop = sio_loop_new(s->backend);
	if (s->loop == NULL) {
		note(&s->failed, "async: sio_loop_new(%s): %s", s->backend, strerror(errno));
		atomic_store(&s->ready, -1);
		wake_waiters();
		return NULL;
	}
	s->guard = (struct guard){ s->loop, &s->failed, "async" };
	s->data = sio_async_new(s->loop, on_data, s);
	s->quit = sio_async_new(s->loop, on_quit, s);
	s->guard_t = sio_timer_start(s->loop, GUARD_MS, 0, on_guard, &s->guard);
	if (s->data == NULL || s->quit == NULL || s->guard_t == NULL) {
		note(&s->failed, "async: a handle: %s", strerror(errno));
		atomic_store(&s->ready, -1);
		wake_waiters();
		sio_loop_free(s->loop);
		return NULL;
	}
	atomic_store(&s->ready, 1);
	wake_waiters();
	if (sio_loop_run(s->loop, SIO_RUN_DEFAULT) < 0)
		note(&s->failed, "async: sio_loop_run: %s", strerror(errno));
	/* After a guard stop the handles are still there, and the main thread
	 * may yet send to `quit`: the loop frees them once it has. */
	if (s->quit != NULL)
		(void)wait_for(&s->quit_sent, 1);
	sio_timer_stop(s->guard_t);
	sio_loop_free(s->loop);
	return NULL;
}

static void *
sender_main(void *arg)
{
	struct asyncs *s = arg;

	for (int i = 0; i < SENDS; i++) {
		atomic_fetch_add(&s->produced, 1);
		if (sio_async_send(s->data) < 0) {
			note(&s->failed, "async: sio_async_send: %s", strerror(errno));
			break;
		}
	}
	return NULL;
}

static void
test_async(const char *backend)
{
	static struct asyncs s;         /* static: big enough to keep off the stack */
	pthread_t loop_th, th[NSENDERS];
	int nth = 0;

	memset(&s, 0, sizeof s);
	s.backend = backend;
	if (pthread_create(&loop_th, NULL, async_loop_main, &s) != 0) {
		tap(0, "async %s: pthread_create", backend);
		return;
	}
	if (wait_for(&s.ready, 1) < 0) {
		pthread_join(loop_th, NULL);
		tap(0, "async %s: the loop did not start", backend);
		return;
	}
	for (int i = 0; i < NSENDERS; i++)
		if (pthread_create(&th[nth], NULL, sender_main, &s) == 0)
			nth++;
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (nth != NSENDERS)
		note(&s.failed, "async: only %d sender threads", nth);
	/* Every send came after its increment: a callback must see them all. */
	if (wait_for(&s.seen, nth * SENDS) < 0)
		note(&s.failed, "async: the loop saw %d of %d sends (a lost wake-up)",
		     atomic_load(&s.seen), nth * SENDS);
	sio_async_send(s.quit);
	atomic_store(&s.quit_sent, 1);
	wake_waiters();
	pthread_join(loop_th, NULL);
	tap(!atomic_load(&s.failed), "async %s: %d threads x %d sends to one loop, %d "
	    "callbacks, none lost", backend, NSENDERS, SENDS, atomic_load(&s.calls));
}

/* ---- signals: a watcher in one thread, loops in others ------------------------ */

struct sigs {
	const char *backend;
	atomic_int failed;
	atomic_int ready;               /* loops running (or failed to) */
	atomic_int heard;               /* SIGUSR1s counted by the watcher */
	sio_loop *loops[NLOOPS + 1];    /* [0]: the watcher's */
	struct guard guards[NLOOPS + 1];
};

struct sigs_arg {
	struct sigs *s;
	int i;
};

static void
on_usr1(sio_signal *w, int signo, unsigned count, void *arg)
{
	struct sigs *s = arg;

	atomic_fetch_add(&s->heard, (int)count);
	wake_waiters();
}

static void
on_busy_tick(sio_timer *t, void *arg)
{
	(void)t;
	(void)arg;                      /* only keeps the loop waking up */
}

static void *
sigs_loop_main(void *arg)
{
	struct sigs_arg *a = arg;
	struct sigs *s = a->s;
	sio_loop *loop = sio_loop_new(s->backend);
	sio_signal *w = NULL;
	sio_timer *tick = NULL, *guard_t = NULL;

	if (loop == NULL) {
		note(&s->failed, "signals: sio_loop_new(%s): %s", s->backend, strerror(errno));
		atomic_fetch_add(&s->ready, 1);
		wake_waiters();
		return NULL;
	}
	s->guards[a->i] = (struct guard){ loop, &s->failed, "signals" };
	if (a->i == 0)
		w = sio_signal_start(loop, SIGUSR1, on_usr1, s);
	tick = sio_timer_start(loop, 1, 1 + (uint64_t)a->i, on_busy_tick, NULL);
	guard_t = sio_timer_start(loop, GUARD_MS, 0, on_guard, &s->guards[a->i]);
	if ((a->i == 0 && w == NULL) || tick == NULL || guard_t == NULL)
		note(&s->failed, "signals: a watcher: %s", strerror(errno));
	/* One iteration before `ready`, for ThreadSanitizer: its runtime
	 * (clang 14's, and gcc's libtsan here) allocates a thread's signal
	 * state at the thread's first blocking call without guarding against
	 * a signal arriving meanwhile, and such a signal is lost.  Newer
	 * runtimes use a compare-and-swap there.  The iteration's poll is
	 * that first call, before any signal is sent to this thread. */
	if (sio_loop_run(loop, SIO_RUN_NOWAIT) < 0)
		note(&s->failed, "signals: sio_loop_run: %s", strerror(errno));
	/* Published before `ready`: the main thread stops this loop. */
	s->loops[a->i] = loop;
	atomic_fetch_add(&s->ready, 1);
	wake_waiters();
	if (sio_loop_run(loop, SIO_RUN_DEFAULT) < 0)
		note(&s->failed, "signals: sio_loop_run: %s", strerror(errno));
	sio_signal_stop(w);
	sio_timer_stop(tick);
	sio_timer_stop(guard_t);
	return NULL;                    /* the main thread frees the loop */
}

static void
test_signals(const char *backend)
{
	static struct sigs s;
	struct sigs_arg args[NLOOPS + 1];
	pthread_t th[NLOOPS + 1];
	int nth = 0;

	memset(&s, 0, sizeof s);
	s.backend = backend;
	for (int i = 0; i <= NLOOPS; i++) {
		args[i] = (struct sigs_arg){ &s, i };
		if (pthread_create(&th[nth], NULL, sigs_loop_main, &args[i]) == 0)
			nth++;
	}
	if (wait_for(&s.ready, nth) < 0)
		note(&s.failed, "signals: the loops did not start");
	if (nth == NLOOPS + 1 && !atomic_load(&s.failed)) {
		/* One at a time, each heard before the next: then none
		 * coalesce, and the count must be exact. */
		for (int k = 1; k <= NKILLS; k++) {
			if (k % 2)
				kill(getpid(), SIGUSR1);        /* any thread may take it */
			else
				pthread_kill(th[1 + k % NLOOPS], SIGUSR1); /* a loop thread */
			if (wait_for(&s.heard, k) < 0) {
				note(&s.failed, "signals: heard %d of %d", atomic_load(&s.heard), k);
				break;
			}
		}
	}
	for (int i = 0; i <= NLOOPS; i++)      /* thread-safe, from this thread */
		sio_loop_stop(s.loops[i]);
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i <= NLOOPS; i++)
		sio_loop_free(s.loops[i]);
	if (atomic_load(&s.heard) != NKILLS && !atomic_load(&s.failed))
		note(&s.failed, "signals: heard %d, sent %d", atomic_load(&s.heard), NKILLS);
	tap(!atomic_load(&s.failed), "signals %s: %d SIGUSR1 heard by one loop while %d "
	    "other loops run; sio_loop_stop from another thread", backend, NKILLS, NLOOPS);
}

/* ---- churn: loops created and freed in several threads at once ----------------- */

static atomic_int app_usr2;             /* the application's own handler ran */

static void
app_handler(int signo)
{
	(void)signo;
	atomic_fetch_add(&app_usr2, 1);
}

struct churn {
	const char *backend;
	atomic_int failed;
	atomic_int running;             /* churning threads not yet done */
	atomic_int heard;
};

static void
on_usr2(sio_signal *w, int signo, unsigned count, void *arg)
{
	struct churn *c = arg;

	atomic_fetch_add(&c->heard, (int)count);
}

static void
on_churn_io(sio_io *io, int fd, unsigned revents, void *arg)
{
	char buf[16];

	(void)io;
	(void)arg;
	while (read(fd, buf, sizeof buf) > 0)
		;
}

static void
on_churn_timer(sio_timer *t, void *arg)
{
	(void)t;
	(void)arg;
}

static void *
churn_main(void *arg)
{
	struct churn *c = arg;

	for (int k = 0; k < CHURN && !atomic_load(&c->failed); k++) {
		int sv[2];
		sio_loop *loop = sio_loop_new(c->backend);
		if (loop == NULL) {
			note(&c->failed, "churn: sio_loop_new(%s): %s", c->backend, strerror(errno));
			break;
		}
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
			note(&c->failed, "churn: socketpair: %s", strerror(errno));
			sio_loop_free(loop);
			break;
		}
		sio_signal *w = sio_signal_start(loop, SIGUSR2, on_usr2, c);
		sio_io *io = sio_io_start(loop, sv[0], SIO_READ, on_churn_io, NULL);
		sio_timer *t = sio_timer_start(loop, 0, 0, on_churn_timer, NULL);
		if (w == NULL || io == NULL || t == NULL)
			note(&c->failed, "churn: a watcher: %s", strerror(errno));
		(void)write(sv[1], "y", 1);
		if (sio_loop_run(loop, SIO_RUN_NOWAIT) < 0)
			note(&c->failed, "churn: sio_loop_run: %s", strerror(errno));
		/* Every other loop is freed with its watchers still on it. */
		if (k % 2) {
			sio_signal_stop(w);
			sio_io_stop(io);
			sio_timer_stop(t);
		}
		sio_loop_free(loop);
		close(sv[0]);
		close(sv[1]);
	}
	atomic_fetch_sub(&c->running, 1);
	return NULL;
}

/* Sends SIGUSR2 to the process while the churn lasts. */
static void *
signaller_main(void *arg)
{
	struct churn *c = arg;

	while (atomic_load(&c->running) > 0) {
		kill(getpid(), SIGUSR2);
		sched_yield();
	}
	return NULL;
}

static int
disposition_is(int signo, void (*want)(int))
{
	struct sigaction sa;

	return sigaction(signo, NULL, &sa) == 0 && !(sa.sa_flags & SA_SIGINFO) &&
	       sa.sa_handler == want;
}

static void
test_churn(const char *backend)
{
	static struct churn c;
	struct sigaction sa, old;
	pthread_t th[NLOOPS], sig_th;
	int nth = 0, have_sig;

	memset(&c, 0, sizeof c);
	c.backend = backend;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = app_handler;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, &old);
	atomic_store(&c.running, NLOOPS);
	for (int i = 0; i < NLOOPS; i++)
		if (pthread_create(&th[nth], NULL, churn_main, &c) == 0)
			nth++;
	atomic_fetch_sub(&c.running, NLOOPS - nth);
	have_sig = pthread_create(&sig_th, NULL, signaller_main, &c) == 0;
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (have_sig)
		pthread_join(sig_th, NULL);
	if (!disposition_is(SIGUSR2, app_handler))
		note(&c.failed, "churn: SIGUSR2's handler is not the application's any more");
#ifdef SIGIO
	if (!disposition_is(SIGIO, SIG_DFL))
		note(&c.failed, "churn: SIGIO's disposition is not SIG_DFL any more");
#endif
	if (sio_rtsig_get() != 0)
		note(&c.failed, "churn: the rtsig signal %d is still held", sio_rtsig_get());
	sigaction(SIGUSR2, &old, NULL);
	tap(!atomic_load(&c.failed), "churn %s: %d threads x %d loops created and freed "
	    "while SIGUSR2 flies (%d heard by loops, %d by the application); "
	    "dispositions restored", backend, nth, CHURN, atomic_load(&c.heard),
	    atomic_load(&app_usr2));
}

/* ---- shutdown: other threads shut the loop's sockets down ----------------------- */

struct shutdowns {
	const char *backend;
	atomic_int failed;
	atomic_int ready;               /* the loop and its readers exist */
	atomic_int shut;                /* sio_shutdown() calls returned */
	sio_loop *loop;
	int sv[NSHUT][2];
	int eofs;                       /* the loop's thread only */
	sio_timer *guard_t;
	struct guard guard;
};

struct shutter {
	struct shutdowns *s;
	int i;
};

static void
on_shut_read(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct shutdowns *s = arg;
	char c;
	ssize_t n = read(fd, &c, 1);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n != 0)
		note(&s->failed, "shutdown: read gave %zd (%s), not EOF", n,
		     n < 0 ? strerror(errno) : "data");
	sio_io_stop(io);
	if (++s->eofs == NSHUT) {       /* nothing left but the guard */
		sio_timer_stop(s->guard_t);
		s->guard_t = NULL;
	}
}

static void *
shut_loop_main(void *arg)
{
	struct shutdowns *s = arg;
	int ok = 1;

	s->loop = sio_loop_new(s->backend);
	if (s->loop == NULL) {
		note(&s->failed, "shutdown: sio_loop_new(%s): %s", s->backend, strerror(errno));
		atomic_store(&s->ready, -1);
		wake_waiters();
		return NULL;
	}
	s->guard = (struct guard){ s->loop, &s->failed, "shutdown" };
	for (int i = 0; i < NSHUT && ok; i++)
		ok = sio_io_start(s->loop, s->sv[i][0], SIO_READ, on_shut_read, s) != NULL;
	s->guard_t = sio_timer_start(s->loop, GUARD_MS, 0, on_guard, &s->guard);
	if (!ok || s->guard_t == NULL) {
		note(&s->failed, "shutdown: a watcher: %s", strerror(errno));
		atomic_store(&s->ready, -1);
		wake_waiters();
		sio_loop_free(s->loop);
		return NULL;
	}
	atomic_store(&s->ready, 1);
	wake_waiters();
	if (sio_loop_run(s->loop, SIO_RUN_DEFAULT) < 0)
		note(&s->failed, "shutdown: sio_loop_run: %s", strerror(errno));
	if (s->eofs != NSHUT)
		note(&s->failed, "shutdown: %d of %d readers woke", s->eofs, NSHUT);
	/* poll and select may see an EOF before its sio_shutdown() has told
	 * the loop: the loop must outlive every call. */
	(void)wait_for(&s->shut, NSHUT);
	sio_timer_stop(s->guard_t);
	sio_loop_free(s->loop);
	return NULL;
}

static void *
shutter_main(void *arg)
{
	struct shutter *t = arg;
	struct shutdowns *s = t->s;

	if (sio_shutdown(s->loop, s->sv[t->i][0], t->i % 2 ? SHUT_RDWR : SHUT_RD) < 0)
		note(&s->failed, "shutdown: sio_shutdown: %s", strerror(errno));
	atomic_fetch_add(&s->shut, 1);
	wake_waiters();
	return NULL;
}

static void
test_shutdown(const char *backend)
{
	static struct shutdowns s;
	struct shutter t[NSHUT];
	pthread_t loop_th, th[NSHUT];
	int nth = 0, npairs = 0;

	memset(&s, 0, sizeof s);
	s.backend = backend;
	for (; npairs < NSHUT; npairs++)
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s.sv[npairs]) < 0)
			break;
	if (npairs < NSHUT || pthread_create(&loop_th, NULL, shut_loop_main, &s) != 0) {
		tap(0, "shutdown %s: socketpair or pthread_create: %s", backend,
		    strerror(errno));
		goto out;
	}
	if (wait_for(&s.ready, 1) < 0) {
		pthread_join(loop_th, NULL);
		tap(0, "shutdown %s: the loop did not start", backend);
		goto out;
	}
	for (int i = 0; i < NSHUT; i++) {
		t[i] = (struct shutter){ &s, i };
		if (pthread_create(&th[nth], NULL, shutter_main, &t[i]) == 0)
			nth++;
		else
			atomic_fetch_add(&s.shut, 1);  /* the loop waits for no call */
	}
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	if (nth != NSHUT)
		note(&s.failed, "shutdown: only %d shutter threads", nth);
	pthread_join(loop_th, NULL);
	tap(!atomic_load(&s.failed), "shutdown %s: %d threads shut a watched socket "
	    "down each with sio_shutdown(), every reader read EOF", backend, NSHUT);
out:
	for (int i = 0; i < npairs; i++) {
		close(s.sv[i][0]);
		close(s.sv[i][1]);
	}
}

/* ---- children: loops in threads, each watching its own children ----------------- */

struct nursery {
	const char *backend;
	atomic_int *failed;
	sio_loop *loop;
	pthread_t self;
	struct guard guard;
	int reported, wrong;
};

static void
on_child(sio_child *c, pid_t pid, int status, void *arg)
{
	struct nursery *n = arg;

	n->reported++;
	if (!pthread_equal(pthread_self(), n->self) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		n->wrong++;
	sio_child_stop(c);
	if (n->reported == 2 * NCHILD)
		sio_loop_stop(n->loop);
}

static void *
nursery_main(void *arg)
{
	struct nursery *n = arg;
	struct sio_spawn_opts o = { .file = "true", .stdio = { SIO_STDIO_NULL,
	                            SIO_STDIO_NULL, SIO_STDIO_INHERIT } };

	n->self = pthread_self();
	n->loop = sio_loop_new(n->backend);
	if (n->loop == NULL) {
		note(n->failed, "children: sio_loop_new: %s", strerror(errno));
		return NULL;
	}
	n->guard = (struct guard){ n->loop, n->failed, "children" };
	sio_timer *g = sio_timer_start(n->loop, GUARD_MS, 0, on_guard, &n->guard);
	for (int i = 0; i < NCHILD; i++) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid < 0 || sio_child_start(n->loop, pid, on_child, n) == NULL ||
		    sio_spawn(n->loop, &o, NULL, on_child, n) == NULL) {
			note(n->failed, "children: %s", strerror(errno));
			break;
		}
	}
	if (sio_loop_run(n->loop, SIO_RUN_DEFAULT) < 0)
		note(n->failed, "children: sio_loop_run: %s", strerror(errno));
	sio_timer_stop(g);
	sio_loop_free(n->loop);
	return NULL;
}

/* ---- work ------------------------------------------------------------------ */

#define WORK_LOOPS  4
#define WORK_ITEMS  500
#define WORK_LOOKUPS 20

struct work_item {
	long in, out;            /* out = in * 2, written by the worker */
	int status;
};

struct work_loop {
	const char *backend;
	atomic_int failed;
	int done, cancelled, lookups;
	struct work_item items[WORK_ITEMS];
};

static void
work_fn(void *arg)
{
	struct work_item *it = arg;
	it->out = it->in * 2;
}

static void
work_nop(void *arg)
{
	(void)arg;
}

static void
work_done(sio_work *w, int status, void *arg)
{
	(void)w;
	struct work_item *it = arg;
	it->status = status == 0 ? 1 : 2;
}

static void
work_lookup_cb(sio_lookup *q, int status, const struct addrinfo *res, void *arg)
{
	(void)q;
	(void)res;
	struct work_loop *wl = arg;
	if (status != 0)
		note(&wl->failed, "work: a lookup failed: %d", status);
	wl->lookups++;
}

static void *
work_main(void *arg)
{
	struct work_loop *wl = arg;
	sio_loop *loop = sio_loop_new(wl->backend);
	if (loop == NULL) {
		note(&wl->failed, "work: sio_loop_new: %s", strerror(errno));
		return NULL;
	}
	int want_lookups = 0;
	for (int i = 0; i < WORK_ITEMS; i++) {
		wl->items[i].in = i;
		sio_work *w = sio_work_submit(loop, work_fn, work_done, &wl->items[i]);
		if (w == NULL)
			note(&wl->failed, "work: submit: %s", strerror(errno));
		else if (i % 10 == 0 && sio_work_cancel(w) == 0)
			wl->cancelled++;
	}
	for (int i = 0; i < WORK_LOOKUPS; i++) {
		sio_lookup *q = sio_getaddrinfo(loop, i % 2 ? "localhost" : "127.0.0.1",
		                                "80", NULL, work_lookup_cb, wl);
		if (q == NULL)
			note(&wl->failed, "work: lookup: %s", strerror(errno));
		else if (i % 4 == 3)
			sio_lookup_cancel(q);
		else
			want_lookups++;
	}
	if (sio_loop_run(loop, SIO_RUN_DEFAULT) < 0)
		note(&wl->failed, "work: sio_loop_run: %s", strerror(errno));
	int ran = 0, cancelled = 0;
	for (int i = 0; i < WORK_ITEMS; i++) {
		struct work_item *it = &wl->items[i];
		ran += it->status == 1;
		cancelled += it->status == 2;
		if (it->status == 1 && it->out != it->in * 2)
			note(&wl->failed, "work: item %d: %ld", i, it->out);
	}
	if (ran + cancelled != WORK_ITEMS || cancelled != wl->cancelled)
		note(&wl->failed, "work: %d ran, %d cancelled (%d asked)", ran, cancelled,
		     wl->cancelled);
	if (wl->lookups != want_lookups)
		note(&wl->failed, "work: %d of %d lookups answered", wl->lookups, want_lookups);
	/* Freed with work queued and running: the items touch no memory
	 * (their arg stays the caller's, and this one is reused). */
	for (int i = 0; i < 50; i++)
		(void)sio_work_submit(loop, work_nop, work_done, NULL);
	(void)sio_getaddrinfo(loop, "localhost", "80", NULL, work_lookup_cb, wl);
	sio_loop_free(loop);
	return NULL;
}

static void
test_children(const char *backend)
{
	struct nursery n[NLOOPS];
	pthread_t t[NLOOPS];
	atomic_int failed = 0;
	struct sigaction sa;

	for (int i = 0; i < NLOOPS; i++) {
		n[i] = (struct nursery){ .backend = backend, .failed = &failed };
		if (pthread_create(&t[i], NULL, nursery_main, &n[i]) != 0) {
			note(&failed, "children: pthread_create");
			n[i].loop = NULL;
			t[i] = pthread_self();
		}
	}
	for (int i = 0; i < NLOOPS; i++) {
		if (!pthread_equal(t[i], pthread_self()))
			pthread_join(t[i], NULL);
		if (n[i].reported != 2 * NCHILD || n[i].wrong != 0)
			note(&failed, "children: loop %d: %d of %d reported, %d "
			     "wrong", i, n[i].reported, 2 * NCHILD, n[i].wrong);
	}
	if (sigaction(SIGCHLD, NULL, &sa) != 0 || (sa.sa_flags & SA_SIGINFO) ||
	    sa.sa_handler != SIG_DFL)
		note(&failed, "children: SIGCHLD not restored");
	if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
		note(&failed, "children: a child left unreaped");
	tap(!atomic_load(&failed), "children [%s]", backend);
}

static void
test_work(const char *backend)
{
	static struct work_loop wl[WORK_LOOPS];
	pthread_t th[WORK_LOOPS];
	int nth = 0, failed = 0;
	for (int i = 0; i < WORK_LOOPS; i++) {
		memset(&wl[i], 0, sizeof wl[i]);
		wl[i].backend = backend;
		if (pthread_create(&th[nth], NULL, work_main, &wl[i]) == 0)
			nth++;
	}
	for (int i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < WORK_LOOPS; i++)
		failed |= atomic_load(&wl[i].failed);
	tap(nth == WORK_LOOPS && !failed, "work %s: %d loops in %d threads, %d items "
	    "and %d lookups each, some cancelled, then freed with work pending",
	    backend, WORK_LOOPS, WORK_LOOPS, WORK_ITEMS, WORK_LOOKUPS);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	alarm(300);                     /* the whole program, even under TSan */
	static const struct {
		const char *name;
		void (*run)(const char *backend);
	} scenarios[] = {
		{ "loops", test_loops }, { "async", test_async },
		{ "signals", test_signals }, { "churn", test_churn },
		{ "shutdown", test_shutdown }, { "children", test_children },
		{ "work", test_work },
	};
	size_t nscen = sizeof scenarios / sizeof scenarios[0], nrun = 0;

	pick_backends();
	for (size_t k = 0; k < nscen; k++)
		nrun += listed("SIO_TSAN_SCENARIOS", scenarios[k].name);
	printf("1..%zu\n", nrun * nbackends);
	for (size_t i = 0; i < nbackends; i++)
		for (size_t k = 0; k < nscen; k++)
			if (listed("SIO_TSAN_SCENARIOS", scenarios[k].name))
				scenarios[k].run(backends[i]);
	return tap_failed;
}
