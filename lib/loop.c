/*
 * loop.c - the event loop: creation and destruction, the phases of one
 * iteration, watcher start/stop, and the counters.
 *
 * One iteration, in order:
 *   1. wait     the backend learns what is ready (synchronously drained
 *               signals, a check of the recheck set or a full rescan, and
 *               only if nothing is ready a sleep on the self-pipe) and
 *               reports it with sio__fd_ready();
 *   2. dispatch each pending watcher's callback runs once; stopped and dead
 *               watchers are skipped; fds whose callback ran go to the
 *               recheck set, so that delivery stays level-triggered;
 *   3. reap     watchers stopped during the iteration are freed.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	/* In a child that never called sio_loop_fork(), the fds' owner and
	 * O_ASYNC are the parent's, which still serves them. */
	sio__registry_free(loop, loop->pid == getpid());
	sio__sigwatch_free(loop);
	sio__timers_free(loop);
	sio__async_free_all(loop);
	for (size_t i = 0; i < loop->graveyard.n; i++)
		free(loop->graveyard.v[i]);
	free(loop->graveyard.v);
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

/* A record from the self-pipe, or a signal consumed synchronously. */
void
sio__loop_note_signal(sio_loop *loop, const struct sio__sigrec *rec)
{
	if (rec->signo == 0) {
		/* With an fd: sio_shutdown() changed the readiness of its
		 * description and no signal says so: poll the fds on it at
		 * the next check, which is never deferred.  Without: a plain
		 * wake-up; the loop is awake. */
		if (rec->fd >= 0)
			sio__desc_recheck_new(loop, rec->fd);
		return;
	}
	if (!sigismember(&loop->runtime_sigs, rec->signo)) {
		sio__sigwatch_note(loop, rec->signo);   /* a user's signal */
		return;
	}
	loop->stats.signals++;
	if (loop->rtsig_signo != 0 && rec->signo == loop->rtsig_signo) {
		if (rec->fd >= 0)
			/* si_band holds poll(2) bits */
			sio__desc_ready(loop, rec->fd,
			              sio__revents_from_poll((short)rec->band));
		else
			loop->rescan = 1;   /* sent by kill(): names no fd */
		return;
	}
#ifdef SIGURG
	/* Urgent data: rtsig has a POLL_PRI record naming the fd as well;
	 * sigio learns only that some fd has some. */
	if (rec->signo == SIGURG) {
		if (loop->rtsig_signo == 0)
			loop->rescan = 1;
		return;
	}
#endif
#ifdef SIGIO
	if (rec->signo == SIGIO) {
		/* Plain SIGIO names no fd; on rtsig it means the real-time
		 * queue overflowed and events were lost. */
		if (loop->rtsig_signo != 0)
			loop->stats.queue_overflows++;
		loop->rescan = 1;
	}
#endif
}

/* ---- the phases of one iteration ---------------------------------------- */

/* Call each pending watcher once.  Returns how many callbacks ran. */
static size_t
loop_dispatch(sio_loop *loop)
{
	size_t ran = 0;
	/* Callbacks cannot add to `pending` (only wait() does), but they may
	 * stop any watcher in it: a stopped one stays allocated, as a
	 * zombie, until loop_reap(), so its state can still be read here. */
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

/* The wait failed after reporting some fds: nothing is dispatched, but
 * the list must not keep them, since a watcher stopped before the next run
 * is freed at once.  Readiness taken from a signal is not lost: the fds
 * are looked at again by the next wait. */
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

/* Free what was stopped during the iteration. */
static void
loop_reap(sio_loop *loop)
{
	for (size_t i = 0; i < loop->graveyard.n; i++)
		free(loop->graveyard.v[i]);
	loop->graveyard.n = 0;
}

/* A handle was stopped: free it now, or at the end of the iteration if a
 * dispatch may still be looking at it. */
void
sio__retire(sio_loop *loop, void *handle)
{
	if (!loop->running) {
		free(handle);
		return;
	}
	struct sio__vvec *g = &loop->graveyard;
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 16;
		void **v = realloc(g->v, cap * sizeof *v);
		if (v == NULL)
			return;         /* a leak is better than a use after free */
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n++] = handle;
}

/* How long the wait may block: not at all if something is already due, or
 * if nothing is active any more (the timer phase may have fired or stopped
 * the last watcher: the run then returns after this iteration, and no
 * watcher is left whose event could end the sleep). */
static int
loop_timeout(sio_loop *loop, int mode)
{
	if (mode == SIO_RUN_NOWAIT || atomic_load(&loop->stop_flag) ||
	    atomic_load(&loop->async_flag) || loop->sig_pending ||
	    loop->active == 0)
		return 0;
	return sio__timers_timeout(loop);
}

/* One iteration, as named phases.  Returns the number of callbacks run,
 * or -1 with errno. */
static ssize_t
loop_iterate(sio_loop *loop, int mode)
{
	loop->stats.iterations++;
	sio__time_update(loop);
	size_t ran = sio__timers_run(loop);
	int timeout = ran > 0 && mode == SIO_RUN_ONCE ? 0 : loop_timeout(loop, mode);
	if (loop->backend->wait(loop, timeout) < 0) {
		int saved = errno;
		loop_unpend(loop);
		loop_reap(loop);
		errno = saved;
		return -1;
	}
	sio__time_update(loop);
	ran += loop_dispatch(loop);
	ran += sio__sigwatch_dispatch(loop);
	ran += sio__async_dispatch(loop);
	ran += sio__timers_run(loop);
	loop_reap(loop);
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

/* ---- fd watchers ---------------------------------------------------------- */

static int
check_events(unsigned events)
{
	if (events & ~(unsigned)(SIO__EVENT_MASK | SIO_EDGE)) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int
set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -1;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return 0;
}

/* Tell the backend the slot's new union of events. */
static int
slot_rearm(sio_loop *loop, int fd, struct sio__fdslot *slot)
{
	unsigned want = sio__slot_events(slot);
	if (want == slot->armed)
		return 0;
	if (loop->backend->arm(loop, fd, slot->armed, want) < 0)
		return -1;
	slot->armed = want;
	return 0;
}

static void
slot_unlink(struct sio__fdslot *slot, struct sio_io *w)
{
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		slot->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
}

sio_io *
sio_io_start(sio_loop *loop, int fd, unsigned events, sio_io_cb cb, void *arg)
{
	struct stat st;
	if (loop == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (check_events(events) < 0)
		return NULL;
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	if (fstat(fd, &st) < 0 || set_nonblocking(fd) < 0)
		return NULL;
	if (sio__slot_reserve(loop, fd) < 0)
		return NULL;
	struct sio__fdslot *slot = &loop->slots[fd];
	if (slot->head != NULL && (slot->dev != st.st_dev || slot->ino != st.st_ino))
		sio__slot_kill(loop, fd, 0);   /* the old file was closed */

	struct sio_io *w = calloc(1, sizeof *w);
	if (w == NULL)
		return NULL;
	*w = (struct sio_io){ .loop = loop, .fd = fd, .events = events,
	                      .cb = cb, .arg = arg, .state = SIO__IO_ACTIVE };
	if (slot->head == NULL) {
		slot->dev = st.st_dev;
		slot->ino = st.st_ino;
	}
	w->next = slot->head;
	if (slot->head != NULL)
		slot->head->prev = w;
	slot->head = w;
	if (slot_rearm(loop, fd, slot) < 0) {
		int saved = errno;
		slot_unlink(slot, w);
		free(w);
		errno = saved;
		return NULL;
	}
	if (events & SIO__EVENT_MASK) {
		loop->active++;
		sio__recheck_new(loop, fd);
	}
	return w;
}

int
sio_io_set(sio_io *io, unsigned events)
{
	if (io == NULL || io->state != SIO__IO_ACTIVE) {
		errno = EINVAL;
		return -1;
	}
	if (check_events(events) < 0)
		return -1;
	sio_loop *loop = io->loop;
	struct sio__fdslot *slot = &loop->slots[io->fd];
	unsigned old = io->events;
	io->events = events;
	if (slot_rearm(loop, io->fd, slot) < 0) {
		int saved = errno;
		io->events = old;
		errno = saved;
		return -1;
	}
	int was_active = (old & SIO__EVENT_MASK) != 0;
	int is_active = (events & SIO__EVENT_MASK) != 0;
	loop->active += (size_t)is_active - (size_t)was_active;
	/* Newly wanted events may be ready already: no signal will say so. */
	if ((events & ~old) & SIO__EVENT_MASK)
		sio__recheck_new(loop, io->fd);
	/* Events no longer wanted must not be delivered this iteration. */
	io->revents &= events | SIO_HUP | SIO_ERROR;
	return 0;
}

unsigned
sio_io_events(const sio_io *io)
{
	return io == NULL ? 0 : io->events;
}

int
sio_io_fd(const sio_io *io)
{
	return io == NULL ? -1 : io->fd;
}

void
sio_io_stop(sio_io *io)
{
	if (io == NULL || io->state == SIO__IO_STOPPED)
		return;
	sio_loop *loop = io->loop;
	if (io->state == SIO__IO_DEAD) {
		if (io->prev != NULL)
			io->prev->next = io->next;
		else
			loop->dead = io->next;
		if (io->next != NULL)
			io->next->prev = io->prev;
		io->next = io->prev = NULL;
	} else {
		struct sio__fdslot *slot = &loop->slots[io->fd];
		slot_unlink(slot, io);
		if (io->events & SIO__EVENT_MASK)
			loop->active--;
		/* Undoing O_ASYNC may fail if the fd was closed: nothing to undo. */
		if (slot_rearm(loop, io->fd, slot) < 0)
			slot->armed = sio__slot_events(slot);
	}
	io->state = SIO__IO_STOPPED;
	io->revents = 0;
	sio__retire(loop, io);          /* pending[] may still point here */
}
