/*
 * micro_timer - the cost of starting and stopping timers.
 *
 * Three patterns, each with COUNT timers (100,000 by default), median of
 * several rounds:
 *   bulk    start COUNT timers with scattered deadlines (all live at once,
 *           so the heap holds COUNT), then stop them in another scattered
 *           order: the case the target "100,000 start+stop pairs under
 *           50 ms" is about;
 *   pairs   start one timer and stop it at once, COUNT times (the heap
 *           stays small: the cost of the calls themselves);
 *   again   COUNT live timers, each restarted once with sio_timer_again()
 *           (an idle timeout pushed back on every read).
 * Nothing runs the loop: no timer fires.  Not a test: nothing is asserted.
 *
 * Usage: micro_timer [--count=N] [--rounds=N] [--backend=NAME]
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sigio.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
on_timer(sio_timer *t, void *arg)
{
	(void)t; (void)arg;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* A scattered permutation of 0..n-1 and scattered timeouts. */
static uint32_t rng = 12345;
static uint32_t
next_rand(void)
{
	rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
	return rng;
}

static void
shuffle(size_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = next_rand() % i, t = v[i - 1];
		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* One round of one pattern; seconds taken, or -1. */
static double
round_of(sio_loop *loop, const char *pattern, size_t count, sio_timer **t,
         size_t *order, uint64_t *after)
{
	double t0 = now_s();
	if (strcmp(pattern, "bulk") == 0) {
		for (size_t i = 0; i < count; i++)
			if ((t[i] = sio_timer_start(loop, after[i], 0, on_timer, NULL)) == NULL)
				return -1;
		for (size_t i = 0; i < count; i++)
			sio_timer_stop(t[order[i]]);
	} else if (strcmp(pattern, "pairs") == 0) {
		for (size_t i = 0; i < count; i++) {
			sio_timer *x = sio_timer_start(loop, after[i], 0, on_timer, NULL);
			if (x == NULL)
				return -1;
			sio_timer_stop(x);
		}
	} else {                        /* again: set-up and tear-down untimed */
		for (size_t i = 0; i < count; i++)
			if ((t[i] = sio_timer_start(loop, after[i], 0, on_timer, NULL)) == NULL)
				return -1;
		t0 = now_s();
		for (size_t i = 0; i < count; i++)
			sio_timer_again(t[order[i]], after[i] + 1000, 0);
		double dt = now_s() - t0;
		for (size_t i = 0; i < count; i++)
			sio_timer_stop(t[i]);
		return dt;
	}
	return now_s() - t0;
}

int
main(int argc, char **argv)
{
	size_t count = 100000;
	int rounds = 7;
	const char *backend = "poll";   /* timers do not depend on the backend */
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--count=", 8))
			count = (size_t)strtoul(argv[i] + 8, NULL, 10);
		else if (!strncmp(argv[i], "--rounds=", 9))
			rounds = atoi(argv[i] + 9);
		else if (!strncmp(argv[i], "--backend=", 10))
			backend = argv[i] + 10;
		else {
			fprintf(stderr, "usage: micro_timer [--count=N] [--rounds=N] "
			        "[--backend=NAME]\n");
			return 2;
		}
	}
	if (count < 1 || rounds < 1 || rounds > 99) {
		fprintf(stderr, "micro_timer: --count >= 1, --rounds 1..99\n");
		return 2;
	}
	sio_loop *loop = sio_loop_new(backend);
	sio_timer **t = malloc(count * sizeof *t);
	size_t *order = malloc(count * sizeof *order);
	uint64_t *after = malloc(count * sizeof *after);
	if (loop == NULL || t == NULL || order == NULL || after == NULL) {
		fprintf(stderr, "micro_timer: %s\n", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < count; i++)
		after[i] = 1000 + next_rand() % 3600000;   /* 1 s .. 1 h */
	shuffle(order, count);

	static const char *const patterns[] = { "bulk", "pairs", "again" };
	double secs[3][99];
	/* Interleaved rounds; one untimed round first to warm the allocator. */
	for (int k = -1; k < rounds; k++)
		for (int p = 0; p < 3; p++) {
			double s = round_of(loop, patterns[p], count, t, order, after);
			if (s < 0) {
				fprintf(stderr, "micro_timer: %s: %s\n", patterns[p],
				        strerror(errno));
				return 1;
			}
			if (k >= 0)
				secs[p][k] = s;
		}
	printf("# timers: %zu per round, median of %d rounds (backend %s)\n",
	       count, rounds, sio_loop_backend(loop));
	printf("%-8s %12s %14s\n", "pattern", "total ms", "ns each");
	for (int p = 0; p < 3; p++) {
		qsort(secs[p], (size_t)rounds, sizeof(double), cmp_double);
		double s = secs[p][rounds / 2];
		printf("%-8s %12.2f %14.1f\n", patterns[p], s * 1e3,
		       s * 1e9 / (double)count);
	}
	sio_loop_free(loop);
	free(t);
	free(order);
	free(after);
	return 0;
}
