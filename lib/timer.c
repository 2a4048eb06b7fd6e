/*
 * timer.c - timers in a binary min-heap ordered by (deadline, seq).
 *
 * Start, stop and restart are O(log n); finding the next deadline is O(1).
 * Each timer knows its index in the heap, so stopping one needs no search.
 * `seq` grows with every (re)arming: timers with equal deadlines fire in
 * the order they were armed, and a timer armed during the timer phase (a
 * repeating one rescheduled, or one a callback started with a 0 timeout)
 * waits for the next iteration instead of looping within this one.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "atfree.h"
#include "list.h"
#include "sigio-internal.h"
#include "vec.h"

#define NS_PER_MS 1000000ull

void
sio__time_update(sio_loop *loop)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	loop->now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
sio_loop_now(const sio_loop *loop)
{
	return loop == NULL ? 0 : loop->now_ns / NS_PER_MS;
}

void
sio_loop_update_time(sio_loop *loop)
{
	if (loop != NULL)
		sio__time_update(loop);
}

/* ---- the heap ------------------------------------------------------------- */

static int
earlier(const struct sio_timer *a, const struct sio_timer *b)
{
	return a->deadline < b->deadline ||
	       (a->deadline == b->deadline && a->seq < b->seq);
}

static void
heap_place(sio_loop *loop, size_t i, struct sio_timer *t)
{
	loop->heap[i] = t;
	t->index = i;
}

static void
sift_up(sio_loop *loop, size_t i)
{
	struct sio_timer *t = loop->heap[i];
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!earlier(t, loop->heap[parent]))
			break;
		heap_place(loop, i, loop->heap[parent]);
		i = parent;
	}
	heap_place(loop, i, t);
}

static void
sift_down(sio_loop *loop, size_t i)
{
	struct sio_timer *t = loop->heap[i];
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= loop->nheap)
			break;
		if (child + 1 < loop->nheap &&
		    earlier(loop->heap[child + 1], loop->heap[child]))
			child++;
		if (!earlier(loop->heap[child], t))
			break;
		heap_place(loop, i, loop->heap[child]);
		i = child;
	}
	heap_place(loop, i, t);
}

static int
heap_push(sio_loop *loop, struct sio_timer *t)
{
	struct sio_timer **h = sio__vec_grow(loop->heap, &loop->capheap,
	                                     loop->nheap + 1, sizeof *h, 64);
	if (h == NULL)
		return -1;
	loop->heap = h;
	heap_place(loop, loop->nheap++, t);
	sift_up(loop, t->index);
	return 0;
}

static void
heap_remove(sio_loop *loop, struct sio_timer *t)
{
	size_t i = t->index, last = --loop->nheap;
	if (i == last)
		return;
	struct sio_timer *moved = loop->heap[last];
	heap_place(loop, i, moved);
	if (i > 0 && earlier(moved, loop->heap[(i - 1) / 2]))
		sift_up(loop, i);
	else
		sift_down(loop, i);
}

/* ---- the API ----------------------------------------------------------------- */

/* after and repeat in ms to ns, refusing what overflows. */
static int
to_ns(uint64_t after_ms, uint64_t repeat_ms, uint64_t now, uint64_t *after,
      uint64_t *repeat)
{
	const uint64_t max_ms = (UINT64_MAX / 2 - now) / NS_PER_MS;
	if (after_ms > max_ms || repeat_ms > max_ms) {
		errno = EINVAL;
		return -1;
	}
	*after = after_ms * NS_PER_MS;
	*repeat = repeat_ms * NS_PER_MS;
	return 0;
}

/* (Re)arm `t`: `after` from now, the current time read afresh. */
static int
arm(sio_loop *loop, struct sio_timer *t, uint64_t after, uint64_t repeat)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	t->deadline = now + after;
	t->repeat = repeat;
	t->seq = ++loop->timer_seq;
	if (heap_push(loop, t) < 0)
		return -1;
	t->state = SIO__H_ACTIVE;
	loop->active++;
	return 0;
}

sio_timer *
sio_timer_start(sio_loop *loop, uint64_t after_ms, uint64_t repeat_ms,
                sio_timer_cb cb, void *arg)
{
	uint64_t after, repeat;
	if (loop == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (to_ns(after_ms, repeat_ms, loop->now_ns, &after, &repeat) < 0)
		return NULL;
	struct sio_timer *t = calloc(1, sizeof *t);
	if (t == NULL)
		return NULL;
	t->loop = loop;
	t->cb = cb;
	t->arg = arg;
	if (arm(loop, t, after, repeat) < 0) {
		free(t);
		return NULL;
	}
	SIO__LIST_PUSH(loop->timers, t);
	return t;
}

/* Take an active timer out of the heap. */
static void
disarm(struct sio_timer *t)
{
	if (t->state != SIO__H_ACTIVE)
		return;
	heap_remove(t->loop, t);
	t->loop->active--;
	t->state = SIO__H_IDLE;
}

int
sio_timer_again(sio_timer *t, uint64_t after_ms, uint64_t repeat_ms)
{
	uint64_t after, repeat;
	if (t == NULL || t->state == SIO__H_STOPPED) {
		errno = EINVAL;
		return -1;
	}
	if (to_ns(after_ms, repeat_ms, t->loop->now_ns, &after, &repeat) < 0)
		return -1;
	disarm(t);
	return arm(t->loop, t, after, repeat);
}

void
sio_timer_stop(sio_timer *t)
{
	if (t == NULL || t->state == SIO__H_STOPPED)
		return;
	sio_loop *loop = t->loop;
	disarm(t);
	t->state = SIO__H_STOPPED;
	SIO__LIST_UNLINK(loop->timers, t);
	sio__retire(loop, t);
}

/* ---- the loop's timer phase -------------------------------------------------- */

size_t
sio__timers_run(sio_loop *loop)
{
	size_t ran = 0;
	uint64_t now = loop->now_ns, armed_before = loop->timer_seq;
	while (loop->nheap > 0) {
		struct sio_timer *t = loop->heap[0];
		if (t->deadline > now || t->seq > armed_before)
			break;
		if (t->repeat != 0) {
			/* No burst to catch up: skip the periods already missed. */
			uint64_t next = t->deadline + t->repeat;
			t->deadline = next > now ? next : now + t->repeat;
			t->seq = ++loop->timer_seq;
			sift_down(loop, 0);
		} else {
			disarm(t);
		}
		ran++;
		loop->stats.callbacks++;
		t->cb(t, t->arg);
	}
	return ran;
}

int
sio__timers_timeout(const sio_loop *loop)
{
	return sio__timers_timeout_at(loop, loop->now_ns);
}

/* The same from `now_ns` rather than the cached time: sio_loop_timeout()
 * is asked between runs, when the cache is as old as the last run. */
int
sio__timers_timeout_at(const sio_loop *loop, uint64_t now_ns)
{
	if (loop->nheap == 0)
		return -1;
	uint64_t deadline = loop->heap[0]->deadline;
	if (deadline <= now_ns)
		return 0;
	uint64_t ms = (deadline - now_ns + NS_PER_MS - 1) / NS_PER_MS;
	return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* A timer that finishes something the user already ended (a closed
 * stream's on_close, its fd and memory) must not be dropped by
 * sio_loop_free() when no iteration came to fire it: that would leak. */
void
sio__timer_fire_at_free(sio_timer *t)
{
	t->at_free = 1;
}

/* Fire every pending at_free timer, the loop still whole (their callbacks
 * may use it, and may leave more of them). */
void
sio__timers_settle(sio_loop *loop)
{
	for (;;) {
		struct sio_timer *t = loop->timers;
		while (t != NULL && !(t->at_free && t->state == SIO__H_ACTIVE))
			t = t->next;
		if (t == NULL)
			return;
		disarm(t);
		t->cb(t, t->arg);
	}
}

void
sio__timers_free(sio_loop *loop)
{
	while (loop->timers != NULL) {
		struct sio_timer *t = loop->timers;
		loop->timers = t->next;
		free(t);
	}
	free(loop->heap);
	loop->heap = NULL;
	loop->nheap = loop->capheap = 0;
}
