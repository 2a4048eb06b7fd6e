/*
 * event2/event_compat.h - sigio-event: libevent 1.x names, which act on a
 * global "current" base (the last one event_init() made).  Deprecated in
 * libevent 2 and kept for the programs that still use them.
 */
#ifndef SIGIO_EVENT2_EVENT_COMPAT_H_
#define SIGIO_EVENT2_EVENT_COMPAT_H_

#include <event2/util.h>

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;
struct event;
struct timeval;

/* A new base that becomes the current one. */
struct event_base *event_init(void);
/* event_base_dispatch(), event_base_loop(), event_base_loopexit(),
 * event_base_loopbreak(), event_base_once(), event_base_get_method() and
 * event_base_priority_init() on the current base. */
int event_dispatch(void);
int event_loop(int flags);
int event_loopexit(const struct timeval *tv);
int event_loopbreak(void);
int event_once(evutil_socket_t fd, short events,
               void (*callback)(evutil_socket_t, short, void *), void *arg,
               const struct timeval *timeout);
const char *event_get_method(void);
int event_priority_init(int npriorities);

/* event_assign() on the current base (which may be NULL: then call
 * event_base_set() before event_add()). */
void event_set(struct event *ev, evutil_socket_t fd, short events,
               void (*callback)(evutil_socket_t, short, void *), void *arg);

#define evtimer_set(ev, cb, arg)     event_set((ev), -1, 0, (cb), (arg))
#define evsignal_set(ev, x, cb, arg) event_set((ev), (x), EV_SIGNAL | EV_PERSIST, (cb), (arg))

#define timeout_add(ev, tv)          event_add((ev), (tv))
#define timeout_set(ev, cb, arg)     event_set((ev), -1, 0, (cb), (arg))
#define timeout_del(ev)              event_del(ev)
#define timeout_pending(ev, tv)      event_pending((ev), EV_TIMEOUT, (tv))
#define timeout_initialized(ev)      event_initialized(ev)

#define signal_add(ev, tv)           event_add((ev), (tv))
#define signal_set(ev, x, cb, arg)   event_set((ev), (x), EV_SIGNAL | EV_PERSIST, (cb), (arg))
#define signal_del(ev)               event_del(ev)
#define signal_pending(ev, tv)       event_pending((ev), EV_SIGNAL, (tv))
#define signal_initialized(ev)       event_initialized(ev)

#define EVENT_FD(ev)                 ((int)event_get_fd(ev))
#define EVENT_SIGNAL(ev)             event_get_signal(ev)

#ifdef __cplusplus
}
#endif

#endif /* SIGIO_EVENT2_EVENT_COMPAT_H_ */
