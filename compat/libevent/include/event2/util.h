/*
 * event2/util.h - sigio-event: the portable helpers of libevent 2.1's
 * <event2/util.h> that small programs use, on a POSIX system: the integer
 * types, evutil_socket_t, socket helpers, timeval arithmetic and socket
 * error reporting.  Part of sigio's libevent-compatible layer (see
 * sigio-event(7)); installed under $(includedir)/sigio/compat so that it
 * never shadows a real libevent's headers.
 */
#ifndef SIGIO_EVENT2_UTIL_H_
#define SIGIO_EVENT2_UTIL_H_

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/time.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fixed-width integers under libevent's names. */
typedef uint64_t ev_uint64_t;
typedef int64_t ev_int64_t;
typedef uint32_t ev_uint32_t;
typedef int32_t ev_int32_t;
typedef uint16_t ev_uint16_t;
typedef int16_t ev_int16_t;
typedef uint8_t ev_uint8_t;
typedef int8_t ev_int8_t;
typedef uintptr_t ev_uintptr_t;
typedef intptr_t ev_intptr_t;
typedef ssize_t ev_ssize_t;
typedef off_t ev_off_t;

#define EV_UINT64_MAX UINT64_MAX
#define EV_INT64_MAX INT64_MAX
#define EV_INT64_MIN INT64_MIN
#define EV_UINT32_MAX UINT32_MAX
#define EV_INT32_MAX INT32_MAX
#define EV_INT32_MIN INT32_MIN
#define EV_UINT16_MAX UINT16_MAX
#define EV_INT16_MAX INT16_MAX
#define EV_INT16_MIN INT16_MIN
#define EV_UINT8_MAX UINT8_MAX
#define EV_INT8_MAX INT8_MAX
#define EV_INT8_MIN INT8_MIN
#define EV_SIZE_MAX SIZE_MAX
#define EV_SSIZE_MAX SSIZE_MAX

/* A socket is a file descriptor here. */
typedef int evutil_socket_t;
#define EVUTIL_INVALID_SOCKET -1
#define EV_SOCK_FMT "%d"
#define EV_SOCK_ARG(x) (x)

/* The last socket error of this thread, and its text: errno and strerror. */
#define EVUTIL_SOCKET_ERROR() (errno)
#define EVUTIL_SET_SOCKET_ERROR(errcode) do { errno = (errcode); } while (0)
#define evutil_socket_geterror(sock) (errno)
#define evutil_socket_error_to_string(errcode) (strerror(errcode))

/* socketpair(2), retried on EINTR.  0, or -1 with errno. */
int evutil_socketpair(int family, int type, int protocol, evutil_socket_t sv[2]);
/* Add O_NONBLOCK to the fd's status flags.  0, or -1 with errno. */
int evutil_make_socket_nonblocking(evutil_socket_t sock);
/* Set FD_CLOEXEC on the fd.  0, or -1 with errno. */
int evutil_make_socket_closeonexec(evutil_socket_t sock);
/* SO_REUSEADDR on a socket that will listen.  0, or -1 with errno. */
int evutil_make_listen_socket_reuseable(evutil_socket_t sock);
/* SO_REUSEPORT on a socket that will listen.  0, or -1 with errno. */
int evutil_make_listen_socket_reuseable_port(evutil_socket_t sock);
/* close(2) (an EINTR counts as closed, as on Linux).  0, or -1 with errno. */
int evutil_closesocket(evutil_socket_t sock);
#define EVUTIL_CLOSESOCKET(s) evutil_closesocket(s)

/* strtoll(3) under libevent's name. */
ev_int64_t evutil_strtoll(const char *s, char **endptr, int base);
/* snprintf(3) and vsnprintf(3), always terminating the buffer; the length
 * the full text would have, or -1. */
int evutil_snprintf(char *buf, size_t buflen, const char *format, ...)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 4)))
#endif
	;
int evutil_vsnprintf(char *buf, size_t buflen, const char *format, va_list ap)
#ifdef __GNUC__
	__attribute__((format(printf, 3, 0)))
#endif
	;

/* The wall clock, as gettimeofday(2). */
#define evutil_gettimeofday(tv, tz) gettimeofday((tv), (tz))

/* struct timeval arithmetic: *vvp = *tvp + *uvp, *vvp = *tvp - *uvp (both
 * normalised), clear, is-set, and comparison with the operator `cmp`
 * (<, <=, ==, !=, >=, >). */
#define evutil_timeradd(tvp, uvp, vvp)                                     \
	do {                                                               \
		(vvp)->tv_sec = (tvp)->tv_sec + (uvp)->tv_sec;             \
		(vvp)->tv_usec = (tvp)->tv_usec + (uvp)->tv_usec;          \
		if ((vvp)->tv_usec >= 1000000) {                           \
			(vvp)->tv_sec += 1;                                \
			(vvp)->tv_usec -= 1000000;                         \
		}                                                          \
	} while (0)
#define evutil_timersub(tvp, uvp, vvp)                                     \
	do {                                                               \
		(vvp)->tv_sec = (tvp)->tv_sec - (uvp)->tv_sec;             \
		(vvp)->tv_usec = (tvp)->tv_usec - (uvp)->tv_usec;          \
		if ((vvp)->tv_usec < 0) {                                  \
			(vvp)->tv_sec -= 1;                                \
			(vvp)->tv_usec += 1000000;                         \
		}                                                          \
	} while (0)
#define evutil_timerclear(tvp) do { (tvp)->tv_sec = 0; (tvp)->tv_usec = 0; } while (0)
#define evutil_timerisset(tvp) ((tvp)->tv_sec != 0 || (tvp)->tv_usec != 0)
#define evutil_timercmp(tvp, uvp, cmp)                                     \
	(((tvp)->tv_sec == (uvp)->tv_sec) ? ((tvp)->tv_usec cmp (uvp)->tv_usec) \
	                                  : ((tvp)->tv_sec cmp (uvp)->tv_sec))

#ifdef __cplusplus
}
#endif

#endif /* SIGIO_EVENT2_UTIL_H_ */
