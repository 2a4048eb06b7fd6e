/*
 * atfree.h - the one thing the stream layer asks of the core beyond the
 * public API: a timer that sio_loop_free() fires rather than drops.
 *
 * A stream closed from outside its callbacks finishes (on_close, close of
 * its fd, free) from a zero-delay timer.  When no iteration comes before
 * sio_loop_free(), dropping that timer would leak the stream and its fd;
 * marked with this, the timer fires first thing in sio_loop_free().
 */
#ifndef SIO_ATFREE_H
#define SIO_ATFREE_H

#include "sigio.h"

void sio__timer_fire_at_free(sio_timer *t);

#endif
