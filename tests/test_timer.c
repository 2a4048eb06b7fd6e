/*
 * test_timer.c - timers: order and repetition with many timers, stopping
 * (from their own callback and from others), sio_timer_again, a repeating
 * timer that falls behind, 100,000 live timers, the loop's sleep bounded by
 * the next deadline, and what keeps SIO_RUN_DEFAULT running.
 *
 * Nothing here asserts how long anything took.  Order is checked against
 * bounds on each deadline that the test reads from CLOCK_MONOTONIC around
 * each sio_timer_start(): a timer's deadline lies in [lo, hi], so timer A
 * firing before timer B is wrong only when lo(A) > hi(B), whatever the
 * scheduler did.  The one time-based check is "never early", which holds
 * by contract however slow the machine is: a callback runs no sooner than
 * its deadline, so the clock read in it is at least lo.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

#define NS_PER_MS UINT64_C(1000000)

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* Simulate a slow callback: spin (never sleep) for `ms` milliseconds. */
static void
busy_wait_ms(uint64_t ms)
{
	uint64_t end = mono_ns() + ms * NS_PER_MS;

	while (mono_ns() < end)
		;
}

/* A timer callback that counts its calls in *(int *)arg. */
static void
count_cb(sio_timer *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
}

/* ---- errors ---------------------------------------------------------------- */

SIO_BACKEND_TEST(timer, errors)
{
	sio_loop *loop = t_loop_new(be->name);
	int calls = 0;
	sio_timer *t;

	errno = 0;
	cr_assert_null(sio_timer_start(NULL, 1, 0, count_cb, &calls),
	               "sio_timer_start(NULL loop) succeeded");
	cr_assert_eq(errno, EINVAL, "NULL loop: errno %d (%s), want EINVAL",
	             errno, strerror(errno));
	errno = 0;
	cr_assert_null(sio_timer_start(loop, 1, 0, NULL, NULL),
	               "sio_timer_start(NULL callback) succeeded");
	cr_assert_eq(errno, EINVAL, "NULL callback: errno %d (%s), want EINVAL",
	             errno, strerror(errno));
	errno = 0;
	cr_assert_null(sio_timer_start(loop, UINT64_MAX, 0, count_cb, &calls),
	               "an after_ms that overflows was accepted");
	cr_assert_eq(errno, EINVAL, "overflowing after_ms: errno %d (%s)",
	             errno, strerror(errno));
	errno = 0;
	cr_assert_null(sio_timer_start(loop, 1, UINT64_MAX, count_cb, &calls),
	               "a repeat_ms that overflows was accepted");
	cr_assert_eq(errno, EINVAL, "overflowing repeat_ms: errno %d (%s)",
	             errno, strerror(errno));

	errno = 0;
	cr_assert_eq(sio_timer_again(NULL, 1, 0), -1, "sio_timer_again(NULL) "
	             "succeeded");
	cr_assert_eq(errno, EINVAL, "sio_timer_again(NULL): errno %d (%s)",
	             errno, strerror(errno));

	/* A failed sio_timer_again leaves the timer as it was: still due. */
	t = sio_timer_start(loop, 0, 0, count_cb, &calls);
	cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
	errno = 0;
	cr_assert_eq(sio_timer_again(t, UINT64_MAX, 0), -1, "sio_timer_again "
	             "with an overflowing after_ms succeeded");
	cr_assert_eq(errno, EINVAL, "overflowing again: errno %d (%s)", errno,
	             strerror(errno));
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(calls, 1, "the timer a failed sio_timer_again left alone "
	             "ran %d times, want 1", calls);
	sio_timer_stop(t);

	sio_timer_stop(NULL);                   /* ignored */
	cr_assert_eq(sio_loop_now(NULL), 0, "sio_loop_now(NULL) is not 0");
	sio_loop_update_time(NULL);             /* ignored */
	/* Nothing is active any more: DEFAULT returns at once. */
	t_run(loop, SIO_RUN_DEFAULT);
	t_loop_free(loop);
}

/* ---- order ----------------------------------------------------------------- */

/* Timers with known deadline bounds, recording the order they fire in. */
struct order {
	size_t n;
	sio_timer **t;
	uint64_t *lo, *hi;      /* bounds on each deadline, ns */
	size_t *fired;          /* indexes, in firing order */
	size_t nfired;
	int *calls;
	size_t early;           /* callbacks that ran before lo */
	size_t early_index;
	struct oslot { struct order *o; size_t i; } *slot;
};

static void
order_cb(sio_timer *t, void *arg)
{
	struct oslot *s = arg;
	struct order *o = s->o;

	(void)t;
	if (mono_ns() < o->lo[s->i] && o->early++ == 0)
		o->early_index = s->i;
	o->calls[s->i]++;
	if (o->nfired < o->n)
		o->fired[o->nfired++] = s->i;
}

static void
order_init(struct order *o, size_t n)
{
	memset(o, 0, sizeof(*o));
	o->n = n;
	o->t = calloc(n, sizeof(*o->t));
	o->lo = calloc(n, sizeof(*o->lo));
	o->hi = calloc(n, sizeof(*o->hi));
	o->fired = calloc(n, sizeof(*o->fired));
	o->calls = calloc(n, sizeof(*o->calls));
	o->slot = calloc(n, sizeof(*o->slot));
	cr_assert(o->t && o->lo && o->hi && o->fired && o->calls && o->slot,
	          "out of memory");
}

static void
order_fini(struct order *o)
{
	free(o->t);
	free(o->lo);
	free(o->hi);
	free(o->fired);
	free(o->calls);
	free(o->slot);
}

/* Start timer i, `after_ms` from now, and note the bounds on its deadline. */
static void
order_start(struct order *o, sio_loop *loop, size_t i, uint64_t after_ms)
{
	o->slot[i] = (struct oslot){ o, i };
	o->lo[i] = mono_ns() + after_ms * NS_PER_MS;
	o->t[i] = sio_timer_start(loop, after_ms, 0, order_cb, &o->slot[i]);
	o->hi[i] = mono_ns() + after_ms * NS_PER_MS;
	cr_assert_not_null(o->t[i], "sio_timer_start #%zu: %s", i,
	                   strerror(errno));
}

/* Every fired timer in deadline order: no timer fired before one whose
 * deadline was certainly earlier (lo of the one fired first > hi of one
 * fired later).  O(n) with the minimum of hi over the later ones. */
static void
order_check(const struct order *o, const char *backend)
{
	uint64_t min_hi_later = UINT64_MAX;
	size_t min_at = 0;

	cr_assert_eq(o->early, 0, "[%s] %zu timers fired before their "
	             "deadline (first: #%zu)", backend, o->early,
	             o->early_index);
	for (size_t j = o->nfired; j-- > 0;) {
		size_t i = o->fired[j];

		cr_assert_leq(o->lo[i], min_hi_later, "[%s] timer #%zu (the "
		              "%zuth to fire) fired before timer #%zu, whose "
		              "deadline was at least %llu ns earlier", backend, i,
		              j + 1, o->fired[min_at],
		              (unsigned long long)(o->lo[i] - min_hi_later));
		if (o->hi[i] < min_hi_later) {
			min_hi_later = o->hi[i];
			min_at = j;
		}
	}
}

#define NORDER 2000

SIO_BACKEND_TEST(timer, many_fire_in_deadline_order)
{
	sio_loop *loop = t_loop_new(be->name);
	struct order o;
	uint64_t rng = 0x9e3779b97f4a7c15ull;

	order_init(&o, NORDER);
	for (size_t i = 0; i < NORDER; i++)
		order_start(&o, loop, i, t_rand(&rng) % 25);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(o.nfired, NORDER, "[%s] %zu of %d one-shot timers fired "
	             "before SIO_RUN_DEFAULT returned", be->name, o.nfired,
	             NORDER);
	for (size_t i = 0; i < NORDER; i++)
		cr_assert_eq(o.calls[i], 1, "[%s] one-shot timer #%zu fired %d "
		             "times", be->name, i, o.calls[i]);
	order_check(&o, be->name);
	for (size_t i = 0; i < NORDER; i++)
		sio_timer_stop(o.t[i]);
	order_fini(&o);
	t_loop_free(loop);
}

/* Timers started one after the other with the same timeout have
 * non-decreasing deadlines: each group fires exactly in start order. */
SIO_BACKEND_TEST(timer, equal_timeouts_fire_in_start_order)
{
	sio_loop *loop = t_loop_new(be->name);
	struct order o;
	size_t next[2] = { 0, 1 };      /* next index due in each group */

	order_init(&o, NORDER);
	for (size_t i = 0; i < NORDER; i++)
		order_start(&o, loop, i, i % 2 == 0 ? 0 : 3);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(o.nfired, NORDER, "[%s] %zu of %d timers fired", be->name,
	             o.nfired, NORDER);
	/* Even indexes (0 ms) in start order, odd ones (3 ms) in start order;
	 * between the groups, deadline order (order_check). */
	for (size_t j = 0; j < NORDER; j++) {
		size_t i = o.fired[j], g = i % 2;

		cr_assert_eq(i, next[g], "[%s] the %zuth timer to fire was #%zu, "
		             "want #%zu (same timeout: start order)", be->name,
		             j + 1, i, next[g]);
		next[g] += 2;
	}
	order_check(&o, be->name);
	for (size_t i = 0; i < NORDER; i++)
		sio_timer_stop(o.t[i]);
	order_fini(&o);
	t_loop_free(loop);
}

/* ---- repetition -------------------------------------------------------------- */

#define NREPEAT 50
#define REPEATS 5

struct rep {
	int calls;
	uint64_t period_ms;
	uint64_t lo;            /* lower bound on the first deadline */
	int early;              /* the kth call came before lo + (k-1) periods */
};

/* Stops itself after REPEATS calls. */
static void
rep_cb(sio_timer *t, void *arg)
{
	struct rep *r = arg;

	/* The kth deadline is at least (k-1) periods after the first. */
	if (mono_ns() < r->lo + (uint64_t)r->calls * r->period_ms * NS_PER_MS)
		r->early++;
	if (++r->calls == REPEATS)
		sio_timer_stop(t);
}

SIO_BACKEND_TEST(timer, many_repeating_fire_their_count)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rep r[NREPEAT];

	memset(r, 0, sizeof(r));
	for (int i = 0; i < NREPEAT; i++) {
		r[i].period_ms = (uint64_t)(i % 5) + 1;
		r[i].lo = mono_ns() + r[i].period_ms * NS_PER_MS;
		cr_assert_not_null(sio_timer_start(loop, r[i].period_ms,
		                   r[i].period_ms, rep_cb, &r[i]),
		                   "sio_timer_start: %s", strerror(errno));
	}
	/* Each stops itself after REPEATS calls: then nothing is active. */
	t_run(loop, SIO_RUN_DEFAULT);
	for (int i = 0; i < NREPEAT; i++) {
		cr_assert_eq(r[i].calls, REPEATS, "[%s] repeating timer #%d "
		             "(every %llu ms) fired %d times, want %d", be->name,
		             i, (unsigned long long)r[i].period_ms, r[i].calls,
		             REPEATS);
		cr_assert_eq(r[i].early, 0, "[%s] repeating timer #%d fired "
		             "before its deadline %d times", be->name, i,
		             r[i].early);
	}
	t_run_nowait(loop, 3);
	for (int i = 0; i < NREPEAT; i++)
		cr_assert_eq(r[i].calls, REPEATS, "[%s] timer #%d ran after it "
		             "stopped itself", be->name, i);
	t_loop_free(loop);
}

/* ---- stopping ------------------------------------------------------------------ */

struct killer {
	sio_timer *victim;
	int calls;
	int victim_calls_at_stop;
	int *victim_calls;
};

/* Stops k->victim (once). */
static void
killer_cb(sio_timer *t, void *arg)
{
	struct killer *k = arg;

	(void)t;
	k->calls++;
	if (k->victim != NULL) {
		k->victim_calls_at_stop = *k->victim_calls;
		sio_timer_stop(k->victim);
		k->victim = NULL;
	}
}

/* A, then B, then C, all due now: A runs first and stops B, which was due
 * in the same iteration; B never runs, C does. */
SIO_BACKEND_TEST(timer, stopped_by_other_timer_never_fires)
{
	sio_loop *loop = t_loop_new(be->name);
	int b_calls = 0, c_calls = 0;
	struct killer a = { .victim_calls = &b_calls };
	sio_timer *ta, *tc;

	ta = sio_timer_start(loop, 0, 0, killer_cb, &a);
	cr_assert_not_null(ta, "sio_timer_start: %s", strerror(errno));
	a.victim = sio_timer_start(loop, 0, 0, count_cb, &b_calls);
	cr_assert_not_null(a.victim, "sio_timer_start: %s", strerror(errno));
	tc = sio_timer_start(loop, 0, 0, count_cb, &c_calls);
	cr_assert_not_null(tc, "sio_timer_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	t_run_nowait(loop, 3);
	cr_assert_eq(a.calls, 1, "[%s] timer A ran %d times", be->name,
	             a.calls);
	cr_assert_eq(b_calls, 0, "[%s] timer B, stopped by A in the iteration "
	             "both were due, ran %d times", be->name, b_calls);
	cr_assert_eq(c_calls, 1, "[%s] timer C ran %d times", be->name,
	             c_calls);
	sio_timer_stop(ta);
	sio_timer_stop(tc);
	t_loop_free(loop);
}

/* A repeating timer stopped by another timer runs no more. */
SIO_BACKEND_TEST(timer, repeating_stopped_by_other_timer)
{
	sio_loop *loop = t_loop_new(be->name);
	int r_calls = 0;
	struct killer k = { .victim_calls = &r_calls };
	sio_timer *tk;

	k.victim = sio_timer_start(loop, 1, 1, count_cb, &r_calls);
	cr_assert_not_null(k.victim, "sio_timer_start: %s", strerror(errno));
	tk = sio_timer_start(loop, 10, 0, killer_cb, &k);
	cr_assert_not_null(tk, "sio_timer_start: %s", strerror(errno));
	/* DEFAULT returns only once the repeating timer is stopped. */
	t_run(loop, SIO_RUN_DEFAULT);
	t_run_nowait(loop, 3);
	cr_assert_eq(k.calls, 1, "[%s] the stopping timer ran %d times",
	             be->name, k.calls);
	cr_assert_eq(r_calls, k.victim_calls_at_stop, "[%s] the repeating "
	             "timer ran %d times after it was stopped", be->name,
	             r_calls - k.victim_calls_at_stop);
	sio_timer_stop(tk);
	t_loop_free(loop);
}

/* An fd callback stops a timer whose deadline has passed. */
struct io_killer {
	sio_timer *victim;
	uint64_t victim_hi;     /* upper bound on its deadline, ns */
	int victim_calls;
	int victim_calls_at_stop;
	int io_calls;
	int wfd;                /* the fd the trigger timer writes to */
};

static void
trigger_cb(sio_timer *t, void *arg)
{
	struct io_killer *k = arg;

	(void)t;
	t_write_all(k->wfd, "x", 1);
}

static void
io_killer_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct io_killer *k = arg;

	(void)revents;
	k->io_calls++;
	t_drain(fd);
	/* Until the victim is certainly overdue: it sits due in the heap. */
	while (mono_ns() <= k->victim_hi)
		;
	k->victim_calls_at_stop = k->victim_calls;
	sio_timer_stop(k->victim);
	k->victim = NULL;
	sio_io_stop(io);
}

static void
victim_cb(sio_timer *t, void *arg)
{
	(void)t;
	((struct io_killer *)arg)->victim_calls++;
}

SIO_BACKEND_TEST(timer, stopped_by_io_callback_never_fires)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct io_killer k = { 0 };
	sio_timer *trig;

	k.wfd = f.sv[1];
	cr_assert_not_null(sio_io_start(loop, f.sv[0], SIO_READ, io_killer_cb,
	                   &k), "sio_io_start: %s", strerror(errno));
	k.victim = sio_timer_start(loop, 20, 0, victim_cb, &k);
	cr_assert_not_null(k.victim, "sio_timer_start: %s", strerror(errno));
	k.victim_hi = mono_ns() + 20 * NS_PER_MS;
	trig = sio_timer_start(loop, 2, 0, trigger_cb, &k);
	cr_assert_not_null(trig, "sio_timer_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	t_run_nowait(loop, 3);
	cr_assert_eq(k.io_calls, 1, "[%s] the fd callback ran %d times",
	             be->name, k.io_calls);
	if (k.victim_calls_at_stop != 0)
		cr_log_warn("[%s] the victim fired before the fd callback ran "
		            "(the process was descheduled for 18 ms?): only "
		            "\"nothing after the stop\" is checked", be->name);
	cr_assert_eq(k.victim_calls, k.victim_calls_at_stop, "[%s] a timer "
	             "stopped by an fd callback after its deadline ran %d "
	             "times after the stop", be->name,
	             k.victim_calls - k.victim_calls_at_stop);
	sio_timer_stop(trig);
	t_fixture_close(&f);
}

/* ---- a timer stopping itself ------------------------------------------------ */

struct selfstop {
	int calls;
	int stop_at;            /* stop itself on this call */
};

static void
selfstop_cb(sio_timer *t, void *arg)
{
	struct selfstop *s = arg;

	if (++s->calls == s->stop_at)
		sio_timer_stop(t);
}

SIO_BACKEND_TEST(timer, stop_self)
{
	sio_loop *loop = t_loop_new(be->name);
	struct selfstop one = { .stop_at = 1 }, rep = { .stop_at = 3 };

	cr_assert_not_null(sio_timer_start(loop, 1, 0, selfstop_cb, &one),
	                   "sio_timer_start: %s", strerror(errno));
	cr_assert_not_null(sio_timer_start(loop, 1, 1, selfstop_cb, &rep),
	                   "sio_timer_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	t_run_nowait(loop, 3);
	cr_assert_eq(one.calls, 1, "[%s] a one-shot that stopped itself ran "
	             "%d times", be->name, one.calls);
	cr_assert_eq(rep.calls, 3, "[%s] a repeating timer that stopped itself "
	             "on its 3rd call ran %d times", be->name, rep.calls);
	t_loop_free(loop);
}

/* A one-shot re-arms itself from its callback with a 0 timeout: it runs
 * once per timer phase, never in a loop within one, and stops itself. */
struct rearm {
	int calls;
	uint64_t iter[8];
	sio_loop *loop;
};

static void
rearm_cb(sio_timer *t, void *arg)
{
	struct rearm *r = arg;

	r->iter[r->calls] = t_stats(r->loop).iterations;
	if (++r->calls == 5) {
		sio_timer_stop(t);
		return;
	}
	cr_assert_eq(sio_timer_again(t, 0, 0), 0, "sio_timer_again in its own "
	             "callback: %s", strerror(errno));
}

SIO_BACKEND_TEST(timer, rearm_self_with_zero)
{
	sio_loop *loop = t_loop_new(be->name);
	struct rearm r = { .loop = loop };

	cr_assert_not_null(sio_timer_start(loop, 0, 0, rearm_cb, &r),
	                   "sio_timer_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 5, "[%s] a self-rearming timer ran %d times, "
	             "want 5", be->name, r.calls);
	/* Each iteration has two timer phases: at most two calls in one. */
	for (int i = 2; i < 5; i++)
		cr_assert_gt(r.iter[i], r.iter[i - 2], "[%s] calls %d, %d and %d "
		             "of a timer re-armed with 0 ran in one iteration",
		             be->name, i - 1, i, i + 1);
	t_loop_free(loop);
}

/* ---- falling behind ----------------------------------------------------------- */

#define BEHIND_PERIOD_MS 5
#define BEHIND_PERIODS 6

struct behind {
	int calls;
	uint64_t end_of_long;   /* when the long callback returned, ns */
};

/* The first call blocks the loop for BEHIND_PERIODS periods. */
static void
behind_cb(sio_timer *t, void *arg)
{
	struct behind *b = arg;

	(void)t;
	if (++b->calls == 1) {
		busy_wait_ms(BEHIND_PERIOD_MS * BEHIND_PERIODS);
		b->end_of_long = mono_ns();
	}
}

static bool
behind_more(void *arg)
{
	struct behind *b = arg;

	return b->calls >= 6;
}

SIO_BACKEND_TEST(timer, repeating_behind_does_not_burst)
{
	sio_loop *loop = t_loop_new(be->name);
	struct behind b = { 0 };
	sio_timer *t;
	uint64_t elapsed;
	int extra, allowed;

	t = sio_timer_start(loop, BEHIND_PERIOD_MS, BEHIND_PERIOD_MS, behind_cb,
	                    &b);
	cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
	cr_assert(t_run_until(loop, t_flag_set, &b.calls, SIO_TEST_MAX_ONCE),
	          "[%s] the repeating timer never fired", be->name);
	/* The next iterations run at once, far apart from each other by much
	 * less than a period.  A timer catching up would fire in each timer
	 * phase until its BEHIND_PERIODS missed deadlines were spent. */
	t_run_nowait(loop, 2 * BEHIND_PERIODS);
	elapsed = mono_ns() - b.end_of_long;
	extra = b.calls - 1;
	/* Fires that were honestly due in the time those iterations took
	 * (normally none: this bound only guards against a slow machine). */
	allowed = 1 + (int)(elapsed / (BEHIND_PERIOD_MS * NS_PER_MS));
	cr_assert_geq(extra, 1, "[%s] after a long callback the repeating "
	              "timer did not fire again for its missed deadline",
	              be->name);
	cr_assert_leq(extra, allowed, "[%s] after a callback that blocked the "
	              "loop for %d periods, the timer fired %d more times in "
	              "%d iterations that took %llu us: a burst (at most %d "
	              "allowed)", be->name, BEHIND_PERIODS, extra,
	              2 * BEHIND_PERIODS, (unsigned long long)(elapsed / 1000),
	              allowed);
	/* And it keeps repeating, on its period, from then on. */
	cr_assert(t_run_until(loop, behind_more, &b, SIO_TEST_MAX_ONCE),
	          "[%s] the timer stopped repeating after falling behind (%d "
	          "calls)", be->name, b.calls);
	sio_timer_stop(t);
	t_loop_free(loop);
}

/* ---- 100,000 timers --------------------------------------------------------------- */

#define NBIG 100000
#define BIG_STOP_BEFORE (NBIG / 3)   /* stopped before the loop runs */
#define BIG_STOP_IN_CB 20000         /* fires that each stop a random one */

enum { BIG_ACTIVE, BIG_FIRED, BIG_STOPPED };

struct big {
	struct order o;
	unsigned char *state;
	uint64_t rng;
	size_t stopped;         /* in all */
	size_t fired_stopped;   /* callbacks of stopped timers: must stay 0 */
	size_t cb_stops;
};

static struct big *big_of;  /* the one test's state, for big_cb */

static void
big_cb(sio_timer *t, void *arg)
{
	struct oslot *s = arg;
	struct big *b = big_of;

	if (b->state[s->i] != BIG_ACTIVE) {
		b->fired_stopped++;
		return;
	}
	b->state[s->i] = BIG_FIRED;
	order_cb(t, arg);
	if (b->cb_stops < BIG_STOP_IN_CB) {
		size_t v = (size_t)(t_rand(&b->rng) % NBIG);

		b->cb_stops++;
		if (b->state[v] == BIG_ACTIVE) {
			sio_timer_stop(b->o.t[v]);
			b->o.t[v] = NULL;
			b->state[v] = BIG_STOPPED;
			b->stopped++;
		}
	}
}

static void
shuffle(size_t *v, size_t n, uint64_t *rng)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(t_rand(rng) % i), x = v[i - 1];

		v[i - 1] = v[j];
		v[j] = x;
	}
}

SIO_BACKEND_TEST(timer, hundred_thousand_live_timers)
{
	sio_loop *loop = t_loop_new(be->name);
	struct big *b = calloc(1, sizeof(*b));
	size_t *idx = calloc(NBIG, sizeof(*idx));
	size_t left = 0;

	cr_assert(b != NULL && idx != NULL, "out of memory");
	big_of = b;
	b->rng = 0x243f6a8885a308d3ull;
	b->state = calloc(NBIG, 1);
	cr_assert_not_null(b->state, "out of memory");
	order_init(&b->o, NBIG);
	for (size_t i = 0; i < NBIG; i++) {
		uint64_t after = t_rand(&b->rng) % 50;

		b->o.slot[i] = (struct oslot){ &b->o, i };
		b->o.lo[i] = mono_ns() + after * NS_PER_MS;
		b->o.t[i] = sio_timer_start(loop, after, 0, big_cb,
		                            &b->o.slot[i]);
		b->o.hi[i] = mono_ns() + after * NS_PER_MS;
		cr_assert_not_null(b->o.t[i], "sio_timer_start #%zu of %d: %s",
		                   i, NBIG, strerror(errno));
		idx[i] = i;
	}
	/* A third stopped at once, in random order. */
	shuffle(idx, NBIG, &b->rng);
	for (size_t j = 0; j < BIG_STOP_BEFORE; j++) {
		size_t i = idx[j];

		sio_timer_stop(b->o.t[i]);
		b->o.t[i] = NULL;
		b->state[i] = BIG_STOPPED;
		b->stopped++;
	}
	t_run(loop, SIO_RUN_DEFAULT);

	cr_assert_eq(b->fired_stopped, 0, "[%s] %zu stopped timers fired",
	             be->name, b->fired_stopped);
	for (size_t i = 0; i < NBIG; i++) {
		cr_assert_neq(b->state[i], BIG_ACTIVE, "[%s] timer #%zu neither "
		              "fired nor was stopped, yet DEFAULT returned",
		              be->name, i);
		cr_assert_leq(b->o.calls[i], 1, "[%s] one-shot #%zu fired %d "
		              "times", be->name, i, b->o.calls[i]);
	}
	cr_assert_eq(b->o.nfired + b->stopped, NBIG, "[%s] %zu fired + %zu "
	             "stopped != %d", be->name, b->o.nfired, b->stopped, NBIG);
	order_check(&b->o, be->name);
	/* The fired ones are still allocated: stop them, in random order. */
	for (size_t i = 0; i < NBIG; i++)
		if (b->state[i] == BIG_FIRED)
			idx[left++] = i;
	shuffle(idx, left, &b->rng);
	for (size_t j = 0; j < left; j++)
		sio_timer_stop(b->o.t[idx[j]]);
	t_run(loop, SIO_RUN_DEFAULT);
	order_fini(&b->o);
	free(b->state);
	free(b);
	free(idx);
	big_of = NULL;
	t_loop_free(loop);
}

/* ---- sio_timer_again ---------------------------------------------------------------- */

struct idle {
	sio_timer *timeout;     /* pushed back by the "reads" */
	int pushes;
	int timeout_calls;
	int pushes_at_timeout;
};

/* A "read" every 2 ms pushes the 20 ms idle timeout back, 10 times. */
static void
reader_cb(sio_timer *t, void *arg)
{
	struct idle *d = arg;

	cr_assert_eq(sio_timer_again(d->timeout, 20, 0), 0, "sio_timer_again "
	             "on an active timer: %s", strerror(errno));
	if (++d->pushes == 10)
		sio_timer_stop(t);
}

static void
timeout_cb(sio_timer *t, void *arg)
{
	struct idle *d = arg;

	(void)t;
	d->timeout_calls++;
	d->pushes_at_timeout = d->pushes;
}

/* The reader's next deadline (2 ms from its call) always comes before the
 * timeout it just pushed back (20 ms from that call): however late the
 * loop runs, the timeout can fire only after the last push. */
SIO_BACKEND_TEST(timer, again_pushes_back_active_timer)
{
	sio_loop *loop = t_loop_new(be->name);
	struct idle d = { 0 };
	sio_timer *reader;

	d.timeout = sio_timer_start(loop, 20, 0, timeout_cb, &d);
	cr_assert_not_null(d.timeout, "sio_timer_start: %s", strerror(errno));
	reader = sio_timer_start(loop, 2, 2, reader_cb, &d);
	cr_assert_not_null(reader, "sio_timer_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(d.pushes, 10, "[%s] %d pushes", be->name, d.pushes);
	cr_assert_eq(d.timeout_calls, 1, "[%s] the idle timeout fired %d "
	             "times, want once", be->name, d.timeout_calls);
	cr_assert_eq(d.pushes_at_timeout, 10, "[%s] the idle timeout fired "
	             "after %d of 10 pushes back", be->name,
	             d.pushes_at_timeout);
	sio_timer_stop(d.timeout);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(timer, again_rearms_fired_one_shot)
{
	sio_loop *loop = t_loop_new(be->name);
	int calls = 0;
	sio_timer *t;

	t = sio_timer_start(loop, 1, 0, count_cb, &calls);
	cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(calls, 1, "[%s] the one-shot fired %d times", be->name,
	             calls);
	/* Fired: inactive, DEFAULT returns at once. */
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(calls, 1, "[%s] a fired one-shot fired again", be->name);
	/* Re-armed: active again, DEFAULT waits for it. */
	cr_assert_eq(sio_timer_again(t, 2, 0), 0, "sio_timer_again on a fired "
	             "one-shot: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(calls, 2, "[%s] a re-armed one-shot: %d calls, want 2",
	             be->name, calls);
	/* Re-armed as a repeating timer: it fires until stopped. */
	cr_assert_eq(sio_timer_again(t, 0, 1), 0, "sio_timer_again with a "
	             "repeat: %s", strerror(errno));
	for (int i = 0; i < SIO_TEST_MAX_ONCE && calls < 6; i++)
		t_run(loop, SIO_RUN_ONCE);
	cr_assert_geq(calls, 6, "[%s] a timer re-armed with a repeat stopped "
	              "after %d calls", be->name, calls);
	sio_timer_stop(t);
	t_run(loop, SIO_RUN_DEFAULT);
	t_loop_free(loop);
}

/* ---- the sleep is bounded by the next deadline --------------------------------- */

struct stamp {
	int calls;
	uint64_t lo;            /* lower bound on the deadline */
	uint64_t at;            /* when it ran */
};

static void
stamp_cb(sio_timer *t, void *arg)
{
	struct stamp *s = arg;

	(void)t;
	s->calls++;
	s->at = mono_ns();
}

SIO_BACKEND_TEST(timer, once_returns_after_only_timer)
{
	sio_loop *loop = t_loop_new(be->name);
	struct stamp s = { 0 };
	sio_timer *t;
	struct sio_stats st;

	s.lo = mono_ns() + 20 * NS_PER_MS;
	t = sio_timer_start(loop, 20, 0, stamp_cb, &s);
	cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
	/* Nothing else can run: ONCE returns because the timer fired. */
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(s.calls, 1, "[%s] SIO_RUN_ONCE with only a 20 ms timer "
	             "returned after %d timer calls", be->name, s.calls);
	cr_assert_geq(s.at, s.lo, "[%s] the timer fired %llu us early",
	              be->name, (unsigned long long)((s.lo - s.at) / 1000));
	st = t_stats(loop);
	/* Slept until the deadline, not spun: a few iterations at most (a
	 * spinning loop makes thousands in 20 ms). */
	cr_assert_geq(st.sleeps, 1, "[%s] the loop never slept", be->name);
	cr_assert_lt(st.iterations, 100, "[%s] %llu iterations for one 20 ms "
	             "timer: the loop spun instead of sleeping", be->name,
	             (unsigned long long)st.iterations);
	sio_timer_stop(t);
	t_loop_free(loop);
}

static void
idle_io_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)io; (void)revents;
	t_drain(fd);
	(*(int *)arg)++;
}

/* An fd that never becomes ready: the sleep is still bounded by the
 * timer (else the guard would have to stop the loop). */
SIO_BACKEND_TEST(timer, sleep_with_idle_fd_bounded_by_timer)
{
	struct t_fixture f;
	sio_loop *loop = t_fixture_open(&f, be);
	struct stamp s = { 0 };
	int io_calls = 0;
	sio_timer *t;

	t_fixture_watch(&f, SIO_READ, idle_io_cb, &io_calls);
	t_run_nowait(loop, 2);
	s.lo = mono_ns() + 15 * NS_PER_MS;
	t = sio_timer_start(loop, 15, 0, stamp_cb, &s);
	cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
	cr_assert(t_run_until(loop, t_flag_set, &s.calls, 100), "[%s] the timer "
	          "never fired while the loop waited on an idle fd", be->name);
	cr_assert_eq(s.calls, 1, "[%s] %d timer calls", be->name, s.calls);
	cr_assert_geq(s.at, s.lo, "[%s] the timer fired early", be->name);
	sio_timer_stop(t);
	t_fixture_close(&f);
}

/* ---- what keeps SIO_RUN_DEFAULT running ------------------------------------------ */

SIO_BACKEND_TEST(timer, active_timers_keep_default_running)
{
	sio_loop *loop = t_loop_new(be->name);
	struct selfstop rep = { .stop_at = 4 };
	int one = 0, stopped = 0;
	sio_timer *t1, *t2;

	/* A stopped timer keeps nothing running. */
	t2 = sio_timer_start(loop, 1000000, 0, count_cb, &stopped);
	cr_assert_not_null(t2, "sio_timer_start: %s", strerror(errno));
	sio_timer_stop(t2);
	t_run(loop, SIO_RUN_DEFAULT);

	t1 = sio_timer_start(loop, 5, 0, count_cb, &one);
	cr_assert_not_null(t1, "sio_timer_start: %s", strerror(errno));
	cr_assert_not_null(sio_timer_start(loop, 1, 2, selfstop_cb, &rep),
	                   "sio_timer_start: %s", strerror(errno));
	/* Returns once the one-shot fired and the repeating one stopped. */
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(one, 1, "[%s] DEFAULT returned with the one-shot fired "
	             "%d times", be->name, one);
	cr_assert_eq(rep.calls, 4, "[%s] DEFAULT returned with the repeating "
	             "timer at %d calls, before it stopped itself", be->name,
	             rep.calls);
	/* The fired one-shot, still allocated, keeps nothing running. */
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(one, 1, "[%s] the fired one-shot ran again", be->name);
	cr_assert_eq(stopped, 0, "[%s] a timer stopped before the run fired",
	             be->name);
	sio_timer_stop(t1);
	t_loop_free(loop);
}

/* ---- the loop's time ---------------------------------------------------------------- */

struct seen_now {
	sio_loop *loop;
	uint64_t ms;            /* sio_loop_now() in the callback */
};

static void
now_cb(sio_timer *t, void *arg)
{
	struct seen_now *s = arg;

	(void)t;
	s->ms = sio_loop_now(s->loop);
}

SIO_BACKEND_TEST(timer, loop_now)
{
	sio_loop *loop = t_loop_new(be->name);
	struct seen_now seen = { .loop = loop };
	uint64_t before, after, ms;
	sio_timer *t;

	/* The cached time follows CLOCK_MONOTONIC: never behind a reading
	 * taken before it was refreshed, never ahead of one taken after. */
	before = mono_ns() / NS_PER_MS;
	sio_loop_update_time(loop);
	ms = sio_loop_now(loop);
	after = mono_ns() / NS_PER_MS;
	cr_assert(ms >= before && ms <= after, "[%s] sio_loop_now %llu outside "
	          "[%llu, %llu]", be->name, (unsigned long long)ms,
	          (unsigned long long)before, (unsigned long long)after);
	busy_wait_ms(3);
	/* Cached: unchanged until refreshed. */
	cr_assert_eq(sio_loop_now(loop), ms, "[%s] sio_loop_now changed "
	             "without a refresh", be->name);
	sio_loop_update_time(loop);
	cr_assert_geq(sio_loop_now(loop), ms + 3, "[%s] sio_loop_update_time "
	              "did not refresh the cached time", be->name);
	/* Inside a timer callback: the time of this iteration, at or after
	 * the deadline. */
	before = mono_ns() / NS_PER_MS;
	t = sio_timer_start(loop, 2, 0, now_cb, &seen);
	cr_assert_not_null(t, "sio_timer_start: %s", strerror(errno));
	t_run(loop, SIO_RUN_DEFAULT);
	after = mono_ns() / NS_PER_MS;
	cr_assert(seen.ms >= before + 2 && seen.ms <= after, "[%s] "
	          "sio_loop_now in a 2 ms timer's callback: %llu outside "
	          "[%llu, %llu]", be->name, (unsigned long long)seen.ms,
	          (unsigned long long)before + 2, (unsigned long long)after);
	sio_timer_stop(t);
	t_loop_free(loop);
}
