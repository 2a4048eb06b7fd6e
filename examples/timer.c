/*
 * timer.c - a repeating timer and a one-shot one: tick every 100 ms, stop
 * after 350 ms.
 *
 *     $ ./examples/timer
 *     tick 1 at +100 ms
 *     tick 2 at +200 ms
 *     tick 3 at +300 ms
 *     done at +350 ms
 */
#include <stdio.h>

#include <sigio.h>

static uint64_t start;
static int ticks;

static void
on_tick(sio_timer *t, void *arg)
{
	sio_loop *loop = arg;

	printf("tick %d at +%llu ms\n", ++ticks,
	       (unsigned long long)(sio_loop_now(loop) - start));
}

static void
on_done(sio_timer *t, void *arg)
{
	sio_loop *loop = arg;

	printf("done at +%llu ms\n", (unsigned long long)(sio_loop_now(loop) - start));
	sio_loop_stop(loop);    /* the repeating timer would keep it running */
}

int
main(void)
{
	sio_loop *loop = sio_loop_new(NULL);
	sio_timer *tick, *done;

	if (loop == NULL)
		return perror("timer"), 1;
	start = sio_loop_now(loop);
	tick = sio_timer_start(loop, 100, 100, on_tick, loop);
	done = sio_timer_start(loop, 350, 0, on_done, loop);
	if (tick == NULL || done == NULL)
		return perror("sio_timer_start"), 1;
	sio_loop_run(loop, SIO_RUN_DEFAULT);
	sio_timer_stop(tick);   /* every handle is freed by its stop call, */
	sio_timer_stop(done);   /* a fired one-shot's included */
	sio_loop_free(loop);
	return 0;
}
