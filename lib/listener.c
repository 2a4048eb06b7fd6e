/*
 * listener.c - listening sockets: TCP on what getaddrinfo() gives, Unix
 * stream and seqpacket paths, each connection accepted nonblocking and
 * close-on-exec and handed to the application.  The sockets are made and
 * bound by sockets.c, which stream.c and dgram.c share.
 *
 * Uses the public API only, as an application could.  What it works
 * around:
 * - accept() failing with EMFILE or ENFILE leaves the connection waiting,
 *   so a level-triggered listener would be called again at once, forever.
 *   A reserved fd is given up to take the connection and close it; failing
 *   that, accepting pauses for a while.
 * - A Unix socket file outlives its listener: bind() then says EADDRINUSE
 *   although nobody listens.  A connect() tells a stale file from a live one.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdflags.h"
#include "sockets.h"

/* Connections accepted per callback at most: the rest waits for the next
 * iteration, so that a flood does not starve the other watchers. */
#define ACCEPTS_PER_CALL 64

/* How long accepting pauses when even the reserved fd did not help. */
#define PAUSE_MS 100

struct sio_listener {
	sio_loop *loop;
	sio_accept_cb cb;
	void *arg;
	struct sio__fdset socks;        /* the listening sockets */
	int reserve;            /* /dev/null, given up to accept one connection
	                           when out of fds; -1 when we have none */
	sio_timer *pause;       /* set while accepting pauses after a shortage */
	uint64_t refused;       /* connections closed unserved, out of fds */
	char *path;             /* the Unix socket file we created, or NULL */
	dev_t dev;              /* ... and its identity, checked before */
	ino_t ino;              /*     sio_listener_free() unlinks it */
	int depth;              /* accept callbacks of ours on the stack */
	int dead;               /* freed inside one: free() when they return */
	sio_io *io[];           /* socks.n watchers, one per socket: in the
	                           same allocation, one malloc() for both */
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
	if (sio__fd_nonblock_cloexec(c) < 0) {
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
	for (size_t i = 0; i < l->socks.n; i++)
		(void)sio_io_set(l->io[i], 0);
}

static void
listener_resume(sio_timer *t, void *arg)
{
	sio_listener *l = arg;

	sio_timer_stop(t);
	l->pause = NULL;
	if (l->reserve < 0)
		l->reserve = open_reserve();
	for (size_t i = 0; i < l->socks.n; i++)
		if (sio_io_set(l->io[i], SIO_READ) < 0) {
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

/* A listener on the bound sockets of *set, which it takes on success (on
 * failure they stay the caller's, open). */
static sio_listener *
listener_new(sio_loop *loop, const struct sio__fdset *set, sio_accept_cb cb,
             void *arg)
{
	size_t started = 0;
	sio_listener *l = calloc(1, sizeof *l + set->n * sizeof l->io[0]);
	if (l == NULL)
		return NULL;
	l->loop = loop;
	l->cb = cb;
	l->arg = arg;
	l->reserve = -1;
	for (; started < set->n; started++) {
		l->io[started] = sio_io_start(loop, set->fds[started], SIO_READ,
		                              listener_io_cb, l);
		if (l->io[started] == NULL)
			goto err;
	}
	l->socks = *set;
	/* Without a reserve the listener still copes, by pausing. */
	l->reserve = open_reserve();
	return l;
err:;
	int saved = errno;
	for (size_t i = 0; i < started; i++)
		sio_io_stop(l->io[i]);
	free(l);
	errno = saved;
	return NULL;
}

sio_listener *
sio_listen_tcp(sio_loop *loop, const char *host, const char *service, int flags,
               sio_accept_cb cb, void *arg)
{
	struct sio__fdset set;

	if (loop == NULL || cb == NULL || (flags & ~SIO_LISTEN_REUSEPORT)) {
		errno = EINVAL;
		return NULL;
	}
	if (sio__bind_service(host, service, SOCK_STREAM, flags, 1, &set) < 0)
		return NULL;
	sio_listener *l = listener_new(loop, &set, cb, arg);
	if (l == NULL)
		sio__fdset_close(&set);
	return l;
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
	struct sio__fdset set = { NULL, 0 };

	if (loop == NULL || cb == NULL || flags != 0 ||
	    (type != SOCK_STREAM && type != SOCK_SEQPACKET)) {
		errno = EINVAL;
		return NULL;
	}
	int fd = unix_bind(path, type);
	if (fd < 0)
		return NULL;
	char *copy = strdup(path);
	if (copy == NULL || lstat(path, &st) < 0 || sio__fdset_one(&set, fd) < 0)
		goto err;
	sio_listener *l = listener_new(loop, &set, cb, arg);
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
	free(set.fds);
	errno = saved;
	return NULL;
}

size_t
sio_listener_count(const sio_listener *l)
{
	return sio__fdset_count(l == NULL ? NULL : &l->socks);
}

int
sio_listener_fd(const sio_listener *l, size_t i)
{
	return sio__fdset_fd(l == NULL ? NULL : &l->socks, i);
}

char *
sio_listener_address(const sio_listener *l, size_t i, char *buf, size_t len)
{
	return sio__fdset_address(l == NULL ? NULL : &l->socks, i, buf, len);
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
	for (size_t i = 0; i < l->socks.n; i++)
		sio_io_stop(l->io[i]);
	sio__fdset_close(&l->socks);
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
