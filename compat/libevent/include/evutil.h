/* evutil.h - sigio-event: libevent 1.x's name for <event2/util.h>. */
#ifndef SIGIO_EVENT1_EVUTIL_H_
#define SIGIO_EVENT1_EVUTIL_H_
#include <event2/util.h>
#endif
