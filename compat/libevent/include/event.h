/*
 * event.h - sigio-event: the libevent 1.x umbrella header, giving the core
 * of the libevent 2.1 API on sigio (event2/event.h, its struct and the 1.x
 * compatibility names).  bufferevent, evbuffer, evdns, evhttp, evrpc and
 * the listeners are not provided: a program that uses them does not link.
 * See sigio-event(7).
 */
#ifndef SIGIO_EVENT1_EVENT_H_
#define SIGIO_EVENT1_EVENT_H_

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/time.h>

#include <evutil.h>
#include <event2/event_struct.h>
#include <event2/event.h>
#include <event2/event_compat.h>

#endif /* SIGIO_EVENT1_EVENT_H_ */
