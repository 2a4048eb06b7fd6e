/*
 * event.c - sigio-event: the core of the libevent 2.1 API on sigio's
 * public API (include/sigio.h) and nothing else.
 *
 * A base owns one sio_loop.  Each added event owns the sigio watchers it
 * needs: an sio_io for an fd event, an sio_signal for a signal event, an
 * sio_timer for its timeout.  The watchers' callbacks never call the
 * program: they mark the event active and queue it on the base (one queue
 * per priority).  A blocking event_base_loop() runs the sio_loop once
 * (SIO_RUN_DEFAULT), and a prepare hook runs the queued callbacks at the
 * start of each sigio iteration, before it looks at the fds and may sleep
 * (EVLOOP_NONBLOCK: SIO_RUN_NOWAIT, then the queue).  The layer, not
 * sigio, calls the program, which is what gives libevent's semantics: a non-persistent event is deleted before its callback, an
 * event deleted while queued is never called, event_active() queues any
 * flags, loopbreak stops after the current callback, loopexit after the
 * current round, and only the best priority that has work runs in a round.
 *
 * An sio_async per base keeps the sio_loop from ever looking empty (the
 * emptiness that ends event_base_loop() is counted here, from the events
 * added) and carries loopbreak and loopexit from other threads.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include <sigio.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/event_compat.h>

/* evs_kind of an event. */
enum { KIND_USER = 0, KIND_ONCE = 1 };

struct evq {
	struct event *head;
	struct event **tailp;
};

struct event_config {
	unsigned avoid;        /* bit i: the i-th name of sio_backends() */
	int require;           /* EV_FEATURE_* */
	int flags;             /* EVENT_BASE_FLAG_* */
};

struct event_base {
	sio_loop *loop;
	sio_async *wake;       /* loopbreak/loopexit from other threads */
	sio_timer *exit_timer; /* the pending loopexit, if exit_armed */
	uint64_t exit_deadline;
	bool exit_armed;
	bool got_exit;
	bool got_break;
	bool cont;             /* event_base_loopcontinue() */
	atomic_int running;
	pthread_t runner;
	atomic_int break_req;
	atomic_llong exit_req; /* ms + 1 of a loopexit from another thread */
	struct evq *q;         /* active queues, best priority first */
	int nq;
	int nactive;           /* events queued */
	int nadded;            /* events inserted or with a timeout */
	struct event *used;    /* events inserted, with a timeout or active */
	struct event *running_ev;
	bool running_deleted;  /* running_ev was deleted during its callback */
	int features;
	sio_hook *prepare;     /* runs the rounds of a blocking loop */
	sio_hook *idle;        /* started while a lower priority waits */
	bool hooked;           /* a blocking event_base_loop() is running */
	bool done;             /* ... and must end */
	int loop_flags;
	int loop_rc;
	int ran;               /* callbacks run by this event_base_loop() */
};

struct once {
	struct event ev;
	event_callback_fn cb;
	void *arg;
};

static void prepare_cb(sio_hook *h, void *arg);

static struct event_base *current_base;
static char self_cbarg_marker;

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A timeval as milliseconds, rounded up (a timeout never fires early);
 * negative times count as 0. */
static uint64_t
tv_ms(const struct timeval *tv)
{
	if (tv->tv_sec < 0 || (tv->tv_sec == 0 && tv->tv_usec <= 0))
		return 0;
	uint64_t us = tv->tv_usec < 0 ? 0 : (uint64_t)tv->tv_usec;
	uint64_t ms = (uint64_t)tv->tv_sec;
	if (ms > UINT64_MAX / 1000u - 1001u)
		return UINT64_MAX / 1000u - 1001u;
	return ms * 1000u + (us + 999u) / 1000u;
}

static bool
own_thread(const struct event_base *b)
{
	return !atomic_load(&b->running) || pthread_equal(b->runner, pthread_self());
}

/* Set an event's EVLIST_* bits, keeping the base's list of events in use
 * and its count of added events in step. */
static void
set_flags(struct event *ev, short flags)
{
	struct event_base *b = ev->ev_base;
	const short inuse = EVLIST_INSERTED | EVLIST_TIMEOUT | EVLIST_ACTIVE;
	const short added = EVLIST_INSERTED | EVLIST_TIMEOUT;
	short old = ev->evs_flags;

	if ((old & added) && !(flags & added))
		b->nadded--;
	else if (!(old & added) && (flags & added))
		b->nadded++;
	if ((old & inuse) && !(flags & inuse)) {
		*ev->evs_pprev = ev->evs_next;
		if (ev->evs_next != NULL)
			ev->evs_next->evs_pprev = ev->evs_pprev;
		ev->evs_next = NULL;
		ev->evs_pprev = NULL;
	} else if (!(old & inuse) && (flags & inuse)) {
		ev->evs_next = b->used;
		if (b->used != NULL)
			b->used->evs_pprev = &ev->evs_next;
		b->used = ev;
		ev->evs_pprev = &b->used;
	}
	ev->evs_flags = flags;
}

static struct evq *
queue_of(struct event_base *b, const struct event *ev)
{
	int pri = ev->evs_pri;
	if (pri >= b->nq)
		pri = b->nq - 1;
	return &b->q[pri];
}

static void
dequeue(struct event *ev)
{
	struct event_base *b = ev->ev_base;
	struct evq *q = queue_of(b, ev);

	*ev->evs_apprev = ev->evs_anext;
	if (ev->evs_anext != NULL)
		ev->evs_anext->evs_apprev = ev->evs_apprev;
	else
		q->tailp = ev->evs_apprev;
	ev->evs_anext = NULL;
	ev->evs_apprev = NULL;
	b->nactive--;
	set_flags(ev, ev->evs_flags & ~EVLIST_ACTIVE);
}

/* Queue an event for its callback with `res`, or add `res` to the queued
 * activation. */
static void
activate(struct event *ev, short res, short ncalls)
{
	struct event_base *b = ev->ev_base;

	if (ev->evs_flags & EVLIST_ACTIVE) {
		ev->ev_res |= res;
		if (ev->evs_ncalls < SHRT_MAX - ncalls)
			ev->evs_ncalls += ncalls;
		return;
	}
	struct evq *q = queue_of(b, ev);
	ev->ev_res = res;
	ev->evs_ncalls = ncalls;
	ev->evs_anext = NULL;
	ev->evs_apprev = q->tailp;
	*q->tailp = ev;
	q->tailp = &ev->evs_anext;
	b->nactive++;
	set_flags(ev, ev->evs_flags | EVLIST_ACTIVE);
}

/* ---- sigio callbacks: they only queue ------------------------------------- */

static void
io_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct event *ev = arg;
	short res = 0;
	(void)io;
	(void)fd;

	if (revents & SIO_READ)
		res |= EV_READ;
	if (revents & SIO_WRITE)
		res |= EV_WRITE;
	if (revents & (SIO_HUP | SIO_ERROR))
		res |= EV_READ | EV_WRITE | EV_CLOSED;
	res &= ev->ev_events & (EV_READ | EV_WRITE | EV_CLOSED);
	if (res != 0)
		activate(ev, res, 1);
}

static void
signal_cb(sio_signal *s, int signo, unsigned count, void *arg)
{
	struct event *ev = arg;
	(void)s;
	(void)signo;
	activate(ev, EV_SIGNAL, count > SHRT_MAX ? SHRT_MAX : (short)count);
}

static void
timer_cb(sio_timer *t, void *arg)
{
	struct event *ev = arg;
	(void)t;
	/* A one-shot sio timer: it stays allocated (evs_timer) until the
	 * event is deleted or re-armed. */
	set_flags(ev, ev->evs_flags & ~EVLIST_TIMEOUT);
	activate(ev, EV_TIMEOUT, 1);
}

/* ---- deleting, adding ------------------------------------------------------ */

static void
remove_timeout(struct event *ev)
{
	if (ev->evs_timer != NULL) {
		sio_timer_stop(ev->evs_timer);
		ev->evs_timer = NULL;
	}
	if (ev->evs_flags & EVLIST_TIMEOUT)
		set_flags(ev, ev->evs_flags & ~EVLIST_TIMEOUT);
}

/* Everything event_del() does: no watcher, not queued, no timeout. */
static void
del_internal(struct event *ev)
{
	/* An event in use only: one that is not may outlive its base (the
	 * base freed first), and its ev_base must not be read. */
	if (!(ev->evs_flags & (EVLIST_INSERTED | EVLIST_TIMEOUT | EVLIST_ACTIVE)))
		return;
	struct event_base *b = ev->ev_base;
	if (b->running_ev == ev)
		b->running_deleted = true;
	if (ev->evs_flags & EVLIST_ACTIVE)
		dequeue(ev);
	remove_timeout(ev);
	if (ev->evs_io != NULL) {
		sio_io_stop(ev->evs_io);
		ev->evs_io = NULL;
	}
	if (ev->evs_signal != NULL) {
		sio_signal_stop(ev->evs_signal);
		ev->evs_signal = NULL;
	}
	if (ev->evs_flags & EVLIST_INSERTED)
		set_flags(ev, ev->evs_flags & ~(EVLIST_INSERTED | EVLIST_SIGNAL));
}

/* (Re)arm the event's timeout `ms` from now. */
static int
arm_timeout(struct event *ev, uint64_t ms)
{
	struct event_base *b = ev->ev_base;

	if (ev->evs_timer != NULL) {
		if (sio_timer_again(ev->evs_timer, ms, 0) < 0)
			return -1;
	} else {
		ev->evs_timer = sio_timer_start(b->loop, ms, 0, timer_cb, ev);
		if (ev->evs_timer == NULL)
			return -1;
	}
	uint64_t now = mono_ms();
	ev->evs_deadline_ms = now + ms;
	struct timeval wall, rel = { (time_t)(ms / 1000u), (suseconds_t)(ms % 1000u) * 1000 };
	gettimeofday(&wall, NULL);
	evutil_timeradd(&wall, &rel, &ev->ev_timeout);
	set_flags(ev, ev->evs_flags | EVLIST_TIMEOUT);
	return 0;
}

static unsigned
sio_events_of(short events)
{
	unsigned e = 0;
	if (events & EV_READ)
		e |= SIO_READ;
	if (events & EV_WRITE)
		e |= SIO_WRITE;
	if ((events & EV_ET) && e != 0)
		e |= SIO_EDGE;
	return e;
}

int
event_add(struct event *ev, const struct timeval *tv)
{
	if (ev == NULL || !(ev->evs_flags & EVLIST_INIT) || ev->ev_base == NULL) {
		errno = EINVAL;
		return -1;
	}
	struct event_base *b = ev->ev_base;
	bool inserted_now = false;

	if (!(ev->evs_flags & EVLIST_INSERTED) &&
	    (ev->ev_events & (EV_READ | EV_WRITE | EV_CLOSED | EV_SIGNAL))) {
		if (ev->ev_events & EV_SIGNAL) {
			ev->evs_signal = sio_signal_start(b->loop, ev->ev_fd, signal_cb, ev);
			if (ev->evs_signal == NULL)
				return -1;
			set_flags(ev, ev->evs_flags | EVLIST_INSERTED | EVLIST_SIGNAL);
		} else {
			unsigned e = sio_events_of(ev->ev_events);
			if (e != 0) {
				ev->evs_io = sio_io_start(b->loop, ev->ev_fd, e, io_cb, ev);
				if (ev->evs_io == NULL)
					return -1;
			}
			/* EV_CLOSED alone: inserted, never reported (no
			 * EV_FEATURE_EARLY_CLOSE). */
			set_flags(ev, ev->evs_flags | EVLIST_INSERTED);
		}
		inserted_now = true;
	}
	if (tv != NULL) {
		/* An event queued because its timeout fired is taken off the
		 * queue when its timeout is set again. */
		if ((ev->evs_flags & EVLIST_ACTIVE) && (ev->ev_res & EV_TIMEOUT))
			dequeue(ev);
		ev->evs_period_ms = tv_ms(tv);
		if (arm_timeout(ev, ev->evs_period_ms) < 0) {
			int err = errno;
			if (inserted_now)
				del_internal(ev);
			errno = err;
			return -1;
		}
		ev->evs_opts |= 1; /* a timeout was asked for */
	}
	return 0;
}

int
event_del(struct event *ev)
{
	if (ev == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (!(ev->evs_flags & EVLIST_INIT))
		return 0;
	del_internal(ev);
	ev->evs_opts &= (uint16_t)~1u;
	return 0;
}

int
event_del_noblock(struct event *ev)
{
	return event_del(ev);
}

int
event_del_block(struct event *ev)
{
	return event_del(ev);
}

int
event_remove_timer(struct event *ev)
{
	if (ev == NULL || !(ev->evs_flags & EVLIST_INIT)) {
		errno = EINVAL;
		return -1;
	}
	remove_timeout(ev);
	ev->evs_opts &= (uint16_t)~1u;
	if ((ev->evs_flags & EVLIST_ACTIVE) && (ev->ev_res & EV_TIMEOUT)) {
		ev->ev_res &= ~EV_TIMEOUT;
		if (ev->ev_res == 0)
			dequeue(ev);
	}
	return 0;
}

void
event_active(struct event *ev, int res, short ncalls)
{
	if (ev == NULL || !(ev->evs_flags & EVLIST_INIT) || ev->ev_base == NULL)
		return;
	if (ncalls < 1)
		ncalls = 1;
	activate(ev, (short)res, (ev->ev_events & EV_SIGNAL) ? ncalls : 1);
}

int
event_pending(const struct event *ev, short events, struct timeval *tv)
{
	if (ev == NULL || !(ev->evs_flags & EVLIST_INIT))
		return 0;
	short flags = 0;
	if (ev->evs_flags & EVLIST_INSERTED)
		flags |= ev->ev_events & (EV_READ | EV_WRITE | EV_CLOSED | EV_SIGNAL);
	if (ev->evs_flags & EVLIST_ACTIVE)
		flags |= ev->ev_res;
	if (ev->evs_flags & EVLIST_TIMEOUT) {
		flags |= EV_TIMEOUT;
		if (tv != NULL && (events & EV_TIMEOUT)) {
			uint64_t now = mono_ms();
			uint64_t left = ev->evs_deadline_ms > now ? ev->evs_deadline_ms - now : 0;
			struct timeval wall, rel = { (time_t)(left / 1000u),
			                             (suseconds_t)(left % 1000u) * 1000 };
			gettimeofday(&wall, NULL);
			evutil_timeradd(&wall, &rel, tv);
		}
	}
	events &= EV_TIMEOUT | EV_READ | EV_WRITE | EV_CLOSED | EV_SIGNAL;
	return flags & events;
}

/* ---- assigning ---------------------------------------------------------------- */

int
event_assign(struct event *ev, struct event_base *base, evutil_socket_t fd,
             short events, event_callback_fn cb, void *arg)
{
	if (ev == NULL || cb == NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((events & EV_SIGNAL) && (events & (EV_READ | EV_WRITE | EV_CLOSED))) {
		errno = EINVAL;
		return -1;
	}
	memset(ev, 0, sizeof *ev);
	ev->ev_base = base;
	ev->ev_fd = fd;
	ev->ev_events = events;
	ev->evs_cb = cb;
	ev->evs_arg = arg == &self_cbarg_marker ? (void *)ev : arg;
	ev->evs_flags = EVLIST_INIT;
	ev->evs_pri = base != NULL ? (uint8_t)(base->nq / 2) : 0;
	ev->evs_kind = KIND_USER;
	return 0;
}

void
event_set(struct event *ev, evutil_socket_t fd, short events, event_callback_fn cb,
          void *arg)
{
	(void)event_assign(ev, current_base, fd, events, cb, arg);
}

int
event_base_set(struct event_base *base, struct event *ev)
{
	if (base == NULL || ev == NULL || !(ev->evs_flags & EVLIST_INIT) ||
	    (ev->evs_flags & (EVLIST_INSERTED | EVLIST_TIMEOUT | EVLIST_ACTIVE))) {
		errno = EINVAL;
		return -1;
	}
	ev->ev_base = base;
	ev->evs_pri = (uint8_t)(base->nq / 2);
	return 0;
}

struct event *
event_new(struct event_base *base, evutil_socket_t fd, short events,
          event_callback_fn cb, void *arg)
{
	struct event *ev = malloc(sizeof *ev);
	if (ev == NULL)
		return NULL;
	if (event_assign(ev, base, fd, events, cb, arg == &self_cbarg_marker ? ev : arg) < 0) {
		free(ev);
		return NULL;
	}
	return ev;
}

void
event_free(struct event *ev)
{
	if (ev == NULL)
		return;
	event_del(ev);
	free(ev);
}

void *
event_self_cbarg(void)
{
	return &self_cbarg_marker;
}

int
event_initialized(const struct event *ev)
{
	return ev != NULL && (ev->evs_flags & EVLIST_INIT) ? 1 : 0;
}

int
event_priority_set(struct event *ev, int pri)
{
	if (ev == NULL || (ev->evs_flags & EVLIST_ACTIVE) || pri < 0 ||
	    (ev->ev_base != NULL && pri >= ev->ev_base->nq)) {
		errno = EINVAL;
		return -1;
	}
	ev->evs_pri = (uint8_t)pri;
	return 0;
}

int
event_get_priority(const struct event *ev)
{
	return ev->evs_pri;
}

evutil_socket_t
event_get_fd(const struct event *ev)
{
	return ev->ev_fd;
}

struct event_base *
event_get_base(const struct event *ev)
{
	return ev->ev_base;
}

short
event_get_events(const struct event *ev)
{
	return ev->ev_events;
}

event_callback_fn
event_get_callback(const struct event *ev)
{
	return ev->evs_cb;
}

void *
event_get_callback_arg(const struct event *ev)
{
	return ev->evs_arg;
}

void
event_get_assignment(const struct event *ev, struct event_base **base_out,
                     evutil_socket_t *fd_out, short *events_out,
                     event_callback_fn *callback_out, void **arg_out)
{
	if (base_out != NULL)
		*base_out = ev->ev_base;
	if (fd_out != NULL)
		*fd_out = ev->ev_fd;
	if (events_out != NULL)
		*events_out = ev->ev_events;
	if (callback_out != NULL)
		*callback_out = ev->evs_cb;
	if (arg_out != NULL)
		*arg_out = ev->evs_arg;
}

size_t
event_get_struct_event_size(void)
{
	return sizeof(struct event);
}

/* ---- event_base_once ------------------------------------------------------------ */

static void
once_cb(evutil_socket_t fd, short what, void *arg)
{
	struct once *o = arg;
	/* Deleted already (not persistent): nothing refers to it now. */
	o->cb(fd, what, o->arg);
	free(o);
}

int
event_base_once(struct event_base *base, evutil_socket_t fd, short events,
                event_callback_fn cb, void *arg, const struct timeval *tv)
{
	if (base == NULL || cb == NULL || (events & (EV_SIGNAL | EV_PERSIST))) {
		errno = EINVAL;
		return -1;
	}
	struct once *o = malloc(sizeof *o);
	if (o == NULL)
		return -1;
	o->cb = cb;
	o->arg = arg;
	struct timeval zero = { 0, 0 };
	short evs = events & (EV_READ | EV_WRITE | EV_CLOSED | EV_ET);
	if (evs == 0 && tv == NULL)
		tv = &zero;  /* a pure timeout without a time: at once */
	if (event_assign(&o->ev, base, evs ? fd : -1, evs, once_cb, o) < 0 ||
	    event_add(&o->ev, tv) < 0) {
		int err = errno;
		free(o);
		errno = err;
		return -1;
	}
	o->ev.evs_kind = KIND_ONCE;
	return 0;
}

int
event_once(evutil_socket_t fd, short events, event_callback_fn cb, void *arg,
           const struct timeval *tv)
{
	return event_base_once(current_base, fd, events, cb, arg, tv);
}

/* ---- configurations and bases ---------------------------------------------- */

static int
features_of(const char *backend)
{
	if (strcmp(backend, "rtsig") == 0)
		return EV_FEATURE_ET | EV_FEATURE_O1 | EV_FEATURE_FDS;
	if (strcmp(backend, "sigio") == 0)
		return EV_FEATURE_ET | EV_FEATURE_FDS;
	return EV_FEATURE_FDS;
}

struct event_config *
event_config_new(void)
{
	return calloc(1, sizeof(struct event_config));
}

void
event_config_free(struct event_config *cfg)
{
	free(cfg);
}

int
event_config_avoid_method(struct event_config *cfg, const char *method)
{
	const char *names[16];
	size_t n = sio_backends(names, 16);

	if (cfg == NULL || method == NULL) {
		errno = EINVAL;
		return -1;
	}
	/* A libevent method name sigio does not have is avoided already. */
	for (size_t i = 0; i < n && i < 16; i++)
		if (strcmp(names[i], method) == 0)
			cfg->avoid |= 1u << i;
	return 0;
}

int
event_config_require_features(struct event_config *cfg, int features)
{
	if (cfg == NULL) {
		errno = EINVAL;
		return -1;
	}
	cfg->require = features;
	return 0;
}

int
event_config_set_flag(struct event_config *cfg, int flag)
{
	if (cfg == NULL) {
		errno = EINVAL;
		return -1;
	}
	cfg->flags |= flag;
	return 0;
}

int
event_config_set_num_cpus_hint(struct event_config *cfg, int cpus)
{
	(void)cpus;
	return cfg == NULL ? -1 : 0;
}

int
event_config_set_max_dispatch_interval(struct event_config *cfg,
                                       const struct timeval *max_interval,
                                       int max_callbacks, int min_priority)
{
	(void)max_interval;
	(void)max_callbacks;
	(void)min_priority;
	return cfg == NULL ? -1 : 0;
}

static void
wake_cb(sio_async *a, void *arg)
{
	struct event_base *b = arg;
	(void)a;
	long long req = atomic_exchange(&b->exit_req, 0);
	if (req > 0)
		(void)event_base_loopexit(b, &(struct timeval){
			(time_t)((req - 1) / 1000), (suseconds_t)((req - 1) % 1000) * 1000 });
}

/* May backend `name` (the i-th of sio_backends()) serve `cfg`? */
static bool
backend_allowed(const struct event_config *cfg, size_t i, const char *name)
{
	if (cfg == NULL)
		return true;
	if (i < 32 && (cfg->avoid & (1u << i)))
		return false;
	if ((features_of(name) & cfg->require) != cfg->require)
		return false;
	if (!(cfg->flags & EVENT_BASE_FLAG_IGNORE_ENV)) {
		/* libevent's EVENT_NO<METHOD>, for sigio's method names. */
		char var[32] = "EVENT_NO";
		size_t k = strlen(var);
		for (const char *p = name; *p != '\0' && k < sizeof var - 1; p++)
			var[k++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
		var[k] = '\0';
		if (getenv(var) != NULL)
			return false;
	}
	return true;
}

static sio_loop *
open_loop(const struct event_config *cfg)
{
	const char *names[16];
	size_t n = sio_backends(names, 16);
	if (n > 16)
		n = 16;
	bool any_limit = false;
	for (size_t i = 0; i < n; i++)
		if (!backend_allowed(cfg, i, names[i]))
			any_limit = true;
	bool use_env = cfg == NULL || !(cfg->flags & EVENT_BASE_FLAG_IGNORE_ENV);
	if (!any_limit && use_env)
		return sio_loop_new(NULL);  /* sigio's own choice, SIGIO_BACKEND */

	const char *env = use_env ? getenv("SIGIO_BACKEND") : NULL;
	if (env != NULL && *env != '\0' && strcmp(env, "auto") != 0)
		for (size_t i = 0; i < n; i++)
			if (strcmp(names[i], env) == 0 && backend_allowed(cfg, i, names[i]))
				return sio_loop_new(env);
	int err = ENOSYS;
	for (size_t i = 0; i < n; i++) {
		if (!backend_allowed(cfg, i, names[i]))
			continue;
		sio_loop *loop = sio_loop_new(names[i]);
		if (loop != NULL)
			return loop;
		err = errno;
	}
	errno = err;
	return NULL;
}

struct event_base *
event_base_new_with_config(const struct event_config *cfg)
{
	struct event_base *b = calloc(1, sizeof *b);
	if (b == NULL)
		return NULL;
	b->nq = 1;
	b->q = calloc(1, sizeof *b->q);
	if (b->q == NULL)
		goto fail;
	b->q[0].tailp = &b->q[0].head;
	atomic_init(&b->running, 0);
	atomic_init(&b->break_req, 0);
	atomic_init(&b->exit_req, 0);
	b->loop = open_loop(cfg);
	if (b->loop == NULL)
		goto fail;
	b->wake = sio_async_new(b->loop, wake_cb, b);
	if (b->wake == NULL)
		goto fail;
	b->prepare = sio_prepare_start(b->loop, prepare_cb, b);
	if (b->prepare == NULL)
		goto fail;
	b->features = features_of(sio_loop_backend(b->loop));
	if ((cfg == NULL || !(cfg->flags & EVENT_BASE_FLAG_IGNORE_ENV)) &&
	    getenv("EVENT_SHOW_METHOD") != NULL)
		fprintf(stderr, "[msg] %s, using: %s\n", sigio_event_version(),
		        sio_loop_backend(b->loop));
	return b;
fail:;
	int err = errno;
	if (b->loop != NULL)
		sio_loop_free(b->loop);
	free(b->q);
	free(b);
	errno = err;
	return NULL;
}

struct event_base *
event_base_new(void)
{
	return event_base_new_with_config(NULL);
}

struct event_base *
event_init(void)
{
	struct event_base *b = event_base_new_with_config(NULL);
	if (b != NULL)
		current_base = b;
	return b;
}

void
event_base_free(struct event_base *b)
{
	if (b == NULL)
		return;
	/* Every event still in use is deleted: no callback runs after this,
	 * and the program's own struct events read as not pending.  The
	 * copies event_base_once() made are the base's to free. */
	while (b->used != NULL) {
		struct event *ev = b->used;
		del_internal(ev);
		if (ev->evs_kind == KIND_ONCE)
			free((struct once *)(void *)ev);
	}
	if (b->exit_timer != NULL)
		sio_timer_stop(b->exit_timer);
	sio_async_free(b->wake);
	sio_loop_free(b->loop);
	if (current_base == b)
		current_base = NULL;
	free(b->q);
	free(b);
}

void
event_base_free_nofinalize(struct event_base *b)
{
	event_base_free(b);
}

int
event_reinit(struct event_base *b)
{
	if (b == NULL) {
		errno = EINVAL;
		return -1;
	}
	return sio_loop_fork(b->loop);
}

const char *
event_base_get_method(const struct event_base *b)
{
	return b == NULL ? NULL : sio_loop_backend(b->loop);
}

const char *
event_get_method(void)
{
	return event_base_get_method(current_base);
}

const char **
event_get_supported_methods(void)
{
	static const char *methods[17];
	size_t n = sio_backends(methods, 16);
	methods[n < 16 ? n : 16] = NULL;
	return methods;
}

int
event_base_get_features(const struct event_base *b)
{
	return b == NULL ? 0 : b->features;
}

int
event_base_get_num_events(struct event_base *b, unsigned int flags)
{
	int n = 0;
	if (flags & EVENT_BASE_COUNT_ACTIVE)
		n += b->nactive;
	if (flags & EVENT_BASE_COUNT_ADDED)
		n += b->nadded;
	return n;
}

int
event_base_priority_init(struct event_base *b, int npriorities)
{
	if (b == NULL || npriorities < 1 || npriorities > EVENT_MAX_PRIORITIES ||
	    b->nactive > 0) {
		errno = EINVAL;
		return -1;
	}
	if (npriorities == b->nq)
		return 0;
	struct evq *q = calloc((size_t)npriorities, sizeof *q);
	if (q == NULL)
		return -1;
	for (int i = 0; i < npriorities; i++)
		q[i].tailp = &q[i].head;
	free(b->q);
	b->q = q;
	b->nq = npriorities;
	return 0;
}

int
event_priority_init(int npriorities)
{
	return event_base_priority_init(current_base, npriorities);
}

int
event_base_get_npriorities(struct event_base *b)
{
	return b == NULL ? 0 : b->nq;
}

int
event_gettime_monotonic(struct event_base *b, struct timeval *tp)
{
	struct timespec ts;
	(void)b;
	if (tp == NULL || clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
		return -1;
	tp->tv_sec = ts.tv_sec;
	tp->tv_usec = (suseconds_t)(ts.tv_nsec / 1000);
	return 0;
}

int
event_base_gettimeofday_cached(struct event_base *b, struct timeval *tv)
{
	(void)b;
	return gettimeofday(tv, NULL);
}

int
event_base_update_cache_time(struct event_base *b)
{
	if (b == NULL)
		return -1;
	sio_loop_update_time(b->loop);
	return 0;
}

/* ---- the loop ------------------------------------------------------------------ */

/* Run the callbacks queued at the best priority that has any (the round),
 * in order, with those queued meanwhile at that priority.  Returns how
 * many ran. */
static int
process_active(struct event_base *b)
{
	int i = 0;
	while (i < b->nq && b->q[i].head == NULL)
		i++;
	if (i == b->nq)
		return 0;
	struct evq *q = &b->q[i];
	int ran = 0;
	struct event *ev;

	b->cont = false;
	while ((ev = q->head) != NULL) {
		short res = ev->ev_res;
		short ncalls = ev->evs_ncalls;
		dequeue(ev);
		if (!(ev->ev_events & EV_PERSIST)) {
			del_internal(ev);
			ev->evs_opts &= (uint16_t)~1u;
		} else if ((ev->evs_opts & 1)) {
			/* A persistent event with a timeout: the timeout starts
			 * again with each call, from the deadline it fired at
			 * when it fired (no drift), else from now. */
			uint64_t ms = ev->evs_period_ms;
			if (res & EV_TIMEOUT) {
				uint64_t now = mono_ms();
				uint64_t next = ev->evs_deadline_ms + ms;
				ms = next > now ? next - now : 0;
			}
			(void)arm_timeout(ev, ms);
		}
		ev->ev_res = res;
		event_callback_fn cb = ev->evs_cb;
		void *arg = ev->evs_arg;
		evutil_socket_t fd = ev->ev_fd;
		b->running_ev = ev;
		b->running_deleted = false;
		ran++;
		if (ncalls < 1 || !(ev->ev_events & EV_PERSIST))
			ncalls = 1;
		/* A signal that arrived n times is reported n times, unless
		 * the callback deletes (or frees) its event. */
		for (;;) {
			cb(fd, res, arg);
			if (--ncalls <= 0 || b->running_deleted ||
			    atomic_load(&b->break_req))
				break;
		}
		b->running_ev = NULL;
		if (atomic_load(&b->break_req) || b->cont)
			break;
	}
	return ran;
}

static void
idle_cb(sio_hook *h, void *arg)
{
	(void)h;
	(void)arg;
}

/* Whether the loop must end now (before or after a round), and why. */
static bool
loop_over(struct event_base *b, int flags)
{
	if (b->got_exit)
		return true;
	if (atomic_load(&b->break_req)) {
		b->got_break = true;
		return true;
	}
	if (!(flags & EVLOOP_NO_EXIT_ON_EMPTY) && b->nadded == 0 && b->nactive == 0 &&
	    !b->exit_armed) {
		b->loop_rc = 1;
		return true;
	}
	return false;
}

/* The rounds of a blocking event_base_loop() run here, at the start of
 * each sigio iteration, before the loop looks at the fds and may sleep:
 * the callbacks queued by the previous iteration run, then the loop ends
 * (sio_loop_stop: this iteration does not sleep) or goes on.  So the
 * sio_loop runs once for the whole event_base_loop(), with its signals
 * blocked and taken in batches, rather than being entered and left for
 * each round. */
static void
prepare_cb(sio_hook *h, void *arg)
{
	struct event_base *b = arg;
	(void)h;
	if (!b->hooked || b->done)
		return;
	bool over = loop_over(b, b->loop_flags);
	if (!over && b->nactive > 0) {
		int n = process_active(b);
		b->ran += n;
		if ((b->loop_flags & EVLOOP_ONCE) && b->nactive == 0 && b->ran > 0) {
			over = true;  /* returns 0, even if nothing is left */
			if (atomic_load(&b->break_req))
				b->got_break = true;
		} else {
			over = loop_over(b, b->loop_flags);
		}
	}
	if (over) {
		b->done = true;
		sio_loop_stop(b->loop);
	}
	/* Callbacks of a lower priority still queued: no sleep before the
	 * next round. */
	if (!over && b->nactive > 0 && b->idle == NULL)
		b->idle = sio_idle_start(b->loop, idle_cb, b);
	else if ((over || b->nactive == 0) && b->idle != NULL) {
		sio_hook_stop(b->idle);
		b->idle = NULL;
	}
}

int
event_base_loop(struct event_base *b, int flags)
{
	if (b == NULL) {
		errno = EINVAL;
		return -1;
	}
	if (atomic_load(&b->running)) {
		errno = EBUSY;  /* not reentrant, as libevent */
		return -1;
	}
	b->runner = pthread_self();
	atomic_store(&b->running, 1);
	atomic_store(&b->break_req, 0);
	b->got_exit = false;
	b->got_break = false;
	b->loop_rc = 0;
	b->loop_flags = flags;

	if (flags & EVLOOP_NONBLOCK) {
		/* Look without waiting, run what is ready, a round per
		 * priority, until a look finds nothing. */
		while (!loop_over(b, flags)) {
			int mode = SIO_RUN_NOWAIT;
			if (sio_loop_run(b->loop, mode) < 0) {
				b->loop_rc = -1;
				break;
			}
			if (b->nactive == 0)
				break;
			int n = process_active(b);
			if ((flags & EVLOOP_ONCE) && b->nactive == 0 && n != 0)
				break;
		}
	} else if (!loop_over(b, flags)) {
		b->hooked = true;
		b->done = false;
		b->ran = 0;
		if (sio_loop_run(b->loop, SIO_RUN_DEFAULT) < 0)
			b->loop_rc = -1;
		b->hooked = false;
		if (b->idle != NULL) {
			sio_hook_stop(b->idle);
			b->idle = NULL;
		}
	}
	if (atomic_load(&b->break_req))
		b->got_break = true;
	if (b->got_exit)
		b->exit_armed = false;
	atomic_store(&b->running, 0);
	return b->loop_rc;
}

int
event_base_dispatch(struct event_base *b)
{
	return event_base_loop(b, 0);
}

int
event_dispatch(void)
{
	return event_base_loop(current_base, 0);
}

int
event_loop(int flags)
{
	return event_base_loop(current_base, flags);
}

static void
exit_cb(sio_timer *t, void *arg)
{
	struct event_base *b = arg;
	(void)t;
	b->got_exit = true;
}

int
event_base_loopexit(struct event_base *b, const struct timeval *tv)
{
	if (b == NULL) {
		errno = EINVAL;
		return -1;
	}
	uint64_t ms = tv != NULL ? tv_ms(tv) : 0;
	if (!own_thread(b)) {
		long long want = (long long)(ms > (uint64_t)LLONG_MAX - 2 ? (uint64_t)LLONG_MAX - 2 : ms) + 1;
		long long cur = atomic_load(&b->exit_req);
		while ((cur == 0 || want < cur) &&
		       !atomic_compare_exchange_weak(&b->exit_req, &cur, want))
			;
		return sio_async_send(b->wake);
	}
	uint64_t deadline = mono_ms() + ms;
	if (b->exit_armed && b->exit_deadline <= deadline)
		return 0;  /* an earlier exit is due already */
	if (b->exit_timer != NULL) {
		if (sio_timer_again(b->exit_timer, ms, 0) < 0)
			return -1;
	} else {
		b->exit_timer = sio_timer_start(b->loop, ms, 0, exit_cb, b);
		if (b->exit_timer == NULL)
			return -1;
	}
	b->exit_deadline = deadline;
	b->exit_armed = true;
	return 0;
}

int
event_loopexit(const struct timeval *tv)
{
	return event_base_loopexit(current_base, tv);
}

int
event_base_loopbreak(struct event_base *b)
{
	if (b == NULL) {
		errno = EINVAL;
		return -1;
	}
	atomic_store(&b->break_req, 1);
	if (!own_thread(b))
		return sio_async_send(b->wake);
	return 0;
}

int
event_loopbreak(void)
{
	return event_base_loopbreak(current_base);
}

int
event_base_loopcontinue(struct event_base *b)
{
	if (b == NULL) {
		errno = EINVAL;
		return -1;
	}
	b->cont = true;
	return 0;
}

int
event_base_got_exit(struct event_base *b)
{
	return b != NULL && b->got_exit ? 1 : 0;
}

int
event_base_got_break(struct event_base *b)
{
	return b != NULL && b->got_break ? 1 : 0;
}

struct event *
event_base_get_running_event(struct event_base *b)
{
	return b == NULL ? NULL : b->running_ev;
}

/* ---- versions, logging ------------------------------------------------------ */

const char *
event_get_version(void)
{
	return LIBEVENT_VERSION;
}

ev_uint32_t
event_get_version_number(void)
{
	return LIBEVENT_VERSION_NUMBER;
}

static char version_text[96];

static void
version_fill(void)
{
	snprintf(version_text, sizeof version_text,
	         "sigio-event %s (libevent 2.1.12 API) on sigio %s",
	         SIGIO_EVENT_VERSION, sio_version());
}

const char *
sigio_event_version(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, version_fill);
	return version_text;
}

/* The layer never logs and never calls a fatal handler: its errors are
 * return values with errno, as sigio's.  The hooks are accepted. */
void
event_set_log_callback(event_log_cb cb)
{
	(void)cb;
}

void
event_set_fatal_callback(event_fatal_cb cb)
{
	(void)cb;
}

void
event_enable_debug_mode(void)
{
}

void
event_enable_debug_logging(ev_uint32_t which)
{
	(void)which;
}

void
libevent_global_shutdown(void)
{
}
