/*
 * connect.c - connecting without blocking the loop: sio_connect_start()
 * (a lookup on the worker pool, then the addresses raced as RFC 8305,
 * Happy Eyeballs, says) and sio_connect_unix_start().
 *
 * A connector owns everything it started: the lookup, one socket and
 * watcher per attempt running, the overall deadline and the timer of the
 * next attempt.  Whatever ends it (a winner, the last failure, the
 * deadline, a cancel) goes through connector_end(), which stops and
 * closes all of that before the callback, so that nothing of a finished
 * connector can run again.
 *
 * A stream layer room: it uses the public API (watchers, timers,
 * sio_getaddrinfo()) and sockets.c, as listener.c and stream.c do.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "sockets.h"

/* RFC 8305 section 5: the recommended Connection Attempt Delay. */
#define ATTEMPT_DELAY_MS 250
/* A full Unix backlog gives no word when it drains: try again after
 * these, doubling. */
#define UNIX_RETRY_FIRST_MS 1
#define UNIX_RETRY_MAX_MS 50

struct attempt {
	int fd;                  /* -1: not running */
	sio_io *io;
};

struct sio_connector {
	sio_loop *loop;
	sio_connect_cb cb;
	void *arg;
	sio_lookup *lookup;      /* until it answered */
	sio_timer *deadline;     /* timeout_ms, or NULL */
	sio_timer *next_timer;   /* TCP: the next attempt; Unix: a try */
	struct sockaddr_storage *addrs;  /* in the order of RFC 8305 §4 */
	socklen_t *lens;
	struct attempt *att;     /* one per address */
	size_t naddrs, next;     /* next: the first not yet tried */
	size_t running;
	int last_err;            /* of the attempt that failed last */
	/* Unix */
	struct sockaddr_un sun;
	socklen_t sunlen;
	unsigned retry_ms;
	int ended;               /* the callback runs */
};

/* ---- the end ------------------------------------------------------------------ */

static void
attempt_close(struct attempt *a)
{
	if (a->fd < 0)
		return;
	sio_io_stop(a->io);      /* stopped first: the fd number may be reused */
	close(a->fd);
	a->fd = -1;
	a->io = NULL;
}

/* Stop and close everything the connector started; the struct stays
 * (its callback may still be running) unless `free_it`. */
static void
connector_release(struct sio_connector *c, int free_it)
{
	sio_lookup_cancel(c->lookup);
	c->lookup = NULL;
	sio_timer_stop(c->deadline);
	sio_timer_stop(c->next_timer);
	c->deadline = c->next_timer = NULL;
	for (size_t i = 0; i < c->naddrs; i++)
		attempt_close(&c->att[i]);
	if (!free_it)
		return;
	free(c->addrs);
	free(c->lens);
	free(c->att);
	free(c);
}

/* Everything stopped and closed (but `fd`, the winner's, handed over),
 * then the callback, then the memory: a cancel from inside the callback
 * finds the connector ended and does nothing.  The winner's watcher is
 * stopped only after the callback: a watcher the callback starts on the
 * fd (most often a stream's) then joins an fd still armed, and stopping
 * ours only changes the events wanted.  Stopped first, the fd would be
 * disarmed and armed again (owner, signal, O_ASYNC: 9 system calls on
 * rtsig).  If the callback closed the fd, the stop's undoing of O_ASYNC
 * meets EBADF, or a new file of that number without O_ASYNC, and changes
 * nothing; a watcher started on such a new file kills ours first. */
static void
connector_end(struct sio_connector *c, int fd, int err)
{
	sio_io *winner = NULL;
	for (size_t i = 0; i < c->naddrs; i++) {
		if (c->att[i].fd == fd && fd >= 0) {
			winner = c->att[i].io;
			c->att[i].io = NULL;
			c->att[i].fd = -1;
		}
	}
	connector_release(c, 0);
	c->ended = 1;
	c->cb(c, fd, err, c->arg);
	sio_io_stop(winner);
	connector_release(c, 1);
}

static void
deadline_cb(sio_timer *t, void *arg)
{
	(void)t;
	connector_end(arg, -1, ETIMEDOUT);
}

/* ---- Happy Eyeballs --------------------------------------------------------- */

/* RFC 8305 §4: the families interleaved, one address at a time, starting
 * with the family of the first address getaddrinfo() gave; what is left of
 * the longer list follows in its order.  Families other than IPv4 and
 * IPv6 are left out. */
static size_t
order_addresses(struct sio_connector *c, const struct addrinfo *res)
{
	int first = 0;
	size_t n = 0, taken[2] = { 0, 0 };
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		if (first == 0)
			first = ai->ai_family;
	}
	int fam[2] = { first, first == AF_INET ? AF_INET6 : AF_INET };
	for (int turn = 0;; turn ^= 1) {
		const struct addrinfo *pick = NULL;
		for (int k = 0; k < 2 && pick == NULL; k++) {
			int f = (turn + k) & 1;
			size_t seen = 0;
			for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
				if (ai->ai_family != fam[f])
					continue;
				if (seen++ == taken[f]) {
					pick = ai;
					taken[f]++;
					break;
				}
			}
		}
		if (pick == NULL)
			return n;
		memcpy(&c->addrs[n], pick->ai_addr, pick->ai_addrlen);
		c->lens[n++] = pick->ai_addrlen;
	}
}

static void start_next(struct sio_connector *c);

static struct attempt *
attempt_of(struct sio_connector *c, int fd)
{
	for (size_t i = 0; i < c->naddrs; i++)
		if (c->att[i].fd == fd)
			return &c->att[i];
	return NULL;
}

/* Writable: connected or failed.  A report without SIO_WRITE and without
 * an error (a hang-up seen before the handshake ended) is checked with
 * getpeername(), and waits on if the handshake still runs. */
static void
attempt_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)io;
	struct sio_connector *c = arg;
	int soerr = 0;
	socklen_t sl = sizeof soerr;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr == 0 && (revents & SIO_WRITE)) {
		connector_end(c, fd, 0);
		return;
	}
	if (soerr == 0) {
		struct sockaddr_storage peer;
		socklen_t pl = sizeof peer;
		if (getpeername(fd, (struct sockaddr *)&peer, &pl) == 0) {
			connector_end(c, fd, 0);
			return;
		}
		if (errno != ENOTCONN)
			soerr = errno;
		else
			return;
	}
	c->last_err = soerr;
	attempt_close(attempt_of(c, fd));
	c->running--;
	start_next(c);           /* a failure starts the next one at once */
}

static void
next_timer_cb(sio_timer *t, void *arg)
{
	(void)t;
	start_next(arg);
}

/* Arm the Connection Attempt Delay for the address after this one. */
static int
arm_delay(struct sio_connector *c)
{
	if (c->next >= c->naddrs)
		return 0;
	if (c->next_timer != NULL)
		return sio_timer_again(c->next_timer, ATTEMPT_DELAY_MS, 0);
	c->next_timer = sio_timer_start(c->loop, ATTEMPT_DELAY_MS, 0, next_timer_cb, c);
	return c->next_timer == NULL ? -1 : 0;
}

/* connect() of address i.  1: running, 0: connected (the connector is
 * over), -1: failed at once (c->last_err). */
static int
attempt_start(struct sio_connector *c, size_t i)
{
	struct attempt *a = &c->att[i];
	int fd = sio__socket(c->addrs[i].ss_family, SOCK_STREAM, 0);
	if (fd < 0) {
		c->last_err = errno;
		return -1;
	}
	/* EINTR: the connection goes on in the background, as EINPROGRESS. */
	if (connect(fd, (struct sockaddr *)&c->addrs[i], c->lens[i]) < 0 &&
	    errno != EINPROGRESS && errno != EINTR) {
		c->last_err = errno;
		close(fd);
		return -1;
	}
	a->io = sio_io_start(c->loop, fd, SIO_WRITE, attempt_cb, c);
	if (a->io == NULL) {
		c->last_err = errno;
		close(fd);
		return -1;
	}
	a->fd = fd;
	c->running++;
	return 1;
}

/* The next address that starts, with the delay armed for the one after
 * it; if none is left and nothing runs, the connector has failed. */
static void
start_next(struct sio_connector *c)
{
	while (c->next < c->naddrs) {
		if (attempt_start(c, c->next++) < 0)
			continue;
		if (arm_delay(c) < 0) {
			connector_end(c, -1, errno);
			return;
		}
		return;
	}
	if (c->running == 0)
		connector_end(c, -1, c->last_err);
}

static void
lookup_cb(sio_lookup *q, int status, const struct addrinfo *res, void *arg)
{
	(void)q;
	struct sio_connector *c = arg;
	c->lookup = NULL;
	if (status != 0) {
		sio__resolve_error_set(gai_strerror(status));
		connector_end(c, -1, sio__resolve_errno(status, EADDRNOTAVAIL));
		return;
	}
	size_t n = 0;
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
		n++;
	c->addrs = calloc(n, sizeof *c->addrs);
	c->lens = calloc(n, sizeof *c->lens);
	c->att = calloc(n, sizeof *c->att);
	if (c->addrs == NULL || c->lens == NULL || c->att == NULL) {
		connector_end(c, -1, ENOMEM);
		return;
	}
	for (size_t i = 0; i < n; i++)
		c->att[i].fd = -1;
	c->naddrs = order_addresses(c, res);
	start_next(c);
}

static struct sio_connector *
connector_new(sio_loop *loop, int timeout_ms, sio_connect_cb cb, void *arg)
{
	struct sio_connector *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	c->loop = loop;
	c->cb = cb;
	c->arg = arg;
	c->last_err = EADDRNOTAVAIL;     /* no address of a family we connect */
	if (timeout_ms >= 0) {
		c->deadline = sio_timer_start(loop, (uint64_t)timeout_ms, 0, deadline_cb, c);
		if (c->deadline == NULL) {
			free(c);
			return NULL;
		}
	}
	return c;
}

sio_connector *
sio_connect_start(sio_loop *loop, const char *host, const char *service,
                  int timeout_ms, sio_connect_cb cb, void *arg)
{
	if (loop == NULL || host == NULL || cb == NULL ||
	    sio__check_service(service) < 0) {
		errno = EINVAL;
		return NULL;
	}
	struct sio_connector *c = connector_new(loop, timeout_ms, cb, arg);
	if (c == NULL)
		return NULL;
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	c->lookup = sio_getaddrinfo(loop, host, service, &hints, lookup_cb, c);
	if (c->lookup == NULL) {
		int saved = errno;
		connector_release(c, 1);
		errno = saved;
		return NULL;
	}
	return c;
}

/* ---- Unix ------------------------------------------------------------------------ */

/* One try.  The first runs from a 0 ms timer, so that even a result known
 * at once reaches the callback from the loop, never from the call. */
static void
unix_try_cb(sio_timer *t, void *arg)
{
	(void)t;
	struct sio_connector *c = arg;
	struct attempt *a = &c->att[0];
	int rc = connect(a->fd, (struct sockaddr *)&c->sun, c->sunlen);
	if (rc == 0 || errno == EISCONN) {
		int fd = a->fd;
		a->fd = -1;
		connector_end(c, fd, 0);
		return;
	}
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		/* The backlog is full: no event says when it drains. */
		(void)sio_timer_again(c->next_timer, c->retry_ms, 0);
		if (c->retry_ms < UNIX_RETRY_MAX_MS)
			c->retry_ms = c->retry_ms * 2 < UNIX_RETRY_MAX_MS ?
			              c->retry_ms * 2 : UNIX_RETRY_MAX_MS;
		return;
	}
	if (errno == EINPROGRESS || errno == EALREADY) {
		/* Systems whose Unix connect completes in the background. */
		if (a->io == NULL && (a->io = sio_io_start(c->loop, a->fd, SIO_WRITE,
		                                          attempt_cb, c)) == NULL) {
			connector_end(c, -1, errno);
			return;
		}
		c->running = 1;
		return;
	}
	connector_end(c, -1, errno);
}

sio_connector *
sio_connect_unix_start(sio_loop *loop, const char *path, int type, int timeout_ms,
                       sio_connect_cb cb, void *arg)
{
	struct sockaddr_un sun;
	socklen_t len;
	if (loop == NULL || cb == NULL || (type != SOCK_STREAM && type != SOCK_SEQPACKET)) {
		errno = EINVAL;
		return NULL;
	}
	if (sio__unix_address(path, &sun, &len) < 0)
		return NULL;
	struct sio_connector *c = connector_new(loop, timeout_ms, cb, arg);
	if (c == NULL)
		return NULL;
	c->sun = sun;
	c->sunlen = len;
	c->retry_ms = UNIX_RETRY_FIRST_MS;
	c->att = calloc(1, sizeof *c->att);
	if (c->att != NULL) {
		c->att[0].fd = -1;
		c->naddrs = c->next = 1;     /* nothing for start_next() to try */
		c->att[0].fd = sio__socket(AF_UNIX, type, 0);
	}
	if (c->att == NULL || c->att[0].fd < 0 ||
	    (c->next_timer = sio_timer_start(loop, 0, 0, unix_try_cb, c)) == NULL) {
		int saved = errno;
		connector_release(c, 1);
		errno = saved;
		return NULL;
	}
	return c;
}

void
sio_connect_cancel(sio_connector *c)
{
	if (c != NULL && !c->ended)
		connector_release(c, 1);
}
