/*
 * event2/event.h - sigio-event: the core of libevent 2.1's API (bases,
 * events, timeouts, signals, the loop), implemented on sigio's public API.
 * The names, constants and documented semantics are libevent's; the
 * differences are listed in sigio-event(7): timeouts have a resolution of
 * one millisecond, priorities order the callbacks of one round as libevent
 * does, EV_CLOSED alone is never reported (no EV_FEATURE_EARLY_CLOSE), and
 * only event_base_loopbreak() and event_base_loopexit() may be called
 * from another thread than the one running the base.
 */
#ifndef SIGIO_EVENT2_EVENT_H_
#define SIGIO_EVENT2_EVENT_H_

#include <stdint.h>
#include <stdio.h>
#include <sys/time.h>
#include <event2/util.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The libevent API this layer provides, and the layer itself. */
#define LIBEVENT_VERSION "2.1.12-sigio"
#define LIBEVENT_VERSION_NUMBER 0x02010c00
#define SIGIO_EVENT_VERSION "0.1.0"

struct event_base;
struct event;
struct event_config;

/* Event bits (events asked for, and `what` passed to callbacks). */
#define EV_TIMEOUT  0x01
#define EV_READ     0x02
#define EV_WRITE    0x04
#define EV_SIGNAL   0x08
#define EV_PERSIST  0x10
#define EV_ET       0x20
#define EV_FINALIZE 0x40
#define EV_CLOSED   0x80

/* event_base_loop() flags. */
#define EVLOOP_ONCE             0x01
#define EVLOOP_NONBLOCK         0x02
#define EVLOOP_NO_EXIT_ON_EMPTY 0x04

#define EVENT_MAX_PRIORITIES 256

/* event_base_get_num_events() flags. */
#define EVENT_BASE_COUNT_ACTIVE  1U
#define EVENT_BASE_COUNT_VIRTUAL 2U
#define EVENT_BASE_COUNT_ADDED   4U

enum event_method_feature {
	EV_FEATURE_ET = 0x01,
	EV_FEATURE_O1 = 0x02,
	EV_FEATURE_FDS = 0x04,
	EV_FEATURE_EARLY_CLOSE = 0x08
};

enum event_base_config_flag {
	EVENT_BASE_FLAG_NOLOCK = 0x01,
	EVENT_BASE_FLAG_IGNORE_ENV = 0x02,
	EVENT_BASE_FLAG_STARTUP_IOCP = 0x04,
	EVENT_BASE_FLAG_NO_CACHE_TIME = 0x08,
	EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST = 0x10,
	EVENT_BASE_FLAG_PRECISE_TIMER = 0x20
};

#define EVENT_LOG_DEBUG 0
#define EVENT_LOG_MSG   1
#define EVENT_LOG_WARN  2
#define EVENT_LOG_ERR   3
typedef void (*event_log_cb)(int severity, const char *msg);
typedef void (*event_fatal_cb)(int err);
#define EVENT_DBG_ALL 0xffffffffu
#define EVENT_DBG_NONE 0

typedef void (*event_callback_fn)(evutil_socket_t, short, void *);

/* ---- configuration and bases ---- */
struct event_config *event_config_new(void);
void event_config_free(struct event_config *cfg);
/* Names of sigio backends ("rtsig", "sigio", "poll", "select") not to use. */
int event_config_avoid_method(struct event_config *cfg, const char *method);
int event_config_require_features(struct event_config *cfg, int feature);
int event_config_set_flag(struct event_config *cfg, int flag);
int event_config_set_num_cpus_hint(struct event_config *cfg, int cpus);
int event_config_set_max_dispatch_interval(struct event_config *cfg,
                                           const struct timeval *max_interval,
                                           int max_callbacks, int min_priority);

struct event_base *event_base_new(void);
struct event_base *event_base_new_with_config(const struct event_config *cfg);
void event_base_free(struct event_base *base);
void event_base_free_nofinalize(struct event_base *base);
int event_reinit(struct event_base *base);
const char *event_base_get_method(const struct event_base *base);
const char **event_get_supported_methods(void);
int event_base_get_features(const struct event_base *base);
int event_base_get_num_events(struct event_base *base, unsigned int flags);
int event_base_priority_init(struct event_base *base, int npriorities);
int event_base_get_npriorities(struct event_base *base);
int event_gettime_monotonic(struct event_base *base, struct timeval *tp);
int event_base_gettimeofday_cached(struct event_base *base, struct timeval *tv);
int event_base_update_cache_time(struct event_base *base);

/* ---- running ---- */
int event_base_dispatch(struct event_base *base);
int event_base_loop(struct event_base *base, int flags);
int event_base_loopexit(struct event_base *base, const struct timeval *tv);
int event_base_loopbreak(struct event_base *base);
int event_base_loopcontinue(struct event_base *base);
int event_base_got_exit(struct event_base *base);
int event_base_got_break(struct event_base *base);
struct event *event_base_get_running_event(struct event_base *base);

/* ---- events ---- */
void *event_self_cbarg(void);
struct event *event_new(struct event_base *base, evutil_socket_t fd, short events,
                        event_callback_fn callback, void *callback_arg);
int event_assign(struct event *ev, struct event_base *base, evutil_socket_t fd,
                 short events, event_callback_fn callback, void *callback_arg);
void event_free(struct event *ev);
int event_base_set(struct event_base *base, struct event *ev);
int event_base_once(struct event_base *base, evutil_socket_t fd, short events,
                    event_callback_fn callback, void *arg,
                    const struct timeval *timeout);
int event_add(struct event *ev, const struct timeval *timeout);
int event_remove_timer(struct event *ev);
int event_del(struct event *ev);
int event_del_noblock(struct event *ev);
int event_del_block(struct event *ev);
void event_active(struct event *ev, int res, short ncalls);
int event_pending(const struct event *ev, short events, struct timeval *tv);
int event_initialized(const struct event *ev);
int event_priority_set(struct event *ev, int priority);
int event_get_priority(const struct event *ev);
evutil_socket_t event_get_fd(const struct event *ev);
#define event_get_signal(ev) ((int)event_get_fd(ev))
struct event_base *event_get_base(const struct event *ev);
short event_get_events(const struct event *ev);
event_callback_fn event_get_callback(const struct event *ev);
void *event_get_callback_arg(const struct event *ev);
void event_get_assignment(const struct event *event, struct event_base **base_out,
                          evutil_socket_t *fd_out, short *events_out,
                          event_callback_fn *callback_out, void **arg_out);
size_t event_get_struct_event_size(void);

/* ---- versions, logging, debugging ---- */
const char *event_get_version(void);
ev_uint32_t event_get_version_number(void);
/* sigio-event's own: "sigio-event 0.1.0 (libevent 2.1.12 API) on sigio
 * X.Y.Z"; the backend is event_base_get_method()'s. */
const char *sigio_event_version(void);
void event_set_log_callback(event_log_cb cb);
void event_set_fatal_callback(event_fatal_cb cb);
void event_enable_debug_mode(void);
void event_enable_debug_logging(ev_uint32_t which);
void libevent_global_shutdown(void);

/* ---- shorthands ---- */
#define evtimer_assign(ev, b, cb, arg) event_assign((ev), (b), -1, 0, (cb), (arg))
#define evtimer_new(b, cb, arg)        event_new((b), -1, 0, (cb), (arg))
#define evtimer_add(ev, tv)            event_add((ev), (tv))
#define evtimer_del(ev)                event_del(ev)
#define evtimer_pending(ev, tv)        event_pending((ev), EV_TIMEOUT, (tv))
#define evtimer_initialized(ev)        event_initialized(ev)
#define evsignal_add(ev, tv)           event_add((ev), (tv))
#define evsignal_assign(ev, b, x, cb, arg) \
	event_assign((ev), (b), (x), EV_SIGNAL | EV_PERSIST, (cb), (arg))
#define evsignal_new(b, x, cb, arg) \
	event_new((b), (x), EV_SIGNAL | EV_PERSIST, (cb), (arg))
#define evsignal_del(ev)               event_del(ev)
#define evsignal_pending(ev, tv)       event_pending((ev), EV_SIGNAL, (tv))
#define evsignal_initialized(ev)       event_initialized(ev)
#define evuser_new(b, cb, arg)         event_new((b), -1, 0, (cb), (arg))
#define evuser_del(ev)                 event_del(ev)
#define evuser_pending(ev, tv)         event_pending((ev), 0, (tv))
#define evuser_initialized(ev)         event_initialized(ev)
#define evuser_trigger(ev)             event_active((ev), 0, 0)

#ifdef __cplusplus
}
#endif

#endif /* SIGIO_EVENT2_EVENT_H_ */
