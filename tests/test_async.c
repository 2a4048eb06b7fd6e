/*
 * test_async.c - cross-thread wake-ups: many threads sending in bursts
 * (callbacks only on the loop's thread, none of a burst lost), coalescing,
 * sends from a signal handler, freeing handles (from callbacks, with a send
 * pending), and async handles keeping SIO_RUN_DEFAULT running.
 *
 * Helper threads never call cr_assert (see testutil.h): they count what
 * went wrong, and the test's own thread asserts on the counts.  They wait
 * for the loop with semaphores and blocking reads, never by sleeping.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static void
close_pair(int sv[2])
{
	close(sv[0]);
	close(sv[1]);
}

/* Counts its calls in *(int *)arg. */
static void
count_cb(sio_async *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
}

/* sem_wait, again after a signal (the guard's SIGALRM may land here). */
static void
sem_wait_intr(sem_t *s)
{
	while (sem_wait(s) != 0 && errno == EINTR)
		;
}

/* A blocking read of one byte from a gate pipe (helper threads). */
static int
gate_wait(int fd)
{
	char c;
	ssize_t n;

	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	return n == 1 ? 0 : -1;
}

/* A blocking pipe, for gates between the loop and helper threads. */
static void
gate_pipe(int p[2])
{
	cr_assert_eq(pipe(p), 0, "pipe: %s", strerror(errno));
}

/* ---- errors ----------------------------------------------------------------- */

SIO_BACKEND_TEST(async, errors)
{
	sio_loop *loop = t_loop_new(be->name);
	int calls = 0;

	errno = 0;
	cr_assert_null(sio_async_new(NULL, count_cb, &calls), "sio_async_new"
	               "(NULL loop) succeeded");
	cr_assert_eq(errno, EINVAL, "NULL loop: errno %d (%s), want EINVAL",
	             errno, strerror(errno));
	errno = 0;
	cr_assert_null(sio_async_new(loop, NULL, NULL), "sio_async_new(NULL "
	               "callback) succeeded");
	cr_assert_eq(errno, EINVAL, "NULL callback: errno %d (%s), want EINVAL",
	             errno, strerror(errno));
	errno = 0;
	cr_assert_eq(sio_async_send(NULL), -1, "sio_async_send(NULL) did not "
	             "fail");
	cr_assert_eq(errno, EINVAL, "sio_async_send(NULL): errno %d (%s)",
	             errno, strerror(errno));
	sio_async_free(NULL);                   /* ignored */
	/* Nothing was made: nothing keeps DEFAULT running. */
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(calls, 0, "a callback ran");
	t_loop_free(loop);
}

/* ---- many threads, many sends ------------------------------------------------------ */

#define NTHREADS 8
#define SENDS 10000             /* per thread */
#define BURST 100
#define ROUNDS (SENDS / BURST)

struct storm;

struct sender {
	struct storm *s;
	sio_async *a;           /* the handle it sends to */
	atomic_int round;       /* last burst it finished sending */
	int acked;              /* last round a callback saw (loop thread) */
	atomic_int acked_pub;   /* the same, for the sender */
	sem_t ack;              /* posted when acked grows */
	int send_failed;        /* sio_async_send() returned -1 */
	pthread_t th;
};

struct storm {
	sio_loop *loop;
	pthread_t loop_thread;
	struct sender snd[NTHREADS];
	sio_async *shared;      /* one handle for every thread, or NULL */
	int wrong_thread;       /* callbacks that ran elsewhere */
	long callbacks;
	int done;               /* senders whose last round was seen */
};

/* A round is over once a callback ran after the burst's last send, which
 * comes after the round number was published. */
static void
storm_ack(struct storm *s, struct sender *snd)
{
	int r = atomic_load(&snd->round);

	if (r <= snd->acked)
		return;
	snd->acked = r;
	atomic_store(&snd->acked_pub, r);
	sem_post(&snd->ack);
	if (r == ROUNDS && ++s->done == NTHREADS)
		sio_loop_stop(s->loop);
}

static void
storm_cb(sio_async *a, void *arg)
{
	struct storm *s = arg;

	if (!pthread_equal(pthread_self(), s->loop_thread))
		s->wrong_thread++;
	s->callbacks++;
	for (int i = 0; i < NTHREADS; i++)
		if (s->shared != NULL || s->snd[i].a == a)
			storm_ack(s, &s->snd[i]);
}

static void *
sender_main(void *arg)
{
	struct sender *snd = arg;

	for (int r = 1; r <= ROUNDS; r++) {
		for (int k = 0; k < BURST - 1; k++)
			if (sio_async_send(snd->a) != 0)
				snd->send_failed++;
		atomic_store(&snd->round, r);
		if (sio_async_send(snd->a) != 0)
			snd->send_failed++;
		/* Wait for the loop to have seen this burst. */
		while (atomic_load(&snd->acked_pub) < r)
			sem_wait_intr(&snd->ack);
	}
	return NULL;
}

static void
check_storm(const char *backend, bool shared)
{
	struct storm *s = calloc(1, sizeof(*s));
	struct sio_stats st;

	cr_assert_not_null(s, "out of memory");
	s->loop = t_loop_new(backend);
	s->loop_thread = pthread_self();
	if (shared) {
		s->shared = sio_async_new(s->loop, storm_cb, s);
		cr_assert_not_null(s->shared, "sio_async_new: %s",
		                   strerror(errno));
	}
	for (int i = 0; i < NTHREADS; i++) {
		struct sender *snd = &s->snd[i];

		snd->s = s;
		atomic_init(&snd->round, 0);
		atomic_init(&snd->acked_pub, 0);
		cr_assert_eq(sem_init(&snd->ack, 0, 0), 0, "sem_init");
		snd->a = shared ? s->shared : sio_async_new(s->loop, storm_cb, s);
		cr_assert_not_null(snd->a, "sio_async_new: %s", strerror(errno));
	}
	for (int i = 0; i < NTHREADS; i++)
		cr_assert_eq(pthread_create(&s->snd[i].th, NULL, sender_main,
		             &s->snd[i]), 0, "pthread_create");
	/* The handles keep DEFAULT running; the last ack stops it. */
	t_run(s->loop, SIO_RUN_DEFAULT);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(s->snd[i].th, NULL);

	cr_assert_eq(s->done, NTHREADS, "[%s] %d of %d threads had every burst "
	             "seen", backend, s->done, NTHREADS);
	cr_assert_eq(s->wrong_thread, 0, "[%s] %d async callbacks ran on "
	             "another thread than the loop's", backend, s->wrong_thread);
	for (int i = 0; i < NTHREADS; i++) {
		cr_assert_eq(s->snd[i].send_failed, 0, "[%s] thread %d: %d sends "
		             "failed", backend, i, s->snd[i].send_failed);
		cr_assert_eq(s->snd[i].acked, ROUNDS, "[%s] thread %d: %d of %d "
		             "bursts seen by a callback", backend, i,
		             s->snd[i].acked, ROUNDS);
	}
	/* At least one callback per burst, never more than the sends. */
	cr_assert_geq(s->callbacks, shared ? ROUNDS : NTHREADS * ROUNDS,
	              "[%s] %ld callbacks for %d bursts", backend, s->callbacks,
	              NTHREADS * ROUNDS);
	cr_assert_leq(s->callbacks, (long)NTHREADS * SENDS, "[%s] %ld callbacks "
	              "for %d sends", backend, s->callbacks, NTHREADS * SENDS);
	st = t_stats(s->loop);
	cr_assert_eq(st.callbacks, (uint64_t)s->callbacks, "[%s] stats count "
	             "%llu callbacks, %ld ran", backend,
	             (unsigned long long)st.callbacks, s->callbacks);
	for (int i = 0; i < NTHREADS; i++) {
		if (!shared)
			sio_async_free(s->snd[i].a);
		sem_destroy(&s->snd[i].ack);
	}
	sio_async_free(s->shared);
	/* All freed: nothing keeps DEFAULT running. */
	t_run(s->loop, SIO_RUN_DEFAULT);
	t_loop_free(s->loop);
	free(s);
}

SIO_BACKEND_TEST(async, eight_threads_own_handles)
{
	check_storm(be->name, false);
}

SIO_BACKEND_TEST(async, eight_threads_one_handle)
{
	check_storm(be->name, true);
}

/* ---- coalescing ----------------------------------------------------------------------- */

SIO_BACKEND_TEST(async, sends_before_iteration_coalesce)
{
	sio_loop *loop = t_loop_new(be->name);
	int calls = 0, other = 0;
	sio_async *a, *b;

	a = sio_async_new(loop, count_cb, &calls);
	cr_assert_not_null(a, "sio_async_new: %s", strerror(errno));
	b = sio_async_new(loop, count_cb, &other);
	cr_assert_not_null(b, "sio_async_new: %s", strerror(errno));
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(sio_async_send(a), 0, "sio_async_send: %s",
		             strerror(errno));
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(calls, 1, "[%s] 1000 sends before one iteration: %d "
	             "callbacks, want 1", be->name, calls);
	t_run_nowait(loop, 3);
	cr_assert_eq(calls, 1, "[%s] coalesced sends ran the callback again "
	             "(%d calls)", be->name, calls);
	cr_assert_eq(other, 0, "[%s] a handle nobody sent to ran", be->name);
	/* And again: each batch of sends gives one more call. */
	for (int i = 0; i < 1000; i++)
		sio_async_send(a);
	t_run(loop, SIO_RUN_ONCE);
	t_run_nowait(loop, 2);
	cr_assert_eq(calls, 2, "[%s] a second batch of sends: %d calls in all, "
	             "want 2", be->name, calls);
	sio_async_free(a);
	sio_async_free(b);
	t_loop_free(loop);
}

struct from_timer {
	sio_async *a;
	int sends;
};

static void
sender_timer_cb(sio_timer *t, void *arg)
{
	struct from_timer *f = arg;

	(void)t;
	for (int i = 0; i < f->sends; i++)
		sio_async_send(f->a);
}

/* Sends from a callback of the loop's own thread coalesce too, and run in
 * the same iteration (the async phase follows the timer phase). */
SIO_BACKEND_TEST(async, sends_from_callback_coalesce)
{
	sio_loop *loop = t_loop_new(be->name);
	int calls = 0;
	struct from_timer f = { .sends = 100 };
	sio_timer *t;

	f.a = sio_async_new(loop, count_cb, &calls);
	cr_assert_not_null(f.a, "sio_async_new: %s", strerror(errno));
	t = sio_timer_start(loop, 1, 0, sender_timer_cb, &f);
	cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
	cr_assert(t_run_until(loop, t_flag_set, &calls, SIO_TEST_MAX_ONCE),
	          "[%s] the sends of a timer callback never ran the handle",
	          be->name);
	t_run_nowait(loop, 3);
	cr_assert_eq(calls, 1, "[%s] 100 sends from one callback: %d calls",
	             be->name, calls);
	sio_timer_stop(t);
	sio_async_free(f.a);
	t_loop_free(loop);
}

/* A callback that sends to its own handle runs again on the next
 * iteration, once per iteration: no loop within one dispatch. */
struct echo {
	sio_loop *loop;
	int calls;
	uint64_t iter[8];
};

static void
echo_cb(sio_async *a, void *arg)
{
	struct echo *e = arg;

	e->iter[e->calls] = t_stats(e->loop).iterations;
	if (++e->calls < 5)
		sio_async_send(a);
}

SIO_BACKEND_TEST(async, send_from_own_callback)
{
	sio_loop *loop = t_loop_new(be->name);
	struct echo e = { .loop = loop };
	sio_async *a;

	a = sio_async_new(loop, echo_cb, &e);
	cr_assert_not_null(a, "sio_async_new: %s", strerror(errno));
	sio_async_send(a);
	for (int i = 1; i <= 5; i++) {
		t_run(loop, SIO_RUN_ONCE);
		cr_assert_eq(e.calls, i, "[%s] after %d ONCE runs, %d calls of a "
		             "callback that sends to itself", be->name, i,
		             e.calls);
	}
	for (int i = 1; i < 5; i++)
		cr_assert_gt(e.iter[i], e.iter[i - 1], "[%s] calls %d and %d ran "
		             "in one iteration", be->name, i, i + 1);
	t_run_nowait(loop, 3);
	cr_assert_eq(e.calls, 5, "[%s] ran again with no send", be->name);
	sio_async_free(a);
	t_loop_free(loop);
}

/* ---- freeing ----------------------------------------------------------------------------- */

SIO_BACKEND_TEST(async, free_with_send_pending)
{
	sio_loop *loop = t_loop_new(be->name);
	int calls = 0, other = 0;
	sio_async *a, *b;

	a = sio_async_new(loop, count_cb, &calls);
	cr_assert_not_null(a, "sio_async_new: %s", strerror(errno));
	b = sio_async_new(loop, count_cb, &other);
	cr_assert_not_null(b, "sio_async_new: %s", strerror(errno));
	sio_async_send(a);
	sio_async_free(a);
	t_run_nowait(loop, 3);
	cr_assert_eq(calls, 0, "[%s] a freed handle's callback ran", be->name);
	/* The other handle still works. */
	sio_async_send(b);
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(other, 1, "[%s] the remaining handle ran %d times",
	             be->name, other);
	sio_async_free(b);
	t_run(loop, SIO_RUN_DEFAULT);
	t_loop_free(loop);
}

/* Two handles sent to in the same iteration; each callback frees the
 * other: only one of them runs. */
struct pair_free {
	sio_async *h[2];
	int calls[2];
};

struct pair_arg {
	struct pair_free *p;
	int me;
};

static void
pair_cb(sio_async *a, void *arg)
{
	struct pair_arg *pa = arg;
	struct pair_free *p = pa->p;
	int other = 1 - pa->me;

	p->calls[pa->me]++;
	if (p->h[other] != NULL) {
		sio_async_free(p->h[other]);
		p->h[other] = NULL;
	}
	sio_async_free(a);
	p->h[pa->me] = NULL;
}

SIO_BACKEND_TEST(async, free_other_in_callback)
{
	sio_loop *loop = t_loop_new(be->name);
	struct pair_free p = { { NULL, NULL }, { 0, 0 } };
	struct pair_arg a0 = { &p, 0 }, a1 = { &p, 1 };

	p.h[0] = sio_async_new(loop, pair_cb, &a0);
	p.h[1] = sio_async_new(loop, pair_cb, &a1);
	cr_assert(p.h[0] != NULL && p.h[1] != NULL, "sio_async_new: %s",
	          strerror(errno));
	sio_async_send(p.h[0]);
	sio_async_send(p.h[1]);
	/* Both are freed by the first callback: DEFAULT returns. */
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(p.calls[0] + p.calls[1], 1, "[%s] both handles were sent "
	             "to, the first callback freed the other, yet %d and %d "
	             "calls ran", be->name, p.calls[0], p.calls[1]);
	t_loop_free(loop);
}

/* ---- async handles keep SIO_RUN_DEFAULT running -------------------------------------- */

struct late {
	int gate[2];            /* the timer opens it; the helper then sends */
	sio_async *a, *b;
	int a_calls, b_calls;
};

static void
open_gate_cb(sio_timer *t, void *arg)
{
	struct late *l = arg;

	(void)t;
	t_write_all(l->gate[1], "g", 1);
}

static void *
late_sender_main(void *arg)
{
	struct late *l = arg;

	if (gate_wait(l->gate[0]) == 0) {
		sio_async_send(l->a);
		sio_async_send(l->b);
	}
	return NULL;
}

/* Frees its own handle. */
static void
late_cb(sio_async *a, void *arg)
{
	struct late *l = arg;

	if (a == l->a)
		l->a_calls++;
	else
		l->b_calls++;
	sio_async_free(a);
}

/* Once the timer has fired, only the two handles are active: DEFAULT must
 * wait for the helper's sends and return once both handles freed
 * themselves. */
SIO_BACKEND_TEST(async, handles_keep_default_running)
{
	sio_loop *loop = t_loop_new(be->name);
	struct late l = { .a_calls = 0 };
	pthread_t th;
	sio_timer *t;

	gate_pipe(l.gate);
	l.a = sio_async_new(loop, late_cb, &l);
	l.b = sio_async_new(loop, late_cb, &l);
	cr_assert(l.a != NULL && l.b != NULL, "sio_async_new: %s",
	          strerror(errno));
	t = sio_timer_start(loop, 0, 0, open_gate_cb, &l);
	cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
	cr_assert_eq(pthread_create(&th, NULL, late_sender_main, &l), 0,
	             "pthread_create");
	t_run(loop, SIO_RUN_DEFAULT);
	pthread_join(th, NULL);
	cr_assert_eq(l.a_calls, 1, "[%s] DEFAULT returned with the first "
	             "handle called %d times", be->name, l.a_calls);
	cr_assert_eq(l.b_calls, 1, "[%s] DEFAULT returned with the second "
	             "handle called %d times", be->name, l.b_calls);
	sio_timer_stop(t);
	close_pair(l.gate);
	t_loop_free(loop);
}

/* ---- sends from a signal handler --------------------------------------------------- */

static sio_async *volatile handler_target;
static volatile sig_atomic_t handler_runs, handler_bad;

/* sio_async_send is async-signal-safe: it must also leave errno alone. */
static void
send_handler(int sig)
{
	int saved = errno;

	(void)sig;
	errno = EDOM;
	if (sio_async_send(handler_target) != 0 || errno != EDOM)
		handler_bad++;
	handler_runs++;
	errno = saved;
}

static void
install_send_handler(sio_async *a)
{
	struct sigaction sa;

	handler_target = a;
	handler_runs = handler_bad = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = send_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	cr_assert_eq(sigaction(SIGUSR2, &sa, NULL), 0, "sigaction: %s",
	             strerror(errno));
}

SIO_BACKEND_TEST(async, send_from_signal_handler)
{
	sio_loop *loop = t_loop_new(be->name);
	int calls = 0;
	sio_async *a;

	a = sio_async_new(loop, count_cb, &calls);
	cr_assert_not_null(a, "sio_async_new: %s", strerror(errno));
	install_send_handler(a);
	raise(SIGUSR2);
	cr_assert_eq(handler_runs, 1, "the handler did not run");
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(calls, 1, "[%s] a send from a signal handler: %d calls",
	             be->name, calls);
	cr_assert_eq(handler_bad, 0, "[%s] sio_async_send in a handler failed "
	             "or changed errno", be->name);
	signal(SIGUSR2, SIG_DFL);
	sio_async_free(a);
	t_loop_free(loop);
}

/* The handler runs while the loop sleeps (signal sent to the loop's
 * thread), then in a helper thread (raised there): both sends wake it. */
struct sig_send {
	sio_loop *loop;
	int gate[2];
	pthread_t loop_thread;
	sem_t ack;
	int calls;
};

static void *
sig_sender_main(void *arg)
{
	struct sig_send *s = arg;

	if (gate_wait(s->gate[0]) != 0)
		return NULL;
	pthread_kill(s->loop_thread, SIGUSR2);
	sem_wait_intr(&s->ack);
	raise(SIGUSR2);                 /* the handler runs in this thread */
	sem_wait_intr(&s->ack);
	return NULL;
}

static void
sig_ack_cb(sio_async *a, void *arg)
{
	struct sig_send *s = arg;

	(void)a;
	sem_post(&s->ack);
	if (++s->calls == 2)
		sio_loop_stop(s->loop);
}

static void
sig_gate_cb(sio_timer *t, void *arg)
{
	struct sig_send *s = arg;

	(void)t;
	t_write_all(s->gate[1], "g", 1);
}

SIO_BACKEND_TEST(async, send_from_signal_handler_while_sleeping)
{
	sio_loop *loop = t_loop_new(be->name);
	struct sig_send s = { .loop = loop };
	pthread_t th;
	sio_async *a;
	sio_timer *t;

	gate_pipe(s.gate);
	s.loop_thread = pthread_self();
	cr_assert_eq(sem_init(&s.ack, 0, 0), 0, "sem_init");
	a = sio_async_new(loop, sig_ack_cb, &s);
	cr_assert_not_null(a, "sio_async_new: %s", strerror(errno));
	install_send_handler(a);
	t = sio_timer_start(loop, 0, 0, sig_gate_cb, &s);
	cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
	cr_assert_eq(pthread_create(&th, NULL, sig_sender_main, &s), 0,
	             "pthread_create");
	t_run(loop, SIO_RUN_DEFAULT);
	pthread_join(th, NULL);
	cr_assert_eq(s.calls, 2, "[%s] two sends from signal handlers, one "
	             "after the other was seen: %d calls", be->name, s.calls);
	cr_assert_eq(handler_runs, 2, "[%s] the handler ran %d times",
	             be->name, (int)handler_runs);
	cr_assert_eq(handler_bad, 0, "[%s] sio_async_send in a handler failed "
	             "or changed errno", be->name);
	signal(SIGUSR2, SIG_DFL);
	sio_timer_stop(t);
	sio_async_free(a);
	sem_destroy(&s.ack);
	close_pair(s.gate);
	t_loop_free(loop);
}
