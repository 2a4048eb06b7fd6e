/*
 * dgram.c - datagram sockets: whole messages in with the sender's address
 * (recvmsg), out to an address (sendmsg), one watcher per bound socket.
 *
 * Quirks handled: a datagram longer than the buffer is cut, and only
 * MSG_TRUNC in msg_flags says so; ICMP errors (a port unreachable for an
 * earlier send) come back as a receive error, which consumes nothing but
 * the error and must not stop the socket; a connected SOCK_SEQPACKET
 * socket reads 0 forever after its peer left, so it is watched no more.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sockets.h"

/* Datagrams received per socket per callback at most, so that a flood on
 * one socket does not starve the other watchers. */
#define RECVS_PER_CALL 64

#define DEFAULT_BUFSIZE 65536

/* What the object keeps beside each fd of its set. */
struct dsock {
	sio_dgram *d;           /* the object, for the watcher's callback */
	sio_io *io;             /* NULL once a seqpacket peer left */
	int family;
	int type;
};

struct sio_dgram {
	sio_loop *loop;
	sio_dgram_cb cb;
	void *arg;
	struct sio__fdset socks;        /* the sockets */
	unsigned char *buf;     /* bufsize bytes, shared by the sockets */
	size_t bufsize;
	uint64_t truncated;
	int depth;              /* callbacks of ours on the stack */
	int dead;               /* freed inside one: free() when they return */
	struct dsock ds[];      /* socks.n, socks.fds[i]'s at i: in the same
	                           allocation, one malloc() for both */
};

/* Receive errors that belong to an earlier datagram, not to the socket. */
static int
icmp_error(int err)
{
	return err == ECONNREFUSED || err == EHOSTUNREACH || err == ENETUNREACH ||
	       err == EHOSTDOWN || err == ENETDOWN || err == ETIMEDOUT ||
	       err == EMSGSIZE || err == ENOPROTOOPT || err == EPROTO;
}

/* A seqpacket peer left: say so once, and stop watching. */
static void
dgram_peer_gone(sio_dgram *d, struct dsock *ds)
{
	sio_io_stop(ds->io);
	ds->io = NULL;
	d->cb(d, NULL, 0, NULL, 0, 0, d->arg);
}

/* The memory, once the sockets are closed and no callback is on the
 * stack. */
static void
dgram_release(sio_dgram *d)
{
	free(d->buf);
	free(d->socks.fds);
	free(d);
}

static void
dgram_io_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct dsock *ds = arg;
	sio_dgram *d = ds->d;

	d->depth++;
	for (int i = 0; i < RECVS_PER_CALL && !d->dead && ds->io != NULL; i++) {
		struct sockaddr_storage from;
		struct iovec iov = { .iov_base = d->buf, .iov_len = d->bufsize };
		struct msghdr m = { .msg_name = &from, .msg_namelen = sizeof from,
		                    .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n = recvmsg(fd, &m, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (ds->type == SOCK_SEQPACKET) {
				dgram_peer_gone(d, ds);
				break;
			}
			if (icmp_error(errno))
				continue;
			break;          /* ENOBUFS, ENOMEM: next iteration */
		}
		if (n == 0 && ds->type == SOCK_SEQPACKET) {
			dgram_peer_gone(d, ds);
			break;
		}
		int cut = (m.msg_flags & MSG_TRUNC) != 0;
		if (cut)
			d->truncated++;
		d->cb(d, d->buf, (size_t)n,
		      m.msg_namelen > 0 ? (const struct sockaddr *)&from : NULL,
		      m.msg_namelen, cut, d->arg);
	}
	d->depth--;
	if (d->dead && d->depth == 0)
		dgram_release(d);
}

/* Watch socket `fd` as ds[i]: its family (for sends) and type (for a
 * seqpacket peer leaving) first. */
static int
dsock_start(sio_dgram *d, size_t i, int fd)
{
	struct dsock *ds = &d->ds[i];
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	socklen_t tlen = sizeof ds->type;

	ds->d = d;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_TYPE, &ds->type, &tlen) < 0)
		return -1;
	ds->family = ss.ss_family;
	sio__nosigpipe(fd);
	ds->io = sio_io_start(d->loop, fd, SIO_READ, dgram_io_cb, ds);
	return ds->io == NULL ? -1 : 0;
}

/* An object on the sockets of *set, which it takes on success (on failure
 * they stay the caller's, open). */
static sio_dgram *
dgram_make(sio_loop *loop, const struct sio__fdset *set, size_t bufsize,
           sio_dgram_cb cb, void *arg)
{
	size_t started = 0;
	sio_dgram *d = calloc(1, sizeof *d + set->n * sizeof d->ds[0]);
	if (d == NULL)
		return NULL;
	d->loop = loop;
	d->cb = cb;
	d->arg = arg;
	d->bufsize = bufsize ? bufsize : DEFAULT_BUFSIZE;
	d->buf = malloc(d->bufsize);
	if (d->buf == NULL)
		goto err;
	for (; started < set->n; started++)
		if (dsock_start(d, started, set->fds[started]) < 0)
			goto err;
	d->socks = *set;
	return d;
err:;
	int saved = errno;
	for (size_t i = 0; i < started; i++)
		sio_io_stop(d->ds[i].io);
	free(d->buf);
	free(d);
	errno = saved;
	return NULL;
}

sio_dgram *
sio_dgram_bind(sio_loop *loop, const char *host, const char *service, int flags,
               size_t bufsize, sio_dgram_cb cb, void *arg)
{
	struct sio__fdset set;

	if (loop == NULL || cb == NULL || (flags & ~SIO_LISTEN_REUSEPORT)) {
		errno = EINVAL;
		return NULL;
	}
	/* No SO_REUSEADDR: on UDP it lets a second socket share the port. */
	if (sio__bind_service(host, service, SOCK_DGRAM, flags, 0, &set) < 0)
		return NULL;
	sio_dgram *d = dgram_make(loop, &set, bufsize, cb, arg);
	if (d == NULL)
		sio__fdset_close(&set);
	return d;
}

sio_dgram *
sio_dgram_new(sio_loop *loop, int fd, size_t bufsize, sio_dgram_cb cb, void *arg)
{
	int type = 0;
	socklen_t len = sizeof type;
	struct sio__fdset set;

	if (loop == NULL || cb == NULL) {
		errno = EINVAL;
		return NULL;
	}
	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return NULL;
	if (type != SOCK_DGRAM && type != SOCK_SEQPACKET) {
		errno = EINVAL;
		return NULL;
	}
	if (sio__fdset_one(&set, fd) < 0)
		return NULL;
	sio_dgram *d = dgram_make(loop, &set, bufsize, cb, arg);
	if (d == NULL) {
		int saved = errno;
		free(set.fds);
		errno = saved;
	}
	return d;
}

int
sio_dgram_send(sio_dgram *d, const void *data, size_t len,
               const struct sockaddr *to, socklen_t tolen)
{
	if (d == NULL || (data == NULL && len > 0) ||
	    (to != NULL && tolen < (socklen_t)sizeof(sa_family_t))) {
		errno = EINVAL;
		return -1;
	}
	size_t i = 0;
	while (i < d->socks.n && to != NULL && d->ds[i].family != to->sa_family)
		i++;
	if (i == d->socks.n) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = to ? tolen : 0,
	                    .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;
	do
		n = sendmsg(d->socks.fds[i], &m, SIO__SEND_FLAGS);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -1 : 0;
}

size_t
sio_dgram_count(const sio_dgram *d)
{
	return sio__fdset_count(d == NULL ? NULL : &d->socks);
}

int
sio_dgram_fd(const sio_dgram *d, size_t i)
{
	return sio__fdset_fd(d == NULL ? NULL : &d->socks, i);
}

char *
sio_dgram_address(const sio_dgram *d, size_t i, char *buf, size_t len)
{
	return sio__fdset_address(d == NULL ? NULL : &d->socks, i, buf, len);
}

uint64_t
sio_dgram_truncated(const sio_dgram *d)
{
	return d == NULL ? 0 : d->truncated;
}

void
sio_dgram_free(sio_dgram *d)
{
	if (d == NULL || d->dead)
		return;
	for (size_t i = 0; i < d->socks.n; i++) {
		sio_io_stop(d->ds[i].io);
		d->ds[i].io = NULL;
		close(d->socks.fds[i]);
	}
	d->dead = 1;
	if (d->depth > 0)
		return;         /* the callback below us frees the rest */
	dgram_release(d);
}
