/*
 * test_hook.c - prepare, check and idle hooks (their place in an
 * iteration, their order, stopping them from any callback, idle hooks and
 * the sleep), and embedding a loop in another one: sio_loop_fd() readable
 * when the loop, not running, has work (an fd, a signal, an async send, a
 * fd polled directly), sio_loop_timeout() against timers and against
 * watchers started since the last run.
 *
 * Sleeps are counted with sio_loop_stats(), never timed.  A sleep that
 * must happen but end at once is made by a prepare hook that writes to a
 * watched socket: the loop decides to sleep before it learns of the data.
 * Waits on sio_loop_fd() are poll()s bounded by the guard's time, never
 * sleeps.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef HAVE_SYS_EPOLL_H
#include <fcntl.h>
#include <sys/epoll.h>
#endif

#include "testutil.h"

/* How long a poll() on sio_loop_fd() may wait for what must come: a
 * bound, never a wait that must pass. */
#define WAIT_MS 10000

/* ---- a log of calls --------------------------------------------------- */

struct calls {
	char log[256];
	size_t n;
};

static void
note(struct calls *c, char what)
{
	if (c->n + 1 < sizeof c->log)
		c->log[c->n++] = what;
	c->log[c->n] = '\0';
}

/* A hook that logs the letter it was given. */
struct tagged {
	struct calls *calls;
	char tag;
	sio_hook *h;
	int count;
	int stop_after;         /* stop itself after this many calls (0: no) */
	sio_hook *victim;       /* stop this hook on the first call */
};

static void
tagged_cb(sio_hook *h, void *arg)
{
	struct tagged *t = arg;
	cr_assert_eq(h, t->h, "a hook was called with another's handle");
	t->count++;
	if (t->calls != NULL)
		note(t->calls, t->tag);
	if (t->victim != NULL) {
		sio_hook_stop(t->victim);
		t->victim = NULL;
	}
	if (t->stop_after > 0 && t->count == t->stop_after) {
		sio_hook_stop(h);
		t->h = NULL;
	}
}

static sio_hook *
start_tagged(sio_loop *loop, char kind, struct tagged *t)
{
	sio_hook *h = kind == 'p' ? sio_prepare_start(loop, tagged_cb, t) :
	              kind == 'c' ? sio_check_start(loop, tagged_cb, t) :
	              sio_idle_start(loop, tagged_cb, t);
	cr_assert_not_null(h, "sio_%s_start: %s", kind == 'p' ? "prepare" :
	                   kind == 'c' ? "check" : "idle", strerror(errno));
	t->h = h;
	return h;
}

/* The loop of the test running: callbacks that need it and have no field
 * for it read it here. */
static sio_loop *the_loop;

/* A read watcher that logs 'R', drains the socket and may stop the loop. */
struct reader {
	struct calls *calls;
	int count;
	int stop;
};

static void
reader_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct reader *r = arg;
	(void)io;
	(void)revents;
	r->count++;
	if (r->calls != NULL)
		note(r->calls, 'R');
	(void)t_drain(fd);
	if (r->stop)
		sio_loop_stop(the_loop);
}

/* A prepare hook that writes one byte to `fd` on its first call: the loop
 * has decided nothing is ready, and will sleep, but the data ends the
 * sleep at once. */
struct poker {
	int fd;
	int done;
	struct calls *calls;
};

static void
poke_cb(sio_hook *h, void *arg)
{
	struct poker *p = arg;
	(void)h;
	if (p->calls != NULL)
		note(p->calls, 'P');
	if (!p->done) {
		t_write_all(p->fd, "x", 1);
		p->done = 1;
	}
}

static uint64_t
sleeps(sio_loop *loop)
{
	return t_stats(loop).sleeps;
}

/* Runs SIO_RUN_NOWAIT until the loop has nothing left to look at (its
 * recheck set empty: sio_loop_timeout() -1), at most a few times: more
 * would be an outer loop spinning. */
static void
settle(sio_loop *loop)
{
	for (int i = 0; i < 4; i++) {
		t_run_nowait(loop, 1);
		if (sio_loop_timeout(loop) == -1)
			return;
	}
	cr_assert_fail("sio_loop_timeout() still %d after 4 runs: an outer loop "
	               "would spin", sio_loop_timeout(loop));
}

/* sio_loop_fd(), or -1 where the backend has none (and then it must say
 * ENOSYS, as documented for poll and select). */
static int
loop_fd_or_skip(sio_loop *loop, const struct sio_test_backend *be)
{
	errno = 0;
	int fd = sio_loop_fd(loop);
	if (t_signal_driven(be)) {
		cr_assert_geq(fd, 0, "%s: sio_loop_fd: %s", be->name,
		              strerror(errno));
		cr_assert_eq(sio_loop_fd(loop), fd, "sio_loop_fd() changed");
	} else {
		cr_assert_eq(fd, -1, "%s: sio_loop_fd() gave %d", be->name, fd);
		cr_assert_eq(errno, ENOSYS, "%s: errno %d, want ENOSYS", be->name,
		             errno);
	}
	return fd;
}

/* poll() `fd` for reading for up to `ms`; true if it is readable. */
static bool
readable_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n;
	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	cr_assert_geq(n, 0, "poll: %s", strerror(errno));
	return n > 0 && (p.revents & POLLIN);
}

/* ---- errors --------------------------------------------------------------- */

static void
nop_cb(sio_hook *h, void *arg)
{
	(void)h;
	(void)arg;
}

SIO_BACKEND_TEST(hook, errors)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	sio_hook *(*starts[])(sio_loop *, sio_hook_cb, void *) = {
		sio_prepare_start, sio_check_start, sio_idle_start };
	for (size_t i = 0; i < 3; i++) {
		errno = 0;
		cr_assert_null(starts[i](NULL, nop_cb, NULL), "NULL loop accepted");
		cr_assert_eq(errno, EINVAL, "NULL loop: errno %d", errno);
		errno = 0;
		cr_assert_null(starts[i](loop, NULL, NULL), "NULL cb accepted");
		cr_assert_eq(errno, EINVAL, "NULL cb: errno %d", errno);
	}
	sio_hook_stop(NULL);
	errno = 0;
	cr_assert_eq(sio_loop_fd(NULL), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(sio_loop_timeout(NULL), -1);
	cr_assert_eq(errno, EINVAL);
	t_loop_free(loop);
}

/* ---- place in the iteration ---------------------------------------------- */

/* prepare, then the sleep, then check, then the fd's callback. */
SIO_BACKEND_TEST(hook, order_around_sleep)
{
	struct t_fixture f;
	struct calls calls = { .n = 0 };
	struct reader r = { .calls = &calls };
	sio_loop *loop = the_loop = t_fixture_open(&f, be);
	t_fixture_watch(&f, SIO_READ, reader_cb, &r);
	settle(loop);

	struct poker p = { .fd = f.sv[1], .calls = &calls };
	struct tagged c = { .calls = &calls, .tag = 'C' };
	sio_hook *ph = sio_prepare_start(loop, poke_cb, &p);
	cr_assert_not_null(ph);
	start_tagged(loop, 'c', &c);
	uint64_t before = sleeps(loop);
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_str_eq(calls.log, "PCR", "calls: %s, want PCR", calls.log);
	cr_assert_eq(sleeps(loop), before + 1, "the loop did not go to sleep "
	             "between prepare and check");
	sio_hook_stop(ph);
	sio_hook_stop(c.h);
	t_fixture_close(&f);
}

/* idle after the fd callbacks, and timers before the check hooks' sleep. */
SIO_BACKEND_TEST(hook, order_with_idle)
{
	struct t_fixture f;
	struct calls calls = { .n = 0 };
	struct reader r = { .calls = &calls };
	sio_loop *loop = the_loop = t_fixture_open(&f, be);
	t_fixture_watch(&f, SIO_READ, reader_cb, &r);
	settle(loop);

	struct poker p = { .fd = f.sv[1], .calls = &calls };
	struct tagged c = { .calls = &calls, .tag = 'C' };
	struct tagged i = { .calls = &calls, .tag = 'I', .stop_after = 1 };
	sio_hook *ph = sio_prepare_start(loop, poke_cb, &p);
	start_tagged(loop, 'c', &c);
	start_tagged(loop, 'i', &i);
	uint64_t before = sleeps(loop);
	/* The idle hook ends the ONCE run; the data may be seen by this
	 * check or the next. */
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(sleeps(loop), before, "slept with an idle hook started");
	cr_assert(strcmp(calls.log, "PCRI") == 0 || strcmp(calls.log, "PCI") == 0,
	          "calls: %s, want PCRI or PCI", calls.log);
	sio_hook_stop(ph);
	sio_hook_stop(c.h);
	t_fixture_close(&f);
}

/* Start order within a kind, whatever the order of the kinds' starts. */
SIO_BACKEND_TEST(hook, start_order)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	struct calls calls = { .n = 0 };
	struct tagged t[9];
	const char kinds[] = "pcipcipci";
	for (int k = 0; k < 9; k++) {
		t[k] = (struct tagged){ .calls = &calls, .tag = (char)('1' + k) };
		start_tagged(loop, kinds[k], &t[k]);
	}
	t_run_nowait(loop, 1);
	/* prepare 1 4 7, check 2 5 8, idle 3 6 9 */
	cr_assert_str_eq(calls.log, "147258369", "calls: %s", calls.log);
	for (int k = 0; k < 9; k++)
		sio_hook_stop(t[k].h);
	t_run_nowait(loop, 1);
	cr_assert_str_eq(calls.log, "147258369", "stopped hooks ran: %s",
	                 calls.log);
	t_loop_free(loop);
}

/* ---- stopping ---------------------------------------------------------------- */

SIO_BACKEND_TEST(hook, stop_self)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	struct tagged t[3];
	const char kinds[] = "pci";
	for (int k = 0; k < 3; k++) {
		t[k] = (struct tagged){ .stop_after = k + 1 };
		start_tagged(loop, kinds[k], &t[k]);
	}
	t_run_nowait(loop, 5);
	for (int k = 0; k < 3; k++)
		cr_assert_eq(t[k].count, k + 1, "hook %c: %d calls, want %d",
		             kinds[k], t[k].count, k + 1);
	t_loop_free(loop);
}

/* Each hook of a kind stops the next one before it is called, and the
 * hooks of one kind stop those of the next phase. */
SIO_BACKEND_TEST(hook, stop_each_other)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	struct tagged a = { 0 }, b = { 0 }, c = { 0 };
	struct tagged ck = { 0 }, id = { 0 }, id2 = { 0 };
	start_tagged(loop, 'p', &a);
	start_tagged(loop, 'p', &b);
	start_tagged(loop, 'p', &c);
	start_tagged(loop, 'c', &ck);
	start_tagged(loop, 'i', &id);
	start_tagged(loop, 'i', &id2);
	a.victim = b.h;         /* the very next one */
	c.victim = a.h;         /* one already called */
	ck.victim = id.h;       /* another kind, later in the iteration */
	id2.victim = id2.h;     /* itself, through the victim path */
	t_run_nowait(loop, 1);
	cr_assert_eq(a.count, 1);
	cr_assert_eq(b.count, 0, "a stopped hook ran");
	cr_assert_eq(c.count, 1);
	cr_assert_eq(ck.count, 1);
	cr_assert_eq(id.count, 0, "an idle hook stopped by a check hook ran");
	cr_assert_eq(id2.count, 1);
	t_run_nowait(loop, 1);
	cr_assert_eq(a.count, 1, "a hook stopped by another ran again");
	cr_assert_eq(c.count, 2);
	cr_assert_eq(ck.count, 2);
	cr_assert_eq(id2.count, 1);
	sio_hook_stop(c.h);
	sio_hook_stop(ck.h);
	t_loop_free(loop);
}

/* A hook started by a hook waits for the next iteration. */
static void
starter_cb(sio_hook *h, void *arg)
{
	struct tagged *t = arg;
	(void)h;
	if (t->count++ == 0)
		start_tagged(the_loop, 'p', t + 1);
}

SIO_BACKEND_TEST(hook, started_by_a_hook)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	struct tagged t[2] = { { 0 }, { 0 } };
	sio_hook *h = sio_prepare_start(loop, starter_cb, &t[0]);
	cr_assert_not_null(h);
	t_run_nowait(loop, 1);
	cr_assert_eq(t[0].count, 1);
	cr_assert_eq(t[1].count, 0, "a hook started by a hook ran at once");
	t_run_nowait(loop, 1);
	cr_assert_eq(t[0].count, 2);
	cr_assert_eq(t[1].count, 1);
	sio_hook_stop(h);
	t_loop_free(loop);    /* t[1] still started: the loop frees it */
}

/* sio_loop_free() frees hooks still started (ASan and valgrind see it). */
SIO_BACKEND_TEST(hook, freed_with_loop)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	for (int k = 0; k < 3; k++) {
		cr_assert_not_null(sio_prepare_start(loop, nop_cb, NULL));
		cr_assert_not_null(sio_check_start(loop, nop_cb, NULL));
		cr_assert_not_null(sio_idle_start(loop, nop_cb, NULL));
	}
	t_run_nowait(loop, 1);
	t_loop_free(loop);
}

/* ---- what keeps a run going, and the sleep --------------------------------- */

SIO_BACKEND_TEST(hook, prepare_check_not_active)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	struct tagged p = { 0 }, c = { 0 };
	start_tagged(loop, 'p', &p);
	start_tagged(loop, 'c', &c);
	t_run(loop, SIO_RUN_DEFAULT);   /* nothing active: returns at once */
	cr_assert_eq(p.count, 0);
	cr_assert_eq(c.count, 0);
	struct tagged i = { .stop_after = 5 };
	start_tagged(loop, 'i', &i);
	t_run(loop, SIO_RUN_DEFAULT);   /* until the idle hook stops */
	cr_assert_eq(i.count, 5);
	cr_assert_eq(p.count, 5);
	cr_assert_eq(c.count, 5);
	sio_hook_stop(p.h);
	sio_hook_stop(c.h);
	t_loop_free(loop);
}

/* An idle hook keeps the loop from sleeping; once it stops itself, the
 * loop sleeps (woken at once by the byte its last call arranged). */
struct idler {
	int count;
	uint64_t sleeps_at_last;
	struct poker *poker;
};

static void
idler_cb(sio_hook *h, void *arg)
{
	struct idler *d = arg;
	sio_loop *loop = the_loop;
	if (++d->count < 100)
		return;
	d->sleeps_at_last = t_stats(loop).sleeps;
	sio_hook_stop(h);
	cr_assert_not_null(sio_prepare_start(loop, poke_cb, d->poker));
}

SIO_BACKEND_TEST(hook, idle_prevents_sleep)
{
	struct t_fixture f;
	struct reader r = { .stop = 1 };
	sio_loop *loop = the_loop = t_fixture_open(&f, be);
	t_fixture_watch(&f, SIO_READ, reader_cb, &r);
	settle(loop);
	struct poker p = { .fd = f.sv[1] };
	struct idler d = { .poker = &p };
	cr_assert_not_null(sio_idle_start(loop, idler_cb, &d));
	uint64_t before = sleeps(loop);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(d.count, 100);
	cr_assert_eq(d.sleeps_at_last, before, "slept %llu times with an idle "
	             "hook", (unsigned long long)(d.sleeps_at_last - before));
	cr_assert_eq(sleeps(loop), before + 1, "no sleep after the idle hook "
	             "stopped");
	cr_assert_eq(r.count, 1);
	t_fixture_close(&f);      /* frees the prepare hook with the loop */
}

SIO_BACKEND_TEST(hook, idle_ends_once)
{
	struct t_fixture f;
	struct reader r = { 0 };
	sio_loop *loop = the_loop = t_fixture_open(&f, be);
	t_fixture_watch(&f, SIO_READ, reader_cb, &r);
	settle(loop);
	struct tagged i = { 0 };
	start_tagged(loop, 'i', &i);
	cr_assert_eq(sio_loop_timeout(loop), 0, "an idle hook: timeout not 0");
	t_run(loop, SIO_RUN_ONCE);
	cr_assert_eq(i.count, 1);
	sio_hook_stop(i.h);
	cr_assert_eq(sio_loop_timeout(loop), -1);
	t_fixture_close(&f);
}

/* ---- sio_loop_fd() ----------------------------------------------------------- */

SIO_BACKEND_TEST(embed, fd_ready)
{
	struct t_fixture f;
	struct reader r = { 0 };
	sio_loop *loop = the_loop = t_fixture_open(&f, be);
	t_fixture_watch(&f, SIO_READ, reader_cb, &r);
	int lfd = loop_fd_or_skip(loop, be);
	settle(loop);
	if (lfd < 0) {
		t_fixture_close(&f);
		return;
	}
	cr_assert_eq(t_poll_now(lfd, POLLIN), 0, "readable with nothing to do");
	t_write_all(f.sv[1], "abc", 3);
	cr_assert(readable_within(lfd, WAIT_MS), "data came; sio_loop_fd() "
	          "stayed unreadable");
	t_run_nowait(loop, 1);
	cr_assert_eq(r.count, 1);
	settle(loop);
	cr_assert_eq(t_poll_now(lfd, POLLIN), 0, "still readable after the "
	             "run: an outer loop would spin");
	t_write_all(f.sv[1], "d", 1);   /* again: still an edge to be seen */
	cr_assert(readable_within(lfd, WAIT_MS));
	t_run_nowait(loop, 1);
	cr_assert_eq(r.count, 2);
	t_fixture_close(&f);
}

static void
sig_cb(sio_signal *s, int signo, unsigned count, void *arg)
{
	(void)s;
	(void)signo;
	(void)count;
	(*(int *)arg)++;
}

SIO_BACKEND_TEST(embed, fd_signal)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	int got = 0;
	sio_signal *s = sio_signal_start(loop, SIGUSR1, sig_cb, &got);
	cr_assert_not_null(s, "sio_signal_start: %s", strerror(errno));
	int lfd = loop_fd_or_skip(loop, be);
	settle(loop);
	if (lfd >= 0)
		cr_assert_eq(t_poll_now(lfd, POLLIN), 0);
	raise(SIGUSR1);
	if (lfd >= 0)
		cr_assert(readable_within(lfd, WAIT_MS), "a watched signal came; "
		          "sio_loop_fd() stayed unreadable");
	t_run_nowait(loop, 1);
	cr_assert_eq(got, 1);
	if (lfd >= 0) {
		settle(loop);
		cr_assert_eq(t_poll_now(lfd, POLLIN), 0);
	}
	sio_signal_stop(s);
	t_loop_free(loop);
}

static void
async_cb(sio_async *a, void *arg)
{
	(void)a;
	(*(int *)arg)++;
}

SIO_BACKEND_TEST(embed, fd_async)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	int got = 0;
	sio_async *a = sio_async_new(loop, async_cb, &got);
	cr_assert_not_null(a);
	int lfd = loop_fd_or_skip(loop, be);
	settle(loop);
	if (lfd >= 0)
		cr_assert_eq(t_poll_now(lfd, POLLIN), 0);
	cr_assert_eq(sio_async_send(a), 0);
	cr_assert_eq(sio_loop_timeout(loop), 0, "a send is pending");
	if (lfd >= 0)
		cr_assert(readable_within(lfd, WAIT_MS), "an async send; "
		          "sio_loop_fd() stayed unreadable");
	t_run_nowait(loop, 1);
	cr_assert_eq(got, 1);
	settle(loop);
	if (lfd >= 0)
		cr_assert_eq(t_poll_now(lfd, POLLIN), 0);
	sio_async_free(a);
	t_loop_free(loop);
}

/* A write watcher on an AF_UNIX stream is polled directly (no reliable
 * signal says the buffer drained): the epoll set must hold it. */
static void
writer_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)io;
	(void)fd;
	if (revents & SIO_WRITE)
		(*(int *)arg)++;
	sio_io_set(io, 0);
}

SIO_BACKEND_TEST(embed, fd_polled_directly)
{
	struct t_fixture f;
	int wrote = 0;
	sio_loop *loop = the_loop = t_fixture_open(&f, be);
	(void)t_fill(f.sv[0]);
	t_fixture_watch(&f, SIO_WRITE, writer_cb, &wrote);
	int lfd = loop_fd_or_skip(loop, be);
	if (lfd < 0) {
		t_fixture_close(&f);
		return;
	}
	settle(loop);
	cr_assert_eq(wrote, 0);
	cr_assert_eq(t_poll_now(lfd, POLLIN), 0);
	(void)t_drain(f.sv[1]);
	cr_assert(readable_within(lfd, WAIT_MS), "room to write; sio_loop_fd() "
	          "stayed unreadable");
	t_run_nowait(loop, 1);
	cr_assert_eq(wrote, 1);
	t_fixture_close(&f);
}

/* ---- watchers started since the last run ------------------------------------ */

/* Data that came before the watcher raised no signal: the outer loop must
 * still not sleep for ever. */
SIO_BACKEND_TEST(embed, watcher_started_after_run)
{
	struct t_fixture f;
	struct reader r = { 0 };
	sio_loop *loop = the_loop = t_fixture_open(&f, be);
	int lfd = loop_fd_or_skip(loop, be);
	settle(loop);
	t_write_all(f.sv[1], "early", 5);
	t_fixture_watch(&f, SIO_READ, reader_cb, &r);
	if (lfd >= 0) {
		bool woken = sio_loop_timeout(loop) == 0 ||
		             t_poll_now(lfd, POLLIN) != 0;
		cr_assert(woken, "a new watcher's fd is ready: timeout %d and "
		          "sio_loop_fd() unreadable", sio_loop_timeout(loop));
	}
	t_run_nowait(loop, 1);
	cr_assert_eq(r.count, 1);
	settle(loop);
	/* And one started now, with data coming after its start. */
	int sv2[2];
	t_socketpair(sv2);
	struct reader r2 = { 0 };
	sio_io *io2 = sio_io_start(loop, sv2[0], SIO_READ, reader_cb, &r2);
	cr_assert_not_null(io2);
	settle(loop);
	t_write_all(sv2[1], "late", 4);
	if (lfd >= 0)
		cr_assert(readable_within(lfd, WAIT_MS));
	t_run_nowait(loop, 1);
	cr_assert_eq(r2.count, 1);
	sio_io_stop(io2);
	close(sv2[0]);
	close(sv2[1]);
	t_fixture_close(&f);
}

/* ---- sio_loop_timeout() and timers ---------------------------------------- */

static void
timer_cb(sio_timer *t, void *arg)
{
	(void)t;
	(*(int *)arg)++;
}

SIO_BACKEND_TEST(embed, timeout_timers)
{
	sio_loop *loop = the_loop = t_loop_new(be->name);
	cr_assert_eq(sio_loop_timeout(loop), -1, "nothing at all: not -1");
	int fired = 0;
	sio_timer *due = sio_timer_start(loop, 0, 0, timer_cb, &fired);
	cr_assert_not_null(due);
	cr_assert_eq(sio_loop_timeout(loop), 0, "a due timer: not 0");
	sio_timer_stop(due);
	sio_timer *later = sio_timer_start(loop, 10000, 0, timer_cb, &fired);
	cr_assert_not_null(later);
	int ms = sio_loop_timeout(loop);
	cr_assert(ms > 5000 && ms <= 10000, "timer in 10 s: timeout %d", ms);
	sio_timer_stop(later);
	cr_assert_eq(sio_loop_timeout(loop), -1);

	/* The outer loop's way: sleep what it says, then run. */
	sio_timer *soon = sio_timer_start(loop, 20, 0, timer_cb, &fired);
	cr_assert_not_null(soon);
	int rounds = 0;
	while (fired == 0 && rounds++ < 100) {
		int t = sio_loop_timeout(loop);
		cr_assert(t >= 0 && t <= 20, "timeout %d", t);
		while (poll(NULL, 0, t) < 0 && errno == EINTR)
			;
		t_run_nowait(loop, 1);
	}
	cr_assert_eq(fired, 1, "the timer did not fire in %d rounds", rounds);
	cr_assert_eq(sio_loop_timeout(loop), -1);
	sio_timer_stop(soon);
	t_loop_free(loop);
}

#ifdef HAVE_SYS_EPOLL_H
/* ---- the other way round: another loop's fd watched by a sio_io ----------- */

/* An epoll fd (what uv_backend_fd() gives) holding a pipe: it cannot
 * signal, so the signal-driven backends must poll it directly; its
 * callback runs the other "loop" without blocking. */
struct inner {
	int efd, rd;
	int served;
};

static void
inner_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct inner *in = arg;
	struct epoll_event ev;
	(void)io;
	(void)revents;
	int n;
	while ((n = epoll_wait(fd, &ev, 1, 0)) < 0 && errno == EINTR)
		;
	if (n == 1 && ev.data.fd == in->rd && t_drain(in->rd) > 0)
		in->served++;
}

static bool
inner_served(void *arg)
{
	return ((struct inner *)arg)->served > 0;
}

SIO_BACKEND_TEST(embed, other_loops_epoll_fd)
{
	sio_loop *loop = t_loop_new(be->name);
	int p[2];
	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
	struct inner in = { .efd = epoll_create1(EPOLL_CLOEXEC), .rd = p[0] };
	cr_assert_geq(in.efd, 0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = p[0] };
	cr_assert_eq(epoll_ctl(in.efd, EPOLL_CTL_ADD, p[0], &ev), 0);
	sio_io *io = sio_io_start(loop, in.efd, SIO_READ, inner_cb, &in);
	cr_assert_not_null(io, "sio_io_start(epoll fd): %s", strerror(errno));
	t_run_nowait(loop, 2);
	cr_assert_eq(in.served, 0, "served with nothing written");
	t_write_all(p[1], "x", 1);
	cr_assert(t_run_until(loop, inner_served, &in, 100),
	          "the inner loop's fd became ready and sigio never said so");
	t_write_all(p[1], "y", 1);     /* and again: not a one-off */
	in.served = 0;
	cr_assert(t_run_until(loop, inner_served, &in, 100));
	sio_io_stop(io);
	close(in.efd);
	close(p[0]);
	close(p[1]);
	t_loop_free(loop);
}
#endif /* HAVE_SYS_EPOLL_H */
