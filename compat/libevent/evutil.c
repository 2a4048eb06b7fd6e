/*
 * evutil.c - sigio-event: the evutil helpers of <event2/util.h>.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/util.h>

int
evutil_socketpair(int family, int type, int protocol, evutil_socket_t sv[2])
{
	int rc;
	do
		rc = socketpair(family, type, protocol, sv);
	while (rc < 0 && errno == EINTR);
	return rc;
}

static int
fcntl_retry(int fd, int cmd, int arg)
{
	int rc;
	do
		rc = fcntl(fd, cmd, arg);
	while (rc < 0 && errno == EINTR);
	return rc;
}

int
evutil_make_socket_nonblocking(evutil_socket_t fd)
{
	int fl = fcntl_retry(fd, F_GETFL, 0);
	if (fl < 0)
		return -1;
	if (fl & O_NONBLOCK)
		return 0;
	return fcntl_retry(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -1 : 0;
}

int
evutil_make_socket_closeonexec(evutil_socket_t fd)
{
	int fl = fcntl_retry(fd, F_GETFD, 0);
	if (fl < 0)
		return -1;
	if (fl & FD_CLOEXEC)
		return 0;
	return fcntl_retry(fd, F_SETFD, fl | FD_CLOEXEC) < 0 ? -1 : 0;
}

int
evutil_make_listen_socket_reuseable(evutil_socket_t fd)
{
	int one = 1;
	return setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
}

int
evutil_make_listen_socket_reuseable_port(evutil_socket_t fd)
{
#ifdef SO_REUSEPORT
	int one = 1;
	return setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
#else
	(void)fd;
	return 0;
#endif
}

int
evutil_closesocket(evutil_socket_t fd)
{
	/* Linux releases the fd even when close() is interrupted: never retry. */
	int rc = close(fd);
	if (rc < 0 && errno == EINTR)
		return 0;
	return rc;
}

ev_int64_t
evutil_strtoll(const char *s, char **endptr, int base)
{
	return (ev_int64_t)strtoll(s, endptr, base);
}

int
evutil_vsnprintf(char *buf, size_t buflen, const char *format, va_list ap)
{
	if (buflen == 0)
		return vsnprintf(NULL, 0, format, ap);
	int n = vsnprintf(buf, buflen, format, ap);
	buf[buflen - 1] = '\0';
	return n;
}

int
evutil_snprintf(char *buf, size_t buflen, const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	int n = evutil_vsnprintf(buf, buflen, format, ap);
	va_end(ap);
	return n;
}
