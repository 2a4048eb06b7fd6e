/*
 * echo-common.c - helpers shared by echo-server and echo-client (see
 * echo-common.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "echo-common.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

/* Copy n bytes of src into dst (NUL-terminated).  -1 if it does not fit. */
static int
copy_part(char *dst, size_t dstlen, const char *src, size_t n)
{
	if (n >= dstlen)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* A port: a number up to 65535, or something shaped like a service name. */
static int
check_port(const char *port, const char **why)
{
	int digits = 1;

	if (*port == '\0') {
		*why = "missing port";
		return -1;
	}
	for (const char *p = port; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			digits = 0;
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.') {
			*why = "bad port";
			return -1;
		}
	}
	if (digits) {
		unsigned long long v;
		if (echo_parse_uint(port, 0, 65535, &v) < 0) {
			*why = "bad port";
			return -1;
		}
	}
	return 0;
}

int
echo_split_hostport(const char *text, char *host, size_t hostlen,
                    char *port, size_t portlen, const char **why)
{
	const char *colon;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		struct in6_addr a6;
		if (close == NULL) {
			*why = "missing ']' after the IPv6 address";
			return -1;
		}
		if (close[1] != ':') {
			*why = close[1] == '\0' ? "missing port" :
			       "expected ':' after ']'";
			return -1;
		}
		if (copy_part(host, hostlen, text + 1, (size_t)(close - text - 1)) < 0 ||
		    inet_pton(AF_INET6, host, &a6) != 1) {
			*why = "bad IPv6 address in brackets";
			return -1;
		}
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*why = "missing port (HOST:PORT)";
			return -1;
		}
		if (copy_part(host, hostlen, text, (size_t)(colon - text)) < 0) {
			*why = "host name too long";
			return -1;
		}
		if (strchr(host, ':') != NULL) {
			/* "::1:7": the last colon separates the port, but only
			 * an IPv6 literal may hold colons. */
			struct in6_addr a6;
			if (inet_pton(AF_INET6, host, &a6) != 1) {
				*why = "bad IPv6 address (write it as [ADDRESS]:PORT)";
				return -1;
			}
		}
		if (strcmp(host, "*") == 0)
			host[0] = '\0';
	}
	if (copy_part(port, portlen, colon + 1, strlen(colon + 1)) < 0) {
		*why = "bad port";
		return -1;
	}
	return check_port(port, why);
}

int
echo_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)s[0]))
		return -1;      /* no sign, no space, not empty */
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* `prefix`, then s[0..n) up to its first NUL, into buf (NUL-terminated,
 * cut to fit): a Unix peer chooses its path and abstract name, so bytes
 * outside printable ASCII, and the backslash, are written \xNN, and a log
 * line stays one line that cannot carry terminal escapes. */
static void
escape_text(char *buf, size_t buflen, const char *prefix, const char *s, size_t n)
{
	size_t o = 0;

	if (buflen == 0)
		return;
	for (; *prefix != '\0' && o + 1 < buflen; prefix++)
		buf[o++] = *prefix;
	for (size_t i = 0; i < n && s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= buflen)
				break;
			buf[o++] = (char)c;
		} else {
			if (o + 4 >= buflen)
				break;
			snprintf(buf + o, 5, "\\x%02x", c);
			o += 4;
		}
	}
	buf[o] = '\0';
}

char *
echo_peer_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t buflen)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];

	if (sa == NULL || len < (socklen_t)sizeof(sa_family_t)) {
		snprintf(buf, buflen, "unnamed");
		return buf;
	}
	if (sa->sa_family == AF_UNIX) {
		const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t n = (size_t)len > off ? (size_t)len - off : 0;
		if (n > sizeof sun->sun_path)   /* a length past the structure */
			n = sizeof sun->sun_path;
		if (n == 0)
			snprintf(buf, buflen, "unnamed");
		else if (sun->sun_path[0] == '\0')      /* Linux abstract name */
			escape_text(buf, buflen, "@", sun->sun_path + 1, n - 1);
		else
			escape_text(buf, buflen, "", sun->sun_path, n);
		return buf;
	}
	int rc = getnameinfo(sa, len, host, sizeof host, serv, sizeof serv,
	                     NI_NUMERICHOST | NI_NUMERICSERV);
	if (rc != 0)
		snprintf(buf, buflen, "(%s)", gai_strerror(rc));
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, buflen, "[%s]:%s", host, serv);
	else
		snprintf(buf, buflen, "%s:%s", host, serv);
	return buf;
}

ssize_t
echo_recv_record(int fd, void *buf, size_t len, int *truncated)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	*truncated = n >= 0 && (mh.msg_flags & MSG_TRUNC) != 0;
	return n;
}

int
echo_send_record(int fd, const void *buf, size_t len)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh;
	ssize_t n;

	memset(&mh, 0, sizeof mh);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != len) {         /* a record goes whole or not at all */
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

const char *
echo_option_value(const char *arg, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(arg, name, n) == 0 && arg[n] == '=')
		return arg + n + 1;
	return NULL;
}
