/*
 * micro_stream - the cost per read of a stream with a read timeout against
 * one without.
 *
 * STREAMS socketpairs, each end 0 a sio_stream; a round writes one byte
 * into every end 1 and runs the loop until every stream has read its byte,
 * ITERATIONS times.  So each read is one callback, one read() and one
 * on_read call, and the three modes differ only in what a read costs on
 * top of that:
 *   none      no timeout;
 *   timeout   sio_stream_set_timeouts(s, 10 s, 0): the stream stores the
 *             loop's time on each read; its timer is re-armed once per
 *             10 s, not per read;
 *   again     no stream timeout, but what an application would do without
 *             one: a timer per stream pushed back with sio_timer_again()
 *             in every on_read (a heap operation per read).
 * Each mode has its own loop and streams; the rounds are interleaved and
 * the median is shown, wall-clock and the process's CPU time (which a busy
 * machine disturbs less), with the difference to "none" per read.  The
 * writes of the test's ends are in the time too (the same in every mode).
 * "timer fires" counts the timeouts that passed (a stream closed, an idle
 * timer called): 0 when every stream kept reading.  Not a test: nothing is
 * asserted.
 *
 * Usage: micro_stream [--streams=N] [--iterations=N] [--rounds=N]
 *                     [--backend=NAME]
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sigio.h"

#define MODES 3
#define TIMEOUT_MS 10000
#define MAXROUNDS 99

static const char *const mode_name[MODES] = { "none", "timeout", "again" };

struct conn;

/* The streams of one mode, on a loop of their own. */
struct bench {
	int mode;
	sio_loop *loop;
	struct conn *c;
	size_t n;
	size_t reads;           /* reads since the round began */
	uint64_t timer_fires;   /* must stay 0: the timeouts never pass */
};

struct conn {
	struct bench *b;
	sio_stream *s;
	int peer;               /* the test's end */
	sio_timer *idle;        /* mode "again" */
};

static double
clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void
on_idle(sio_timer *t, void *arg)
{
	struct conn *c = arg;
	(void)t;
	c->b->timer_fires++;
}

static void
on_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct conn *c = arg;
	(void)s; (void)data; (void)len;
	c->b->reads++;
	if (c->idle != NULL)
		sio_timer_again(c->idle, TIMEOUT_MS, 0);
}

static void
on_close(sio_stream *s, int reason, int err, void *arg)
{
	struct conn *c = arg;
	(void)s; (void)err;
	if (reason == SIO_CLOSE_TIMEOUT)
		c->b->timer_fires++;
	c->s = NULL;
}

static int
bench_open(struct bench *b, int mode, const char *backend, size_t n)
{
	b->mode = mode;
	b->n = n;
	b->loop = sio_loop_new(backend);
	b->c = calloc(n, sizeof *b->c);
	if (b->loop == NULL || b->c == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct conn *c = &b->c[i];
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		               0, sv) < 0)
			return -1;
		c->b = b;
		c->peer = sv[1];
		c->s = sio_stream_new(b->loop, sv[0], on_read, on_close, c);
		if (c->s == NULL)
			return -1;
		if (mode == 1 && sio_stream_set_timeouts(c->s, TIMEOUT_MS, 0) < 0)
			return -1;
		if (mode == 2 &&
		    (c->idle = sio_timer_start(b->loop, TIMEOUT_MS, 0, on_idle, c)) == NULL)
			return -1;
	}
	return 0;
}

static void
bench_close(struct bench *b)
{
	for (size_t i = 0; i < b->n; i++) {
		sio_timer_stop(b->c[i].idle);
		sio_stream_close(b->c[i].s);
	}
	/* Let every on_close run before the loop goes. */
	for (int k = 0; k < 100; k++)
		sio_loop_run(b->loop, SIO_RUN_NOWAIT);
	for (size_t i = 0; i < b->n; i++)
		close(b->c[i].peer);
	sio_loop_free(b->loop);
	free(b->c);
}

/* One round: wall seconds taken (CPU seconds in *cpu), or -1. */
static double
bench_round(struct bench *b, size_t iterations, double *cpu)
{
	double c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
	double t0 = clock_s(CLOCK_MONOTONIC);
	for (size_t it = 0; it < iterations; it++) {
		for (size_t i = 0; i < b->n; i++) {
			ssize_t w;
			while ((w = write(b->c[i].peer, "x", 1)) < 0 && errno == EINTR)
				;
			if (w != 1)
				return -1;
		}
		b->reads = 0;
		while (b->reads < b->n)
			if (sio_loop_run(b->loop, SIO_RUN_ONCE) < 0)
				return -1;
	}
	*cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	return clock_s(CLOCK_MONOTONIC) - t0;
}

int
main(int argc, char **argv)
{
	size_t streams = 64, iterations = 2000;
	int rounds = 9;
	const char *backend = "poll";
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--streams=", 10))
			streams = (size_t)strtoul(argv[i] + 10, NULL, 10);
		else if (!strncmp(argv[i], "--iterations=", 13))
			iterations = (size_t)strtoul(argv[i] + 13, NULL, 10);
		else if (!strncmp(argv[i], "--rounds=", 9))
			rounds = atoi(argv[i] + 9);
		else if (!strncmp(argv[i], "--backend=", 10))
			backend = argv[i] + 10;
		else {
			fprintf(stderr, "usage: micro_stream [--streams=N] "
			        "[--iterations=N] [--rounds=N] [--backend=NAME]\n");
			return 2;
		}
	}
	if (streams < 1 || streams > 10000 || iterations < 1 || rounds < 1 ||
	    rounds > MAXROUNDS) {
		fprintf(stderr, "micro_stream: --streams 1..10000, --iterations >= 1, "
		        "--rounds 1..%d\n", MAXROUNDS);
		return 2;
	}
	struct bench b[MODES];
	memset(b, 0, sizeof b);
	for (int m = 0; m < MODES; m++)
		if (bench_open(&b[m], m, backend, streams) < 0) {
			fprintf(stderr, "micro_stream: %s: %s\n", mode_name[m],
			        strerror(errno));
			return 1;
		}
	double secs[MODES][MAXROUNDS], cpus[MODES][MAXROUNDS];
	/* Interleaved rounds; one untimed round first to warm up. */
	for (int k = -1; k < rounds; k++)
		for (int m = 0; m < MODES; m++) {
			double cpu;
			double s = bench_round(&b[m], iterations, &cpu);
			if (s < 0) {
				fprintf(stderr, "micro_stream: %s: %s\n", mode_name[m],
				        strerror(errno));
				return 1;
			}
			if (k >= 0) {
				secs[m][k] = s;
				cpus[m][k] = cpu;
			}
		}
	double reads = (double)streams * (double)iterations;
	printf("# stream reads: %zu streams x %zu iterations per round, median of "
	       "%d rounds (backend %s)\n", streams, iterations, rounds,
	       sio_loop_backend(b[0].loop));
	printf("%-8s %10s %12s %12s %12s %12s %12s\n", "mode", "total ms",
	       "wall ns/read", "vs none", "cpu ns/read", "vs none", "timer fires");
	double base = 0, cbase = 0;
	for (int m = 0; m < MODES; m++) {
		qsort(secs[m], (size_t)rounds, sizeof(double), cmp_double);
		qsort(cpus[m], (size_t)rounds, sizeof(double), cmp_double);
		double ns = secs[m][rounds / 2] * 1e9 / reads;
		double cns = cpus[m][rounds / 2] * 1e9 / reads;
		if (m == 0) {
			base = ns;
			cbase = cns;
		}
		printf("%-8s %10.2f %12.1f %+12.1f %12.1f %+12.1f %12llu\n",
		       mode_name[m], secs[m][rounds / 2] * 1e3, ns, ns - base, cns,
		       cns - cbase, (unsigned long long)b[m].timer_fires);
	}
	for (int m = 0; m < MODES; m++)
		bench_close(&b[m]);
	return 0;
}
