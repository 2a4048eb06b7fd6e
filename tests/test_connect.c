/*
 * test_connect.c - the asynchronous connect: success (by address and by
 * name, the socket nonblocking and close-on-exec, then carrying data),
 * refused, timed out against a listener whose backlog is full, cancelled
 * in flight (every socket closed, no callback), a lookup that fails, the
 * order of attempts of RFC 8305 §4, Happy Eyeballs over a black-holed
 * ::1, 1,000 concurrent connects, and the Unix variant (success, ENOENT,
 * a full backlog that times out or drains).
 *
 * A full backlog drops SYNs: a listener with listen(fd, 0) takes one
 * connection into its accept queue, and while nobody accepts it, Linux
 * (tcp_abort_on_overflow 0, the default) drops every later SYN, so those
 * connects stay in SYN-SENT.  Measured on Linux 6.x for 127.0.0.1 and ::1.
 *
 * getaddrinfo() and connect() are defined here (the library's calls bind
 * to them first, as in tests/fault.c): "he.test" resolves to ::1 then
 * 127.0.0.1, "order.test" to three IPv6 and two IPv4 addresses, and
 * while `recording` is set the families of the library's connects are
 * noted in order.
 */
#include "config.h"

#include <dlfcn.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "testutil.h"

/* ---- stand-ins --------------------------------------------------------------- */

typedef int gai_fn(const char *, const char *, const struct addrinfo *,
                   struct addrinfo **);

static gai_fn *
real_gai(void)
{
	static gai_fn *real;
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	return real;
}

/* The answers for `hosts` (numeric), chained in that order.  glibc's
 * freeaddrinfo() frees node by node, so the chain frees as one list. */
static int
chain(const char *const *hosts, size_t n, const char *service,
      const struct addrinfo *hints, struct addrinfo **res)
{
	struct addrinfo h = *hints, *head = NULL, **tail = &head;
	h.ai_flags |= AI_NUMERICHOST;
	for (size_t i = 0; i < n; i++) {
		struct addrinfo *r;
		int rc = real_gai()(hosts[i], service, &h, &r);
		if (rc != 0)
			continue;
		*tail = r;
		while (*tail != NULL)
			tail = &(*tail)->ai_next;
	}
	*res = head;
	return head == NULL ? EAI_NONAME : 0;
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
            struct addrinfo **res)
{
	static const char *const he[] = { "::1", "127.0.0.1" };
	static const char *const order[] = { "::1", "::1", "127.0.0.1", "::1",
	                                     "127.0.0.1" };
	if (node != NULL && strcmp(node, "he.test") == 0)
		return chain(he, 2, service, hints, res);
	if (node != NULL && strcmp(node, "order.test") == 0)
		return chain(order, 5, service, hints, res);
	if (t_name_is_invalid(node))
		return EAI_NONAME;      /* no name server asked (RFC 6761) */
	return real_gai()(node, service, hints, res);
}

static atomic_int recording;
static int families[16];
static atomic_int nfamilies;

int
connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "connect");
	if (atomic_load(&recording)) {
		int i = atomic_fetch_add(&nfamilies, 1);
		if (i < 16)
			families[i] = sa->sa_family;
	}
	return real(fd, sa, len);
}

/* ---- helpers ------------------------------------------------------------------- */

struct result {
	int calls;
	int fd;
	int err;
	char gai_text[128];
	struct timespec at;
};

static void
result_cb(sio_connector *c, int fd, int err, void *arg)
{
	(void)c;
	struct result *r = arg;
	r->calls++;
	r->fd = fd;
	r->err = err;
	snprintf(r->gai_text, sizeof r->gai_text, "%s", sio_listener_error());
	clock_gettime(CLOCK_MONOTONIC, &r->at);
}

static void
result_close(struct result *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static int
open_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	cr_assert_not_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
port_text(unsigned short port, char *buf, size_t len)
{
	snprintf(buf, len, "%u", (unsigned)port);
}

/* A listener on `family`'s loopback at `port` (0: any) with `backlog`;
 * -1 when the family's loopback cannot be bound (no IPv6). */
static int
listen_on(int family, unsigned short *port, int backlog)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons(*port);
		len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s4->sin_port = htons(*port);
		len = sizeof *s4;
	}
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	if (family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, backlog) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* Fill the accept queue of a listen(fd, 0) listener: one connection that
 * completed (waited for with poll: set-up, not the code under test).
 * Later SYNs to it are dropped. */
static int
fill_backlog(int family, unsigned short port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons(port);
		len = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s4->sin_port = htons(port);
		len = sizeof *s4;
	}
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&ss, len), 0,
	             "filler connect: %s", strerror(errno));
	return fd;
}

static long
ms_between(const struct timespec *a, const struct timespec *b)
{
	return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* ---- TCP ------------------------------------------------------------------------- */

SIO_BACKEND_TEST(connect, succeeds_and_carries_data)
{
	sio_loop *loop = t_loop_new(be->name);
	unsigned short port;
	int lfd = t_tcp_listen(&port);
	char svc[8];
	port_text(port, svc, sizeof svc);
	struct result byaddr = { .fd = -1 }, byname = { .fd = -1 };
	cr_assert_not_null(sio_connect_start(loop, "127.0.0.1", svc, 5000, result_cb, &byaddr));
	cr_assert_eq(byaddr.calls, 0, "the callback ran inside the call");
	cr_assert_not_null(sio_connect_start(loop, "localhost", svc, 5000, result_cb, &byname));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(byaddr.calls, 1);
	cr_assert_eq(byaddr.err, 0, "%s", strerror(byaddr.err));
	cr_assert_geq(byaddr.fd, 0);
	cr_assert(t_getfl(byaddr.fd) & O_NONBLOCK);
	cr_assert(fcntl(byaddr.fd, F_GETFD) & FD_CLOEXEC);
	/* localhost may be ::1 first, where nothing listens: refused, then
	 * 127.0.0.1.  Either way it connects. */
	cr_assert_eq(byname.calls, 1);
	cr_assert_eq(byname.err, 0, "localhost: %s", strerror(byname.err));

	int srv = accept(lfd, NULL, NULL);
	cr_assert_geq(srv, 0);
	t_write_all(byaddr.fd, "ping", 4);
	char buf[4];
	t_read_all(srv, buf, 4);
	cr_assert_eq(memcmp(buf, "ping", 4), 0);
	close(srv);
	result_close(&byaddr);
	result_close(&byname);
	close(lfd);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(connect, refused)
{
	sio_loop *loop = t_loop_new(be->name);
	char svc[8];
	port_text(t_closed_port(), svc, sizeof svc);
	struct result r = { .fd = -1 };
	cr_assert_not_null(sio_connect_start(loop, "127.0.0.1", svc, 5000, result_cb, &r));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.fd, -1);
	cr_assert_eq(r.err, ECONNREFUSED, "%s", strerror(r.err));
	t_loop_free(loop);
}

SIO_BACKEND_TEST(connect, times_out_on_a_full_backlog)
{
	sio_loop *loop = t_loop_new(be->name);
	unsigned short port = 0;
	int lfd = listen_on(AF_INET, &port, 0);
	cr_assert_geq(lfd, 0);
	int filler = fill_backlog(AF_INET, port);
	char svc[8];
	port_text(port, svc, sizeof svc);
	int before = open_fds();
	struct result r = { .fd = -1 };
	cr_assert_not_null(sio_connect_start(loop, "127.0.0.1", svc, 200, result_cb, &r));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.fd, -1);
	cr_assert_eq(r.err, ETIMEDOUT, "%s", strerror(r.err));
	cr_assert_eq(open_fds(), before, "a socket was left open");
	close(filler);
	close(lfd);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(connect, cancelled_in_flight)
{
	sio_loop *loop = t_loop_new(be->name);
	unsigned short port = 0;
	int lfd = listen_on(AF_INET, &port, 0);
	cr_assert_geq(lfd, 0);
	int filler = fill_backlog(AF_INET, port);
	char svc[8];
	port_text(port, svc, sizeof svc);
	int before = open_fds();
	struct result r = { .fd = -1 };
	sio_connector *c = sio_connect_start(loop, "127.0.0.1", svc, -1, result_cb, &r);
	cr_assert_not_null(c);
	/* The numeric answer comes at the next iteration and starts the
	 * attempt, whose SYN is dropped: a socket stays open. */
	t_run_nowait(loop, 2);
	cr_assert_eq(open_fds(), before + 1, "no attempt in flight");
	sio_connect_cancel(c);
	cr_assert_eq(open_fds(), before, "the attempt's socket is still open");
	t_run(loop, SIO_RUN_DEFAULT);          /* nothing is left to hold it */
	cr_assert_eq(r.calls, 0);

	/* Cancelled before its lookup answered, too. */
	c = sio_connect_start(loop, "localhost", svc, -1, result_cb, &r);
	cr_assert_not_null(c);
	sio_connect_cancel(c);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 0);
	sio_connect_cancel(NULL);
	close(filler);
	close(lfd);
	t_loop_free(loop);
}

SIO_BACKEND_TEST(connect, lookup_failure_and_bad_arguments)
{
	sio_loop *loop = t_loop_new(be->name);
	struct result r = { .fd = -1 };
	cr_assert_not_null(sio_connect_start(loop, "no-such-host.invalid", "80", 10000,
	                                     result_cb, &r));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.fd, -1);
	cr_assert(r.err == EADDRNOTAVAIL || r.err == EAGAIN, "%s", strerror(r.err));
	cr_assert_str_neq(r.gai_text, "", "no text in sio_listener_error()");

	errno = 0;
	cr_assert_null(sio_connect_start(loop, "127.0.0.1", "99999", 0, result_cb, &r));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(sio_connect_start(loop, NULL, "80", 0, result_cb, &r));
	cr_assert_null(sio_connect_start(loop, "127.0.0.1", "", 0, result_cb, &r));
	cr_assert_null(sio_connect_start(loop, "127.0.0.1", "80", 0, NULL, &r));
	cr_assert_null(sio_connect_start(NULL, "127.0.0.1", "80", 0, result_cb, &r));
	cr_assert_null(sio_connect_unix_start(loop, "/x", SOCK_DGRAM, 0, result_cb, &r));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(sio_connect_unix_start(loop, "", SOCK_STREAM, 0, result_cb, &r));
	t_loop_free(loop);
}

SIO_BACKEND_TEST(connect, attempts_in_rfc8305_order)
{
	sio_loop *loop = t_loop_new(be->name);
	char svc[8];
	port_text(t_closed_port(), svc, sizeof svc);
	struct result r = { .fd = -1 };
	atomic_store(&nfamilies, 0);
	atomic_store(&recording, 1);
	/* ::1 ::1 127.0.0.1 ::1 127.0.0.1: every one refused (or
	 * unreachable without IPv6), each failure starting the next. */
	cr_assert_not_null(sio_connect_start(loop, "order.test", svc, 10000, result_cb, &r));
	t_run(loop, SIO_RUN_DEFAULT);
	atomic_store(&recording, 0);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.fd, -1);
	cr_assert_eq(atomic_load(&nfamilies), 5);
	int want[5] = { AF_INET6, AF_INET, AF_INET6, AF_INET, AF_INET6 };
	for (int i = 0; i < 5; i++)
		cr_assert_eq(families[i], want[i], "attempt %d: family %d", i, families[i]);
	t_loop_free(loop);
}

/* The figure: connected over 127.0.0.1 in under a second.  The
 * Connection Attempt Delay is 250 ms, so a second leaves room for a
 * loaded machine, and what it rules out is the alternative: waiting on
 * the ::1 attempt, whose dropped SYN is retried only after 1 s and
 * which never completes while its backlog is full. */
SIO_BACKEND_TEST(connect, happy_eyeballs_falls_back_to_ipv4)
{
	sio_loop *loop = t_loop_new(be->name);
	unsigned short port = 0;
	int l4 = -1, l6 = -1;
	for (int tries = 0; tries < 20 && l6 < 0; tries++) {
		port = 0;
		l4 = listen_on(AF_INET, &port, 16);
		cr_assert_geq(l4, 0);
		l6 = listen_on(AF_INET6, &port, 0);
		if (l6 < 0 && errno != EADDRINUSE) {
			close(l4);
			t_loop_free(loop);
			cr_skip_test("no IPv6 loopback: %s", strerror(errno));
		}
		if (l6 < 0)
			close(l4);
	}
	cr_assert_geq(l6, 0, "no port free on both 127.0.0.1 and ::1");
	int filler = fill_backlog(AF_INET6, port);
	char svc[8];
	port_text(port, svc, sizeof svc);
	struct result r = { .fd = -1 };
	struct timespec t0;
	int before = open_fds();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cr_assert_not_null(sio_connect_start(loop, "he.test", svc, 30000, result_cb, &r));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.calls, 1);
	cr_assert_eq(r.err, 0, "%s", strerror(r.err));
	/* The winner's socket only: the ::1 attempt was closed. */
	cr_assert_eq(open_fds(), before + 1, "the losing attempt is still open");
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	cr_assert_eq(getpeername(r.fd, (struct sockaddr *)&peer, &pl), 0);
	cr_assert_eq(peer.ss_family, AF_INET, "connected over family %d", peer.ss_family);
	long ms = ms_between(&t0, &r.at);
	cr_log_info("Happy Eyeballs fallback on %s: %ld ms", be->name, ms);
	cr_assert_lt(ms, 1000, "took %ld ms", ms);
	result_close(&r);
	close(filler);
	close(l4);
	close(l6);
	t_loop_free(loop);
}

/* ---- many ------------------------------------------------------------------------- */

#define MANY 1000

struct many {
	int done, failed;
	int first_err;
};

static void
many_cb(sio_connector *c, int fd, int err, void *arg)
{
	(void)c;
	struct many *m = arg;
	m->done++;
	if (err != 0) {
		m->failed++;
		m->first_err = m->first_err ? m->first_err : err;
	} else {
		close(fd);
	}
}

SIO_BACKEND_TEST(connect, a_thousand_concurrent_connects)
{
	t_raise_nofile();
	sio_loop *loop = t_loop_new(be->name);
	unsigned short port = 0;
	/* Nobody accepts: every connection waits in the accept queue, which
	 * holds them all (somaxconn is 4096 on current Linux), and the
	 * test's fds stay below FD_SETSIZE for select. */
	int lfd = listen_on(AF_INET, &port, 4096);
	cr_assert_geq(lfd, 0);
	char svc[8];
	port_text(port, svc, sizeof svc);
	struct many m = { 0 };
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < MANY; i++)
		cr_assert_not_null(sio_connect_start(loop, "127.0.0.1", svc, 20000,
		                                     many_cb, &m), "connect %d", i);
	t_run(loop, SIO_RUN_DEFAULT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	cr_log_info("%d connects on %s: %ld ms", MANY, be->name, ms_between(&t0, &t1));
	cr_assert_eq(m.done, MANY);
	cr_assert_eq(m.failed, 0, "%d failed, the first with %s", m.failed,
	             strerror(m.first_err));
	close(lfd);
	t_loop_free(loop);
}

/* ---- Unix ---------------------------------------------------------------------------- */

static void
unix_path(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/sigio-connect-%ld-%d.sock", (long)getpid(), rand());
}

static int
unix_listen(const char *path, int type, int backlog)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof sun), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fd, backlog), 0);
	return fd;
}

SIO_BACKEND_TEST(connect, unix_stream_and_seqpacket)
{
	sio_loop *loop = t_loop_new(be->name);
	int types[2] = { SOCK_STREAM, SOCK_SEQPACKET };
	for (int k = 0; k < 2; k++) {
		char path[108];
		unix_path(path, sizeof path);
		int lfd = unix_listen(path, types[k], 16);
		struct result r = { .fd = -1 };
		cr_assert_not_null(sio_connect_unix_start(loop, path, types[k], 5000,
		                                          result_cb, &r));
		cr_assert_eq(r.calls, 0, "the callback ran inside the call");
		t_run(loop, SIO_RUN_DEFAULT);
		cr_assert_eq(r.err, 0, "%s", strerror(r.err));
		int type = 0;
		socklen_t tl = sizeof type;
		cr_assert_eq(getsockopt(r.fd, SOL_SOCKET, SO_TYPE, &type, &tl), 0);
		cr_assert_eq(type, types[k]);
		cr_assert(t_getfl(r.fd) & O_NONBLOCK);
		result_close(&r);
		close(lfd);
		unlink(path);

		/* Nobody there. */
		r = (struct result){ .fd = -1 };
		cr_assert_not_null(sio_connect_unix_start(loop, path, types[k], 5000,
		                                          result_cb, &r));
		t_run(loop, SIO_RUN_DEFAULT);
		cr_assert_eq(r.err, ENOENT, "%s", strerror(r.err));
	}
	t_loop_free(loop);
}

/* Fill a Unix listener's backlog with nonblocking connects until one is
 * refused with EAGAIN; returns how many, their fds in fds[]. */
static int
unix_fill(const char *path, int *fds, int max)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", path);
	for (int i = 0; i < max; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		cr_assert_geq(fd, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
			cr_assert_eq(errno, EAGAIN, "%s", strerror(errno));
			close(fd);
			return i;
		}
		fds[i] = fd;
	}
	cr_assert_fail("the backlog never filled");
	return max;
}

static void
accept_one_cb(sio_timer *t, void *arg)
{
	(void)t;
	int lfd = *(int *)arg;
	int fd = accept(lfd, NULL, NULL);
	if (fd >= 0)
		close(fd);
}

SIO_BACKEND_TEST(connect, unix_full_backlog_waits)
{
	sio_loop *loop = t_loop_new(be->name);
	char path[108];
	unix_path(path, sizeof path);
	int lfd = unix_listen(path, SOCK_STREAM, 0);
	int fds[64];
	int n = unix_fill(path, fds, 64);

	struct result r = { .fd = -1 };
	cr_assert_not_null(sio_connect_unix_start(loop, path, SOCK_STREAM, 100,
	                                          result_cb, &r));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.err, ETIMEDOUT, "%s", strerror(r.err));

	/* Room is made while it waits: it gets in. */
	r = (struct result){ .fd = -1 };
	cr_assert_not_null(sio_connect_unix_start(loop, path, SOCK_STREAM, 10000,
	                                          result_cb, &r));
	sio_timer *t = sio_timer_start(loop, 20, 0, accept_one_cb, &lfd);
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(r.err, 0, "%s", strerror(r.err));
	result_close(&r);
	sio_timer_stop(t);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	close(lfd);
	unlink(path);
	t_loop_free(loop);
}
