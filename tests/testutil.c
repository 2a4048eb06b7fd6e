/*
 * testutil.c - helpers shared by sigio's Criterion test programs (see
 * testutil.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

/* Most backends a build could list. */
#define MAX_BACKENDS 8

/* True when `name` is in the comma-separated `list`. */
static bool
in_list(const char *list, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = list; *p != '\0';) {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);

		if (n == len && strncmp(p, name, n) == 0)
			return true;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

struct sio_test_backend *
t_backend_params(size_t *n)
{
	const char *names[MAX_BACKENDS];
	size_t total = sio_backends(names, MAX_BACKENDS);
	const char *only = getenv("SIO_TEST_BACKENDS");
	struct sio_test_backend *params;

	if (total > MAX_BACKENDS)
		total = MAX_BACKENDS;
	params = cr_calloc(total > 0 ? total : 1, sizeof(*params));
	*n = 0;
	if (params == NULL)
		return NULL;
	for (size_t i = 0; i < total; i++) {
		if (only != NULL && *only != '\0' && !in_list(only, names[i]))
			continue;
		strncpy(params[*n].name, names[i], sizeof(params[*n].name) - 1);
		(*n)++;
	}
	return params;
}

void
t_backend_params_free(struct criterion_test_params *params)
{
	cr_free(params->params);
}

bool
t_have_backend(const char *name)
{
	const char *names[MAX_BACKENDS];
	size_t total = sio_backends(names, MAX_BACKENDS);

	for (size_t i = 0; i < total && i < MAX_BACKENDS; i++)
		if (strcmp(names[i], name) == 0)
			return true;
	return false;
}

bool
t_is(const struct sio_test_backend *be, const char *name)
{
	return strcmp(be->name, name) == 0;
}

bool
t_sleeps_on_signalfd(const struct sio_test_backend *be)
{
	const char *sleep = getenv("SIGIO_SLEEP"), *drain = getenv("SIGIO_DRAIN");
	return t_is(be, "rtsig") &&
	       (sleep == NULL || strcmp(sleep, "handler") != 0) &&
	       (drain == NULL || strcmp(drain, "sigtimedwait") != 0);
}

bool
t_signal_driven(const struct sio_test_backend *be)
{
	return t_is(be, "sigio") || t_is(be, "rtsig");
}

/* The loop the guard stops, and whether it fired.  Each Criterion test
 * runs in its own process: one guard per process is enough. */
static sio_loop *volatile guard_loop;
static volatile sig_atomic_t guard_fired;
static unsigned guard_seconds;
/* The backend of the last loop made by t_loop_new(), for messages. */
static char loop_backend[16] = "?";

static void
guard_handler(int sig)
{
	sio_loop *loop = guard_loop;

	(void)sig;
	guard_fired = 1;
	if (loop != NULL)
		sio_loop_stop(loop);   /* async-signal-safe by contract */
}

void
t_guard(sio_loop *loop, unsigned seconds)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = guard_handler;
	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGALRM, &sa, NULL), 0, "sigaction(SIGALRM): %s",
	             strerror(errno));
	alarm(0);
	guard_loop = loop;
	guard_fired = 0;
	guard_seconds = seconds;
	alarm(seconds);
}

bool
t_guard_fired(void)
{
	return guard_fired != 0;
}

sio_loop *
t_loop_new(const char *backend)
{
	sio_loop *loop;

	errno = 0;
	loop = sio_loop_new(backend);
	cr_assert_not_null(loop, "sio_loop_new(\"%s\") failed: %s",
	                   backend != NULL ? backend : "(null)",
	                   strerror(errno));
	snprintf(loop_backend, sizeof(loop_backend), "%s",
	         sio_loop_backend(loop) != NULL ? sio_loop_backend(loop) : "?");
	t_guard(loop, SIO_TEST_GUARD);
	return loop;
}

void
t_loop_free(sio_loop *loop)
{
	if (loop != NULL && loop == guard_loop) {
		alarm(0);
		guard_loop = NULL;
	}
	sio_loop_free(loop);
}

void
t_run_at(sio_loop *loop, int mode, const char *file, int line)
{
	static const char *names[] = { "DEFAULT", "ONCE", "NOWAIT" };
	const char *name = mode >= 0 && mode <= 2 ? names[mode] : "?";
	int rc;

	errno = 0;
	rc = sio_loop_run(loop, mode);
	cr_assert_eq(rc, 0, "[%s] %s:%d: sio_loop_run(%s) failed: %s",
	             loop_backend, file, line, name, strerror(errno));
	cr_assert(!t_guard_fired(), "[%s] %s:%d: sio_loop_run(%s) hung: the "
	          "%u s guard had to stop it", loop_backend, file, line, name,
	          guard_seconds);
}

struct sio_stats
t_stats(const sio_loop *loop)
{
	struct sio_stats s;

	memset(&s, 0xff, sizeof(s));
	cr_assert_eq(sio_loop_stats(loop, &s), 0, "sio_loop_stats failed: %s",
	             strerror(errno));
	return s;
}

bool
t_run_until(sio_loop *loop, bool (*done)(void *arg), void *arg, unsigned max)
{
	for (unsigned i = 0; i < max && !t_guard_fired(); i++) {
		if (done(arg))
			return true;
		cr_assert_eq(sio_loop_run(loop, SIO_RUN_ONCE), 0,
		             "[%s] sio_loop_run(ONCE) failed: %s", loop_backend,
		             strerror(errno));
	}
	if (t_guard_fired() && !done(arg))
		cr_log_error("[%s] the %u s guard stopped a loop that waited "
		             "for an event that never came", loop_backend,
		             guard_seconds);
	return done(arg);
}

void
t_run_nowait(sio_loop *loop, int times)
{
	for (int i = 0; i < times; i++)
		t_run_at(loop, SIO_RUN_NOWAIT, __FILE__, __LINE__);
}

bool
t_flag_set(void *arg)
{
	return *(int *)arg != 0;
}

/* ---- the usual fixture ------------------------------------------------ */

sio_loop *
t_fixture_open(struct t_fixture *f, const struct sio_test_backend *be)
{
	memset(f, 0, sizeof(*f));
	f->loop = t_loop_new(be->name);
	t_socketpair(f->sv);
	return f->loop;
}

sio_io *
t_fixture_watch(struct t_fixture *f, unsigned events, sio_io_cb cb, void *arg)
{
	f->io = sio_io_start(f->loop, f->sv[0], events, cb, arg);
	cr_assert_not_null(f->io, "sio_io_start(%d, %#x): %s", f->sv[0], events,
	                   strerror(errno));
	return f->io;
}

void
t_fixture_close(struct t_fixture *f)
{
	sio_io_stop(f->io);
	t_loop_free(f->loop);
	for (int i = 0; i < 2; i++)
		if (f->sv[i] >= 0)
			close(f->sv[i]);
}

/* ---- fds -------------------------------------------------------------- */

void
t_socketpair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	             SOCK_CLOEXEC, 0, sv), 0, "socketpair: %s",
	             strerror(errno));
}

void
t_socketpair_blocking(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0,
	             "socketpair: %s", strerror(errno));
}

void
t_pipe(int p[2])
{
	cr_assert_eq(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0, "pipe2: %s",
	             strerror(errno));
}

int
t_tcp_listen(unsigned short *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = 0;
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
	             "bind 127.0.0.1:0: %s", strerror(errno));
	cr_assert_eq(listen(fd, 16), 0, "listen: %s", strerror(errno));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0,
	             "getsockname: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	cr_assert_neq(*port, 0, "the listener got port 0");
	return fd;
}

/* A nonblocking connect to 127.0.0.1:port; returns the socket and the
 * errno of connect() (0, EINPROGRESS, ECONNREFUSED...) in *err. */
static int
tcp_connect(unsigned short port, int *err)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	*err = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 ? 0 :
	       errno;
	return fd;
}

void
t_tcp_pair(int *client, int *server)
{
	unsigned short port;
	int lfd = t_tcp_listen(&port);
	int err;
	struct pollfd pfd;

	*client = tcp_connect(port, &err);
	cr_assert(err == 0 || err == EINPROGRESS,
	          "connect to 127.0.0.1:%u: %s", port, strerror(err));
	/* Set-up only: wait for the handshake with poll(), not the loop. */
	pfd.fd = lfd;
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, 10000), 1, "no connection to accept");
	*server = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	cr_assert_geq(*server, 0, "accept4: %s", strerror(errno));
	pfd.fd = *client;
	pfd.events = POLLOUT;
	cr_assert_eq(poll(&pfd, 1, 10000), 1, "connect did not complete");
	cr_assert_eq(pfd.revents & (POLLERR | POLLHUP), 0,
	             "connect failed (revents %#x)", pfd.revents);
	close(lfd);
}

unsigned short
t_closed_port(void)
{
	unsigned short port;
	int fd = t_tcp_listen(&port);

	close(fd);
	return port;
}

rlim_t
t_raise_nofile(void)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0, "getrlimit: %s",
	             strerror(errno));
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0,
	             "setrlimit(RLIMIT_NOFILE, %llu): %s",
	             (unsigned long long)rl.rlim_max, strerror(errno));
	return rl.rlim_cur;
}

int
t_getfl(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	cr_assert_neq(fl, -1, "fcntl(%d, F_GETFL): %s", fd, strerror(errno));
	return fl;
}

bool
t_fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/* Wait until fd is ready for `events` (set-up helper, never the loop). */
static void
wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&pfd, 1, 10000);
	while (n < 0 && errno == EINTR);
	cr_assert_eq(n, 1, "fd %d not ready for %#x within 10 s", fd, events);
}

void
t_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			wait_fd(fd, POLLOUT);
			continue;
		}
		cr_assert_gt(n, 0, "write(%d): %s", fd, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void
t_read_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			wait_fd(fd, POLLIN);
			continue;
		}
		cr_assert_neq(n, 0, "read(%d): unexpected EOF", fd);
		cr_assert_gt(n, 0, "read(%d): %s", fd, strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

size_t
t_fill(int fd)
{
	static const char chunk[4096];
	size_t total = 0;

	for (;;) {
		ssize_t n = write(fd, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		cr_assert_gt(n, 0, "filling fd %d: %s", fd, strerror(errno));
		total += (size_t)n;
	}
	/* A stream socket may take a last short write after EAGAIN. */
	for (;;) {
		ssize_t n = write(fd, chunk, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		cr_assert_gt(n, 0, "filling fd %d: %s", fd, strerror(errno));
		total += (size_t)n;
	}
	return total;
}

size_t
t_drain(int fd)
{
	char buf[4096];
	size_t total = 0;

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		cr_assert_geq(n, 0, "draining fd %d: %s", fd, strerror(errno));
		if (n == 0)
			break;
		total += (size_t)n;
	}
	return total;
}

short
t_poll_now(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int n;

	do
		n = poll(&pfd, 1, 0);
	while (n < 0 && errno == EINTR);
	cr_assert_geq(n, 0, "poll(%d): %s", fd, strerror(errno));
	return n == 0 ? 0 : pfd.revents;
}

uint64_t
t_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * UINT64_C(2685821657736338717);
}

bool
t_under_valgrind(void)
{
	const char *v = getenv("SIO_TEST_VALGRIND");
	return v != NULL && *v != '\0' && strcmp(v, "0") != 0;
}

void
t_send_probe_cb(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct t_send_probe *w = arg;
	w->calls++;
	w->revents = revents;
	errno = 0;
	w->sent = send(fd, "x", 1, MSG_NOSIGNAL);
	w->send_errno = errno;
	sio_io_stop(io);
}

bool
t_send_probe_called(void *arg)
{
	return ((struct t_send_probe *)arg)->calls > 0;
}

bool
t_name_is_invalid(const char *name)
{
	static const char suffix[] = ".invalid";
	size_t n = name != NULL ? strlen(name) : 0;
	size_t k = sizeof suffix - 1;
	return n >= k && strcasecmp(name + n - k, suffix) == 0;
}
