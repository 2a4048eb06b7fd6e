/*
 * sockets.c - the socket helpers that listener.c, stream.c and dgram.c
 * share (sockets.h): nonblocking close-on-exec sockets, name resolution,
 * binding every address of a (host, service), addresses as text, and the
 * set of bound fds behind the listener and datagram accessors.  Here, and
 * not in one of the three, so that they are siblings: none calls another.
 *
 * Uses the public API and the sockets API only, as an application could.
 * What it works around:
 * - getaddrinfo() takes "99999" as a port (glibc keeps the low 16 bits)
 *   and "" as port 0: services are checked before it sees them.
 * - With host NULL and port 0 the kernel would choose one port per family:
 *   the port chosen for the first address is reused for the others.
 * - A hosts file may name one address twice: binding it twice would fail.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdflags.h"
#include "sockets.h"

/* Times a "host NULL, port 0" bind is retried when the port the kernel
 * chose for one family is taken in the other. */
#define PORT0_TRIES 8

/* ---- making sockets ------------------------------------------------------- */

void
sio__nosigpipe(int fd)
{
#if HAVE_DECL_SO_NOSIGPIPE
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
	(void)fd;
#endif
}

int
sio__socket(int family, int type, int proto)
{
	int fd = -1;
#if defined(SOCK_NONBLOCK) && defined(SOCK_CLOEXEC)
	fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
	if (fd < 0 && errno != EINVAL)
		return -1;
#endif
	if (fd < 0) {
		/* No SOCK_NONBLOCK (or a kernel that refuses it): set the
		 * flags afterwards. */
		fd = socket(family, type, proto);
		if (fd < 0)
			return -1;
		if (sio__fd_nonblock_cloexec(fd) < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
	}
	sio__nosigpipe(fd);
	return fd;
}

/* ---- addresses as text ---------------------------------------------------- */

/* snprintf()'s count `n` as sio_sockaddr_text()'s answer. */
static char *
text_fits(int n, char *buf, size_t size)
{
	if (n < 0 || (size_t)n >= size) {
		errno = ENOSPC;
		return NULL;
	}
	return buf;
}

static char *
inet_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
	char host[INET_ADDRSTRLEN];

	if (len < (socklen_t)sizeof *in) {
		errno = EINVAL;
		return NULL;
	}
	inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
	return text_fits(snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port)),
	                 buf, size);
}

static char *
inet6_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
	char host[INET6_ADDRSTRLEN];
	int n;

	if (len < (socklen_t)sizeof *in6) {
		errno = EINVAL;
		return NULL;
	}
	inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
	if (in6->sin6_scope_id != 0)
		n = snprintf(buf, size, "[%s%%%u]:%u", host,
		             (unsigned)in6->sin6_scope_id, ntohs(in6->sin6_port));
	else
		n = snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
	return text_fits(n, buf, size);
}

/* The path may lack its NUL (the kernel counts it or not), and a Linux
 * abstract name starts with one: `len` says where it ends. */
static char *
unix_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
	size_t off = offsetof(struct sockaddr_un, sun_path);
	size_t plen = (size_t)len > off ? (size_t)len - off : 0;
	int n;

	if (plen > sizeof un->sun_path)
		plen = sizeof un->sun_path;
	if (plen > 0 && un->sun_path[0] == '\0')
		n = snprintf(buf, size, "@%.*s", (int)(plen - 1), un->sun_path + 1);
	else
		n = snprintf(buf, size, "%.*s", (int)strnlen(un->sun_path, plen),
		             un->sun_path);
	return text_fits(n, buf, size);
}

char *
sio_sockaddr_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	if (sa == NULL || buf == NULL || len < (socklen_t)sizeof(sa_family_t)) {
		errno = EINVAL;
		return NULL;
	}
	switch (sa->sa_family) {
	case AF_INET:
		return inet_text(sa, len, buf, size);
	case AF_INET6:
		return inet6_text(sa, len, buf, size);
	case AF_UNIX:
		return unix_text(sa, len, buf, size);
	}
	errno = EAFNOSUPPORT;
	return NULL;
}

/* ---- resolving ------------------------------------------------------------ */

/* The last getaddrinfo() failure of this thread.  Its public reader bears
 * the listener's name, its first user, but it speaks for every resolution
 * of the layer (listeners, datagram sockets, sio_connect_tcp()). */
static _Thread_local const char *resolve_error = "";

const char *
sio_listener_error(void)
{
	return resolve_error;
}

void
sio__resolve_error_set(const char *text)
{
	resolve_error = text;
}

/* Not NULL, not empty, and a number is a port: getaddrinfo() would take
 * 99999 modulo 65536. */
int
sio__check_service(const char *service)
{
	if (service == NULL || *service == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (strspn(service, "0123456789") == strlen(service)) {
		if (strlen(service) > 5 || strtoul(service, NULL, 10) > 65535) {
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

int
sio__resolve_errno(int rc, int err)
{
	switch (rc) {
	case EAI_AGAIN:
		return EAGAIN;
	case EAI_MEMORY:
		return ENOMEM;
	case EAI_SYSTEM:
		return err != 0 ? err : EADDRNOTAVAIL;
	}
	return EADDRNOTAVAIL;
}

int
sio__resolve(const char *host, const char *service, int socktype, int flags,
             struct addrinfo **res)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = socktype,
	                          .ai_flags = flags };

	*res = NULL;
	if (sio__check_service(service) < 0)
		return -1;
	resolve_error = "";
	int rc = getaddrinfo(host, service, &hints, res);
	if (rc == 0)
		return 0;
	resolve_error = gai_strerror(rc);
	errno = sio__resolve_errno(rc, errno);
	*res = NULL;
	return -1;
}

int
sio__unix_address(const char *path, struct sockaddr_un *sun, socklen_t *len)
{
	if (path == NULL || *path == '\0') {
		errno = EINVAL;
		return -1;
	}
	size_t plen = strlen(path);
	if (plen >= sizeof sun->sun_path) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, plen + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + 1);
	return 0;
}

/* ---- binding every address of a service ----------------------------------- */

/* The port of an inet address (network order), or NULL. */
static in_port_t *
port_of(struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return &((struct sockaddr_in *)ss)->sin_port;
	if (ss->ss_family == AF_INET6)
		return &((struct sockaddr_in6 *)ss)->sin6_port;
	return NULL;
}

/* Whether `ai` asks for port 0 (the kernel's choice). */
static int
asked_port0(const struct addrinfo *ai)
{
	if (ai->ai_family == AF_INET)
		return ((const struct sockaddr_in *)ai->ai_addr)->sin_port == 0;
	if (ai->ai_family == AF_INET6)
		return ((const struct sockaddr_in6 *)ai->ai_addr)->sin6_port == 0;
	return 0;
}

/* The options a bound socket of `ai`'s family takes before bind(). */
static int
bind_options(int fd, const struct addrinfo *ai, int flags, int reuseaddr)
{
	int one = 1;

	if (reuseaddr &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		return -1;
	if (flags & SIO_LISTEN_REUSEPORT) {
#ifdef SO_REUSEPORT
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
			return -1;
#else
		errno = ENOPROTOOPT;
		return -1;
#endif
	}
	/* So that 0.0.0.0 and :: can both be bound on one port. */
	if (ai->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
		return -1;
	return 0;
}

/* One socket bound (and listening, for SOCK_STREAM) on `ai`, on `port`
 * (network order) instead of ai's when that is not 0. */
static int
bind_one(const struct addrinfo *ai, int socktype, int flags, int reuseaddr,
         in_port_t port)
{
	struct sockaddr_storage ss;

	if (ai->ai_addrlen > sizeof ss) {
		errno = EINVAL;
		return -1;
	}
	int fd = sio__socket(ai->ai_family, socktype, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (bind_options(fd, ai, flags, reuseaddr) < 0)
		goto err;
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	if (port != 0 && port_of(&ss) != NULL)
		*port_of(&ss) = port;
	if (bind(fd, (struct sockaddr *)&ss, ai->ai_addrlen) < 0)
		goto err;
	if (socktype == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)
		goto err;
	return fd;
err:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/* Errors that mean "this machine has no such address or family": the
 * address is passed over if another one can be bound. */
static int
address_missing(int err)
{
	return err == EAFNOSUPPORT || err == EPROTONOSUPPORT ||
	       err == EADDRNOTAVAIL;
}

/* True when `ai` repeats an address met earlier in the list. */
static int
seen_before(const struct addrinfo *res, const struct addrinfo *ai)
{
	for (const struct addrinfo *p = res; p != ai; p = p->ai_next)
		if (p->ai_family == ai->ai_family && p->ai_addrlen == ai->ai_addrlen &&
		    memcmp(p->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0)
			return 1;
	return 0;
}

/* One attempt at binding every address of `res`.  *retry is set when the
 * attempt failed only because the shared port 0 choice was taken. */
static int
bind_all(const struct addrinfo *res, int socktype, int flags, int reuseaddr,
         struct sio__fdset *out, int *retry)
{
	size_t cap = 0;
	in_port_t port = 0;
	int missing = EADDRNOTAVAIL;

	*retry = 0;
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
		cap++;
	out->n = 0;
	out->fds = malloc((cap ? cap : 1) * sizeof *out->fds);
	if (out->fds == NULL)
		return -1;
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    seen_before(res, ai))
			continue;
		int fd = bind_one(ai, socktype, flags, reuseaddr, port);
		if (fd < 0) {
			if (address_missing(errno)) {
				missing = errno;
				continue;
			}
			/* Only the kernel's pick for port 0 can be tried again. */
			*retry = errno == EADDRINUSE && port != 0 && asked_port0(ai);
			goto err;
		}
		out->fds[out->n++] = fd;
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		if (port == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
		    port_of(&ss) != NULL)
			port = *port_of(&ss);   /* the kernel's choice, for port 0 */
	}
	if (out->n == 0) {
		errno = missing;
		goto err;
	}
	return 0;
err:
	sio__fdset_close(out);
	return -1;
}

int
sio__bind_service(const char *host, const char *service, int socktype,
                  int flags, int reuseaddr, struct sio__fdset *out)
{
	struct addrinfo *res;
	int rc = -1, retry = 0;

	if (sio__resolve(host, service, socktype, AI_PASSIVE, &res) < 0)
		return -1;
	for (int i = 0; i < PORT0_TRIES; i++) {
		rc = bind_all(res, socktype, flags, reuseaddr, out, &retry);
		if (rc == 0 || !retry)
			break;
	}
	int saved = errno;
	freeaddrinfo(res);
	errno = saved;
	return rc;
}

/* ---- sets of bound fds ---------------------------------------------------- */

int
sio__fdset_one(struct sio__fdset *set, int fd)
{
	set->fds = malloc(sizeof *set->fds);
	if (set->fds == NULL) {
		set->n = 0;
		errno = ENOMEM;
		return -1;
	}
	set->fds[0] = fd;
	set->n = 1;
	return 0;
}

void
sio__fdset_close(struct sio__fdset *set)
{
	int saved = errno;
	for (size_t i = 0; i < set->n; i++)
		close(set->fds[i]);
	free(set->fds);
	set->fds = NULL;
	set->n = 0;
	errno = saved;
}

size_t
sio__fdset_count(const struct sio__fdset *set)
{
	return set == NULL ? 0 : set->n;
}

int
sio__fdset_fd(const struct sio__fdset *set, size_t i)
{
	if (set == NULL || i >= set->n) {
		errno = EINVAL;
		return -1;
	}
	return set->fds[i];
}

char *
sio__fdset_address(const struct sio__fdset *set, size_t i, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;

	if (set == NULL || buf == NULL || i >= set->n) {
		errno = EINVAL;
		return NULL;
	}
	if (getsockname(set->fds[i], (struct sockaddr *)&ss, &sslen) < 0)
		return NULL;
	return sio_sockaddr_text((const struct sockaddr *)&ss, sslen, buf, len);
}

/* ---- SIGPIPE around a write to a pipe ------------------------------------------- */

/* A write to a pipe whose reader is gone raises SIGPIPE at the writing
 * thread, and its default action kills the process; sockets have
 * MSG_NOSIGNAL, pipes nothing alike.  (Here, not in signals.c: it is no
 * part of the runtime's signal handling, only what any program writing to
 * a pipe may do with libc alone, as the stream layer must.)  So the stream layer holds SIGPIPE
 * back in the thread for the write and, when the write failed with EPIPE,
 * takes back the instance it raised: the program's disposition is never
 * changed, and a SIGPIPE the program had pending (blocked) is left to it.
 * Two sigprocmask() per write to a pipe (sigpending() only if the program
 * blocks SIGPIPE itself), a sigtimedwait() on EPIPE. */
static void
sigpipe_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGPIPE);
}

int
sio__sigpipe_hold(sigset_t *old)
{
	sigset_t pipe, pending;
	sigpipe_set(&pipe);
	(void)pthread_sigmask(SIG_BLOCK, &pipe, old);
	/* Unblocked until now, none can be pending: it would have run. */
	if (!sigismember(old, SIGPIPE))
		return 0;
	return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
}

void
sio__sigpipe_release(const sigset_t *old, int was_pending, int epipe)
{
	int saved = errno;
	if (epipe && !was_pending) {
#ifdef HAVE_SIGTIMEDWAIT
		static const struct timespec zero = { 0, 0 };
		sigset_t pipe;
		sigpipe_set(&pipe);
		while (sigtimedwait(&pipe, NULL, &zero) < 0 && errno == EINTR)
			;
#endif
	}
	(void)pthread_sigmask(SIG_SETMASK, old, NULL);
	errno = saved;
}
