/*
 * loop.c - the event loop: creation and destruction, sio_loop_run() and
 * the phases of one iteration (loop_iterate()), where every decision of
 * an iteration is taken: when to look at the fds, when to sleep and for
 * how long, what a record from the self-pipe means, what to run.  The
 * backend is mechanism only (see struct sio__backend).
 *
 * One iteration, in order:
 *   1. time      the cached clock is read;
 *   2. timers    the due timers run;
 *   3. drain     what the kernel queued (the signal-driven backends'
 *                signals) becomes fd reports;
 *   4. check     the prepare hooks run; the fds the loop needs looked at,
 *                and the self-pipe, are polled: sleeping, bounded by the
 *                next timer, only when nothing is known ready; records
 *                read from the pipe become reports, signal watchers'
 *                counts, or a rescan; the check hooks run;
 *   5. dispatch  each pending watcher's callback runs once, then the
 *                signal watchers, the async handles and the timers that
 *                fell due, then the idle hooks; fds whose callback ran go
 *                to the recheck set, so that delivery stays
 *                level-triggered;
 *   6. reap      handles stopped during the iteration are freed.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sigio-internal.h"

/* Best first: the order "auto" tries them in. */
static const struct sio__backend *const backends[] = {
#ifdef SIO_WITH_RTSIG
	&sio__backend_rtsig,
#endif
#ifdef SIO_WITH_SIGIO
	&sio__backend_sigio,
#endif
	&sio__backend_poll,
	&sio__backend_select,
};
#define NBACKENDS (sizeof backends / sizeof backends[0])

/* Names the API knows, whether or not this build has them. */
static const char *const known_names[] = { "sigio", "rtsig", "poll", "select" };

size_t
sio_backends(const char **names, size_t max)
{
	for (size_t i = 0; i < NBACKENDS && i < max; i++)
		names[i] = backends[i]->name;
	return NBACKENDS;
}

/* The backend called `name`, or NULL with errno EINVAL (unknown) or ENOSYS
 * (known, but not in this build). */
static const struct sio__backend *
backend_by_name(const char *name)
{
	for (size_t i = 0; i < NBACKENDS; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	for (size_t i = 0; i < sizeof known_names / sizeof known_names[0]; i++)
		if (strcmp(known_names[i], name) == 0) {
			errno = ENOSYS;
			return NULL;
		}
	errno = EINVAL;
	return NULL;
}

static int
loop_open(sio_loop *loop, const struct sio__backend *backend)
{
	loop->backend = backend;
	if (backend->init(loop) < 0) {
		loop->backend = NULL;
		return -1;
	}
	return 0;
}

/* Try the named backend, or every backend best first for "auto". */
static int
loop_choose_backend(sio_loop *loop, const char *name)
{
	if (name == NULL || strcmp(name, "auto") == 0) {
		const char *env = getenv("SIGIO_BACKEND");
		if (env != NULL && *env != '\0' && strcmp(env, "auto") != 0)
			name = env;
		else
			name = NULL;
	}
	if (name != NULL) {
		const struct sio__backend *b = backend_by_name(name);
		return b == NULL ? -1 : loop_open(loop, b);
	}
	int err = ENOSYS;
	loop->polite = 1;
	for (size_t i = 0; i < NBACKENDS; i++) {
		if (loop_open(loop, backends[i]) == 0)
			return 0;
		err = errno;
	}
	errno = err;
	return -1;
}

sio_loop *
sio_loop_new(const char *backend)
{
	sio_loop *loop = calloc(1, sizeof *loop);
	if (loop == NULL)
		return NULL;
	loop->pipe_rd = loop->pipe_wr = -1;
	loop->wake_slot = -1;
	loop->pid = getpid();
	loop->owner_tid = sio__gettid();
	loop->owner_serial = sio__thread_serial();
	atomic_init(&loop->stop_flag, 0);
	atomic_init(&loop->notes_lost, 0);
	atomic_init(&loop->async_flag, 0);
	atomic_init(&loop->work_flag, 0);
	sigemptyset(&loop->runtime_sigs);
	sio__time_update(loop);

	if (sio__selfpipe_open(&loop->pipe_rd, &loop->pipe_wr) < 0)
		goto err;
	if (sio__signals_register(loop) < 0)
		goto err;
	if (loop_choose_backend(loop, backend) < 0)
		goto err;
	return loop;
err:;
	int saved = errno;
	sio__signals_unregister(loop);
	sio__selfpipe_close(&loop->pipe_rd, &loop->pipe_wr);
	free(loop);
	errno = saved;
	return NULL;
}

void
sio_loop_free(sio_loop *loop)
{
	if (loop == NULL)
		return;
	/* Ends already asked for (a closed stream's on_close) come first, while
	 * everything they may touch is still there. */
	sio__timers_settle(loop);
	/* In a child that never called sio_loop_fork(), the fds' owner and
	 * O_ASYNC are the parent's, which still serves them. */
	sio__registry_free(loop, loop->pid == getpid());
	sio__sigwatch_free(loop);
	sio__child_free_all(loop);
	sio__timers_free(loop);
	sio__async_free_all(loop);
	sio__work_free_all(loop);
	sio__hooks_free(loop);
	sio__reap_free(loop);
	loop->backend->fini(loop);
	sio__signals_unregister(loop);
	sio__selfpipe_close(&loop->pipe_rd, &loop->pipe_wr);
	free(loop);
}

const char *
sio_version(void)
{
	return PACKAGE_VERSION;   /* configure checks it against sigio.h */
}

int
sio_version_number(void)
{
	return SIO_VERSION_NUMBER;
}

const char *
sio_loop_backend(const sio_loop *loop)
{
	return loop == NULL ? NULL : loop->backend->name;
}

int
sio_loop_stats(const sio_loop *loop, struct sio_stats *stats)
{
	if (loop == NULL || stats == NULL) {
		errno = EINVAL;
		return -1;
	}
	*stats = loop->stats;
	return 0;
}

void
sio_loop_stop(sio_loop *loop)
{
	if (loop == NULL)
		return;
	int saved = errno;
	atomic_store(&loop->stop_flag, 1);
	/* Wake a sleeping loop.  A full pipe is already readable: fine. */
	struct sio__sigrec rec = { 0, -1, 0 };
	(void)sio__selfpipe_write(loop->pipe_wr, &rec);
	errno = saved;
}

/* ---- the self-pipe's records ---------------------------------------------- */

/* What one record means.  signo 0 is no signal: with an fd, sio_shutdown()
 * changed the readiness of its description and no signal says so (its fds
 * are looked at by the next check, which is never deferred); without, a
 * wake-up (sio_loop_stop(), sio_async_send()), done by reading it.  A
 * signal the backend takes for readiness is the backend's to decode; any
 * other is a signal watcher's. */
static void
loop_take_record(sio_loop *loop, const struct sio__sigrec *rec)
{
	if (rec->signo == 0) {
		if (rec->fd >= 0)
			sio__desc_recheck_new(loop, rec->fd);
	} else if (sigismember(&loop->runtime_sigs, rec->signo)) {
		loop->backend->decode(loop, rec);
	} else {
		if (rec->signo == SIGCHLD)
			sio__child_note(loop);
		sio__sigwatch_note(loop, rec->signo);
	}
}

/* Read every record waiting in the self-pipe.  A record lost to a full
 * pipe (the handler's, or a note's) is unknown news: every fd is looked at
 * again, and a signal watcher whose signal was caught runs anyway. */
static void
loop_read_pipe(sio_loop *loop)
{
	struct sio__sigrec recs[128];
	size_t n, total = 0;
	do {
		n = sio__selfpipe_read(loop->pipe_rd, recs, 128);
		for (size_t i = 0; i < n; i++)
			loop_take_record(loop, &recs[i]);
		total += n;
	} while (n == 128);
	if (total > 0)
		loop->stats.wakeups++;
	int overflowed = sio__signals_overflowed(loop);
	int notes_lost = atomic_exchange(&loop->notes_lost, 0);
	if (overflowed || notes_lost) {
		loop->stats.pipe_overflows++;
		loop->rescan = 1;
	}
	if (overflowed)         /* a SIGCHLD's record may be among the lost */
		sio__child_note(loop);
	sio__sigwatch_collect(loop, overflowed);
}

/* ---- the phases of one iteration ------------------------------------------ */

/* Skip this iteration's drain?  When the last iteration took at most one
 * signal, the kernel's queue is most often empty when the next begins (one
 * connection in ping-pong: its next request comes after the reply), and a
 * drain that finds nothing costs a system call (c1 on rtsig: 5 per request
 * with it, 4 without).  The check then looks at the queue itself (rtsig
 * polls its signalfd with the fds, in the same call), so nothing that was
 * queued waits longer.  Under load, signals keep coming: the drain up
 * front then names fds to run, and lets every other check be deferred. */
static int
loop_skip_drain(sio_loop *loop)
{
	uint64_t taken = loop->stats.signals - loop->signals_seen;
	loop->signals_seen = loop->stats.signals;
	if (taken <= 1)
		return 1;
	/* Many signals, yet the drain up front found none: the check
	 * drained them, and only callbacks that start no I/O ran since (a
	 * layer that queues its events and runs them from a prepare hook,
	 * as sigio-event does: the drain comes before they run).  Try it
	 * again every eighth iteration only, in case the load changed. */
	return loop->drain_dry > 0 && (loop->drain_dry & 7) != 0;
}

/* The drain up front, and whether it found anything (loop_skip_drain()). */
static int
loop_drain(sio_loop *loop)
{
	uint64_t before = loop->stats.signals;
	if (loop->backend->drain(loop) < 0)
		return -1;
	if (loop->stats.signals == before)
		loop->drain_dry++;
	else
		loop->drain_dry = 0;
	return 0;
}

/* Skip this iteration's check?  While signals keep coming, every other
 * iteration does: the drained records already name fds to run, and the
 * recheck set (fds whose callback ran, for level-triggered delivery) waits
 * one iteration, never two, so no fd starves.  That halves the polls of a
 * busy loop.  Never when a rescan is due or events are newly wanted (what
 * was there before they were armed raised no signal, and a record naming
 * part of it must not run the callback first: see sio__recheck_new()). */
static int
loop_defer_check(sio_loop *loop)
{
	if (loop->pending.n > 0 && !loop->rescan && !loop->recheck_new &&
	    !loop->check_deferred) {
		loop->check_deferred = 1;
		return 1;
	}
	loop->check_deferred = 0;
	return 0;
}

/* How long the check may sleep: not at all if something is known ready
 * (reported, due, sent, stopped) or if nothing is active any more (the
 * timer phase may have fired or stopped the last watcher: the run then
 * returns after this iteration, and no watcher is left whose event could
 * end the sleep); else until the next timer. */
static int
loop_timeout(sio_loop *loop, int mode, size_t ran)
{
	if (mode == SIO_RUN_NOWAIT || (mode == SIO_RUN_ONCE && ran > 0) ||
	    atomic_load(&loop->stop_flag) || atomic_load(&loop->async_flag) ||
	    atomic_load(&loop->work_flag) ||
	    loop->sig_pending || loop->child_pending || loop->active == 0 ||
	    loop->pending.n > 0 || loop->rescan || loop->nidle > 0)
		return 0;
	return sio__timers_timeout(loop);
}

/* Look at the fds, sleeping up to `timeout` ms if nothing is ready, and at
 * the kernel's queue if `queue` (the drain was skipped).  The
 * records of the self-pipe may ask for a full rescan (plain SIGIO, a pipe
 * that overflowed), and a sleep that a signal interrupted leaves the
 * recheck set unread: look again, without sleeping, until neither. */
static int
loop_check(sio_loop *loop, int timeout, int queue)
{
	if (timeout != 0)
		loop->stats.sleeps++;
	int pipe = loop->backend->check(loop, timeout, queue);
	int again = timeout != 0;
	for (;;) {
		if (pipe < 0)
			return -1;
		if (pipe > 0)
			loop_read_pipe(loop);
		if (!loop->rescan && !(again && loop->recheck.n > 0))
			return 0;
		again = 0;
		pipe = loop->backend->check(loop, 0, 0);
	}
}

/* Call each pending watcher once.  Returns how many callbacks ran. */
static size_t
loop_dispatch(sio_loop *loop)
{
	size_t ran = 0;
	/* Callbacks cannot add to `pending` (only the drain and the check
	 * do), but they may stop any watcher in it: a stopped one stays
	 * allocated until the reap, so its state can still be read here. */
	for (size_t i = 0; i < loop->pending.n; i++) {
		struct sio_io *w = loop->pending.v[i];
		unsigned revents = w->revents;
		w->pending = 0;
		w->revents = 0;
		if (w->state == SIO__IO_DEAD && w->notify_dead)
			w->notify_dead = 0;
		else if (w->state != SIO__IO_ACTIVE || revents == 0)
			continue;
		ran++;
		loop->stats.callbacks++;
		w->cb(w, w->fd, revents, w->arg);
		if (w->state == SIO__IO_ACTIVE && !(w->events & SIO_EDGE))
			sio__recheck_add(loop, w->fd);
	}
	loop->pending.n = 0;
	return ran;
}

/* The drain or the check failed after reporting some fds: nothing is
 * dispatched, but the pending list must not keep them, since a watcher
 * stopped before the next run is freed at once.  Readiness taken from a
 * signal is not lost: the fds are looked at again by the next check. */
static void
loop_unpend(sio_loop *loop)
{
	for (size_t i = 0; i < loop->pending.n; i++) {
		struct sio_io *w = loop->pending.v[i];
		w->pending = 0;
		w->revents = 0;
		if (w->state == SIO__IO_ACTIVE)
			sio__recheck_add(loop, w->fd);
		else if (w->state == SIO__IO_DEAD && w->notify_dead)
			loop->rescan = 1;   /* its last call is owed: the
			                       next poll finds it closed again */
	}
	loop->pending.n = 0;
}

/* The drain or the check failed: nothing more of the iteration runs. */
static ssize_t
loop_fail(sio_loop *loop)
{
	int saved = errno;
	loop_unpend(loop);
	sio__reap(loop);
	errno = saved;
	return -1;
}

/* One iteration, as named phases.  Returns the number of callbacks run,
 * or -1 with errno.  The prepare hooks run before the check's timeout is
 * decided, so that what they start, stop or send counts for the sleep;
 * they and the check hooks run even when the check itself is deferred,
 * since the contract is "each iteration".  Only the idle hooks count as
 * callbacks run: a prepare hook that did would end every SIO_RUN_ONCE
 * before it could sleep. */
static ssize_t
loop_iterate(sio_loop *loop, int mode)
{
	const struct sio__backend *be = loop->backend;
	loop->stats.iterations++;
	/* After sio_loop_fork(): what the child still watches becomes its
	 * own now, not before, so that what it stopped stays the parent's. */
	if (loop->forked) {
		loop->forked = 0;
		if (be->adopt != NULL)
			be->adopt(loop);
	}
	sio__time_update(loop);
	size_t ran = sio__timers_run(loop);
	int queue = be->drain != NULL && loop_skip_drain(loop);
	if (queue && loop->drain_dry > 0)
		loop->drain_dry++;      /* counts the skips, for the retry */
	if (be->drain != NULL && !queue && loop_drain(loop) < 0)
		return loop_fail(loop);
	(void)sio__hooks_run(loop, SIO__HOOK_PREPARE);
	if (!loop_defer_check(loop) &&
	    loop_check(loop, loop_timeout(loop, mode, ran), queue) < 0)
		return loop_fail(loop);
	sio__time_update(loop);
	(void)sio__hooks_run(loop, SIO__HOOK_CHECK);
	ran += loop_dispatch(loop);
	ran += sio__sigwatch_dispatch(loop);
	ran += sio__child_dispatch(loop);
	ran += sio__async_dispatch(loop);
	ran += sio__work_dispatch(loop);
	ran += sio__timers_run(loop);
	ran += sio__hooks_run(loop, SIO__HOOK_IDLE);
	sio__reap(loop);
	return (ssize_t)ran;
}

int
sio_loop_run(sio_loop *loop, int mode)
{
	if (loop == NULL || (mode != SIO_RUN_DEFAULT && mode != SIO_RUN_ONCE &&
	                     mode != SIO_RUN_NOWAIT)) {
		errno = EINVAL;
		return -1;
	}
	if (loop->running) {
		errno = EBUSY;
		return -1;
	}
	loop->running = 1;
	if (loop->backend->enter != NULL && loop->backend->enter(loop) < 0) {
		loop->running = 0;
		return -1;
	}

	int rc = 0;
	for (;;) {
		if (mode != SIO_RUN_NOWAIT && loop->active == 0)
			break;
		ssize_t ran = loop_iterate(loop, mode);
		if (ran < 0) {
			rc = -1;
			break;
		}
		if (atomic_load(&loop->stop_flag) || mode == SIO_RUN_NOWAIT ||
		    (mode == SIO_RUN_ONCE && ran > 0))
			break;
	}
	atomic_store(&loop->stop_flag, 0);

	int saved = errno;
	if (loop->backend->leave != NULL)
		loop->backend->leave(loop);
	loop->running = 0;
	errno = saved;
	return rc;
}

/* ---- embedding in another loop ---------------------------------------------- */

int
sio_loop_fd(const sio_loop *loop)
{
	if (loop == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (loop->backend->embed_fd == NULL) {
		errno = ENOSYS;
		return -1;
	}
	/* The fd is made on first demand, so that loops never embedded pay
	 * nothing for it: the loop is the caller's, not a constant. */
	return loop->backend->embed_fd((sio_loop *)loop);
}

/* What loop_timeout() would say now for a run that may sleep, read from
 * outside a run: with the clock read afresh (the cache is as old as the
 * last run), and the recheck set counted, since the fds in it are looked
 * at by the next check and nothing may ever signal them (see
 * sio__recheck_new()).  loop->active is not: with nothing active an
 * outer loop has nothing to wait for but its own events. */
int
sio_loop_timeout(const sio_loop *loop)
{
	if (loop == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (atomic_load(&loop->stop_flag) || atomic_load(&loop->async_flag) ||
	    atomic_load(&loop->work_flag) ||
	    loop->sig_pending || loop->child_pending || loop->pending.n > 0 ||
	    loop->rescan || loop->nidle > 0 || loop->forked || loop->embed_out > 0 ||
	    (!loop->backend->level_triggered && loop->recheck.n > 0))
		return 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return sio__timers_timeout_at(loop, (uint64_t)ts.tv_sec * 1000000000ull +
	                                    (uint64_t)ts.tv_nsec);
}

/* ---- fork ------------------------------------------------------------------ */

int
sio_loop_fork(sio_loop *loop)
{
	int rd, wr;
	/* A run in progress is the parent's when the child forked from one
	 * of its callbacks: the child may take the loop over (and go on with
	 * that run) or free it. */
	if (loop == NULL || (loop->running && loop->pid == getpid())) {
		errno = EINVAL;
		return -1;
	}
	/* The inherited pipe is shared with the parent: reading from it would
	 * steal the parent's wake-ups. */
	if (sio__selfpipe_open(&rd, &wr) < 0)
		return -1;
	int old_rd = loop->pipe_rd, old_wr = loop->pipe_wr;
	loop->pipe_rd = rd;
	loop->pipe_wr = wr;
	loop->pid = getpid();
	loop->owner_tid = sio__gettid();
	loop->owner_serial = sio__thread_serial();
	sio__signals_fork(loop);        /* the handler writes to the new pipe */
	sio__selfpipe_close(&old_rd, &old_wr);
	atomic_store(&loop->async_flag, 0);
	/* Work the parent had pending was handed back at fork() (ECANCELED,
	 * flag set): the new pipe has no record of it, the flag still says. */
	loop->rescan = 1;       /* what happened around the fork is unknown */
	if (loop->backend->fork != NULL && loop->backend->fork(loop) < 0)
		return -1;
	/* Going on with the inherited run: fork() gave the child the mask
	 * the application had, and the run wants its signals blocked. */
	if (loop->running && loop->backend->enter != NULL &&
	    loop->backend->enter(loop) < 0)
		return -1;
	return 0;
}

