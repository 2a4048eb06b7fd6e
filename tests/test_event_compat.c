/*
 * test_event_compat.c - sigio-event, the libevent 2.1 core API on sigio:
 * its semantics, on every backend (each base is made with
 * event_config_avoid_method() for every other backend, the way a libevent
 * program picks a method).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <event.h>
#include <event2/event.h>

#include "testutil.h"

/* ---- helpers ----------------------------------------------------------------- */

static struct event_base *
base_on(const char *backend)
{
	struct event_config *cfg = event_config_new();
	const char *names[16];
	size_t n = sio_backends(names, 16);

	cr_assert_not_null(cfg);
	for (size_t i = 0; i < n && i < 16; i++)
		if (strcmp(names[i], backend) != 0)
			cr_assert_eq(event_config_avoid_method(cfg, names[i]), 0);
	cr_assert_eq(event_config_set_flag(cfg, EVENT_BASE_FLAG_IGNORE_ENV), 0);
	struct event_base *b = event_base_new_with_config(cfg);
	event_config_free(cfg);
	cr_assert_not_null(b, "[%s] event_base_new_with_config: %s", backend,
	                   strerror(errno));
	cr_assert_str_eq(event_base_get_method(b), backend);
	return b;
}

static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
pair(int sv[2])
{
	cr_assert_eq(evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(evutil_make_socket_nonblocking(sv[0]), 0);
	cr_assert_eq(evutil_make_socket_nonblocking(sv[1]), 0);
}

static void
put(int fd, const char *s)
{
	t_write_all(fd, s, strlen(s));
}

/* What a callback saw. */
struct rec {
	int calls;
	short what[16];
	int fd;
	struct event *ev;        /* the event, for callbacks that act on it */
	struct event *other;     /* another event a callback acts on */
	struct event_base *base;
	int readd;               /* re-add the event this many times */
	int del_after;           /* event_del after this many calls */
	const struct timeval *tv;
	char order[16];          /* letters of the callbacks, in order */
	char letter;
	char *log;
	int bytes;               /* bytes read by EV_READ calls (sigio, like
	                            its backends, allows a spurious call: the
	                            read then says EAGAIN) */
	int timeouts;            /* calls with EV_TIMEOUT */
};

static void
rec_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;
	if (r->calls < 16)
		r->what[r->calls] = what;
	r->calls++;
	r->fd = fd;
	if (r->log != NULL) {
		size_t k = strlen(r->log);
		r->log[k] = r->letter;
		r->log[k + 1] = '\0';
	}
	if (what & EV_READ) {
		char buf[64];
		if (read(fd, buf, 1) == 1)  /* one byte per call */
			r->bytes++;
	}
	if (what & EV_TIMEOUT)
		r->timeouts++;
	if (r->readd > 0) {
		r->readd--;
		cr_assert_eq(event_add(r->ev, r->tv), 0);
	}
	if (r->del_after > 0 && r->calls >= r->del_after)
		cr_assert_eq(event_del(r->ev), 0);
}

/* ---- basics ------------------------------------------------------------------ */

SIO_BACKEND_TEST(event_compat, base_and_versions)
{
	struct event_base *b = base_on(be->name);
	struct event ev;

	cr_assert_eq(event_get_struct_event_size(), sizeof(struct event));
	cr_assert_eq(event_get_version_number(), LIBEVENT_VERSION_NUMBER);
	cr_assert_eq(event_get_version()[0], '2');
	cr_assert_str_eq(event_get_version(), LIBEVENT_VERSION);
	cr_assert_not_null(strstr(sigio_event_version(), sio_version()));
	cr_assert_eq(event_base_get_npriorities(b), 1);
	if (t_is(be, "rtsig"))
		cr_assert(event_base_get_features(b) & EV_FEATURE_O1);
	cr_assert(event_base_get_features(b) & EV_FEATURE_FDS);
	const char **m = event_get_supported_methods();
	cr_assert_not_null(m[0]);

	/* Nothing added: the loop says so. */
	cr_assert_eq(event_base_dispatch(b), 1);
	cr_assert_eq(event_base_loop(b, EVLOOP_NONBLOCK), 1);

	/* event_self_cbarg, the getters, event_initialized. */
	memset(&ev, 0, sizeof ev);
	cr_assert_eq(event_initialized(&ev), 0);
	struct event *e = event_new(b, 7, EV_READ | EV_PERSIST, rec_cb, event_self_cbarg());
	cr_assert_not_null(e);
	cr_assert_eq(event_get_callback_arg(e), e);
	cr_assert_eq(event_get_fd(e), 7);
	cr_assert_eq(event_get_base(e), b);
	cr_assert_eq(e->ev_base, b);
	cr_assert_eq(event_get_events(e), EV_READ | EV_PERSIST);
	cr_assert_eq(event_get_callback(e), rec_cb);
	cr_assert_eq(event_initialized(e), 1);
	cr_assert_eq(event_pending(e, EV_READ | EV_TIMEOUT, NULL), 0);
	event_free(e);

	/* A signal event cannot also be an fd event. */
	cr_assert_eq(event_assign(&ev, b, SIGUSR1, EV_SIGNAL | EV_READ, rec_cb, NULL), -1);
	event_base_free(b);
}

/* ---- fd events ------------------------------------------------------------------ */

SIO_BACKEND_TEST(event_compat, persistent_read)
{
	struct event_base *b = base_on(be->name);
	int sv[2];
	struct rec r = { 0 };
	struct event ev;

	pair(sv);
	cr_assert_eq(event_assign(&ev, b, sv[0], EV_READ | EV_PERSIST, rec_cb, &r), 0);
	r.ev = &ev;
	cr_assert_eq(event_add(&ev, NULL), 0);
	cr_assert_eq(event_pending(&ev, EV_READ, NULL), EV_READ);
	for (int i = 1; i <= 3; i++) {
		put(sv[1], "x");
		for (int k = 0; r.bytes < i && k < SIO_TEST_MAX_ONCE; k++)
			cr_assert_eq(event_base_loop(b, EVLOOP_ONCE), 0);
		cr_assert_eq(r.bytes, i, "[%s] %d bytes read after %d writes", be->name,
		             r.bytes, i);
		cr_assert_eq(r.what[r.calls - 1], EV_READ);
		cr_assert_eq(r.fd, sv[0]);
	}
	/* Still added after its calls. */
	cr_assert_eq(event_pending(&ev, EV_READ, NULL), EV_READ);
	/* Nothing ready: NONBLOCK returns without a call. */
	cr_assert_eq(event_base_loop(b, EVLOOP_NONBLOCK), 0);
	cr_assert_eq(r.bytes, 3);
	cr_assert_eq(event_del(&ev), 0);
	cr_assert_eq(event_pending(&ev, EV_READ, NULL), 0);
	cr_assert_eq(event_base_dispatch(b), 1);
	event_base_free(b);
	close(sv[0]);
	close(sv[1]);
}

SIO_BACKEND_TEST(event_compat, oneshot_deleted_before_callback_and_readded)
{
	struct event_base *b = base_on(be->name);
	int sv[2];
	struct rec r = { 0 };
	struct event ev;

	pair(sv);
	put(sv[1], "abc");
	event_set(&ev, sv[0], EV_READ, rec_cb, &r);   /* 1.x: no current base */
	cr_assert_eq(event_base_set(b, &ev), 0);
	r.ev = &ev;
	r.readd = 2;  /* the callback re-adds it twice: three calls in all */
	cr_assert_eq(event_add(&ev, NULL), 0);
	/* The loop ends by itself when the last call did not re-add. */
	cr_assert_eq(event_base_dispatch(b), 1);
	cr_assert_eq(r.calls, 3, "[%s] %d calls", be->name, r.calls);
	cr_assert_eq(event_pending(&ev, EV_READ, NULL), 0);
	event_base_free(b);
	close(sv[0]);
	close(sv[1]);
}

SIO_BACKEND_TEST(event_compat, write_and_read_events_on_one_fd)
{
	struct event_base *b = base_on(be->name);
	int sv[2];
	struct rec rr = { 0 }, rw = { 0 };

	pair(sv);
	struct event *er = event_new(b, sv[0], EV_READ, rec_cb, &rr);
	struct event *ew = event_new(b, sv[0], EV_WRITE, rec_cb, &rw);
	cr_assert_eq(event_add(er, NULL), 0);
	cr_assert_eq(event_add(ew, NULL), 0);
	/* Writable at once; the read event is still pending after. */
	cr_assert_eq(event_base_loop(b, EVLOOP_ONCE), 0);
	cr_assert_eq(rw.calls, 1);
	cr_assert_eq(rw.what[0], EV_WRITE);
	cr_assert_eq(rr.calls, 0);
	cr_assert_eq(event_pending(er, EV_READ | EV_WRITE, NULL), EV_READ);
	put(sv[1], "z");
	cr_assert_eq(event_base_dispatch(b), 1);
	cr_assert_eq(rr.calls, 1);
	event_free(er);
	event_free(ew);
	event_base_free(b);
	close(sv[0]);
	close(sv[1]);
}

/* ---- timeouts ------------------------------------------------------------------- */

SIO_BACKEND_TEST(event_compat, fd_event_timeout_flags_ev_timeout)
{
	struct event_base *b = base_on(be->name);
	int sv[2];
	struct rec r = { 0 };
	struct event ev;
	struct timeval tv = { 0, 20000 };

	pair(sv);
	cr_assert_eq(event_assign(&ev, b, sv[0], EV_READ, rec_cb, &r), 0);
	r.ev = &ev;
	uint64_t t0 = now_ms();
	cr_assert_eq(event_add(&ev, &tv), 0);
	struct timeval when;
	cr_assert_eq(event_pending(&ev, EV_READ | EV_TIMEOUT, &when), EV_READ | EV_TIMEOUT);
	cr_assert_eq(event_base_dispatch(b), 1);
	uint64_t took = now_ms() - t0;
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.what[0], EV_TIMEOUT, "[%s] what 0x%x", be->name, r.what[0]);
	cr_assert_geq(took, 20, "[%s] the 20 ms timeout fired after %llu ms", be->name,
	              (unsigned long long)took);
	cr_assert_eq(event_pending(&ev, EV_READ | EV_TIMEOUT, NULL), 0);
	event_base_free(b);
	close(sv[0]);
	close(sv[1]);
}

static void
rearm_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;
	rec_cb(fd, what, arg);
	if (r->timeouts == 3)
		cr_assert_eq(event_del(r->ev), 0);
}

SIO_BACKEND_TEST(event_compat, persistent_timeout_rearms)
{
	struct event_base *b = base_on(be->name);
	int sv[2];
	struct rec r = { 0 };
	struct event ev;
	struct timeval tv = { 0, 10000 };

	pair(sv);
	cr_assert_eq(event_assign(&ev, b, sv[0], EV_READ | EV_PERSIST, rearm_cb, &r), 0);
	r.ev = &ev;
	uint64_t t0 = now_ms();
	cr_assert_eq(event_add(&ev, &tv), 0);
	/* A byte after the first timeout: a read call, and the timeout
	 * starts again; the third timeout deletes the event. */
	cr_assert_eq(event_base_loop(b, EVLOOP_ONCE), 0);
	cr_assert_eq(r.what[0], EV_TIMEOUT);
	put(sv[1], "r");
	cr_assert_eq(event_base_dispatch(b), 1);
	uint64_t took = now_ms() - t0;
	cr_assert_eq(r.timeouts, 3, "[%s] %d timeouts", be->name, r.timeouts);
	cr_assert_eq(r.bytes, 1);
	for (int i = 0; i < r.calls && i < 16; i++)
		/* Both at once when the timeout falls due while the read
		 * waits for its call (a slow machine, valgrind). */
		cr_assert(r.what[i] != 0 && (r.what[i] & ~(EV_TIMEOUT | EV_READ)) == 0,
		          "[%s] call %d: what 0x%x", be->name, i, r.what[i]);
	cr_assert_geq(took, 30);
	event_base_free(b);
	close(sv[0]);
	close(sv[1]);
}

SIO_BACKEND_TEST(event_compat, add_again_updates_the_timeout)
{
	struct event_base *b = base_on(be->name);
	struct rec r = { 0 };
	struct event ev;
	struct timeval longer = { 20, 0 }, shorter = { 0, 5000 };

	evtimer_assign(&ev, b, rec_cb, &r);
	cr_assert_eq(evtimer_add(&ev, &longer), 0);
	struct timeval now, when;
	gettimeofday(&now, NULL);
	cr_assert(evtimer_pending(&ev, &when));
	cr_assert_geq(when.tv_sec, now.tv_sec + 19);
	cr_assert_eq(evtimer_add(&ev, &shorter), 0);
	cr_assert(evtimer_pending(&ev, &when));
	cr_assert_leq(when.tv_sec, now.tv_sec + 1);
	uint64_t t0 = now_ms();
	cr_assert_eq(event_base_dispatch(b), 1);
	cr_assert_lt(now_ms() - t0, 10000);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.what[0], EV_TIMEOUT);
	/* A NULL timeout keeps the one set: removal is event_remove_timer(). */
	cr_assert_eq(evtimer_add(&ev, &longer), 0);
	cr_assert_eq(event_add(&ev, NULL), 0);
	cr_assert(evtimer_pending(&ev, NULL));
	cr_assert_eq(event_remove_timer(&ev), 0);
	cr_assert_eq(evtimer_pending(&ev, NULL), 0);
	event_base_free(b);
}

SIO_BACKEND_TEST(event_compat, timer_readded_in_its_callback)
{
	struct event_base *b = base_on(be->name);
	struct rec r = { 0 };
	struct event *ev = evtimer_new(b, rec_cb, &r);
	struct timeval tv = { 0, 1000 };

	r.ev = ev;
	r.readd = 4;
	r.tv = &tv;
	cr_assert_eq(evtimer_add(ev, &tv), 0);
	cr_assert_eq(event_base_dispatch(b), 1);
	cr_assert_eq(r.calls, 5);
	event_free(ev);
	event_base_free(b);
}

/* ---- activation ---------------------------------------------------------------- */

SIO_BACKEND_TEST(event_compat, event_active_any_flags)
{
	struct event_base *b = base_on(be->name);
	struct rec r = { 0 };
	struct event ev;

	cr_assert_eq(event_assign(&ev, b, -1, 0, rec_cb, &r), 0);
	event_active(&ev, EV_WRITE | EV_TIMEOUT, 1);
	cr_assert_eq(event_pending(&ev, EV_WRITE | EV_TIMEOUT, NULL), EV_WRITE | EV_TIMEOUT);
	cr_assert_eq(event_base_loop(b, EVLOOP_NONBLOCK), 1);  /* then nothing is left */
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.what[0], EV_WRITE | EV_TIMEOUT);
	/* evuser_trigger: flags 0. */
	evuser_trigger(&ev);
	cr_assert_eq(event_base_loop(b, EVLOOP_ONCE), 0);
	cr_assert_eq(r.calls, 2);
	cr_assert_eq(r.what[1], 0);
	event_base_free(b);
}

/* A callback that deletes (or frees) another event queued in the same round. */
static void
del_other_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;
	rec_cb(fd, what, arg);
	cr_assert_eq(event_del(r->other), 0);
}

SIO_BACKEND_TEST(event_compat, del_of_an_active_event_prevents_its_callback)
{
	struct event_base *b = base_on(be->name);
	int sv[2], sw[2];
	struct rec ra = { 0 }, rb = { 0 };
	struct event a, c;

	/* Queued with event_active: a runs first and deletes c. */
	cr_assert_eq(event_assign(&a, b, -1, 0, del_other_cb, &ra), 0);
	cr_assert_eq(event_assign(&c, b, -1, 0, rec_cb, &rb), 0);
	ra.other = &c;
	event_active(&a, EV_TIMEOUT, 1);
	event_active(&c, EV_TIMEOUT, 1);
	cr_assert_eq(event_base_loop(b, EVLOOP_NONBLOCK), 1);  /* then nothing is left */
	cr_assert_eq(ra.calls, 1);
	cr_assert_eq(rb.calls, 0, "[%s] a deleted active event was called", be->name);

	/* Two fds ready in the same round: whichever runs first deletes the
	 * other, which then never runs. */
	pair(sv);
	pair(sw);
	memset(&ra, 0, sizeof ra);
	memset(&rb, 0, sizeof rb);
	cr_assert_eq(event_assign(&a, b, sv[0], EV_READ | EV_PERSIST, del_other_cb, &ra), 0);
	cr_assert_eq(event_assign(&c, b, sw[0], EV_READ | EV_PERSIST, del_other_cb, &rb), 0);
	ra.other = &c;
	rb.other = &a;
	cr_assert_eq(event_add(&a, NULL), 0);
	cr_assert_eq(event_add(&c, NULL), 0);
	put(sv[1], "1");
	put(sw[1], "2");
	/* Both readable before the loop looks: one round holds both. */
	cr_assert_eq(t_poll_now(sv[0], POLLIN) & POLLIN, POLLIN);
	cr_assert_eq(t_poll_now(sw[0], POLLIN) & POLLIN, POLLIN);
	cr_assert_eq(event_base_loop(b, EVLOOP_ONCE), 0);
	cr_assert_eq(ra.calls + rb.calls, 1, "[%s] a=%d c=%d calls", be->name,
	             ra.calls, rb.calls);
	event_del(&a);
	event_del(&c);
	event_base_free(b);
	close(sv[0]);
	close(sv[1]);
	close(sw[0]);
	close(sw[1]);
}

/* ---- ending the loop ---------------------------------------------------------- */

static void
break_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;
	rec_cb(fd, what, arg);
	cr_assert_eq(event_base_loopbreak(r->base), 0);
}

SIO_BACKEND_TEST(event_compat, loopbreak_after_the_current_callback)
{
	struct event_base *b = base_on(be->name);
	char log[16] = "";
	struct rec ra = { .letter = 'a', .log = log, .base = b };
	struct rec rb = { .letter = 'b', .log = log }, rc = { .letter = 'c', .log = log };
	struct event a, c1, c2;

	cr_assert_eq(event_assign(&a, b, -1, 0, break_cb, &ra), 0);
	cr_assert_eq(event_assign(&c1, b, -1, 0, rec_cb, &rb), 0);
	cr_assert_eq(event_assign(&c2, b, -1, 0, rec_cb, &rc), 0);
	event_active(&a, EV_TIMEOUT, 1);
	event_active(&c1, EV_TIMEOUT, 1);
	event_active(&c2, EV_TIMEOUT, 1);
	cr_assert_eq(event_base_dispatch(b), 0);
	cr_assert_str_eq(log, "a");
	cr_assert_eq(event_base_got_break(b), 1);
	cr_assert_eq(event_base_got_exit(b), 0);
	/* The others are still active: the next run calls them. */
	cr_assert_eq(event_base_dispatch(b), 1);
	cr_assert_str_eq(log, "abc");
	cr_assert_eq(event_base_got_break(b), 0);
	event_base_free(b);
}

static void
count_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(*(int *)arg)++;
}

SIO_BACKEND_TEST(event_compat, loopexit_with_a_timeval)
{
	struct event_base *b = base_on(be->name);
	int ticks = 0;
	struct event *tick = event_new(b, -1, EV_PERSIST, count_cb, &ticks);
	struct timeval every = { 0, 2000 }, after = { 0, 60000 };

	cr_assert_eq(event_add(tick, &every), 0);
	uint64_t t0 = now_ms();
	cr_assert_eq(event_base_loopexit(b, &after), 0);
	cr_assert_eq(event_base_dispatch(b), 0);
	uint64_t took = now_ms() - t0;
	cr_assert_geq(took, 60, "[%s] loopexit(60 ms) ended the loop after %llu ms",
	              be->name, (unsigned long long)took);
	/* At least one tick (how many depends on the scheduler: under
	 * valgrind on a loaded machine the process may wait 60 ms for a CPU;
	 * the re-arming itself is persistent_timeout_rearms's). */
	cr_assert_geq(ticks, 1, "[%s] %d ticks", be->name, ticks);
	cr_assert_eq(event_base_got_exit(b), 1);
	cr_assert_eq(event_base_got_break(b), 0);
	cr_assert(event_pending(tick, EV_TIMEOUT, NULL));
	/* loopexit(NULL) from a callback: the round ends, then the loop. */
	event_free(tick);
	event_base_free(b);
}

static void *
break_later(void *arg)
{
	/* Called from a callback of the running loop: the base is running. */
	cr_assert_eq(event_base_loopbreak(arg), 0);
	return NULL;
}

struct thread_start {
	struct event_base *base;
	pthread_t thread;
	bool started;
};

static void
start_breaker_cb(evutil_socket_t fd, short what, void *arg)
{
	struct thread_start *ts = arg;
	(void)fd;
	(void)what;
	cr_assert_eq(pthread_create(&ts->thread, NULL, break_later, ts->base), 0);
	ts->started = true;
}

SIO_BACKEND_TEST(event_compat, no_exit_on_empty_and_a_break_from_another_thread)
{
	struct event_base *b = base_on(be->name);
	struct thread_start ts = { .base = b };

	/* After the once-callback nothing is added: the loop waits anyway,
	 * until the other thread breaks it. */
	cr_assert_eq(event_base_once(b, -1, EV_TIMEOUT, start_breaker_cb, &ts, NULL), 0);
	cr_assert_eq(event_base_loop(b, EVLOOP_NO_EXIT_ON_EMPTY), 0);
	cr_assert(ts.started);
	cr_assert_eq(event_base_got_break(b), 1);
	pthread_join(ts.thread, NULL);
	event_base_free(b);
}

SIO_BACKEND_TEST(event_compat, once_frees_itself_and_nonblock_once)
{
	struct event_base *b = base_on(be->name);
	int sv[2];
	int fired = 0, fdcalls = 0;
	struct timeval tv = { 0, 3000 };

	pair(sv);
	cr_assert_eq(event_base_once(b, -1, EV_TIMEOUT, count_cb, &fired, &tv), 0);
	cr_assert_eq(event_base_once(b, sv[0], EV_READ, count_cb, &fdcalls, NULL), 0);
	/* NONBLOCK never waits: the fd is not ready, and the timer has run
	 * only if 3 ms passed already (a slow machine, valgrind). */
	cr_assert_eq(event_base_loop(b, EVLOOP_NONBLOCK), 0);
	cr_assert_eq(fdcalls, 0);
	/* ONCE waits for the timer, runs it and returns; the fd is pending. */
	if (fired == 0)
		cr_assert_eq(event_base_loop(b, EVLOOP_ONCE), 0);
	cr_assert_eq(fired, 1);
	cr_assert_eq(fdcalls, 0);
	cr_assert_eq(event_base_get_num_events(b, EVENT_BASE_COUNT_ADDED), 1);
	put(sv[1], "q");
	cr_assert_eq(event_base_dispatch(b), 1);
	cr_assert_eq(fdcalls, 1);
	cr_assert_eq(event_base_get_num_events(b, EVENT_BASE_COUNT_ADDED), 0);
	/* Still pending when the base is freed: freed with it (valgrind). */
	cr_assert_eq(event_base_once(b, sv[0], EV_READ, count_cb, &fdcalls, &tv), 0);
	event_base_free(b);
	cr_assert_eq(fdcalls, 1);
	close(sv[0]);
	close(sv[1]);
}

/* ---- signals ------------------------------------------------------------------------ */

static void
sig_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rec *r = arg;
	rec_cb(fd, what, arg);
	if (r->calls == 1)
		cr_assert_eq(raise(SIGUSR2), 0);  /* once more, from the callback */
	else
		cr_assert_eq(event_del(r->ev), 0);
}

SIO_BACKEND_TEST(event_compat, signal_events)
{
	struct event_base *b = base_on(be->name);
	struct rec r = { 0 };
	struct event *ev = evsignal_new(b, SIGUSR2, sig_cb, &r);

	r.ev = ev;
	cr_assert_not_null(ev);
	cr_assert_eq(evsignal_add(ev, NULL), 0);
	cr_assert_eq(evsignal_pending(ev, NULL), EV_SIGNAL);
	cr_assert_eq(event_get_signal(ev), SIGUSR2);
	cr_assert_eq(raise(SIGUSR2), 0);
	cr_assert_eq(event_base_dispatch(b), 1);
	cr_assert_eq(r.calls, 2);
	cr_assert_eq(r.what[0], EV_SIGNAL);
	cr_assert_eq(r.fd, SIGUSR2);
	event_free(ev);
	event_base_free(b);
}

/* ---- priorities ---------------------------------------------------------------------- */

SIO_BACKEND_TEST(event_compat, priorities_order_a_round)
{
	struct event_base *b = base_on(be->name);
	char log[16] = "";
	struct rec r0 = { .letter = '0', .log = log }, r1 = { .letter = '1', .log = log },
	           r2 = { .letter = '2', .log = log };
	struct event e0, e1, e2;

	cr_assert_eq(event_base_priority_init(b, 3), 0);
	cr_assert_eq(event_base_get_npriorities(b), 3);
	cr_assert_eq(event_assign(&e2, b, -1, 0, rec_cb, &r2), 0);
	cr_assert_eq(event_get_priority(&e2), 1);  /* the middle by default */
	cr_assert_eq(event_priority_set(&e2, 2), 0);
	cr_assert_eq(event_assign(&e1, b, -1, 0, rec_cb, &r1), 0);
	cr_assert_eq(event_assign(&e0, b, -1, 0, rec_cb, &r0), 0);
	cr_assert_eq(event_priority_set(&e0, 0), 0);
	cr_assert_eq(event_priority_set(&e0, 3), -1);
	event_active(&e2, EV_TIMEOUT, 1);
	event_active(&e1, EV_TIMEOUT, 1);
	event_active(&e0, EV_TIMEOUT, 1);
	/* One NONBLOCK pass runs the rounds in priority order. */
	cr_assert_eq(event_base_loop(b, EVLOOP_NONBLOCK), 1);  /* then nothing is left */
	cr_assert_str_eq(log, "012");
	event_base_free(b);
}

/* ---- freeing a base with events pending ---------------------------------------------- */

SIO_BACKEND_TEST(event_compat, free_while_pending)
{
	struct event_base *b = base_on(be->name);
	int sv[2];
	struct rec r = { 0 };
	struct event rd, tm, sg, act;
	struct timeval tv = { 0, 0 };

	pair(sv);
	put(sv[1], "ready");
	cr_assert_eq(event_assign(&rd, b, sv[0], EV_READ | EV_PERSIST, rec_cb, &r), 0);
	evtimer_assign(&tm, b, rec_cb, &r);
	evsignal_assign(&sg, b, SIGUSR1, rec_cb, &r);
	cr_assert_eq(event_assign(&act, b, -1, 0, rec_cb, &r), 0);
	cr_assert_eq(event_add(&rd, &tv), 0);
	cr_assert_eq(event_add(&tm, &tv), 0);
	cr_assert_eq(event_add(&sg, NULL), 0);
	event_active(&act, EV_READ, 1);
	cr_assert_eq(event_base_once(b, -1, EV_TIMEOUT, rec_cb, &r, &tv), 0);
	struct event *heap = event_new(b, sv[0], EV_READ, rec_cb, &r);
	cr_assert_eq(event_add(heap, NULL), 0);
	event_base_free(b);
	cr_assert_eq(r.calls, 0);
	/* The program's events are not pending any more and can be deleted
	 * (or freed) safely. */
	cr_assert_eq(event_pending(&rd, EV_READ | EV_TIMEOUT, NULL), 0);
	cr_assert_eq(event_pending(&sg, EV_SIGNAL, NULL), 0);
	cr_assert_eq(event_pending(&act, EV_READ, NULL), 0);
	cr_assert_eq(event_del(&rd), 0);
	event_free(heap);
	close(sv[0]);
	close(sv[1]);
}

/* ---- bases in threads ------------------------------------------------------------------ */

#define NTHREADS 4
#define NBOUNCES 200

struct pingpong {
	struct event_base *base;
	int sv[2];
	struct event ev[2];
	int count;
	pthread_t thread;
	int rc;
};

static void
bounce_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pingpong *p = arg;
	unsigned char c;
	(void)what;
	ssize_t n = read(fd, &c, 1);
	if (n != 1)
		return;  /* spurious (EAGAIN): level-triggered, called again */
	if (++p->count >= NBOUNCES) {
		event_del(&p->ev[0]);
		event_del(&p->ev[1]);
		return;
	}
	/* Send it back the other way. */
	int other = fd == p->sv[0] ? p->sv[1] : p->sv[0];
	while (write(other, &c, 1) < 0 && errno == EINTR)
		;
}

static void *
run_base(void *arg)
{
	struct pingpong *p = arg;
	p->rc = event_base_dispatch(p->base);
	return NULL;
}

SIO_BACKEND_TEST(event_compat, bases_in_threads)
{
	struct pingpong pp[NTHREADS];

	for (int i = 0; i < NTHREADS; i++) {
		struct pingpong *p = &pp[i];
		memset(p, 0, sizeof *p);
		/* Made here, run in the thread, as memcached's workers. */
		p->base = base_on(be->name);
		pair(p->sv);
		for (int k = 0; k < 2; k++) {
			cr_assert_eq(event_assign(&p->ev[k], p->base, p->sv[k],
			                          EV_READ | EV_PERSIST, bounce_cb, p), 0);
			cr_assert_eq(event_add(&p->ev[k], NULL), 0);
		}
		put(p->sv[0], "!");
	}
	for (int i = 0; i < NTHREADS; i++)
		cr_assert_eq(pthread_create(&pp[i].thread, NULL, run_base, &pp[i]), 0);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(pp[i].thread, NULL);
		cr_assert_eq(pp[i].rc, 1, "[%s] base %d: dispatch returned %d", be->name, i,
		             pp[i].rc);
		cr_assert_eq(pp[i].count, NBOUNCES);
		event_base_free(pp[i].base);
		close(pp[i].sv[0]);
		close(pp[i].sv[1]);
	}
}

/* ---- fork ----------------------------------------------------------------------------- */

SIO_BACKEND_TEST(event_compat, reinit_after_fork)
{
	struct event_base *b = base_on(be->name);
	int sv[2];
	struct rec r = { 0 };
	struct event ev;

	pair(sv);
	cr_assert_eq(event_assign(&ev, b, sv[0], EV_READ, rec_cb, &r), 0);
	cr_assert_eq(event_add(&ev, NULL), 0);
	pid_t pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		/* The child serves the event; the parent only writes. */
		int ok = event_reinit(b) == 0 && event_base_dispatch(b) == 1 && r.calls == 1 &&
		         r.what[0] == EV_READ;
		_exit(ok ? 0 : 1);
	}
	/* The parent keeps its event until the child is done: stopping it
	 * would turn O_ASYNC off on the description the child now serves
	 * (signal-driven backends; see sio_loop_fork(3)). */
	put(sv[1], "f");
	int status;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	cr_assert_eq(w, pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	          "[%s] the child's loop did not serve its event (status 0x%x)",
	          be->name, status);
	event_del(&ev);
	event_base_free(b);
	close(sv[0]);
	close(sv[1]);
}

/* ---- the 1.x globals ------------------------------------------------------------------ */

Test(event_compat, one_x_api)
{
	struct event_base *b = event_init();
	int fired = 0;
	struct event ev;
	struct timeval tv = { 0, 1000 };

	cr_assert_not_null(b);
	cr_assert_not_null(event_get_method());
	evtimer_set(&ev, count_cb, &fired);
	cr_assert_eq(ev.ev_base, b);
	cr_assert_eq(evtimer_add(&ev, &tv), 0);
	cr_assert_eq(event_dispatch(), 1);
	cr_assert_eq(fired, 1);
	cr_assert_eq(event_once(-1, EV_TIMEOUT, count_cb, &fired, &tv), 0);
	cr_assert_eq(event_loop(EVLOOP_ONCE), 0);
	cr_assert_eq(fired, 2);
	cr_assert_eq(timeout_pending(&ev, NULL), 0);
	struct timeval soon = { 0, 2000 };
	cr_assert_eq(event_loopexit(&soon), 0);
	cr_assert_eq(event_loop(EVLOOP_NO_EXIT_ON_EMPTY), 0);
	event_base_free(b);
}

Test(event_compat, evutil_basics)
{
	struct timeval a = { 1, 900000 }, c = { 0, 200000 }, s;
	evutil_timeradd(&a, &c, &s);
	cr_assert(s.tv_sec == 2 && s.tv_usec == 100000);
	evutil_timersub(&s, &c, &s);
	cr_assert(evutil_timercmp(&s, &a, ==));
	cr_assert(evutil_timercmp(&c, &a, <));
	evutil_timerclear(&s);
	cr_assert(!evutil_timerisset(&s));
	cr_assert_eq(evutil_gettimeofday(&s, NULL), 0);
	int sv[2];
	cr_assert_eq(evutil_socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	cr_assert_eq(evutil_make_socket_closeonexec(sv[0]), 0);
	cr_assert_eq(evutil_make_socket_nonblocking(sv[0]), 0);
	cr_assert(t_getfl(sv[0]) & O_NONBLOCK);
	char buf[1];
	cr_assert_eq(read(sv[0], buf, 1), -1);
	cr_assert_eq(EVUTIL_SOCKET_ERROR(), EAGAIN);
	cr_assert_str_eq(evutil_socket_error_to_string(EAGAIN), strerror(EAGAIN));
	cr_assert_eq(evutil_closesocket(sv[0]), 0);
	cr_assert_eq(evutil_closesocket(sv[1]), 0);
	char small[4];
	cr_assert_eq(evutil_snprintf(small, sizeof small, "%d", 12345), 5);
	cr_assert_str_eq(small, "123");
}
