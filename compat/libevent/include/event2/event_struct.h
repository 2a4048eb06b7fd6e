/*
 * event2/event_struct.h - sigio-event: struct event, a complete type of
 * fixed size so that programs can embed it by value (as libevent allows).
 * Programs may read ev_base, ev_fd, ev_events and ev_res; everything else
 * belongs to the layer.  event_get_struct_event_size() returns
 * sizeof(struct event).
 */
#ifndef SIGIO_EVENT2_EVENT_STRUCT_H_
#define SIGIO_EVENT2_EVENT_STRUCT_H_

#include <stdint.h>
#include <sys/time.h>
#include <event2/util.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bits of an event's state (libevent's values; read them through
 * event_pending() and event_initialized()). */
#define EVLIST_TIMEOUT      0x01
#define EVLIST_INSERTED     0x02
#define EVLIST_SIGNAL       0x04
#define EVLIST_ACTIVE       0x08
#define EVLIST_INTERNAL     0x10
#define EVLIST_ACTIVE_LATER 0x20
#define EVLIST_FINALIZING   0x40
#define EVLIST_INIT         0x80
#define EVLIST_ALL          0xff

struct event_base;

struct event {
	struct event_base *ev_base;   /* the base the event is assigned to */
	evutil_socket_t ev_fd;        /* fd, signal number, or -1 */
	short ev_events;              /* EV_* asked for */
	short ev_res;                 /* EV_* of the pending activation */
	struct timeval ev_timeout;    /* wall-clock expiry of the timeout */

	/* The layer's own state: do not touch. */
	void (*evs_cb)(evutil_socket_t, short, void *);
	void *evs_arg;
	void *evs_io;                 /* sio_io * */
	void *evs_timer;              /* sio_timer * */
	void *evs_signal;             /* sio_signal * */
	struct event *evs_next;       /* the base's events in use */
	struct event **evs_pprev;
	struct event *evs_anext;      /* the base's active queue */
	struct event **evs_apprev;
	uint64_t evs_period_ms;       /* the timeout asked for, in ms */
	uint64_t evs_deadline_ms;     /* when it falls due (CLOCK_MONOTONIC) */
	short evs_flags;              /* EVLIST_* */
	short evs_ncalls;             /* signal arrivals to report */
	uint8_t evs_pri;
	uint8_t evs_kind;
	uint16_t evs_opts;            /* 1: a timeout was asked for */
	void *evs_reserved[4];
};

#ifdef __cplusplus
}
#endif

#endif /* SIGIO_EVENT2_EVENT_STRUCT_H_ */
