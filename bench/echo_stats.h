/*
 * echo_stats.h - what the two sigio echo servers (echo_sigio, echo_stream)
 * print: the loop's counters at exit, over the window between loadgen's
 * two marks (SIGUSR1 at the start and the end of its measured window)
 * when it sent them, so that bench/run's stats= match its requests=.
 */
#ifndef ECHO_STATS_H
#define ECHO_STATS_H

#include <signal.h>
#include <stdio.h>

#include "sigio.h"

static struct sio_stats echo_mark0, echo_window;
static int echo_marks;

static inline void
echo_stats_sub(struct sio_stats *d, const struct sio_stats *a,
               const struct sio_stats *b)
{
	d->signals = a->signals - b->signals;
	d->wakeups = a->wakeups - b->wakeups;
	d->rescans = a->rescans - b->rescans;
	d->pipe_overflows = a->pipe_overflows - b->pipe_overflows;
	d->queue_overflows = a->queue_overflows - b->queue_overflows;
	d->callbacks = a->callbacks - b->callbacks;
	d->iterations = a->iterations - b->iterations;
	d->sleeps = a->sleeps - b->sleeps;
}

/* A signal watcher's callback for SIGUSR1; `arg` is the loop. */
static void
echo_on_mark(sio_signal *s, int signo, unsigned count, void *arg)
{
	struct sio_stats now;
	(void)s; (void)signo; (void)count;
	sio_loop_stats(arg, &now);
	if (echo_marks++ == 0)
		echo_mark0 = now;
	else if (echo_marks == 2)
		echo_stats_sub(&echo_window, &now, &echo_mark0);
}

/* "NAME BACKEND: signals=... sleeps=..." on stderr. */
static inline void
echo_stats_print(const char *name, const sio_loop *loop)
{
	struct sio_stats st;
	sio_loop_stats(loop, &st);
	if (echo_marks >= 2)
		st = echo_window;
	fprintf(stderr, "%s %s: signals=%llu wakeups=%llu rescans=%llu "
	        "pipe_overflows=%llu queue_overflows=%llu callbacks=%llu "
	        "iterations=%llu sleeps=%llu\n", name, sio_loop_backend(loop),
	        (unsigned long long)st.signals, (unsigned long long)st.wakeups,
	        (unsigned long long)st.rescans,
	        (unsigned long long)st.pipe_overflows,
	        (unsigned long long)st.queue_overflows,
	        (unsigned long long)st.callbacks,
	        (unsigned long long)st.iterations, (unsigned long long)st.sleeps);
}

#endif /* ECHO_STATS_H */
