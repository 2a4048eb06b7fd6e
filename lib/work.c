/*
 * work.c - the worker pool: sio_work_submit() runs a function on a thread
 * shared by every loop of the process, and its `done` on the loop's own
 * thread afterwards.
 *
 * One lock guards the pool (its queues, the running list, its counters)
 * and every loop's list of finished items.  A worker that finishes an
 * item appends it to its loop's list, sets the loop's flag and, if the
 * flag was clear, writes one wake-up record into the loop's self-pipe, as
 * sio_async_send() does; it does so with the lock held, so that
 * sio_loop_free() (which takes it to orphan the loop's items) cannot
 * close the pipe under the write.  What the loop does with its items
 * (the list of those not yet done, the active count) is its own thread's
 * business and takes no lock.
 *
 * Lookups (SIO__WORK_LOOKUP) wait in a queue of their own, from which at
 * most half the threads take at once: a name server that never answers
 * blocks those, never the rest of the pool.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "list.h"
#include "sigio-internal.h"

#define WORKERS_DEFAULT 4
#define WORKERS_MAX 128

enum work_state {
	WORK_QUEUED,     /* in a pool queue */
	WORK_RUNNING,    /* a worker runs fn */
	WORK_FINISHED    /* in its loop's finished list, done not yet run */
};

struct sio_work {
	sio_loop *loop;          /* NULL once sio_loop_free() orphaned it */
	sio_work_fn fn;
	sio_work_cb done;
	void *arg;
	void (*drop)(void *arg); /* releases arg when done will never run */
	struct sio_work *next, *prev;    /* a pool queue, the running list, or
	                                    (next only) the finished list */
	struct sio_work *lnext, *lprev;  /* the loop's items not yet done */
	uint64_t seq;            /* submission order, across both queues */
	int status;
	uint8_t state;           /* enum work_state */
	uint8_t lookup;          /* SIO__WORK_LOOKUP */
	uint8_t detached;        /* no longer counted in loop->active */
};

/* A FIFO with removal from the middle (a cancel). */
struct work_queue {
	struct sio_work *head, *tail;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;         /* work was queued, or a lookup ended */
	struct work_queue queue[2];  /* [0] work, [1] lookups */
	struct sio_work *running;    /* for a fork: what the workers hold */
	size_t nqueued;
	unsigned nthreads, idle, max;
	unsigned lookups, lookup_max;   /* lookups running, and their bound */
	uint64_t seq;
} pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* ---- queues ------------------------------------------------------------------ */

/* The oldest item a worker may take now: a lookup only while fewer than
 * lookup_max run. */
static struct sio_work *
pool_take(void)
{
	struct sio_work *w = pool.queue[0].head;
	struct sio_work *l = pool.lookups < pool.lookup_max ? pool.queue[1].head : NULL;
	if (l != NULL && (w == NULL || l->seq < w->seq))
		w = l;
	if (w == NULL)
		return NULL;
	SIO__TAILQ_UNLINK(&pool.queue[w->lookup], w);
	pool.nqueued--;
	pool.lookups += w->lookup;
	w->state = WORK_RUNNING;
	SIO__LIST_PUSH(pool.running, w);
	return w;
}

/* Hand `w` to its loop with `status` (the pool's lock held).  `wake`: write
 * the loop's self-pipe if its flag was clear; not in a forked child, whose
 * inherited pipe the parent still reads. */
static void
deliver(struct sio_work *w, int status, int wake)
{
	sio_loop *loop = w->loop;
	w->status = status;
	w->state = WORK_FINISHED;
	w->next = NULL;
	if (loop->work_tail != NULL)
		loop->work_tail->next = w;
	else
		loop->work_head = w;
	loop->work_tail = w;
	if (atomic_exchange(&loop->work_flag, 1) == 0 && wake) {
		/* A full pipe is readable already: the loop wakes anyway. */
		struct sio__sigrec rec = { 0, -1, 0 };
		(void)sio__selfpipe_write(loop->pipe_wr, &rec);
	}
}

/* An item whose loop is gone: nobody will run its done. */
static void
discard(struct sio_work *w)
{
	if (w->drop != NULL)
		w->drop(w->arg);
	free(w);
}

/* ---- the workers ------------------------------------------------------------- */

static void
pool_finish(struct sio_work *w)
{
	SIO__LIST_UNLINK(pool.running, w);
	if (w->lookup) {
		pool.lookups--;
		if (pool.queue[1].head != NULL)   /* a lookup may go now */
			pthread_cond_broadcast(&pool.cond);
	}
	if (w->loop != NULL) {
		deliver(w, 0, 1);
		return;
	}
	pthread_mutex_unlock(&pool.lock);
	discard(w);
	pthread_mutex_lock(&pool.lock);
}

static void *
worker_main(void *unused)
{
	(void)unused;
	pthread_mutex_lock(&pool.lock);
	for (;;) {
		struct sio_work *w = pool_take();
		if (w == NULL) {
			pool.idle++;
			pthread_cond_wait(&pool.cond, &pool.lock);
			pool.idle--;
			continue;
		}
		pthread_mutex_unlock(&pool.lock);
		w->fn(w->arg);
		pthread_mutex_lock(&pool.lock);
		pool_finish(w);
	}
	return NULL;
}

/* ---- fork ---------------------------------------------------------------------- */

static void
at_fork_prepare(void)
{
	pthread_mutex_lock(&pool.lock);
}

static void
at_fork_parent(void)
{
	pthread_mutex_unlock(&pool.lock);
}

/* The workers stayed in the parent, which runs what was queued: the
 * child's copies are done with ECANCELED (not run twice), and the child
 * starts threads of its own when it submits. */
static void
at_fork_child_drop(struct sio_work *w)
{
	if (w->loop != NULL)
		deliver(w, ECANCELED, 0);
	else
		discard(w);
}

static void
at_fork_child(void)
{
	pthread_mutex_unlock(&pool.lock);
	for (int k = 0; k < 2; k++) {
		while (pool.queue[k].head != NULL) {
			struct sio_work *w = pool.queue[k].head;
			SIO__TAILQ_UNLINK(&pool.queue[k], w);
			at_fork_child_drop(w);
		}
	}
	while (pool.running != NULL) {
		struct sio_work *w = pool.running;
		SIO__LIST_UNLINK(pool.running, w);
		at_fork_child_drop(w);
	}
	pool.nqueued = 0;
	pool.nthreads = pool.idle = pool.lookups = 0;
}

/* ---- the pool ------------------------------------------------------------------ */

static void
pool_init(void)
{
	pool.max = WORKERS_DEFAULT;
	const char *env = getenv("SIGIO_WORKERS");
	if (env != NULL && *env != '\0') {
		char *end;
		long n = strtol(env, &end, 10);
		if (*end == '\0' && n >= 1 && n <= WORKERS_MAX)
			pool.max = (unsigned)n;
	}
	pool.lookup_max = pool.max / 2 > 0 ? pool.max / 2 : 1;
	(void)pthread_atfork(at_fork_prepare, at_fork_parent, at_fork_child);
}

/* One more thread when the queue outnumbers the idle ones.  Returns 0, or
 * -1 with errno EAGAIN when there is no thread at all and none can start
 * (with one at least, the work only waits its turn). */
static int
pool_grow(void)
{
	if (pool.nqueued <= pool.idle || pool.nthreads >= pool.max)
		return 0;
	if (sio__thread_spawn(worker_main, NULL) == 0) {
		pool.nthreads++;
		return 0;
	}
	if (pool.nthreads > 0)
		return 0;
	errno = EAGAIN;
	return -1;
}

static struct sio_work *
work_new(sio_loop *loop, sio_work_cb done, void *arg, void (*drop)(void *))
{
	struct sio_work *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	w->loop = loop;
	w->done = done;
	w->arg = arg;
	w->drop = drop;
	return w;
}

/* The loop's own bookkeeping of a new item (its thread, no lock). */
static void
work_adopt(sio_loop *loop, struct sio_work *w)
{
	w->lprev = NULL;
	w->lnext = loop->works;
	if (loop->works != NULL)
		loop->works->lprev = w;
	loop->works = w;
	loop->active++;
}

static void
work_unlink(sio_loop *loop, struct sio_work *w)
{
	if (w->lprev != NULL)
		w->lprev->lnext = w->lnext;
	else
		loop->works = w->lnext;
	if (w->lnext != NULL)
		w->lnext->lprev = w->lprev;
}

sio_work *
sio__work_submit(sio_loop *loop, sio_work_fn fn, sio_work_cb done, void *arg,
                 unsigned flags, void (*drop)(void *arg))
{
	if (loop == NULL || fn == NULL || done == NULL) {
		errno = EINVAL;
		return NULL;
	}
	struct sio_work *w = work_new(loop, done, arg, drop);
	if (w == NULL)
		return NULL;
	w->fn = fn;
	w->lookup = (flags & SIO__WORK_LOOKUP) != 0;
	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool.lock);
	w->seq = pool.seq++;
	w->state = WORK_QUEUED;
	SIO__TAILQ_APPEND(&pool.queue[w->lookup], w);
	pool.nqueued++;
	if (pool_grow() < 0) {
		SIO__TAILQ_UNLINK(&pool.queue[w->lookup], w);
		pool.nqueued--;
		pthread_mutex_unlock(&pool.lock);
		free(w);
		errno = EAGAIN;
		return NULL;
	}
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.lock);
	work_adopt(loop, w);
	return w;
}

sio_work *
sio__work_finished(sio_loop *loop, sio_work_cb done, void *arg,
                   void (*drop)(void *arg))
{
	struct sio_work *w = work_new(loop, done, arg, drop);
	if (w == NULL)
		return NULL;
	/* The fork handlers guard the lock even when no thread ever starts. */
	pthread_once(&pool_once, pool_init);
	pthread_mutex_lock(&pool.lock);
	deliver(w, 0, 1);
	pthread_mutex_unlock(&pool.lock);
	work_adopt(loop, w);
	return w;
}

sio_work *
sio_work_submit(sio_loop *loop, sio_work_fn fn, sio_work_cb done, void *arg)
{
	return sio__work_submit(loop, fn, done, arg, 0, NULL);
}

int
sio_work_cancel(sio_work *w)
{
	if (w == NULL) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&pool.lock);
	if (w->state != WORK_QUEUED) {
		pthread_mutex_unlock(&pool.lock);
		errno = EBUSY;
		return -1;
	}
	SIO__TAILQ_UNLINK(&pool.queue[w->lookup], w);
	pool.nqueued--;
	deliver(w, ECANCELED, 1);
	pthread_mutex_unlock(&pool.lock);
	return 0;
}

void
sio__work_detach(sio_work *w)
{
	if (w != NULL && !w->detached) {
		w->detached = 1;
		w->loop->active--;
	}
}

/* The finished items, in the order they finished.  The flag is cleared
 * before the list is taken: an item finishing meanwhile sets it again
 * (and wakes the loop) and is either taken now or by the next dispatch. */
size_t
sio__work_dispatch(sio_loop *loop)
{
	if (atomic_load(&loop->work_flag) == 0 ||
	    atomic_exchange(&loop->work_flag, 0) == 0)
		return 0;
	pthread_mutex_lock(&pool.lock);
	struct sio_work *w = loop->work_head;
	loop->work_head = loop->work_tail = NULL;
	pthread_mutex_unlock(&pool.lock);
	size_t ran = 0;
	for (struct sio_work *next; w != NULL; w = next) {
		next = w->next;
		work_unlink(loop, w);
		if (!w->detached) {
			loop->active--;
			ran++;
		}
		loop->stats.callbacks++;
		w->done(w, w->status, w->arg);
		free(w);
	}
	return ran;
}

/* sio_loop_free(): queued and finished items are dropped here, running
 * ones left to their worker, which discards them when fn returns. */
void
sio__work_free_all(sio_loop *loop)
{
	struct sio_work *gone = NULL;
	pthread_mutex_lock(&pool.lock);
	for (struct sio_work *w = loop->works; w != NULL; w = w->lnext) {
		if (w->state == WORK_RUNNING) {
			w->loop = NULL;
			continue;
		}
		if (w->state == WORK_QUEUED) {
			SIO__TAILQ_UNLINK(&pool.queue[w->lookup], w);
			pool.nqueued--;
		}
		w->next = gone;     /* finished: its list is dropped below */
		gone = w;
	}
	loop->work_head = loop->work_tail = NULL;
	atomic_store(&loop->work_flag, 0);
	pthread_mutex_unlock(&pool.lock);
	loop->works = NULL;
	while (gone != NULL) {
		struct sio_work *w = gone;
		gone = w->next;
		discard(w);
	}
}
