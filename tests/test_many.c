/*
 * test_many.c - many watched fds at once: in seeded pseudo-random rounds a
 * subset of 1,000 socketpairs becomes readable (or writable), and every
 * byte must reach the right callback exactly once, with no callback for an
 * fd that had nothing (beyond the spurious calls the contract allows).
 *
 * The select backend cannot watch an fd >= FD_SETSIZE (1024), so it gets
 * SELECT_PAIRS pairs: 2 fds each, plus stdio, Criterion's own pipes, the
 * loop's self-pipe and a driver socketpair, all below 1024.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#define PAIRS 1000
#define SELECT_PAIRS 450
#define ROUNDS 12
#define SEED UINT64_C(0x5eed5191)
#define MAX_BYTES 3000      /* most bytes written to one pair a round */

static int
pairs_for(const struct sio_test_backend *be)
{
	return t_is(be, "select") ? SELECT_PAIRS : PAIRS;
}

/* ---- read readiness ------------------------------------------------- */

struct many;

struct slot {
	struct many *m;
	int i;
	int sv[2];          /* sv[0] watched, sv[1] written */
	sio_io *io;
	size_t want;        /* bytes written this round */
	size_t got;         /* bytes the callback read this round */
	int calls;          /* callbacks this round */
	int data_calls;     /* ... that read data */
	int wrong_bytes;    /* bytes that do not belong to this round */
};

struct many {
	sio_loop *loop;
	struct slot *slots;
	int n;
	int round;
	size_t total_want;
	size_t total_got;
	int spurious;       /* callbacks that read nothing, all rounds */
	int total_calls;    /* all callbacks, all rounds */
	sio_io *driver;     /* writes a round from inside the loop */
};

/* The byte written to pair i in round r: differs between rounds. */
static unsigned char
marker(int round, int i)
{
	return (unsigned char)(round * 37 + i * 11 + 1);
}

static void
many_read_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct slot *s = arg;
	struct many *m = s->m;
	unsigned char buf[4096];
	size_t got = 0;

	(void)io; (void)revents;
	s->calls++;
	m->total_calls++;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		cr_assert_gt(n, 0, "seed %#llx round %d: read on pair %d: %s",
		             (unsigned long long)SEED, m->round, s->i,
		             n == 0 ? "EOF" : strerror(errno));
		for (ssize_t k = 0; k < n; k++)
			if (buf[k] != marker(m->round, s->i))
				s->wrong_bytes++;
		got += (size_t)n;
	}
	if (got == 0)
		m->spurious++;
	else
		s->data_calls++;
	s->got += got;
	m->total_got += got;
}

static bool
round_read_done(void *arg)
{
	struct many *m = arg;

	return m->total_got >= m->total_want;
}

static void
write_round(struct many *m)
{
	for (int i = 0; i < m->n; i++) {
		struct slot *s = &m->slots[i];
		unsigned char buf[MAX_BYTES];

		if (s->want == 0)
			continue;
		memset(buf, marker(m->round, i), s->want);
		t_write_all(s->sv[1], buf, s->want);
	}
}

/* Writes the round's bytes while the loop runs, then stops itself. */
static void
driver_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct many *m = arg;

	(void)fd; (void)revents;
	write_round(m);
	sio_io_stop(io);
	m->driver = NULL;
}

SIO_BACKEND_TEST_TIMEOUT(many, read_rounds, 120)
{
	struct many m = { 0 };
	uint64_t rng = SEED;
	int drv[2];

	t_raise_nofile();
	m.n = pairs_for(be);
	m.loop = t_loop_new(be->name);
	t_guard(m.loop, 100);
	m.slots = calloc((size_t)m.n, sizeof(*m.slots));
	cr_assert_not_null(m.slots, "calloc");
	t_socketpair(drv);
	for (int i = 0; i < m.n; i++) {
		struct slot *s = &m.slots[i];

		s->m = &m;
		s->i = i;
		t_socketpair(s->sv);
		s->io = sio_io_start(m.loop, s->sv[0], SIO_READ, many_read_cb, s);
		cr_assert_not_null(s->io, "sio_io_start on pair %d (fd %d): %s",
		                   i, s->sv[0], strerror(errno));
	}
	t_run_nowait(m.loop, 2);
	cr_assert_eq(m.total_calls, 0, "%d callbacks before anything was "
	             "written", m.total_calls);

	for (m.round = 1; m.round <= ROUNDS; m.round++) {
		int chosen = 0;

		m.total_want = m.total_got = 0;
		for (int i = 0; i < m.n; i++) {
			struct slot *s = &m.slots[i];

			s->got = 0;
			s->calls = s->data_calls = s->wrong_bytes = 0;
			s->want = 0;
			if (t_rand(&rng) % 4 == 0 || (i == m.n - 1 && chosen == 0)) {
				s->want = 1 + (size_t)(t_rand(&rng) % MAX_BYTES);
				m.total_want += s->want;
				chosen++;
			}
		}
		/* Odd rounds write while the loop is idle (the signals find
		 * it asleep or not running), even rounds from a callback
		 * (the signals arrive while it dispatches). */
		if (m.round % 2 == 1) {
			write_round(&m);
		} else {
			m.driver = sio_io_start(m.loop, drv[0], SIO_WRITE,
			                        driver_cb, &m);
			cr_assert_not_null(m.driver, "sio_io_start(driver): %s",
			                   strerror(errno));
		}
		cr_assert(t_run_until(m.loop, round_read_done, &m, 100000),
		          "seed %#llx round %d: only %zu of %zu bytes to %d pairs "
		          "delivered", (unsigned long long)SEED, m.round,
		          m.total_got, m.total_want, chosen);
		/* Anything more would be a duplicate or a stray. */
		t_run_nowait(m.loop, 2);
		for (int i = 0; i < m.n; i++) {
			struct slot *s = &m.slots[i];

			cr_assert_eq(s->wrong_bytes, 0, "seed %#llx round %d: pair "
			             "%d got %d bytes of another round",
			             (unsigned long long)SEED, m.round, i,
			             s->wrong_bytes);
			cr_assert_eq(s->got, s->want, "seed %#llx round %d: pair %d "
			             "got %zu bytes, %zu were written",
			             (unsigned long long)SEED, m.round, i, s->got,
			             s->want);
			if (s->want == 0)
				cr_assert_eq(s->data_calls, 0, "seed %#llx round %d: "
				             "pair %d had nothing written yet its "
				             "callback read data",
				             (unsigned long long)SEED, m.round, i);
			else
				cr_assert_geq(s->calls, 1, "seed %#llx round %d: "
				              "pair %d was never called",
				              (unsigned long long)SEED, m.round, i);
		}
	}
	cr_assert_geq(t_stats(m.loop).callbacks, (uint64_t)m.total_calls,
	              "stats.callbacks below the %d callbacks counted",
	              m.total_calls);
	cr_log_info("%s: %d pairs, %d rounds, %d callbacks, %d spurious",
	            be->name, m.n, ROUNDS, m.total_calls, m.spurious);
	t_loop_free(m.loop);
	for (int i = 0; i < m.n; i++) {
		close(m.slots[i].sv[0]);
		close(m.slots[i].sv[1]);
	}
	close(drv[0]);
	close(drv[1]);
	free(m.slots);
}

/* ---- write readiness ------------------------------------------------ */

struct wslot {
	struct wmany *m;
	int i;
	int sv[2];          /* sv[0] watched for SIO_WRITE, kept full */
	bool drained;       /* its peer was drained this round */
	int calls;          /* callbacks this round */
	int refills;        /* callbacks that could write */
};

struct wmany {
	struct wslot *slots;
	int n;
	int round;
	int pending;        /* drained pairs whose callback has not refilled */
	int total_calls;
	int spurious;
};

/* Refill the send buffer until EAGAIN, so it is not writable again until
 * the peer is drained. */
static void
many_write_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct wslot *s = arg;
	size_t n;

	(void)io;
	s->calls++;
	s->m->total_calls++;
	cr_assert(revents & SIO_WRITE, "seed %#llx round %d: pair %d called "
	          "with revents %#x", (unsigned long long)SEED, s->m->round,
	          s->i, revents);
	n = t_fill(fd);
	if (n == 0) {
		s->m->spurious++;
		return;
	}
	s->refills++;
	if (s->drained && s->refills == 1)
		s->m->pending--;
}

static bool
round_write_done(void *arg)
{
	return ((struct wmany *)arg)->pending == 0;
}

SIO_BACKEND_TEST_TIMEOUT(many, write_rounds, 120)
{
	struct wmany m = { 0 };
	sio_loop *loop = t_loop_new(be->name);
	uint64_t rng = SEED ^ 0xffff;
	int sndbuf = 4096;

	t_guard(loop, 100);
	t_raise_nofile();
	m.n = pairs_for(be);
	m.slots = calloc((size_t)m.n, sizeof(*m.slots));
	cr_assert_not_null(m.slots, "calloc");
	for (int i = 0; i < m.n; i++) {
		struct wslot *s = &m.slots[i];

		s->m = &m;
		s->i = i;
		t_socketpair(s->sv);
		/* Small buffers: filling 1,000 of them stays cheap. */
		cr_assert_eq(setsockopt(s->sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
		             sizeof(sndbuf)), 0, "SO_SNDBUF: %s", strerror(errno));
		cr_assert_gt(t_fill(s->sv[0]), 0, "could not fill pair %d", i);
		cr_assert_eq(t_poll_now(s->sv[0], POLLOUT) & POLLOUT, 0,
		             "pair %d still writable after filling", i);
		cr_assert_not_null(sio_io_start(loop, s->sv[0], SIO_WRITE,
		                   many_write_cb, s), "sio_io_start on pair %d "
		                   "(fd %d): %s", i, s->sv[0], strerror(errno));
	}
	t_run_nowait(loop, 2);
	for (int i = 0; i < m.n; i++)
		cr_assert_eq(m.slots[i].refills, 0, "pair %d was writable before "
		             "any drain", i);

	for (m.round = 1; m.round <= ROUNDS; m.round++) {
		int chosen = 0;

		m.pending = 0;
		for (int i = 0; i < m.n; i++) {
			struct wslot *s = &m.slots[i];

			s->calls = s->refills = 0;
			s->drained = t_rand(&rng) % 5 == 0 ||
			             (i == m.n - 1 && chosen == 0);
			if (!s->drained)
				continue;
			chosen++;
			m.pending++;
			cr_assert_gt(t_drain(s->sv[1]), 0, "pair %d had nothing to "
			             "drain", i);
		}
		cr_assert(t_run_until(loop, round_write_done, &m, 100000),
		          "seed %#llx round %d: %d of %d drained pairs never got "
		          "SIO_WRITE", (unsigned long long)SEED ^ 0xffff, m.round,
		          m.pending, chosen);
		t_run_nowait(loop, 2);
		for (int i = 0; i < m.n; i++) {
			struct wslot *s = &m.slots[i];

			if (s->drained)
				cr_assert_eq(s->refills, 1, "seed %#llx round %d: "
				             "drained pair %d refilled %d times, want 1",
				             (unsigned long long)SEED ^ 0xffff, m.round,
				             i, s->refills);
			else
				cr_assert_eq(s->refills, 0, "seed %#llx round %d: pair "
				             "%d was not drained yet could write",
				             (unsigned long long)SEED ^ 0xffff, m.round,
				             i);
		}
	}
	cr_assert_geq(t_stats(loop).callbacks, (uint64_t)m.total_calls,
	              "stats.callbacks below the %d callbacks counted",
	              m.total_calls);
	cr_log_info("%s: %d pairs, %d rounds, %d callbacks, %d spurious",
	            be->name, m.n, ROUNDS, m.total_calls, m.spurious);
	t_loop_free(loop);
	for (int i = 0; i < m.n; i++) {
		close(m.slots[i].sv[0]);
		close(m.slots[i].sv[1]);
	}
	free(m.slots);
}
