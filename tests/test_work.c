/*
 * test_work.c - worker threads: done callbacks in the order the items
 * finished, with their status, on the loop's thread; cancel before and
 * after the start; pending work keeping SIO_RUN_DEFAULT running; 10,000
 * items from four loops in four threads; sio_loop_free() with work queued
 * and running; workers with every signal blocked; a forked child's copy
 * of pending work.
 *
 * Work functions wait on semaphores the test posts, never by sleeping.
 * Tests that need a known pool size set SIGIO_WORKERS first: each test
 * runs in a process of its own, and the pool reads it when it starts.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

static void
sem_wait_intr(sem_t *s)
{
	while (sem_wait(s) != 0 && errno == EINTR)
		;
}

/* One item of a scenario: its gate, what it saw, what it was told. */
struct item {
	int id;
	sem_t started, gate;
	bool gated;              /* fn waits for `gate` */
	atomic_int ran;          /* fn ran (count) */
	pthread_t fn_thread;
	int status;              /* done's, -1 before */
	int done_calls;
	pthread_t done_thread;
	int *order, *norder;     /* done appends its id */
};

static void
item_init(struct item *it, int id, bool gated, int *order, int *norder)
{
	memset(it, 0, sizeof *it);
	it->id = id;
	it->gated = gated;
	it->status = -1;
	it->order = order;
	it->norder = norder;
	sem_init(&it->started, 0, 0);
	sem_init(&it->gate, 0, 0);
}

static void
item_fn(void *arg)
{
	struct item *it = arg;
	it->fn_thread = pthread_self();
	atomic_fetch_add(&it->ran, 1);
	sem_post(&it->started);
	if (it->gated)
		sem_wait_intr(&it->gate);
}

static void
item_done(sio_work *w, int status, void *arg)
{
	(void)w;
	struct item *it = arg;
	it->status = status;
	it->done_calls++;
	it->done_thread = pthread_self();
	if (it->order != NULL)
		it->order[(*it->norder)++] = it->id;
}

/* Run SIO_RUN_ONCE until *n reaches `want` (each run blocks in the loop). */
static void
run_until_count(sio_loop *loop, int *n, int want)
{
	for (unsigned i = 0; i < SIO_TEST_MAX_ONCE && *n < want && !t_guard_fired(); i++)
		t_run(loop, SIO_RUN_ONCE);
	cr_assert_geq(*n, want, "%d of %d done callbacks", *n, want);
}

SIO_BACKEND_TEST(work, done_in_order_of_completion)
{
	sio_loop *loop = t_loop_new(be->name);
	struct item it[3];
	int order[3], norder = 0;
	for (int i = 0; i < 3; i++) {
		item_init(&it[i], i, true, order, &norder);
		cr_assert_not_null(sio_work_submit(loop, item_fn, item_done, &it[i]));
	}
	for (int i = 0; i < 3; i++)
		sem_wait_intr(&it[i].started);   /* all three run at once */
	int release[3] = { 2, 0, 1 };
	for (int k = 0; k < 3; k++) {
		sem_post(&it[release[k]].gate);
		run_until_count(loop, &norder, k + 1);
		cr_assert_eq(order[k], release[k], "done #%d was item %d", k, order[k]);
	}
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(it[i].status, 0);
		cr_assert_eq(it[i].done_calls, 1);
		cr_assert(pthread_equal(it[i].done_thread, pthread_self()));
		cr_assert(!pthread_equal(it[i].fn_thread, pthread_self()));
	}
	t_loop_free(loop);
}

SIO_BACKEND_TEST(work, pending_work_keeps_run_default_running)
{
	sio_loop *loop = t_loop_new(be->name);
	struct item it[8];
	for (int i = 0; i < 8; i++) {
		item_init(&it[i], i, false, NULL, NULL);
		cr_assert_not_null(sio_work_submit(loop, item_fn, item_done, &it[i]));
	}
	t_run(loop, SIO_RUN_DEFAULT);   /* returns only once nothing is pending */
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(it[i].done_calls, 1, "item %d", i);
		cr_assert_eq(it[i].status, 0);
		cr_assert_eq(atomic_load(&it[i].ran), 1);
	}
	t_loop_free(loop);
}

SIO_BACKEND_TEST(work, cancel_before_and_after_start)
{
	setenv("SIGIO_WORKERS", "1", 1);
	sio_loop *loop = t_loop_new(be->name);
	int order[2], norder = 0;
	struct item a, b;
	item_init(&a, 0, true, order, &norder);
	item_init(&b, 1, false, order, &norder);
	sio_work *wa = sio_work_submit(loop, item_fn, item_done, &a);
	cr_assert_not_null(wa);
	sem_wait_intr(&a.started);          /* the only worker holds a */
	sio_work *wb = sio_work_submit(loop, item_fn, item_done, &b);
	cr_assert_not_null(wb);

	cr_assert_eq(sio_work_cancel(wb), 0);
	cr_assert_eq(b.done_calls, 0, "done ran inside sio_work_cancel()");
	errno = 0;
	cr_assert_eq(sio_work_cancel(wb), -1);
	cr_assert_eq(errno, EBUSY, "a second cancel: %s", strerror(errno));
	errno = 0;
	cr_assert_eq(sio_work_cancel(wa), -1);
	cr_assert_eq(errno, EBUSY, "cancel of a running item: %s", strerror(errno));

	run_until_count(loop, &norder, 1);
	cr_assert_eq(order[0], 1);
	cr_assert_eq(b.status, ECANCELED);
	cr_assert_eq(atomic_load(&b.ran), 0, "a cancelled item's fn ran");

	sem_post(&a.gate);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(a.status, 0);
	cr_assert_eq(a.done_calls, 1);
	cr_assert_eq(b.done_calls, 1);
	errno = 0;
	cr_assert_null(sio_work_submit(NULL, item_fn, item_done, &a));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(sio_work_submit(loop, NULL, item_done, &a));
	cr_assert_null(sio_work_submit(loop, item_fn, NULL, &a));
	cr_assert_eq(sio_work_cancel(NULL), -1);
	t_loop_free(loop);
}

/* ---- four loops in four threads ------------------------------------------ */

#define MANY_LOOPS 4
#define MANY_ITEMS 2500

struct many {
	const char *backend;
	sio_loop *loop;
	atomic_int *fn_runs;     /* shared by every thread */
	int done, bad_status, bad_thread;
	pthread_t self;
	int failed;              /* a call failed (the helper never asserts) */
};

/* fn and done share `arg`: the item carries what each needs. */
struct many_item {
	struct many *m;
	atomic_int *counter;
};
static void
many_fn(void *arg)
{
	atomic_fetch_add((atomic_int *)arg, 1);
}

static void
many_done(sio_work *w, int status, void *arg)
{
	(void)w;
	struct many *m = ((struct many_item *)arg)->m;
	m->done++;
	if (status != 0)
		m->bad_status++;
	if (!pthread_equal(pthread_self(), m->self))
		m->bad_thread++;
}


static void
many_item_fn(void *arg)
{
	many_fn(((struct many_item *)arg)->counter);
}

static void *
many_thread(void *arg)
{
	struct many *m = arg;
	m->self = pthread_self();
	m->loop = sio_loop_new(m->backend);
	struct many_item *items = calloc(MANY_ITEMS, sizeof *items);
	if (m->loop == NULL || items == NULL) {
		m->failed = 1;
		free(items);
		return NULL;
	}
	for (int i = 0; i < MANY_ITEMS; i++) {
		items[i].m = m;
		items[i].counter = m->fn_runs;
		if (sio_work_submit(m->loop, many_item_fn, many_done, &items[i]) == NULL)
			m->failed = 1;
	}
	if (sio_loop_run(m->loop, SIO_RUN_DEFAULT) < 0)
		m->failed = 1;
	sio_loop_free(m->loop);
	free(items);
	return NULL;
}

SIO_BACKEND_TEST(work, ten_thousand_items_from_four_loops)
{
	atomic_int fn_runs = 0;
	struct many m[MANY_LOOPS];
	pthread_t th[MANY_LOOPS];
	for (int i = 0; i < MANY_LOOPS; i++) {
		memset(&m[i], 0, sizeof m[i]);
		m[i].backend = be->name;
		m[i].fn_runs = &fn_runs;
		cr_assert_eq(pthread_create(&th[i], NULL, many_thread, &m[i]), 0);
	}
	for (int i = 0; i < MANY_LOOPS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < MANY_LOOPS; i++) {
		cr_assert_eq(m[i].failed, 0, "loop %d: a call failed", i);
		cr_assert_eq(m[i].done, MANY_ITEMS, "loop %d: %d done", i, m[i].done);
		cr_assert_eq(m[i].bad_status, 0);
		cr_assert_eq(m[i].bad_thread, 0, "loop %d: done off its thread", i);
	}
	cr_assert_eq(atomic_load(&fn_runs), MANY_LOOPS * MANY_ITEMS);
}

/* ---- sio_loop_free() with work pending ------------------------------------- */

static void
never_done(sio_work *w, int status, void *arg)
{
	(void)w;
	(void)status;
	((struct item *)arg)->done_calls++;
}

SIO_BACKEND_TEST(work, loop_free_with_work_queued_and_running)
{
	setenv("SIGIO_WORKERS", "1", 1);
	sio_loop *loop = t_loop_new(be->name);
	struct item running, queued[3];
	item_init(&running, 0, true, NULL, NULL);
	cr_assert_not_null(sio_work_submit(loop, item_fn, never_done, &running));
	sem_wait_intr(&running.started);
	for (int i = 0; i < 3; i++) {
		item_init(&queued[i], i + 1, false, NULL, NULL);
		cr_assert_not_null(sio_work_submit(loop, item_fn, never_done, &queued[i]));
	}
	t_loop_free(loop);              /* one running, three queued */
	sem_post(&running.gate);

	/* The one worker takes items in order: once this one is done, the
	 * orphan before it has returned and been freed. */
	sio_loop *next = t_loop_new(be->name);
	struct item after;
	item_init(&after, 9, false, NULL, NULL);
	cr_assert_not_null(sio_work_submit(next, item_fn, item_done, &after));
	t_run(next, SIO_RUN_DEFAULT);
	cr_assert_eq(after.status, 0);
	cr_assert_eq(running.done_calls, 0, "done ran after sio_loop_free()");
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(atomic_load(&queued[i].ran), 0, "a dropped item ran");
		cr_assert_eq(queued[i].done_calls, 0);
	}
	t_loop_free(next);
}

/* ---- signals ------------------------------------------------------------------ */

struct mask_probe {
	sigset_t mask;
	int rc;
};

static void
mask_fn(void *arg)
{
	struct mask_probe *p = arg;
	p->rc = pthread_sigmask(SIG_BLOCK, NULL, &p->mask);
}

static void
mask_done(sio_work *w, int status, void *arg)
{
	(void)w;
	(void)status;
	(void)arg;
}

SIO_BACKEND_TEST(work, workers_block_every_signal)
{
	sio_loop *loop = t_loop_new(be->name);
	/* Submitted from a thread that blocks nothing: the worker must
	 * not inherit that. */
	struct mask_probe p = { .rc = -1 };
	sigset_t none;
	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	cr_assert_not_null(sio_work_submit(loop, mask_fn, mask_done, &p));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(p.rc, 0);
	int sigs[] = { SIGIO, SIGURG, SIGUSR1, SIGALRM, SIGTERM, SIGRTMIN, SIGRTMIN + 1 };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		cr_assert(sigismember(&p.mask, sigs[i]), "signal %d not blocked", sigs[i]);
	t_loop_free(loop);
}

/* ---- embedding -------------------------------------------------------------- */

/* An item that ends while nobody runs the loop makes sio_loop_fd() readable
 * (the worker writes the self-pipe, which its epoll set holds) and
 * sio_loop_timeout() 0, so that an outer loop runs this one. */
SIO_BACKEND_TEST(work, finished_work_wakes_an_embedding_loop)
{
	sio_loop *loop = t_loop_new(be->name);
	int fd = sio_loop_fd(loop);
	if (fd < 0) {
		cr_assert_eq(errno, ENOSYS);       /* poll and select: none */
		t_loop_free(loop);
		cr_skip_test("%s has no sio_loop_fd()", be->name);
	}
	t_run(loop, SIO_RUN_NOWAIT);            /* nothing pending: fd quiet */
	struct item it;
	item_init(&it, 0, false, NULL, NULL);
	cr_assert_not_null(sio_work_submit(loop, item_fn, item_done, &it));
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;
	do   /* the wait for the worker; the bound is a safety net */
		n = poll(&p, 1, SIO_TEST_GUARD * 1000);
	while (n < 0 && errno == EINTR);
	cr_assert_eq(n, 1, "sio_loop_fd() never became readable");
	cr_assert_eq(sio_loop_timeout(loop), 0);
	cr_assert_eq(it.done_calls, 0);
	t_run(loop, SIO_RUN_NOWAIT);
	cr_assert_eq(it.done_calls, 1);
	cr_assert_eq(it.status, 0);
	t_loop_free(loop);
}

/* ---- fork ---------------------------------------------------------------------- */

SIO_BACKEND_TEST(work, forked_child_gets_pending_work_cancelled)
{
	setenv("SIGIO_WORKERS", "1", 1);
	sio_loop *loop = t_loop_new(be->name);
	struct item a, b;
	item_init(&a, 0, true, NULL, NULL);
	item_init(&b, 1, false, NULL, NULL);
	cr_assert_not_null(sio_work_submit(loop, item_fn, item_done, &a));
	sem_wait_intr(&a.started);
	cr_assert_not_null(sio_work_submit(loop, item_fn, item_done, &b));
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		/* The child: both copies are done with ECANCELED, neither
		 * runs here, and new work gets a thread of the child's. */
		int bad = sio_loop_fork(loop) < 0;
		bad |= sio_loop_run(loop, SIO_RUN_DEFAULT) < 0;
		bad |= a.status != ECANCELED || b.status != ECANCELED;
		bad |= atomic_load(&b.ran) != 0;
		struct item c;
		item_init(&c, 2, false, NULL, NULL);
		bad |= sio_work_submit(loop, item_fn, item_done, &c) == NULL;
		bad |= sio_loop_run(loop, SIO_RUN_DEFAULT) < 0;
		bad |= c.status != 0;
		sio_loop_free(loop);
		_exit(bad ? 1 : 0);
	}
	sem_post(&a.gate);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(a.status, 0);
	cr_assert_eq(b.status, 0);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child failed (status %#x)", st);
	t_loop_free(loop);
}
