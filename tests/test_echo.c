/*
 * test_echo.c - demo/echo-server and demo/echo-client as users run them.
 *
 * Each test starts echo-server (from $top_builddir/demo) on port 0 or a
 * path in a fresh temporary directory, reads its "listening" lines from a
 * pipe, talks to it with the plain sockets API or by running echo-client,
 * and stops it with SIGTERM (then waitpid), checking that it exits 0 and
 * prints its counters.  Every scenario runs once per backend the build
 * offers (--backend=NAME); the bad-input cases run once.
 *
 * Nothing sleeps to wait for an event: the tests block in poll() or in
 * reads with SO_RCVTIMEO, whose generous timeouts are only safety nets.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

/* Safety nets, never waits: how long a step may take before it fails. */
#define NET_MS 10000
#define NET_S  10

/* ---- the pattern the tests send ------------------------------------------ */

static unsigned char
pat(uint64_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

static void
fill(unsigned char *buf, size_t len, uint64_t from)
{
	for (size_t k = 0; k < len; k++)
		buf[k] = pat(from + k);
}

static double
now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

/* ---- running the programs -------------------------------------------------- */

static void
prog_path(char *buf, size_t len, const char *name)
{
	const char *b = getenv("top_builddir");
	snprintf(buf, len, "%s/demo/%s", b != NULL && *b != '\0' ? b : ".", name);
}

/* Start demo/`name` with `argv` (argv[0] included, NULL-terminated),
 * stdin from `in_fd` (/dev/null if -1), stdout into a pipe (*out, the read
 * end) and stderr into the file `errpath`. */
static pid_t
spawn(const char *name, char *const argv[], int in_fd, int *out, const char *errpath)
{
	char path[512];
	int p[2], err;
	pid_t pid;

	prog_path(path, sizeof path, name);
	cr_assert_eq(access(path, X_OK), 0, "%s: %s (is top_builddir right?)", path,
	             strerror(errno));
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
	err = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert_geq(err, 0, "%s: %s", errpath, strerror(errno));
	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (in_fd < 0)
			in_fd = open("/dev/null", O_RDONLY);
		if (dup2(in_fd, 0) < 0 || dup2(p[1], 1) < 0 || dup2(err, 2) < 0)
			_exit(126);
		execv(path, argv);
		_exit(127);
	}
	close(p[1]);
	close(err);
	*out = p[0];
	return pid;
}

/* Wait for `pid`, which closes `out` when it exits: EOF on the pipe within
 * `ms`, else it is killed and the test fails.  Drains what it still
 * writes.  Returns the wait status; *secs, if not NULL, the time taken. */
static int
reap(pid_t pid, int out, int ms, const char *what, double *secs)
{
	double t0 = now_s();
	char buf[4096];
	int status;

	for (;;) {
		struct pollfd pfd = { .fd = out, .events = POLLIN };
		int left = ms - (int)((now_s() - t0) * 1000);
		int n = poll(&pfd, 1, left > 0 ? left : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			close(out);
			cr_assert_fail("%s did not exit within %d ms", what, ms);
		}
		ssize_t r = read(out, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
	}
	close(out);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (secs != NULL)
		*secs = now_s() - t0;
	return status;
}

/* Read a whole small file into buf (NUL-terminated). */
static char *
slurp(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t used = 0;

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	for (;;) {
		ssize_t n = read(fd, buf + used, len - 1 - used);
		if (n <= 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	close(fd);
	return buf;
}

static int
count_lines(const char *s)
{
	int n = 0;
	for (; *s != '\0'; s++)
		if (*s == '\n')
			n++;
	return n;
}

/* ---- the server -------------------------------------------------------------- */

#define MAX_LISTEN 8

struct server {
	pid_t pid;
	int out;                        /* its stdout */
	char dir[64];                   /* temporary: Unix paths, its stderr */
	char errpath[96];
	int n;                          /* "listening" lines read */
	char kind[MAX_LISTEN][16];
	char addr[MAX_LISTEN][128];
	char pool[16][256];             /* arguments made by srv_arg() */
	int npool;
	char err[65536];                /* its stderr, once stopped */
	unsigned long long conns, bytes, datagrams, urgent, refused;
};

static void
srv_init(struct server *s)
{
	memset(s, 0, sizeof *s);
	s->pid = -1;
	s->out = -1;
	signal(SIGPIPE, SIG_IGN);       /* the test writes to sockets that reset */
	snprintf(s->dir, sizeof s->dir, "/tmp/sio-echo-XXXXXX");
	cr_assert_not_null(mkdtemp(s->dir), "mkdtemp: %s", strerror(errno));
	snprintf(s->errpath, sizeof s->errpath, "%s/stderr", s->dir);
}

/* An argument built with printf, kept in the server's pool. */
static const char *
srv_arg(struct server *s, const char *fmt, ...)
{
	va_list ap;

	cr_assert_lt(s->npool, 16);
	va_start(ap, fmt);
	vsnprintf(s->pool[s->npool], sizeof s->pool[0], fmt, ap);
	va_end(ap);
	return s->pool[s->npool++];
}

/* Remove the temporary directory (after the server is gone). */
static void
srv_cleanup(struct server *s)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", s->dir);
}

/* Read `want` "listening KIND ADDRESS" lines from the server's stdout.
 * Returns false if it exited first. */
static bool
srv_read_lines(struct server *s, int want)
{
	char buf[4096];
	size_t used = 0;
	double t0 = now_s();

	while (s->n < want) {
		char *nl = memchr(buf, '\n', used);
		if (nl != NULL) {
			*nl = '\0';
			cr_assert_lt(s->n, MAX_LISTEN);
			cr_assert_eq(sscanf(buf, "listening %15s %127s", s->kind[s->n],
			                    s->addr[s->n]), 2, "not a listening line: '%s'", buf);
			s->n++;
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used);
			continue;
		}
		struct pollfd pfd = { .fd = s->out, .events = POLLIN };
		int left = NET_MS - (int)((now_s() - t0) * 1000);
		int r = poll(&pfd, 1, left > 0 ? left : 0);
		if (r < 0 && errno == EINTR)
			continue;
		cr_assert_gt(r, 0, "echo-server printed %d of %d listening lines in %d ms",
		             s->n, want, NET_MS);
		ssize_t got = read(s->out, buf + used, sizeof buf - 1 - used);
		if (got <= 0)
			return false;   /* it exited */
		used += (size_t)got;
	}
	cr_assert_eq(used, 0, "more than %d lines on stdout", want);
	return true;
}

/* Start echo-server with --backend=backend (unless NULL) and the
 * arguments that follow (NULL-terminated); `want` listening lines are
 * expected.  Returns false if it exited before printing them (its exit
 * status is then in *status, its stderr in s->err). */
static bool
srv_try(struct server *s, int want, int *status, const char *backend, va_list ap)
{
	char *argv[32];
	int argc = 0;
	const char *a;

	argv[argc++] = "echo-server";
	if (backend != NULL)
		argv[argc++] = (char *)srv_arg(s, "--backend=%s", backend);
	while ((a = va_arg(ap, const char *)) != NULL) {
		cr_assert_lt(argc, 30);
		argv[argc++] = (char *)a;
	}
	argv[argc] = NULL;
	s->pid = spawn("echo-server", argv, -1, &s->out, s->errpath);
	if (srv_read_lines(s, want))
		return true;
	*status = reap(s->pid, s->out, NET_MS, "echo-server", NULL);
	s->pid = -1;
	slurp(s->errpath, s->err, sizeof s->err);
	return false;
}

/* srv_try() with the arguments given here. */
static bool
srv_tryv(struct server *s, int want, int *status, const char *backend, ...)
{
	va_list ap;
	bool up;

	va_start(ap, backend);
	up = srv_try(s, want, status, backend, ap);
	va_end(ap);
	return up;
}

/* The same, failing the test if it does not come up. */
static void
srv_start(struct server *s, int want, const char *backend, ...)
{
	va_list ap;
	int status;
	bool up;

	va_start(ap, backend);
	up = srv_try(s, want, &status, backend, ap);
	va_end(ap);
	cr_assert(up, "echo-server exited (status %#x) before listening: %s", status,
	          s->err);
}

/* Send `signo`; the server must exit 0 within `ms`, with its counters on
 * stderr.  Returns the seconds it took. */
static double
srv_stop_with(struct server *s, int signo, int ms)
{
	double secs;
	int status;
	const char *line;

	cr_assert_eq(kill(s->pid, signo), 0, "kill: %s", strerror(errno));
	status = reap(s->pid, s->out, ms, "echo-server after a signal", &secs);
	s->pid = -1;
	slurp(s->errpath, s->err, sizeof s->err);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	          "echo-server: status %#x after signal %d; stderr: %s", status, signo,
	          s->err);
	line = strstr(s->err, "echo-server: stopped: ");
	cr_assert_not_null(line, "no counters on stderr: %s", s->err);
	cr_assert_eq(sscanf(line, "echo-server: stopped: conns=%llu bytes=%llu "
	                    "datagrams=%llu urgent=%llu refused=%llu", &s->conns, &s->bytes,
	                    &s->datagrams, &s->urgent, &s->refused), 5,
	             "bad counters line: %s", line);
	return secs;
}

static void
srv_stop(struct server *s)
{
	srv_stop_with(s, SIGTERM, 5000);
	srv_cleanup(s);
}

/* The address of listening line i, as a sockaddr. */
static socklen_t
srv_sockaddr(const struct server *s, int i, struct sockaddr_storage *ss)
{
	const char *a = s->addr[i];
	memset(ss, 0, sizeof *ss);
	if (strcmp(s->kind[i], "unix") == 0 || strcmp(s->kind[i], "seqpacket") == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof sun->sun_path, "%.*s", (int)sizeof sun->sun_path - 1, a);
		return sizeof *sun;
	}
	const char *colon = strrchr(a, ':');
	cr_assert_not_null(colon, "no port in '%s'", a);
	int port = atoi(colon + 1);
	cr_assert(port > 0 && port < 65536, "port 0 or bad in '%s'", a);
	if (a[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		char host[64];
		snprintf(host, sizeof host, "%.*s", (int)(colon - a - 2), a + 1);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		cr_assert_eq(inet_pton(AF_INET6, host, &s6->sin6_addr), 1, "'%s'", host);
		return sizeof *s6;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	char host[64];
	snprintf(host, sizeof host, "%.*s", (int)(colon - a), a);
	s4->sin_family = AF_INET;
	s4->sin_port = htons((unsigned short)port);
	cr_assert_eq(inet_pton(AF_INET, host, &s4->sin_addr), 1, "'%s'", host);
	return sizeof *s4;
}

/* A blocking socket connected to listening line i, with SO_RCVTIMEO and
 * SO_SNDTIMEO as safety nets. */
static int
srv_connect(const struct server *s, int i)
{
	struct sockaddr_storage ss;
	socklen_t len = srv_sockaddr(s, i, &ss);
	int type = strcmp(s->kind[i], "udp") == 0 ? SOCK_DGRAM :
	           strcmp(s->kind[i], "seqpacket") == 0 ? SOCK_SEQPACKET : SOCK_STREAM;
	int fd = socket(ss.ss_family, type | SOCK_CLOEXEC, 0);
	struct timeval tv = { .tv_sec = NET_S };

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	cr_assert_eq(connect(fd, (struct sockaddr *)&ss, len), 0, "connect %s %s: %s",
	             s->kind[i], s->addr[i], strerror(errno));
	return fd;
}

static long
vmrss_kb(pid_t pid)
{
	char path[64], buf[4096];
	const char *p;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	slurp(path, buf, sizeof buf);
	p = strstr(buf, "VmRSS:");
	cr_assert_not_null(p, "no VmRSS in %s", path);
	return atol(p + 6);
}

static bool
have_ipv6_loopback(void)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&s6, sizeof s6) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* ---- conversations over the plain sockets API --------------------------------- */

/* Send `total` bytes of the pattern on a stream socket while reading the
 * echo, then half-close: every byte must come back in order, then EOF. */
static void
stream_echo(int fd, size_t total)
{
	static unsigned char out[65536], in[65536];
	size_t sent = 0, got = 0;
	bool shut = false;
	int fl = fcntl(fd, F_GETFL);

	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	for (;;) {
		if (sent == total && !shut) {
			cr_assert_eq(shutdown(fd, SHUT_WR), 0, "shutdown: %s", strerror(errno));
			shut = true;
		}
		struct pollfd pfd = { .fd = fd, .events = POLLIN | (shut ? 0 : POLLOUT) };
		int n = poll(&pfd, 1, NET_MS);
		cr_assert_gt(n, 0, "no progress in %d ms: sent %zu, got back %zu of %zu",
		             NET_MS, sent, got, total);
		if (pfd.revents & POLLOUT) {
			size_t len = total - sent < sizeof out ? total - sent : sizeof out;
			fill(out, len, sent);
			ssize_t w = send(fd, out, len, MSG_NOSIGNAL);
			if (w < 0)
				cr_assert(errno == EAGAIN || errno == EINTR, "send: %s",
				          strerror(errno));
			else
				sent += (size_t)w;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, in, sizeof in, 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			cr_assert_geq(r, 0, "recv: %s after %zu bytes", strerror(errno), got);
			if (r == 0)
				break;
			for (ssize_t k = 0; k < r; k++)
				cr_assert_eq(in[k], pat(got + (size_t)k),
				             "byte %zu came back altered", got + (size_t)k);
			got += (size_t)r;
			cr_assert_leq(got, total, "more came back than was sent");
		}
	}
	cr_assert(shut, "EOF before we half-closed (after %zu bytes)", got);
	cr_assert_eq(got, total, "EOF after %zu of %zu bytes", got, total);
	fcntl(fd, F_SETFL, fl);
}

/* One datagram of `len` bytes (byte 0 numbers it) and its echo, whole; a
 * datagram lost on the way is sent again, stale echoes are skipped. */
static void
udp_roundtrip(int fd, size_t len, unsigned char id)
{
	static unsigned char out[65536], in[65536];

	fill(out, len, id * 1000u);
	if (len > 0)
		out[0] = id;
	for (int tries = 0; tries < 5; tries++) {
		cr_assert_eq(send(fd, out, len, 0), (ssize_t)len, "send %zu: %s", len,
		             strerror(errno));
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			if (poll(&pfd, 1, 1000) <= 0)
				break;          /* lost: send again */
			ssize_t r = recv(fd, in, sizeof in, MSG_TRUNC);
			cr_assert_geq(r, 0, "recv: %s", strerror(errno));
			if (len > 0 && (r == 0 || in[0] != id))
				continue;       /* an older one's echo */
			cr_assert_eq((size_t)r, len, "datagram of %zu came back as %zd bytes",
			             len, r);
			cr_assert_eq(memcmp(in, out, len), 0, "datagram of %zu altered", len);
			return;
		}
	}
	cr_assert_fail("datagram of %zu bytes never came back", len);
}

/* Records of several sizes, a window of them in flight: each comes back
 * whole and in order; then half-close, and the server's EOF. */
static void
seqpacket_echo(int fd)
{
	static unsigned char out[65536], in[65536];
	static const size_t first[] = { 1, 1000, 60000 };
	size_t sizes[103];
	int n = 0, sent = 0, got = 0;

	for (int i = 0; i < 3; i++)
		sizes[n++] = first[i];
	for (int i = 0; i < 100; i++)
		sizes[n++] = (size_t)(i * 997) % 5000 + 1;
	/* The first three back to back before reading: boundaries kept. */
	while (got < n) {
		while (sent < n && (sent < 3 || sent - got < 8)) {
			fill(out, sizes[sent], (uint64_t)sent * 7919);
			cr_assert_eq(send(fd, out, sizes[sent], MSG_NOSIGNAL), (ssize_t)sizes[sent],
			             "send record %d: %s", sent, strerror(errno));
			sent++;
		}
		ssize_t r = recv(fd, in, sizeof in, MSG_TRUNC);
		cr_assert_gt(r, 0, "record %d: recv %zd: %s", got, r, strerror(errno));
		cr_assert_eq((size_t)r, sizes[got], "record %d of %zu bytes came back as %zd",
		             got, sizes[got], r);
		fill(out, sizes[got], (uint64_t)got * 7919);
		cr_assert_eq(memcmp(in, out, (size_t)r), 0, "record %d altered", got);
		got++;
	}
	cr_assert_eq(shutdown(fd, SHUT_WR), 0, "shutdown: %s", strerror(errno));
	cr_assert_eq(recv(fd, in, sizeof in, 0), 0, "no EOF after the half-close: %s",
	             strerror(errno));
}

/* ---- running echo-client ---------------------------------------------------- */

struct run {
	int status;                     /* exit status, or -1 if killed */
	char *out;                      /* its stdout */
	size_t outlen;
	char err[8192];                 /* its stderr */
};

/* Run echo-client with stdin from `input` (a file; NULL: /dev/null) and the
 * arguments that follow (NULL-terminated); stderr goes to dir/client-err. */
static void
client_run(struct run *r, const char *dir, const char *input, ...)
{
	char *argv[32], errpath[128];
	int argc = 0, in = -1, out;
	size_t cap = 1 << 20;
	const char *a;
	va_list ap;
	double t0 = now_s();

	argv[argc++] = "echo-client";
	va_start(ap, input);
	while ((a = va_arg(ap, const char *)) != NULL)
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	snprintf(errpath, sizeof errpath, "%s/client-err", dir);
	if (input != NULL) {
		in = open(input, O_RDONLY | O_CLOEXEC);
		cr_assert_geq(in, 0, "%s: %s", input, strerror(errno));
	}
	pid_t pid = spawn("echo-client", argv, in, &out, errpath);
	if (in >= 0)
		close(in);
	r->out = malloc(cap);
	r->outlen = 0;
	cr_assert_not_null(r->out);
	for (;;) {
		struct pollfd pfd = { .fd = out, .events = POLLIN };
		int left = 2 * NET_MS - (int)((now_s() - t0) * 1000);
		int n = poll(&pfd, 1, left > 0 ? left : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (r->outlen == cap) {
			cap *= 2;
			r->out = realloc(r->out, cap);
			cr_assert_not_null(r->out);
		}
		ssize_t got = read(out, r->out + r->outlen, cap - r->outlen);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		r->outlen += (size_t)got;
	}
	close(out);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(errpath, r->err, sizeof r->err);
}

static void
run_free(struct run *r)
{
	free(r->out);
	r->out = NULL;
}

/* A file of `len` pattern bytes in dir; returns its path. */
static const char *
make_input(struct server *s, size_t len)
{
	static unsigned char buf[65536];
	const char *path = srv_arg(s, "%s/input", s->dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof buf ? len - done : sizeof buf;
		fill(buf, n, done);
		cr_assert_eq(write(fd, buf, n), (ssize_t)n);
		done += n;
	}
	close(fd);
	return path;
}

/* stdout is the input, byte for byte. */
static void
assert_echoed(const struct run *r, size_t len)
{
	cr_assert_eq(r->status, 0, "echo-client exited %d: %s", r->status, r->err);
	cr_assert_eq(r->outlen, len, "echo-client printed %zu of %zu bytes: %s",
	             r->outlen, len, r->err);
	for (size_t k = 0; k < len; k++)
		cr_assert_eq((unsigned char)r->out[k], pat(k), "byte %zu altered", k);
}

/* ---- every transport, plain sockets ------------------------------------------ */

SIO_BACKEND_TEST(echo, tcp4_stream_and_half_close)
{
	struct server s;
	srv_init(&s);
	srv_start(&s, 1, be->name, "--tcp=127.0.0.1:0", NULL);
	cr_assert_str_eq(s.kind[0], "tcp");
	cr_assert_eq(strncmp(s.addr[0], "127.0.0.1:", 10), 0, "address %s", s.addr[0]);
	int fd = srv_connect(&s, 0);
	stream_echo(fd, 2 << 20);
	close(fd);
	fd = srv_connect(&s, 0);        /* nothing sent: EOF at once */
	stream_echo(fd, 0);
	close(fd);
	srv_stop(&s);
	cr_assert_eq(s.conns, 2);
	cr_assert_eq(s.bytes, 2 << 20);
}

SIO_BACKEND_TEST(echo, tcp6_stream)
{
	struct server s;
	if (!have_ipv6_loopback())
		cr_skip_test("no ::1 on this machine");
	srv_init(&s);
	srv_start(&s, 1, be->name, "--tcp=[::1]:0", NULL);
	cr_assert_eq(strncmp(s.addr[0], "[::1]:", 6), 0, "address %s", s.addr[0]);
	int fd = srv_connect(&s, 0);
	stream_echo(fd, 1 << 20);
	close(fd);
	srv_stop(&s);
}

SIO_BACKEND_TEST(echo, tcp4_and_tcp6_unbracketed)
{
	struct server s;
	if (!have_ipv6_loopback())
		cr_skip_test("no ::1 on this machine");
	srv_init(&s);
	/* "::1:0": the last colon separates the port. */
	srv_start(&s, 2, be->name, "--tcp=127.0.0.1:0", "--tcp=::1:0", NULL);
	cr_assert_eq(strncmp(s.addr[1], "[::1]:", 6), 0, "address %s", s.addr[1]);
	for (int i = 0; i < 2; i++) {
		int fd = srv_connect(&s, i);
		stream_echo(fd, 100000);
		close(fd);
	}
	srv_stop(&s);
}

SIO_BACKEND_TEST(echo, udp_datagrams_whole)
{
	static const size_t sizes[] = { 1, 2, 100, 1400, 1500, 9000, 32768, 65507 };
	struct server s;
	srv_init(&s);
	srv_start(&s, 1, be->name, "--udp=127.0.0.1:0", NULL);
	cr_assert_str_eq(s.kind[0], "udp");
	int fd = srv_connect(&s, 0);
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		udp_roundtrip(fd, sizes[i], (unsigned char)(i + 1));
	close(fd);
	srv_stop(&s);
	cr_assert_geq(s.datagrams, sizeof sizes / sizeof sizes[0]);
}

SIO_BACKEND_TEST(echo, udp6_datagrams)
{
	struct server s;
	if (!have_ipv6_loopback())
		cr_skip_test("no ::1 on this machine");
	srv_init(&s);
	srv_start(&s, 1, be->name, "--udp=[::1]:0", NULL);
	int fd = srv_connect(&s, 0);
	udp_roundtrip(fd, 1000, 1);
	udp_roundtrip(fd, 60000, 2);
	close(fd);
	srv_stop(&s);
}

SIO_BACKEND_TEST(echo, unix_stream_and_half_close)
{
	struct server s;
	srv_init(&s);
	srv_start(&s, 1, be->name, srv_arg(&s, "--unix=%s/u.sock", s.dir), NULL);
	cr_assert_str_eq(s.kind[0], "unix");
	cr_assert_str_eq(s.addr[0], srv_arg(&s, "%s/u.sock", s.dir));
	int fd = srv_connect(&s, 0);
	stream_echo(fd, 2 << 20);
	close(fd);
	srv_stop(&s);
	struct stat st;
	cr_assert_neq(stat(s.addr[0], &st), 0, "the socket file is still there");
}

SIO_BACKEND_TEST(echo, seqpacket_records_whole)
{
	struct server s;
	srv_init(&s);
	srv_start(&s, 1, be->name, srv_arg(&s, "--seqpacket=%s/s.sock", s.dir), NULL);
	cr_assert_str_eq(s.kind[0], "seqpacket");
	int fd = srv_connect(&s, 0);
	seqpacket_echo(fd);
	close(fd);
	srv_stop(&s);
	cr_assert_eq(s.datagrams, 103);
}

SIO_BACKEND_TEST(echo, every_transport_at_once)
{
	struct server s;
	srv_init(&s);
	srv_start(&s, 4, be->name, "--tcp=127.0.0.1:0", "--udp=127.0.0.1:0",
	          srv_arg(&s, "--unix=%s/u.sock", s.dir),
	          srv_arg(&s, "--seqpacket=%s/s.sock", s.dir), NULL);
	static const char *const kinds[] = { "tcp", "udp", "unix", "seqpacket" };
	for (int i = 0; i < 4; i++)
		cr_assert_str_eq(s.kind[i], kinds[i], "line %d is %s", i, s.kind[i]);
	int t = srv_connect(&s, 0), u = srv_connect(&s, 1), x = srv_connect(&s, 2),
	    q = srv_connect(&s, 3);
	udp_roundtrip(u, 512, 7);
	stream_echo(t, 300000);
	seqpacket_echo(q);
	stream_echo(x, 300000);
	close(t);
	close(u);
	close(x);
	close(q);
	srv_stop(&s);
	cr_assert_eq(s.conns, 3);
}

/* ---- urgent data ------------------------------------------------------------------- */

SIO_BACKEND_TEST(echo, tcp_urgent_byte_logged_and_echoed)
{
	struct server s;
	char in[64];
	size_t got = 0;
	int urgent = -1;

	srv_init(&s);
	srv_start(&s, 1, be->name, "--tcp=127.0.0.1:0", NULL);
	int fd = srv_connect(&s, 0);
	cr_assert_eq(send(fd, "abc", 3, 0), 3);
	cr_assert_eq(send(fd, "!", 1, MSG_OOB), 1, "send MSG_OOB: %s", strerror(errno));
	cr_assert_eq(send(fd, "def", 3, 0), 3);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	while (got < 6 || urgent < 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLPRI };
		cr_assert_gt(poll(&pfd, 1, NET_MS), 0, "got %zu in-band bytes, urgent %d", got,
		             urgent);
		if (pfd.revents & POLLPRI) {
			unsigned char b;
			ssize_t r = recv(fd, &b, 1, MSG_OOB);
			if (r == 1)
				urgent = b;
			else
				cr_assert(errno == EAGAIN || errno == EINVAL, "recv MSG_OOB: %s",
				          strerror(errno));
		}
		if (pfd.revents & POLLIN) {
			ssize_t r = recv(fd, in + got, sizeof in - got, 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			cr_assert_gt(r, 0, "recv: %zd %s", r, strerror(errno));
			got += (size_t)r;
		}
	}
	cr_assert_eq(got, 6);
	cr_assert_eq(memcmp(in, "abcdef", 6), 0, "in-band bytes came back as '%.6s'", in);
	cr_assert_eq(urgent, '!', "urgent byte %#x came back", urgent);
	close(fd);
	srv_stop(&s);
	cr_assert_eq(s.urgent, 1);
	cr_assert_not_null(strstr(s.err, "urgent byte 0x21 '!'"), "not logged: %s", s.err);
	cr_assert_not_null(strstr(s.err, "sockatmark="), "no mark logged: %s", s.err);
}

/* ---- backpressure -------------------------------------------------------------------- */

SIO_BACKEND_TEST(echo, client_that_does_not_read_gets_backpressure)
{
	enum { PUSH = 64 << 20, BOUND_KB = 16 << 10 };
	static unsigned char buf[65536];
	struct server s;
	size_t sent = 0;

	srv_init(&s);
	srv_start(&s, 1, be->name, "--tcp=127.0.0.1:0", NULL);
	long before = vmrss_kb(s.pid);
	int fd = srv_connect(&s, 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	/* Push without reading until 64 MiB went or the server stops
	 * taking any (half a second without room: it throttled us). */
	while (sent < PUSH) {
		fill(buf, sizeof buf, sent);
		ssize_t w = send(fd, buf, sizeof buf, MSG_NOSIGNAL);
		if (w > 0) {
			sent += (size_t)w;
			continue;
		}
		cr_assert(w < 0 && errno == EAGAIN, "send: %s", strerror(errno));
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		if (poll(&pfd, 1, 500) == 0)
			break;
	}
	long after = vmrss_kb(s.pid);
	cr_log_info("[%s] pushed %zu bytes unread; server VmRSS %ld -> %ld kB", be->name,
	            sent, before, after);
	cr_assert_lt(after - before, BOUND_KB, "server grew by %ld kB for %zu unread bytes",
	             after - before, sent);
	cr_assert_lt(sent, (size_t)PUSH, "the server took all %d bytes without our reading",
	             PUSH);
	/* Now read: everything pushed comes back, in order. */
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	size_t got = 0;
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		cr_assert_gt(poll(&pfd, 1, NET_MS), 0, "echo stalled at %zu of %zu", got, sent);
		ssize_t r = recv(fd, buf, sizeof buf, 0);
		if (r < 0 && errno == EAGAIN)
			continue;
		cr_assert_geq(r, 0, "recv: %s", strerror(errno));
		if (r == 0)
			break;
		for (ssize_t k = 0; k < r; k++)
			cr_assert_eq(buf[k], pat(got + (size_t)k), "byte %zu altered", got + k);
		got += (size_t)r;
	}
	cr_assert_eq(got, sent, "%zu of %zu bytes came back", got, sent);
	close(fd);
	srv_stop(&s);
}

/* ---- many clients ------------------------------------------------------------------ */

SIO_BACKEND_TEST(echo, two_hundred_concurrent_clients)
{
	enum { N = 200, LEN = 3000 };
	struct server s;
	struct peer { int fd; size_t sent, got; bool shut, eof; } p[N];
	struct pollfd pfd[N];
	unsigned char buf[LEN];
	int done = 0;

	srv_init(&s);
	srv_start(&s, 1, be->name, "--tcp=127.0.0.1:0", NULL);
	struct sockaddr_storage ss;
	socklen_t sl = srv_sockaddr(&s, 0, &ss);
	for (int i = 0; i < N; i++) {
		p[i] = (struct peer){ .fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK |
		                                   SOCK_CLOEXEC, 0) };
		cr_assert_geq(p[i].fd, 0, "socket %d: %s", i, strerror(errno));
		int r = connect(p[i].fd, (struct sockaddr *)&ss, sl);
		cr_assert(r == 0 || errno == EINPROGRESS, "connect %d: %s", i, strerror(errno));
	}
	while (done < N) {
		for (int i = 0; i < N; i++) {
			pfd[i].fd = p[i].eof ? -1 : p[i].fd;
			pfd[i].events = POLLIN | (p[i].sent < LEN ? POLLOUT : 0);
			pfd[i].revents = 0;
		}
		int n = poll(pfd, N, NET_MS);
		cr_assert_gt(n, 0, "no progress in %d ms; %d of %d clients done", NET_MS, done, N);
		for (int i = 0; i < N; i++) {
			struct peer *c = &p[i];
			if (pfd[i].revents & POLLOUT) {
				fill(buf, LEN - c->sent, (uint64_t)i * 100000 + c->sent);
				ssize_t w = send(c->fd, buf, LEN - c->sent, MSG_NOSIGNAL);
				cr_assert(w > 0 || errno == EAGAIN, "client %d: send: %s", i,
				          strerror(errno));
				if (w > 0)
					c->sent += (size_t)w;
				if (c->sent == LEN && !c->shut) {
					shutdown(c->fd, SHUT_WR);
					c->shut = true;
				}
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				ssize_t r = recv(c->fd, buf, sizeof buf, 0);
				if (r < 0 && errno == EAGAIN)
					continue;
				cr_assert_geq(r, 0, "client %d: recv: %s", i, strerror(errno));
				if (r == 0) {
					cr_assert_eq(c->got, LEN, "client %d: EOF after %zu bytes", i,
					             c->got);
					c->eof = true;
					done++;
					continue;
				}
				for (ssize_t k = 0; k < r; k++)
					cr_assert_eq(buf[k], pat((uint64_t)i * 100000 + c->got + k),
					             "client %d: byte %zu altered", i, c->got + k);
				c->got += (size_t)r;
			}
		}
	}
	for (int i = 0; i < N; i++)
		close(p[i].fd);
	srv_stop(&s);
	cr_assert_eq(s.conns, N);
	cr_assert_eq(s.bytes, (unsigned long long)N * LEN);
}

/* ---- threads ------------------------------------------------------------------------- */

SIO_BACKEND_TEST(echo, two_threads_share_the_ports)
{
	struct server s;
	srv_init(&s);
	srv_start(&s, 3, be->name, "--threads=2", "--verbose", "--tcp=127.0.0.1:0",
	          "--udp=127.0.0.1:0", srv_arg(&s, "--unix=%s/u.sock", s.dir), NULL);
	/* One line per endpoint, not per thread. */
	cr_assert_str_eq(s.kind[0], "tcp");
	cr_assert_str_eq(s.kind[1], "udp");
	cr_assert_str_eq(s.kind[2], "unix");
	/* The kernel spreads connections over both threads' listeners by a
	 * hash of the four-tuple: with 64 connections from random ports,
	 * one thread only has a chance of 2^-63. */
	for (int i = 0; i < 64; i++) {
		int fd = srv_connect(&s, 0);
		stream_echo(fd, 1000);
		close(fd);
	}
	for (int i = 0; i < 16; i++) {
		int fd = srv_connect(&s, 1);
		udp_roundtrip(fd, 100, (unsigned char)i);
		close(fd);
	}
	int fd = srv_connect(&s, 2);
	stream_echo(fd, 1000);
	close(fd);
	srv_stop(&s);
	cr_assert_eq(s.conns, 65);
	cr_assert_not_null(strstr(s.err, "[t0] tcp 127.0.0.1:"), "thread 0 served no TCP: %s",
	                   s.err);
	cr_assert_not_null(strstr(s.err, "[t1] tcp 127.0.0.1:"), "thread 1 served no TCP: %s",
	                   s.err);
}

/* ---- stopping ------------------------------------------------------------------------ */

SIO_BACKEND_TEST(echo, sigterm_closes_connections_and_exits_within_a_second)
{
	struct server s;
	char c;

	srv_init(&s);
	srv_start(&s, 3, be->name, "--tcp=127.0.0.1:0", srv_arg(&s, "--unix=%s/u.sock", s.dir),
	          srv_arg(&s, "--seqpacket=%s/s.sock", s.dir), NULL);
	int fds[3];
	for (int i = 0; i < 3; i++) {
		fds[i] = srv_connect(&s, i);
		cr_assert_eq(send(fds[i], "x", 1, 0), 1);
		cr_assert_eq(recv(fds[i], &c, 1, 0), 1, "no echo on %s: %s", s.kind[i],
		             strerror(errno));
	}
	double secs = srv_stop_with(&s, SIGTERM, 5000);
	cr_assert_lt(secs, 1.0, "exit took %.3f s", secs);
	for (int i = 0; i < 3; i++) {
		ssize_t r = recv(fds[i], &c, 1, 0);
		cr_assert(r == 0 || (r < 0 && errno == ECONNRESET), "%s still open: %zd %s",
		          s.kind[i], r, strerror(errno));
		close(fds[i]);
	}
	cr_assert_eq(s.conns, 3);
	cr_assert_eq(s.bytes, 3);
	cr_assert_eq(count_lines(s.err), 1, "stderr: %s", s.err);
	struct stat st;
	cr_assert_neq(stat(s.addr[1], &st), 0, "%s left behind", s.addr[1]);
	cr_assert_neq(stat(s.addr[2], &st), 0, "%s left behind", s.addr[2]);
	srv_cleanup(&s);
}

SIO_BACKEND_TEST(echo, sigint_stops_every_thread)
{
	struct server s;
	srv_init(&s);
	srv_start(&s, 1, be->name, "--threads=3", "--tcp=127.0.0.1:0", NULL);
	int fd = srv_connect(&s, 0);
	stream_echo(fd, 5000);
	int idle = srv_connect(&s, 0);  /* left open */
	double secs = srv_stop_with(&s, SIGINT, 5000);
	cr_assert_lt(secs, 1.0, "exit took %.3f s", secs);
	close(fd);
	close(idle);
	srv_cleanup(&s);
}

/* ---- limits ------------------------------------------------------------------------- */

SIO_BACKEND_TEST(echo, idle_timeout_closes_a_silent_connection)
{
	struct server s;
	char c;

	srv_init(&s);
	srv_start(&s, 1, be->name, "--idle-timeout=0.3", "--tcp=127.0.0.1:0", NULL);
	int fd = srv_connect(&s, 0);
	cr_assert_eq(send(fd, "x", 1, 0), 1);
	cr_assert_eq(recv(fd, &c, 1, 0), 1);
	double t0 = now_s();
	ssize_t r = recv(fd, &c, 1, 0);         /* SO_RCVTIMEO: the net */
	double idle = now_s() - t0;
	cr_assert_eq(r, 0, "not closed: %zd %s", r, strerror(errno));
	cr_assert_geq(idle, 0.2, "closed after %.3f s only", idle);
	close(fd);
	srv_stop(&s);
}

SIO_BACKEND_TEST(echo, max_conns_refuses_the_extra_ones)
{
	struct server s;
	char c;

	srv_init(&s);
	srv_start(&s, 1, be->name, "--max-conns=1", "--tcp=127.0.0.1:0", NULL);
	int a = srv_connect(&s, 0);
	cr_assert_eq(send(a, "a", 1, 0), 1);
	cr_assert_eq(recv(a, &c, 1, 0), 1, "first connection not served");
	int b = srv_connect(&s, 0);     /* accepted, then closed at once */
	ssize_t r = recv(b, &c, 1, 0);
	cr_assert(r == 0 || (r < 0 && errno == ECONNRESET), "second not refused: %zd %s", r,
	          strerror(errno));
	close(b);
	cr_assert_eq(send(a, "b", 1, 0), 1);
	cr_assert_eq(recv(a, &c, 1, 0), 1, "first connection lost");
	shutdown(a, SHUT_WR);
	cr_assert_eq(recv(a, &c, 1, 0), 0);    /* the server freed it */
	close(a);
	int d = srv_connect(&s, 0);     /* room again */
	stream_echo(d, 1000);
	close(d);
	srv_stop(&s);
	cr_assert_eq(s.refused, 1);
	cr_assert_eq(s.conns, 2);
}

/* ---- --verbose -------------------------------------------------------------------------- */

SIO_BACKEND_TEST(echo, verbose_logs_peers_and_options)
{
	struct server s;
	struct sockaddr_in me;
	socklen_t ml = sizeof me;
	char want[96];

	srv_init(&s);
	srv_start(&s, 2, be->name, "--verbose", "--tcp=127.0.0.1:0",
	          srv_arg(&s, "--unix=%s/u.sock", s.dir), NULL);
	int fd = srv_connect(&s, 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
	stream_echo(fd, 10);
	close(fd);
	fd = srv_connect(&s, 1);
	stream_echo(fd, 10);
	close(fd);
	srv_stop(&s);
	snprintf(want, sizeof want, "tcp 127.0.0.1:%u connected; set TCP_NODELAY=1",
	         ntohs(me.sin_port));
	cr_assert_not_null(strstr(s.err, want), "no '%s' in: %s", want, s.err);
	snprintf(want, sizeof want, "tcp 127.0.0.1:%u disconnected: end of stream",
	         ntohs(me.sin_port));
	cr_assert_not_null(strstr(s.err, want), "no '%s' in: %s", want, s.err);
	cr_assert_not_null(strstr(s.err, "SO_KEEPALIVE=1"), "%s", s.err);
	snprintf(want, sizeof want, "unix unnamed (pid %ld", (long)getpid());
	cr_assert_not_null(strstr(s.err, want), "no '%s' in: %s", want, s.err);
}

/* ---- peers that misbehave ------------------------------------------------------------------ */

SIO_BACKEND_TEST(echo, resets_vanishing_peers_and_garbage_do_not_stop_it)
{
	static unsigned char junk[256 * 1024];
	struct server s;

	srv_init(&s);
	srv_start(&s, 4, be->name, "--tcp=127.0.0.1:0", "--udp=127.0.0.1:0",
	          srv_arg(&s, "--unix=%s/u.sock", s.dir),
	          srv_arg(&s, "--seqpacket=%s/s.sock", s.dir), NULL);
	fill(junk, sizeof junk, 42);
	for (int round = 0; round < 3; round++) {
		/* TCP: a burst unread, then a reset (SO_LINGER 0). */
		int fd = srv_connect(&s, 0);
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		(void)send(fd, junk, sizeof junk, MSG_NOSIGNAL);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
		close(fd);
		/* TCP: connect and go. */
		close(srv_connect(&s, 0));
		/* TCP: a flood of urgent bytes among in-band junk. */
		fd = srv_connect(&s, 0);
		for (int i = 0; i < 50; i++) {
			(void)send(fd, junk + i, 100, MSG_NOSIGNAL);
			(void)send(fd, "U", 1, MSG_OOB | MSG_NOSIGNAL);
		}
		close(fd);
		/* Unix stream: junk, unread, closed. */
		fd = srv_connect(&s, 2);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		(void)send(fd, junk, sizeof junk, MSG_NOSIGNAL);
		close(fd);
		/* SEQPACKET: records unread, closed. */
		fd = srv_connect(&s, 3);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		for (int i = 0; i < 50; i++)
			(void)send(fd, junk, 4000, MSG_NOSIGNAL);
		close(fd);
		/* UDP: empty datagrams and odd sizes, never read. */
		fd = srv_connect(&s, 1);
		for (int i = 0; i < 20; i++)
			(void)send(fd, junk, (size_t)(i * 3271) % 65508, MSG_DONTWAIT);
		close(fd);
	}
	int st;
	cr_assert_eq(waitpid(s.pid, &st, WNOHANG), 0, "echo-server died");
	/* Still serving every transport. */
	int t = srv_connect(&s, 0), u = srv_connect(&s, 1), x = srv_connect(&s, 2),
	    q = srv_connect(&s, 3);
	stream_echo(t, 100000);
	udp_roundtrip(u, 100, 99);
	stream_echo(x, 100000);
	seqpacket_echo(q);
	close(t);
	close(u);
	close(x);
	close(q);
	srv_stop(&s);
}

/* ---- echo-client ------------------------------------------------------------------------------ */

SIO_BACKEND_TEST(echo, client_copies_stdin_over_streams)
{
	enum { LEN = 3 << 20 };
	struct server s;
	struct run r;

	srv_init(&s);
	srv_start(&s, 2, be->name, "--tcp=127.0.0.1:0", srv_arg(&s, "--unix=%s/u.sock", s.dir),
	          NULL);
	const char *in = make_input(&s, LEN);
	client_run(&r, s.dir, in, srv_arg(&s, "--backend=%s", be->name),
	           srv_arg(&s, "--tcp=%s", s.addr[0]), NULL);
	assert_echoed(&r, LEN);
	run_free(&r);
	client_run(&r, s.dir, in, srv_arg(&s, "--backend=%s", be->name),
	           srv_arg(&s, "--unix=%s", s.addr[1]), NULL);
	assert_echoed(&r, LEN);
	run_free(&r);
	srv_stop(&s);
	cr_assert_eq(s.bytes, 2ULL * LEN);
}

SIO_BACKEND_TEST(echo, client_copies_stdin_as_datagrams_and_records)
{
	enum { LEN = 300000 };
	struct server s;
	struct run r;

	srv_init(&s);
	srv_start(&s, 2, be->name, "--udp=127.0.0.1:0",
	          srv_arg(&s, "--seqpacket=%s/s.sock", s.dir), NULL);
	const char *in = make_input(&s, LEN);
	client_run(&r, s.dir, in, srv_arg(&s, "--backend=%s", be->name),
	           srv_arg(&s, "--udp=%s", s.addr[0]), NULL);
	assert_echoed(&r, LEN);
	run_free(&r);
	client_run(&r, s.dir, in, srv_arg(&s, "--backend=%s", be->name),
	           srv_arg(&s, "--seqpacket=%s", s.addr[1]), NULL);
	assert_echoed(&r, LEN);
	run_free(&r);
	srv_stop(&s);
}

SIO_BACKEND_TEST(echo, client_count_and_size_verify_every_transport)
{
	struct server s;
	struct run r;

	srv_init(&s);
	srv_start(&s, 4, be->name, "--tcp=127.0.0.1:0", "--udp=127.0.0.1:0",
	          srv_arg(&s, "--unix=%s/u.sock", s.dir),
	          srv_arg(&s, "--seqpacket=%s/s.sock", s.dir), NULL);
	static const char *const opts[] = { "--tcp", "--udp", "--unix", "--seqpacket" };
	for (int i = 0; i < 4; i++) {
		client_run(&r, s.dir, NULL, srv_arg(&s, "--backend=%s", be->name),
		           srv_arg(&s, "%s=%s", opts[i], s.addr[i]), "--count=300",
		           i == 1 ? "--size=1400" : "--size=5000", NULL);
		cr_assert_eq(r.status, 0, "%s: exit %d: %s", opts[i], r.status, r.err);
		r.out[r.outlen < 1 ? 0 : r.outlen - 1] = '\0';
		cr_assert_eq(strncmp(r.out, "ok: 300 messages of ", 20), 0, "%s: '%s'", opts[i],
		             r.out);
		cr_assert_eq(count_lines(r.err), 0, "%s: stderr: %s", opts[i], r.err);
		run_free(&r);
	}
	srv_stop(&s);
	cr_assert_eq(s.datagrams, 600);
}

SIO_BACKEND_TEST(echo, client_urgent_reports_what_came_back)
{
	struct server s;
	struct run r;

	srv_init(&s);
	srv_start(&s, 1, be->name, "--tcp=127.0.0.1:0", NULL);
	const char *in = make_input(&s, 100000);
	client_run(&r, s.dir, in, srv_arg(&s, "--backend=%s", be->name),
	           srv_arg(&s, "--tcp=%s", s.addr[0]), "--urgent=#", NULL);
	assert_echoed(&r, 100000);
	cr_assert_not_null(strstr(r.err, "urgent: sent 0x23 '#', got 0x23 '#' back"),
	                   "stderr: %s", r.err);
	run_free(&r);
	srv_stop(&s);
	cr_assert_eq(s.urgent, 1);
}

/* ---- bad input ---------------------------------------------------------------------------------- */

/* Run echo-server with these arguments: it must exit with `code` before
 * listening, and say so on one line of stderr containing `phrase`. */
static void
server_refuses(struct server *s, int code, const char *phrase, ...)
{
	va_list ap;
	int status;
	bool up;

	va_start(ap, phrase);
	up = srv_try(s, 1, &status, NULL, ap);
	va_end(ap);
	if (up)
		srv_stop_with(s, SIGTERM, 5000);
	cr_assert(!up, "echo-server started; it should have refused (%s)", phrase);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == code,
	          "status %#x, not exit %d: %s", status, code, s->err);
	cr_assert_eq(count_lines(s->err), 1, "not one line: '%s'", s->err);
	cr_assert_not_null(strstr(s->err, phrase), "no '%s' in '%s'", phrase, s->err);
	cr_assert_eq(s->n, 0, "it printed a listening line");
}

#define REFUSES(Name, Code, Phrase, ...)                                      \
	Test(echo_bad_input, Name, .timeout = SIO_TEST_TIMEOUT)               \
	{                                                                     \
		struct server s;                                              \
		srv_init(&s);                                                 \
		server_refuses(&s, Code, Phrase, __VA_ARGS__, NULL);          \
		srv_cleanup(&s);                                              \
	}

REFUSES(unknown_option, 2, "--bogus: unknown option", "--bogus")
REFUSES(bad_port, 2, "--tcp=127.0.0.1:99999: bad port", "--tcp=127.0.0.1:99999")
REFUSES(missing_port, 2, "--udp=127.0.0.1: missing port", "--udp=127.0.0.1")
REFUSES(unclosed_bracket, 2, "--tcp=[::1:0: missing ']'", "--tcp=[::1:0")
REFUSES(bad_ipv6, 2, "bad IPv6 address", "--tcp=[::g]:0")
REFUSES(threads_zero, 2, "--threads=0", "--threads=0", "--tcp=127.0.0.1:0")
REFUSES(threads_too_many, 2, "--threads=65", "--threads=65", "--tcp=127.0.0.1:0")
REFUSES(threads_not_a_number, 2, "--threads=two", "--threads=two")
REFUSES(max_conns_zero, 2, "--max-conns=0", "--max-conns=0")
REFUSES(idle_negative, 2, "--idle-timeout=-1", "--idle-timeout=-1")
REFUSES(unknown_backend, 2, "--backend=nosuch: unknown backend", "--backend=nosuch",
        "--tcp=127.0.0.1:0")
REFUSES(path_too_long, 2, "path too long",
        "--unix=/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
REFUSES(address_not_local, 1, "--tcp=192.0.2.1:0: Cannot assign requested address",
        "--tcp=192.0.2.1:0")
REFUSES(unusable_path, 1, "--unix=/nonexistent-dir/x.sock: No such file or directory",
        "--unix=/nonexistent-dir/x.sock")

Test(echo_bad_input, port_in_use, .timeout = SIO_TEST_TIMEOUT)
{
	struct server s;
	unsigned short port;
	int busy = t_tcp_listen(&port);

	srv_init(&s);
	server_refuses(&s, 1, "Address already in use", "--tcp=127.0.0.1:0",
	               srv_arg(&s, "--tcp=127.0.0.1:%u", port), NULL);
	close(busy);
	srv_cleanup(&s);
}

Test(echo_bad_input, nothing_left_half_bound, .timeout = SIO_TEST_TIMEOUT)
{
	struct server s;
	unsigned short port;
	int busy = t_tcp_listen(&port);
	struct stat st;

	srv_init(&s);
	const char *path = srv_arg(&s, "%s/u.sock", s.dir);
	server_refuses(&s, 1, "Address already in use", srv_arg(&s, "--unix=%s", path),
	               "--udp=127.0.0.1:0", srv_arg(&s, "--tcp=127.0.0.1:%u", port), NULL);
	cr_assert_neq(stat(path, &st), 0, "%s was left behind", path);
	close(busy);
	srv_cleanup(&s);
}

Test(echo_bad_input, unix_path_served_by_another, .timeout = SIO_TEST_TIMEOUT)
{
	struct server a, b;
	srv_init(&a);
	srv_start(&a, 1, NULL, srv_arg(&a, "--unix=%s/u.sock", a.dir), NULL);
	srv_init(&b);
	server_refuses(&b, 1, "Address already in use", srv_arg(&b, "--unix=%s", a.addr[0]),
	               NULL);
	srv_cleanup(&b);
	int fd = srv_connect(&a, 0);    /* the first still serves */
	stream_echo(fd, 1000);
	close(fd);
	srv_stop(&a);
}

Test(echo_bad_input, client_usage_and_runtime_errors, .timeout = SIO_TEST_TIMEOUT)
{
	struct server s;
	struct run r;
	unsigned short closed = t_closed_port();

	srv_init(&s);
	client_run(&r, s.dir, NULL, NULL);
	cr_assert_eq(r.status, 2, "no server: exit %d", r.status);
	cr_assert_eq(count_lines(r.err), 1, "'%s'", r.err);
	run_free(&r);
	client_run(&r, s.dir, NULL, "--tcp=127.0.0.1:1", "--urgent=ab", NULL);
	cr_assert_eq(r.status, 2, "--urgent=ab: exit %d", r.status);
	run_free(&r);
	client_run(&r, s.dir, NULL, "--udp=127.0.0.1:1", "--urgent=a", NULL);
	cr_assert_eq(r.status, 2, "--urgent over UDP: exit %d", r.status);
	run_free(&r);
	client_run(&r, s.dir, NULL, "--tcp=127.0.0.1:1", "--count=0", NULL);
	cr_assert_eq(r.status, 2, "--count=0: exit %d", r.status);
	run_free(&r);
	client_run(&r, s.dir, NULL, "--tcp=127.0.0.1:1", "--frobnicate", NULL);
	cr_assert_eq(r.status, 2, "unknown option: exit %d", r.status);
	cr_assert_not_null(strstr(r.err, "--frobnicate: unknown option"), "'%s'", r.err);
	run_free(&r);
	client_run(&r, s.dir, NULL, srv_arg(&s, "--tcp=127.0.0.1:%u", closed), NULL);
	cr_assert_eq(r.status, 1, "connection refused: exit %d", r.status);
	cr_assert_not_null(strstr(r.err, "Connection refused"), "'%s'", r.err);
	cr_assert_eq(count_lines(r.err), 1, "'%s'", r.err);
	run_free(&r);
	client_run(&r, s.dir, NULL, srv_arg(&s, "--unix=%s/none.sock", s.dir), NULL);
	cr_assert_eq(r.status, 1, "no such socket: exit %d", r.status);
	run_free(&r);
	srv_cleanup(&s);
}

/* --timeout: a listener whose backlog is full (listen 0, one connection
 * queued and never accepted) drops the client's SYN; the client gives up
 * after its timeout instead of the kernel's minutes of retries. */
Test(echo_bad_input, client_timeout_on_a_full_backlog, .timeout = SIO_TEST_TIMEOUT)
{
	struct server s;
	struct run r;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;

	srv_init(&s);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	cr_assert_eq(listen(lfd, 0), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(filler, (struct sockaddr *)&sin, sizeof sin), 0);
	client_run(&r, s.dir, NULL, srv_arg(&s, "--tcp=127.0.0.1:%u",
	                                    (unsigned)ntohs(sin.sin_port)),
	           "--timeout=200", NULL);
	cr_assert_eq(r.status, 1, "timed out: exit %d", r.status);
	cr_assert_not_null(strstr(r.err, "timed out"), "'%s'", r.err);
	run_free(&r);
	client_run(&r, s.dir, NULL, "--tcp=127.0.0.1:1", "--timeout=soon", NULL);
	cr_assert_eq(r.status, 2, "--timeout=soon: exit %d", r.status);
	run_free(&r);
	close(filler);
	close(lfd);
	srv_cleanup(&s);
}

/* ---- the defaults ------------------------------------------------------------------------------- */

Test(echo_defaults, tcp_and_udp_on_the_default_port, .timeout = SIO_TEST_TIMEOUT)
{
	struct server s;
	int status;

	srv_init(&s);
	bool up = srv_tryv(&s, 2, &status, NULL, NULL);
	if (!up && strstr(s.err, "in use") != NULL) {
		srv_cleanup(&s);
		cr_skip_test("port 7007 is in use here: %s", s.err);
	}
	cr_assert(up, "status %#x: %s", status, s.err);
	cr_assert_str_eq(s.kind[0], "tcp");
	cr_assert_str_eq(s.addr[0], "127.0.0.1:7007");
	cr_assert_str_eq(s.kind[1], "udp");
	cr_assert_str_eq(s.addr[1], "127.0.0.1:7007");
	int fd = srv_connect(&s, 0);
	stream_echo(fd, 1000);
	close(fd);
	srv_stop(&s);
}
