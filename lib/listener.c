/*
 * listener.c - listening sockets: TCP on what getaddrinfo() gives, Unix
 * stream and seqpacket paths; and the socket helpers dgram.c and stream.c
 * share (stream-internal.h): nonblocking close-on-exec sockets, binding
 * every address of a (host, service), addresses as text.
 *
 * Uses the public API only, as an application could.  What it works
 * around:
 * - getaddrinfo() takes "99999" as a port (glibc keeps the low 16 bits)
 *   and "" as port 0: services are checked before it sees them.
 * - With host NULL and port 0 the kernel would choose one port per family:
 *   the port chosen for the first address is reused for the others.
 * - accept() failing with EMFILE or ENFILE leaves the connection waiting,
 *   so a level-triggered listener would be called again at once, forever.
 *   A reserved fd is given up to take the connection and close it; failing
 *   that, accepting pauses for a while.
 * - A Unix socket file outlives its listener: bind() then says EADDRINUSE
 *   although nobody listens.  A connect() tells a stale file from a live one.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "stream-internal.h"

/* Connections accepted per callback at most: the rest waits for the next
 * iteration, so that a flood does not starve the other watchers. */
#define ACCEPTS_PER_CALL 64

/* How long accepting pauses when even the reserved fd did not help. */
#define PAUSE_MS 100

/* Times a "host NULL, port 0" bind is retried when the port the kernel
 * chose for one family is taken in the other. */
#define PORT0_TRIES 8

/* ---- helpers shared with stream.c and dgram.c --------------------------- */

/* The last getaddrinfo() failure of this thread, for sio_listener_error(). */
static _Thread_local const char *resolve_error = "";

const char *
sio_listener_error(void)
{
	return resolve_error;
}

int
sio__nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	int fdfl = fcntl(fd, F_GETFD);
	if (fdfl < 0 || fcntl(fd, F_SETFD, fdfl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

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
		if (sio__nonblock_cloexec(fd) < 0) {
			int saved = errno;
			close(fd);
			errno = saved;
			return -1;
		}
	}
	sio__nosigpipe(fd);
	return fd;
}

char *
sio_sockaddr_text(const struct sockaddr *sa, socklen_t len, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if (sa == NULL || buf == NULL || len < (socklen_t)sizeof(sa_family_t)) {
		errno = EINVAL;
		return NULL;
	}
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		if (len < (socklen_t)sizeof *in) {
			errno = EINVAL;
			return NULL;
		}
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
		n = snprintf(buf, size, "%s:%u", host, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (len < (socklen_t)sizeof *in6) {
			errno = EINVAL;
			return NULL;
		}
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
		if (in6->sin6_scope_id != 0)
			n = snprintf(buf, size, "[%s%%%u]:%u", host,
			             (unsigned)in6->sin6_scope_id,
			             ntohs(in6->sin6_port));
		else
			n = snprintf(buf, size, "[%s]:%u", host, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t plen = (size_t)len > off ? (size_t)len - off : 0;
		if (plen > sizeof un->sun_path)
			plen = sizeof un->sun_path;
		if (plen > 0 && un->sun_path[0] == '\0')   /* Linux abstract */
			n = snprintf(buf, size, "@%.*s", (int)(plen - 1), un->sun_path + 1);
		else
			n = snprintf(buf, size, "%.*s", (int)strnlen(un->sun_path, plen),
			             un->sun_path);
		break;
	}
	default:
		errno = EAFNOSUPPORT;
		return NULL;
	}
	if (n < 0 || (size_t)n >= size) {
		errno = ENOSPC;
		return NULL;
	}
	return buf;
}

char *
sio__fd_address(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) < 0)
		return NULL;
	return sio_sockaddr_text((const struct sockaddr *)&ss, sslen, buf, len);
}

int
sio__check_service(const char *service)
{
	if (service == NULL || *service == '\0') {
		errno = EINVAL;
		return -1;
	}
	/* A number is a port: getaddrinfo() would take 99999 modulo 65536. */
	if (strspn(service, "0123456789") == strlen(service)) {
		if (strlen(service) > 5 || strtoul(service, NULL, 10) > 65535) {
			errno = EINVAL;
			return -1;
		}
	}
	return 0;
}

int
sio__resolve(const char *host, const char *service, int socktype, int flags,
             struct addrinfo **res)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = socktype,
	                          .ai_flags = flags };

	resolve_error = "";
	int rc = getaddrinfo(host, service, &hints, res);
	if (rc == 0)
		return 0;
	resolve_error = gai_strerror(rc);
	switch (rc) {
	case EAI_AGAIN:
		errno = EAGAIN;
		break;
	case EAI_MEMORY:
		errno = ENOMEM;
		break;
	case EAI_SYSTEM:
		if (errno == 0)
			errno = EADDRNOTAVAIL;
		break;
	default:
		errno = EADDRNOTAVAIL;
	}
	*res = NULL;
	return -1;
}

/* The port of an inet address (network order), or 0. */
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

/* One socket bound (and listening, for SOCK_STREAM) on `ai`, on `port`
 * (network order) instead of ai's when that is not 0. */
static int
bind_one(const struct addrinfo *ai, int socktype, int flags, int reuseaddr,
         in_port_t port)
{
	struct sockaddr_storage ss;
	int one = 1;

	if (ai->ai_addrlen > sizeof ss) {
		errno = EINVAL;
		return -1;
	}
	int fd = sio__socket(ai->ai_family, socktype, ai->ai_protocol);
	if (fd < 0)
		return -1;
	if (reuseaddr &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		goto err;
	if (flags & SIO_LISTEN_REUSEPORT) {
#ifdef SO_REUSEPORT
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
			goto err;
#else
		errno = ENOPROTOOPT;
		goto err;
#endif
	}
	/* So that 0.0.0.0 and :: can both be bound on one port. */
	if (ai->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
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

/* True when `ai` repeats an address met earlier in the list (a hosts file
 * may name one address twice: binding it twice would fail). */
static int
seen_before(const struct addrinfo *res, const struct addrinfo *ai)
{
	for (const struct addrinfo *p = res; p != ai; p = p->ai_next)
		if (p->ai_family == ai->ai_family && p->ai_addrlen == ai->ai_addrlen &&
		    memcmp(p->ai_addr, ai->ai_addr, ai->ai_addrlen) == 0)
			return 1;
	return 0;
}

void
sio__bound_close(struct sio__bound *b)
{
	for (size_t i = 0; i < b->n; i++)
		close(b->fds[i]);
	free(b->fds);
	b->fds = NULL;
	b->n = 0;
}

/* One attempt at binding every address of `res`.  *retry is set when the
 * attempt failed only because the shared port 0 choice was taken. */
static int
bind_all(const struct addrinfo *res, int socktype, int flags, int reuseaddr,
         struct sio__bound *out, int *retry)
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
err:;
	int saved = errno;
	sio__bound_close(out);
	errno = saved;
	return -1;
}

int
sio__bind_service(const char *host, const char *service, int socktype,
                  int flags, int reuseaddr, struct sio__bound *out)
{
	struct addrinfo *res;
	int rc = -1, retry = 0;

	if (sio__check_service(service) < 0)
		return -1;
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

/* ---- listeners ------------------------------------------------------------- */

/* One listening socket and its watcher. */
struct lsock {
	int fd;
	sio_io *io;
};

struct sio_listener {
	sio_loop *loop;
	sio_accept_cb cb;
	void *arg;
	struct lsock *socks;    /* n listening sockets */
	size_t n;
	int reserve;            /* /dev/null, given up to accept one connection
	                           when out of fds; -1 when we have none */
	sio_timer *pause;       /* set while accepting pauses after a shortage */
	uint64_t refused;       /* connections closed unserved, out of fds */
	char *path;             /* the Unix socket file we created, or NULL */
	dev_t dev;              /* ... and its identity, checked before */
	ino_t ino;              /*     sio_listener_free() unlinks it */
	int depth;              /* accept callbacks of ours on the stack */
	int dead;               /* freed inside one: free() when they return */
};

static int
open_reserve(void)
{
	int fd;
	do
		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	return fd;
}

/* accept() a nonblocking close-on-exec connection. */
static int
accept_nb(int lfd, struct sockaddr *sa, socklen_t *len)
{
#ifdef HAVE_ACCEPT4
	int fd = accept4(lfd, sa, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0 || errno != ENOSYS)
		return fd;
#endif
	int c = accept(lfd, sa, len);
	if (c < 0)
		return -1;
	if (sio__nonblock_cloexec(c) < 0) {
		close(c);
		errno = ECONNABORTED;   /* skipped, as an aborted connection */
		return -1;
	}
	return c;
}

/* Failures of one connection, not of the listener: skip it. */
static int
accept_skippable(int err)
{
	switch (err) {
	case EINTR: case ECONNABORTED: case EPROTO: case EPERM:
#ifdef ENONET
	case ENONET:
#endif
	case ENETDOWN: case ENETUNREACH: case EHOSTDOWN: case EHOSTUNREACH:
	case ENOPROTOOPT: case ETIMEDOUT:
		return 1;
	}
	return 0;
}

static void listener_resume(sio_timer *t, void *arg);

/* Stop watching the sockets for PAUSE_MS: the level-triggered watchers
 * would otherwise be called again at once for a connection we cannot
 * take. */
static void
listener_pause(sio_listener *l)
{
	if (l->pause != NULL)
		return;
	l->pause = sio_timer_start(l->loop, PAUSE_MS, 0, listener_resume, l);
	if (l->pause == NULL)
		return;         /* no memory for a timer: keep serving */
	for (size_t i = 0; i < l->n; i++)
		(void)sio_io_set(l->socks[i].io, 0);
}

static void
listener_resume(sio_timer *t, void *arg)
{
	sio_listener *l = arg;

	sio_timer_stop(t);
	l->pause = NULL;
	if (l->reserve < 0)
		l->reserve = open_reserve();
	for (size_t i = 0; i < l->n; i++)
		if (sio_io_set(l->socks[i].io, SIO_READ) < 0) {
			listener_pause(l);
			return;
		}
}

/* Out of fds: give up the reserve to take the waiting connection off the
 * queue and close it.  Returns 0 when one was refused, 1 when none was
 * waiting any more, -1 (errno) when that did not work either. */
static int
refuse_one(sio_listener *l, int lfd)
{
	if (l->reserve < 0)
		return -1;
	close(l->reserve);
	int c = accept_nb(lfd, NULL, NULL);
	int saved = errno;
	if (c >= 0) {
		close(c);
		l->refused++;
	}
	l->reserve = open_reserve();
	if (c >= 0)
		return 0;
	if (saved == EAGAIN || saved == EWOULDBLOCK)
		return 1;
	errno = saved;
	return -1;
}

static void
listener_io_cb(sio_io *io, int lfd, unsigned revents, void *arg)
{
	sio_listener *l = arg;

	l->depth++;
	for (int i = 0; i < ACCEPTS_PER_CALL && !l->dead && l->pause == NULL; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int c = accept_nb(lfd, (struct sockaddr *)&ss, &len);
		if (c >= 0) {
			l->cb(l, c, (struct sockaddr *)&ss, len, l->arg);
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			break;
		if (accept_skippable(errno))
			continue;
		if (errno == EMFILE || errno == ENFILE) {
			int r = refuse_one(l, lfd);
			if (r == 0)
				continue;
			if (r == 1)
				break;
		}
		listener_pause(l);      /* out of fds or memory, or stranger */
		break;
	}
	l->depth--;
	if (l->dead && l->depth == 0)
		free(l);
}

/* A listener on the bound sockets fds[0..n-1], which it takes on success
 * (on failure they stay the caller's, open). */
static sio_listener *
listener_new(sio_loop *loop, const int *fds, size_t n, sio_accept_cb cb, void *arg)
{
	sio_listener *l = calloc(1, sizeof *l);
	if (l == NULL)
		return NULL;
	*l = (struct sio_listener){ .loop = loop, .cb = cb, .arg = arg,
	                            .reserve = -1 };
	l->socks = calloc(n, sizeof *l->socks);
	if (l->socks == NULL)
		goto err;
	for (; l->n < n; l->n++) {
		struct lsock *s = &l->socks[l->n];
		s->fd = fds[l->n];
		s->io = sio_io_start(loop, s->fd, SIO_READ, listener_io_cb, l);
		if (s->io == NULL)
			goto err;
	}
	/* Without a reserve the listener still copes, by pausing. */
	l->reserve = open_reserve();
	return l;
err:;
	int saved = errno;
	for (size_t i = 0; i < l->n; i++)
		sio_io_stop(l->socks[i].io);
	free(l->socks);
	free(l);
	errno = saved;
	return NULL;
}

sio_listener *
sio_listen_tcp(sio_loop *loop, const char *host, const char *service, int flags,
               sio_accept_cb cb, void *arg)
{
	struct sio__bound b;

	if (loop == NULL || cb == NULL || (flags & ~SIO_LISTEN_REUSEPORT)) {
		errno = EINVAL;
		return NULL;
	}
	if (sio__bind_service(host, service, SOCK_STREAM, flags, 1, &b) < 0)
		return NULL;
	sio_listener *l = listener_new(loop, b.fds, b.n, cb, arg);
	if (l == NULL) {
		int saved = errno;
		sio__bound_close(&b);
		errno = saved;
		return NULL;
	}
	free(b.fds);
	return l;
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

/* Whether the socket file at `sun` is stale: a socket nobody listens on
 * (a connect() of `type` is refused).  Anything else is live, or not ours
 * to remove. */
static int
unix_stale(const struct sockaddr_un *sun, socklen_t len, int type)
{
	struct stat st;

	if (lstat(sun->sun_path, &st) < 0)
		return errno == ENOENT;         /* gone meanwhile: bind again */
	if (!S_ISSOCK(st.st_mode))
		return 0;
	int probe = sio__socket(AF_UNIX, type, 0);
	if (probe < 0)
		return 0;
	int rc;
	do
		rc = connect(probe, (const struct sockaddr *)sun, len);
	while (rc < 0 && errno == EINTR);
	int stale = rc < 0 && (errno == ECONNREFUSED || errno == ENOENT);
	close(probe);
	return stale;
}

/* A Unix socket bound at `path` and listening; a stale file replaced. */
static int
unix_bind(const char *path, int type)
{
	struct sockaddr_un sun;
	socklen_t len;

	if (sio__unix_address(path, &sun, &len) < 0)
		return -1;
	int fd = sio__socket(AF_UNIX, type, 0);
	if (fd < 0)
		return -1;
	int rc = bind(fd, (struct sockaddr *)&sun, len);
	if (rc < 0 && errno == EADDRINUSE) {
		if (!unix_stale(&sun, len, type)) {
			errno = EADDRINUSE;
			goto err;
		}
		if (unlink(path) < 0 && errno != ENOENT)
			goto err;
		rc = bind(fd, (struct sockaddr *)&sun, len);
	}
	if (rc < 0)
		goto err;
	if (listen(fd, SOMAXCONN) < 0) {
		int saved = errno;
		unlink(path);
		errno = saved;
		goto err;
	}
	return fd;
err:;
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

sio_listener *
sio_listen_unix(sio_loop *loop, const char *path, int type, int flags,
                sio_accept_cb cb, void *arg)
{
	struct stat st;

	if (loop == NULL || cb == NULL || flags != 0 ||
	    (type != SOCK_STREAM && type != SOCK_SEQPACKET)) {
		errno = EINVAL;
		return NULL;
	}
	int fd = unix_bind(path, type);
	if (fd < 0)
		return NULL;
	char *copy = strdup(path);
	if (copy == NULL || lstat(path, &st) < 0)
		goto err;
	sio_listener *l = listener_new(loop, &fd, 1, cb, arg);
	if (l == NULL)
		goto err;
	l->path = copy;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	return l;
err:;
	int saved = errno;
	unlink(path);
	close(fd);
	free(copy);
	errno = saved;
	return NULL;
}

size_t
sio_listener_count(const sio_listener *l)
{
	return l == NULL ? 0 : l->n;
}

int
sio_listener_fd(const sio_listener *l, size_t i)
{
	if (l == NULL || i >= l->n) {
		errno = EINVAL;
		return -1;
	}
	return l->socks[i].fd;
}

char *
sio_listener_address(const sio_listener *l, size_t i, char *buf, size_t len)
{
	if (l == NULL || buf == NULL || i >= l->n) {
		errno = EINVAL;
		return NULL;
	}
	return sio__fd_address(l->socks[i].fd, buf, len);
}

uint64_t
sio_listener_refused(const sio_listener *l)
{
	return l == NULL ? 0 : l->refused;
}

void
sio_listener_free(sio_listener *l)
{
	struct stat st;

	if (l == NULL || l->dead)
		return;
	for (size_t i = 0; i < l->n; i++) {
		sio_io_stop(l->socks[i].io);
		close(l->socks[i].fd);
	}
	free(l->socks);
	l->socks = NULL;
	l->n = 0;
	sio_timer_stop(l->pause);
	l->pause = NULL;
	if (l->reserve >= 0)
		close(l->reserve);
	/* Only our own file: another listener may have replaced it since. */
	if (l->path != NULL && lstat(l->path, &st) == 0 &&
	    st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(l->path);
	free(l->path);
	l->dead = 1;
	if (l->depth == 0)
		free(l);
}
