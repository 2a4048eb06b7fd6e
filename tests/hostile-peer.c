/*
 * hostile-peer - attack an echo server as an adversary would, then check
 * that it still echoes correctly.  Plain sockets and poll(); no sigio.
 *
 * Usage: hostile-peer CASE (--port=N | --unix=PATH) [--udp-port=N] [--pid=PID]
 *                     [--conns=N] [--bytes=N] [--count=N] [--max-rss-kb=N]
 *                     [--hold-ms=N] [--waited=N]
 *
 * Cases (each ends with a probe: a fresh connection, 64 KiB echoed exactly,
 * half-close, EOF; and with --pid, the server must be alive):
 *   reset    --conns connections write without reading until the server
 *            can take no more (it has echo data queued for us), then each
 *            is reset (SO_LINGER {1, 0}, close).  With --pid the server's
 *            open fds (/proc/PID/fd) must come back to what they were.
 *   noread   --conns connections push up to --bytes in all without reading
 *            until the server stops taking (back-pressure), the server's
 *            peak RSS (VmHWM) is read and must be under --max-rss-kb, then
 *            each connection reads back and checks every byte it pushed.
 *   idle     --conns idle connections, then one client times --count
 *            64-byte echoes (p50, p99 reported; a 10 s bound per echo
 *            against hangs, no timing asserted); then each idle connection
 *            echoes one byte (they were all kept).
 *   fdflood  (start the server with a low RLIMIT_NOFILE) 16 clients echo,
 *            then --conns connections come at once, far beyond the
 *            server's fds, and are held for --hold-ms while the 16 keep
 *            echoing every 50 ms; the server's CPU time (utime + stime of
 *            /proc/PID/stat) over the hold must be under a quarter of the wall
 *            time (a server spinning on a listener it cannot accept from
 *            would use all of it).  After the flood is closed, new clients
 *            are served and the 16 still echo.
 *   oob      in-band garbage with urgent bytes (MSG_OOB): first one urgent
 *            byte at a time, each waited for (in-band echo and urgent echo
 *            both exact; --waited of them, 32 by default); then a burst of --count urgent bytes without
 *            waiting, in-band bytes from 0x00-0xEF and urgent ones from
 *            0xF0-0xFF: TCP keeps one urgent mark, so an urgent byte may
 *            arrive in band or be dropped when the next one overtakes it,
 *            but the in-band bytes, the urgent ones taken out, must come
 *            back exactly and in order.
 *   udp      (--udp-port) datagrams of 0 and 65,507 bytes echoed exactly,
 *            then --count datagrams sent without waiting (each echo that
 *            comes back is checked), then 100 datagrams one by one must
 *            all be echoed exactly.
 *
 * Output: "CASE key=value ..." on stdout.  Exit 0, 1 on any failure (a
 * line on stderr says what), 2 for bad usage.
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "peer-common.h"

#define PROG "hostile-peer"

static struct {
	const char *port, *unix_path, *udp_port;
	long pid;
	unsigned long conns, count, hold_ms, max_rss_kb, waited;
	unsigned long long bytes;
} opt;

static int failed;

static void
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
fail(const char *fmt, ...)
{
	va_list ap;

	failed = 1;
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Byte `off` of stream `id`. */
static inline unsigned char
content(uint64_t id, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ULL ^ (id << 40);
	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ULL;
	return (unsigned char)(x >> 56);
}

/* ---- the server, seen from /proc ------------------------------------------ */

static long
server_status_kb(const char *field)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/status", opt.pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, field, strlen(field)) == 0)
			v = strtol(line + strlen(field), NULL, 10);
	fclose(f);
	return v;
}

/* utime + stime of the server, in seconds; -1 if it is gone. */
static double
server_cpu(void)
{
	char path[64], buf[1024];
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", opt.pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	/* after ") ": state(3) ... utime is field 14, stime 15 */
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
	                        &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int
server_alive(void)
{
	return opt.pid <= 0 || proc_alive(opt.pid);
}

static long
server_fds(void)
{
	char path[64];
	long n = 0;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%ld/fd", opt.pid);
	if ((d = opendir(path)) == NULL)
		return -1;
	for (struct dirent *e; (e = readdir(d)) != NULL; )
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* ---- connections ---------------------------------------------------------- */

/* Socket buffers of the next dial()s: 0 leaves the kernel's (which
 * autotunes them up to megabytes on loopback). */
static int dial_bufsize;

static void
set_bufs(int fd)
{
	if (dial_bufsize > 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &dial_bufsize, sizeof dial_bufsize);
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &dial_bufsize, sizeof dial_bufsize);
	}
}

/* A nonblocking stream socket connected (or connecting: `wait` 0) to the
 * server; -1 with errno. */
static int
dial(int wait)
{
	int fd, rc;

	if (opt.unix_path != NULL) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", opt.unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		set_bufs(fd);
		rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		sin.sin_port = htons((uint16_t)atoi(opt.port));
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		set_bufs(fd);
		rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
	}
	if (rc < 0 && errno != EINPROGRESS && errno != EAGAIN) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (rc < 0 && wait) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int err = 0;
		socklen_t len = sizeof err;
		if (poll(&p, 1, 10000) != 1 ||
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
			close(fd);
			errno = err ? err : ETIMEDOUT;
			return -1;
		}
	}
	return fd;
}

/* Write all of buf (waiting with poll up to 10 s in all); 0 or -1. */
static int
send_all(int fd, const void *buf, size_t len, int flags)
{
	const unsigned char *p = buf;
	double deadline = now() + 10;

	while (len > 0) {
		ssize_t n = send(fd, p, len, flags | MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		if (now() > deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		poll(&pf, 1, 100);
	}
	return 0;
}

/* Read exactly len bytes (10 s bound); 0, or -1 with errno (0: EOF). */
static int
recv_all(int fd, void *buf, size_t len)
{
	unsigned char *p = buf;
	double deadline = now() + 10;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0) {
			errno = 0;
			return -1;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (now() > deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		poll(&pf, 1, 100);
	}
	return 0;
}

/* Echo `len` bytes of stream `id` at `off` on fd and check them. */
static int
echo_once(int fd, uint64_t id, uint64_t off, size_t len)
{
	unsigned char out[4096], in[4096];

	while (len > 0) {
		size_t n = len < sizeof out ? len : sizeof out;
		for (size_t i = 0; i < n; i++)
			out[i] = content(id, off + i);
		if (send_all(fd, out, n, 0) < 0 || recv_all(fd, in, n) < 0)
			return -1;
		if (memcmp(in, out, n) != 0) {
			errno = EILSEQ;
			return -1;
		}
		off += n;
		len -= n;
	}
	return 0;
}

/* A fresh connection, 64 KiB echoed (written and read in turn, 4 KiB at
 * a time), half-close, EOF.  Returns 0 if all came back right. */
static int
probe(const char *when)
{
	unsigned char c;
	int fd = dial(1);

	if (fd < 0) {
		fail("probe %s: connect: %s", when, strerror(errno));
		return -1;
	}
	if (echo_once(fd, 0xABCDEF, 0, 65536) < 0) {
		fail("probe %s: echo: %s", when, errno ? strerror(errno) : "EOF");
		close(fd);
		return -1;
	}
	shutdown(fd, SHUT_WR);
	if (recv_all(fd, &c, 1) == 0 || errno != 0) {
		fail("probe %s: no EOF after the half-close", when);
		close(fd);
		return -1;
	}
	close(fd);
	if (!server_alive()) {
		fail("probe %s: the server died", when);
		return -1;
	}
	return 0;
}

static void
reset_fd(int fd)
{
	struct linger lg = { 1, 0 };
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
}

/* Write stream `id` (from *off) on every fd without reading until none
 * takes a byte for `quiet_ms`, or `limit` bytes went out in all.  Returns
 * the bytes written. */
static unsigned long long
push_until_stalled(int *fds, uint64_t *offs, size_t n, unsigned long long limit,
                   int quiet_ms)
{
	static unsigned char buf[65536];
	unsigned long long total = 0;
	double last = now();

	while (total < limit && (now() - last) * 1000 < quiet_ms) {
		int progress = 0;
		for (size_t i = 0; i < n && total < limit; i++) {
			if (fds[i] < 0)
				continue;
			size_t len = sizeof buf;
			if (len > limit - total)
				len = (size_t)(limit - total);
			for (size_t k = 0; k < len; k++)
				buf[k] = content(i, offs[i] + k);
			ssize_t w = send(fds[i], buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0) {
				offs[i] += (uint64_t)w;
				total += (unsigned long long)w;
				progress = 1;
			} else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			           errno != EINTR) {
				fail("push: send on connection %zu: %s", i, strerror(errno));
				return total;
			}
		}
		if (progress)
			last = now();
		else
			pause_ms(5);
	}
	return total;
}

static int *
dial_many(size_t n)
{
	int *fds = malloc(n * sizeof *fds);

	if (fds == NULL) {
		fail("malloc");
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if ((fds[i] = dial(1)) < 0) {
			fail("connection %zu of %zu: %s", i, n, strerror(errno));
			while (i-- > 0)
				close(fds[i]);
			free(fds);
			return NULL;
		}
	return fds;
}

/* ---- the cases ------------------------------------------------------------ */

static int
case_reset(void)
{
	size_t n = opt.conns ? opt.conns : 100;
	long fds_before = opt.pid > 0 ? server_fds() : -1;
	uint64_t *offs = calloc(n, sizeof *offs);
	int *fds;

	dial_bufsize = 65536;           /* the server's queue fills sooner */
	fds = dial_many(n);
	dial_bufsize = 0;

	if (fds == NULL || offs == NULL)
		return -1;
	unsigned long long pushed = push_until_stalled(fds, offs, n, ~0ULL, 200);
	for (size_t i = 0; i < n; i++)
		reset_fd(fds[i]);
	/* The server must notice every reset and close its side: its fds
	 * come back to what they were (a bounded wait). */
	long fds_after = fds_before;
	if (fds_before >= 0) {
		double deadline = now() + 10;
		while ((fds_after = server_fds()) > fds_before && now() < deadline)
			pause_ms(20);
		if (fds_after > fds_before)
			fail("reset: the server holds %ld fds, %ld before the attack",
			     fds_after, fds_before);
	}
	printf("reset conns=%zu pushed=%llu resets=%zu server_fds_before=%ld after=%ld\n",
	       n, pushed, n, fds_before, fds_after);
	free(fds);
	free(offs);
	return 0;
}

static int
case_noread(void)
{
	size_t n = opt.conns ? opt.conns : 50;
	unsigned long long limit = opt.bytes ? opt.bytes : 256ULL << 20;
	unsigned long max_kb = opt.max_rss_kb ? opt.max_rss_kb : 64 * 1024;
	uint64_t *offs = calloc(n, sizeof *offs);
	int *fds;
	double t0 = now();

	/* Small buffers on our side, so that what the kernel holds does not
	 * hide whether the server holds the rest. */
	dial_bufsize = 65536;
	fds = dial_many(n);
	dial_bufsize = 0;

	if (fds == NULL || offs == NULL)
		return -1;
	long rss0 = server_status_kb("VmHWM:");
	unsigned long long pushed = push_until_stalled(fds, offs, n, limit, 500);
	long hwm = server_status_kb("VmHWM:");
	long rss = server_status_kb("VmRSS:");
	double t1 = now();
	if (opt.pid > 0 && (hwm < 0 || (unsigned long)hwm > max_kb))
		fail("noread: server peak RSS %ld kB, over the bound of %lu kB", hwm, max_kb);
	/* Now read back every byte, and check it. */
	unsigned long long verified = 0;
	static unsigned char buf[65536];
	for (size_t i = 0; i < n && !failed; i++) {
		uint64_t got = 0;
		while (got < offs[i]) {
			size_t want = offs[i] - got < sizeof buf ? (size_t)(offs[i] - got) : sizeof buf;
			if (recv_all(fds[i], buf, want) < 0) {
				fail("noread: connection %zu: read back %llu of %llu: %s", i,
				     (unsigned long long)got, (unsigned long long)offs[i],
				     errno ? strerror(errno) : "EOF");
				break;
			}
			for (size_t k = 0; k < want; k++)
				if (buf[k] != content(i, got + k)) {
					fail("noread: connection %zu: mismatch at byte %llu", i,
					     (unsigned long long)(got + k));
					break;
				}
			got += want;
			verified += want;
		}
	}
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	printf("noread conns=%zu attempted=%llu pushed=%llu stalled=%s verified=%llu "
	       "server_hwm_kb_before=%ld server_hwm_kb=%ld server_rss_kb=%ld bound_kb=%lu "
	       "push_secs=%.2f\n", n, limit, pushed, pushed < limit ? "yes" : "no", verified, rss0, hwm, rss, max_kb, t1 - t0);
	free(fds);
	free(offs);
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int
case_idle(void)
{
	size_t n = opt.conns ? opt.conns : 500;
	size_t pings = opt.count ? opt.count : 2000;
	double *lat = calloc(pings, sizeof *lat), worst = 0;
	int *fds = dial_many(n);
	int fd = dial(1);

	if (fds == NULL || lat == NULL || fd < 0) {
		fail("idle: set-up: %s", strerror(errno));
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	for (size_t k = 0; k < pings; k++) {
		double t = now();
		if (echo_once(fd, 7, k * 64, 64) < 0) {
			fail("idle: echo %zu: %s", k, errno ? strerror(errno) : "EOF");
			break;
		}
		lat[k] = (now() - t) * 1e6;
		if (lat[k] > worst)
			worst = lat[k];
	}
	close(fd);
	qsort(lat, pings, sizeof *lat, cmp_double);
	size_t kept = 0;
	for (size_t i = 0; i < n && !failed; i++) {
		if (echo_once(fds[i], 100 + i, 0, 1) == 0)
			kept++;
		else
			fail("idle: idle connection %zu no longer echoes: %s", i,
			     errno ? strerror(errno) : "EOF");
	}
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
	printf("idle conns=%zu pings=%zu p50_us=%.0f p99_us=%.0f max_us=%.0f idle_still_echoing=%zu\n",
	       n, pings, lat[pings / 2], lat[pings * 99 / 100], worst, kept);
	free(lat);
	free(fds);
	return 0;
}

static int
case_fdflood(void)
{
	enum { KEEP = 16 };
	size_t n = opt.conns ? opt.conns : 2000;
	unsigned long hold = opt.hold_ms ? opt.hold_ms : 1000;
	int keep[KEEP];
	uint64_t koff[KEEP] = { 0 };
	int *flood = malloc(n * sizeof *flood);
	size_t opened = 0, dial_errors = 0, closed_by_server = 0;
	unsigned long echoes = 0;

	if (flood == NULL)
		return -1;
	for (int i = 0; i < KEEP; i++)
		if ((keep[i] = dial(1)) < 0 || echo_once(keep[i], 500 + i, koff[i], 512) < 0) {
			fail("fdflood: client %d before the flood: %s", i, strerror(errno));
			return -1;
		} else {
			koff[i] += 512;
		}
	double c0 = server_cpu(), t0 = now();
	for (size_t i = 0; i < n; i++) {
		flood[i] = dial(0);
		if (flood[i] >= 0)
			opened++;
		else
			dial_errors++;  /* the backlog is full: refused, fine */
	}
	double c1 = server_cpu(), t1 = now();
	/* The hold: the server is at its limit with the flood open. */
	while ((now() - t1) * 1000 < (double)hold && !failed) {
		for (int i = 0; i < KEEP; i++) {
			if (echo_once(keep[i], 500 + i, koff[i], 64) < 0) {
				fail("fdflood: client %d during the flood: %s", i,
				     errno ? strerror(errno) : "EOF");
				break;
			}
			koff[i] += 64;
			echoes++;
		}
		pause_ms(50);
	}
	double c2 = server_cpu(), t2 = now();
	if (c0 < 0 || c2 < 0)
		fail("fdflood: the server is gone");
	else if (c2 - c1 > 0.25 * (t2 - t1))
		fail("fdflood: the server used %.2f s of CPU in %.2f s at its fd limit: "
		     "it spins", c2 - c1, t2 - t1);
	/* Which of the flood did the server take, and which did it close? */
	for (size_t i = 0; i < n; i++) {
		if (flood[i] < 0)
			continue;
		char c;
		ssize_t r = recv(flood[i], &c, 1, MSG_DONTWAIT);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
			closed_by_server++;
		close(flood[i]);
	}
	/* After the flood: new clients are served (the server needs a moment
	 * to see the flood's connections close: a bounded retry). */
	size_t fresh = 0;
	double deadline = now() + 10;
	while (fresh < KEEP && now() < deadline && !failed) {
		int fd = dial(1);
		if (fd >= 0 && echo_once(fd, 900 + fresh, 0, 4096) == 0)
			fresh++;
		else
			pause_ms(20);
		if (fd >= 0)
			close(fd);
	}
	if (fresh < KEEP)
		fail("fdflood: only %zu of %d new clients served after the flood", fresh, KEEP);
	for (int i = 0; i < KEEP; i++) {
		if (!failed && echo_once(keep[i], 500 + i, koff[i], 4096) < 0)
			fail("fdflood: client %d after the flood: %s", i,
			     errno ? strerror(errno) : "EOF");
		close(keep[i]);
	}
	printf("fdflood flood=%zu opened=%zu dial_errors=%zu closed_by_server=%zu "
	       "burst_secs=%.2f burst_cpu=%.2f hold_secs=%.2f hold_cpu=%.2f "
	       "echoes_during=%lu fresh_after=%zu\n", n, opened, dial_errors,
	       closed_by_server, t1 - t0, c1 - c0, t2 - t1, c2 - c1, echoes, fresh);
	free(flood);
	return 0;
}

/* In-band bytes of the burst come from 0x00-0xEF, urgent ones 0xF0-0xFF. */
static int
case_oob(void)
{
	size_t bursts = opt.count ? opt.count : 200;
	unsigned char g[4096], in[8192];
	uint64_t rng = 12345;
	int fd = dial(1);
	size_t urgent_back = 0, waited_lost = 0;

	if (fd < 0) {
		fail("oob: connect: %s", strerror(errno));
		return -1;
	}
	/* Part 1: one urgent byte at a time, each waited for. */
	for (size_t k = 0; k < (opt.waited ? opt.waited : 32) && !failed; k++) {
		size_t len = 1 + (size_t)(rng = rng * 6364136223846793005ULL + 1) % sizeof g;
		for (size_t i = 0; i < len; i++)
			g[i] = (unsigned char)((rng = rng * 6364136223846793005ULL + 1) >> 56);
		unsigned char u = (unsigned char)k ^ 0x5A, got;
		if (send_all(fd, g, len, 0) < 0 || send_all(fd, &u, 1, MSG_OOB) < 0) {
			fail("oob: send: %s", strerror(errno));
			break;
		}
		if (recv_all(fd, in, len) < 0 || memcmp(in, g, len) != 0) {
			fail("oob: in-band echo %zu wrong or missing", k);
			break;
		}
		/* Each byte is waited for, so none may be lost: the server's
		 * reads must never step over a mark (lib/stream.c,
		 * urgent_guard()). */
		double deadline = now() + 3;
		int back = 0;
		for (;;) {
			ssize_t r = recv(fd, &got, 1, MSG_OOB);
			if (r == 1) {
				back = 1;
				break;
			}
			if (now() > deadline)
				break;
			struct pollfd pf = { .fd = fd, .events = POLLPRI };
			poll(&pf, 1, 100);
		}
		if (!back) {
			waited_lost++;
			fail("oob: urgent byte %zu never echoed", k);
			break;
		}
		if (got != u)
			fail("oob: urgent byte %zu echoed as 0x%02x, sent 0x%02x", k, got, u);
		urgent_back++;
	}
	/* Part 2: the burst. */
	unsigned char *sent = malloc(bursts * sizeof g), *back = malloc(bursts * sizeof g + 1);
	size_t nsent = 0, nback = 0, urg_sent = 0, urg_oob = 0, urg_inband = 0;
	int sent_done = 0, eof = 0;
	size_t bi = 0;
	double deadline = now() + 30;
	if (sent == NULL || back == NULL)
		return -1;
	while (!failed && !eof && now() < deadline) {
		if (!sent_done) {
			if (bi < bursts) {
				size_t len = 1 + (size_t)(rng = rng * 6364136223846793005ULL + 1) % 1024;
				for (size_t i = 0; i < len; i++)
					g[i] = (unsigned char)(((rng = rng * 6364136223846793005ULL + 1) >> 56) % 0xF0);
				unsigned char u = 0xF0 | (unsigned char)(bi & 0x0F);
				/* blocking sends, with reads in between (below) */
				if (send_all(fd, g, len, 0) < 0 || send_all(fd, &u, 1, MSG_OOB) < 0) {
					fail("oob: burst send: %s", strerror(errno));
					break;
				}
				memcpy(sent + nsent, g, len);
				nsent += len;
				urg_sent++;
				bi++;
			} else {
				shutdown(fd, SHUT_WR);
				sent_done = 1;
			}
		}
		unsigned char u;
		if (recv(fd, &u, 1, MSG_OOB | MSG_DONTWAIT) == 1) {
			if (u < 0xF0)
				fail("oob: urgent byte 0x%02x was never sent urgent", u);
			urg_oob++;
		}
		for (;;) {
			ssize_t r = recv(fd, in, sizeof in, MSG_DONTWAIT);
			if (r == 0) {
				eof = 1;
				break;
			}
			if (r < 0)
				break;
			for (ssize_t i = 0; i < r; i++) {
				if (in[i] >= 0xF0)
					urg_inband++;
				else if (nback < nsent)
					back[nback++] = in[i];
				else {
					fail("oob: more in-band bytes echoed than sent");
					break;
				}
			}
		}
		if (sent_done && !eof) {
			struct pollfd pf = { .fd = fd, .events = POLLIN | POLLPRI };
			poll(&pf, 1, 100);
		}
	}
	if (!failed && !eof)
		fail("oob: no EOF after the burst (%zu of %zu in-band bytes back)", nback, nsent);
	if (!failed && (nback != nsent || memcmp(back, sent, nsent) != 0))
		fail("oob: in-band bytes of the burst wrong: %zu back of %zu", nback, nsent);
	if (!failed && urg_oob + urg_inband > urg_sent)
		fail("oob: more urgent bytes back (%zu) than sent (%zu)", urg_oob + urg_inband,
		     urg_sent);
	close(fd);
	printf("oob waited_urgent=%zu waited_lost=%zu burst_urgent_sent=%zu back_urgent=%zu "
	       "back_inband=%zu lost=%zu inband_bytes=%zu verified=%zu\n", urgent_back,
	       waited_lost, urg_sent, urg_oob,
	       urg_inband, urg_sent - urg_oob - urg_inband, nsent, nback);
	free(sent);
	free(back);
	return 0;
}

static int
udp_socket(struct sockaddr_in *to)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int big = 4 << 20;

	memset(to, 0, sizeof *to);
	to->sin_family = AF_INET;
	to->sin_port = htons((uint16_t)atoi(opt.udp_port));
	to->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
		if (connect(fd, (struct sockaddr *)to, sizeof *to) < 0) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

/* One datagram of `len` bytes of stream `id` echoed exactly; up to 3
 * tries of 2 s (UDP may drop).  Returns the tries used, or -1. */
static int
udp_echo(int fd, uint64_t id, size_t len, unsigned char *buf, unsigned char *in)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = content(id, i);
	for (int t = 1; t <= 3; t++) {
		if (send(fd, buf, len, 0) < 0)
			return -1;
		double deadline = now() + 2;
		while (now() < deadline) {
			struct pollfd pf = { .fd = fd, .events = POLLIN };
			if (poll(&pf, 1, 100) < 1)
				continue;
			ssize_t r = recv(fd, in, 65536, MSG_DONTWAIT);
			if (r < 0)
				continue;
			if ((size_t)r == len && memcmp(in, buf, len) == 0)
				return t;
			/* a stale echo of an earlier try: keep waiting */
		}
	}
	return -1;
}

static int
case_udp(void)
{
	static unsigned char buf[65536], in[65536];
	size_t flood = opt.count ? opt.count : 100000;
	struct sockaddr_in to;
	int fd = udp_socket(&to), retries = 0, t;

	if (opt.udp_port == NULL || fd < 0) {
		fail("udp: no --udp-port, or socket: %s", strerror(errno));
		return -1;
	}
	if ((t = udp_echo(fd, 1, 0, buf, in)) < 0)
		fail("udp: the 0-byte datagram was not echoed");
	retries += t - 1;
	if ((t = udp_echo(fd, 2, 65507, buf, in)) < 0)
		fail("udp: the 65,507-byte datagram was not echoed exactly");
	retries += t - 1;
	close(fd);
	/* The flood: seq number in the first 4 bytes, then content(seq). */
	fd = udp_socket(&to);
	int flags = MSG_DONTWAIT;
	size_t sent = 0, eagain = 0, back = 0, bad = 0;
	double t0 = now();
	for (uint32_t s = 0; s < flood; s++) {
		size_t len = 4 + (s % 509);
		memcpy(buf, &s, 4);
		for (size_t i = 4; i < len; i++)
			buf[i] = content(s, i);
		if (send(fd, buf, len, flags) == (ssize_t)len)
			sent++;
		else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			eagain++;
		/* take what came back meanwhile, without waiting */
		for (;;) {
			ssize_t r = recv(fd, in, sizeof in, MSG_DONTWAIT);
			if (r < 0)
				break;
			uint32_t q;
			memcpy(&q, in, 4);
			int ok = r >= 4 && (size_t)r == 4 + (q % 509);
			for (ssize_t i = 4; ok && i < r; i++)
				ok = in[i] == content(q, (size_t)i);
			back++;
			bad += !ok;
		}
	}
	double t1 = now();
	for (;;) {                      /* the rest, until 300 ms of quiet */
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, 300) < 1)
			break;
		ssize_t r = recv(fd, in, sizeof in, MSG_DONTWAIT);
		if (r < 0)
			continue;
		uint32_t q;
		memcpy(&q, in, 4);
		int ok = r >= 4 && (size_t)r == 4 + (q % 509);
		for (ssize_t i = 4; ok && i < r; i++)
			ok = in[i] == content(q, (size_t)i);
		back++;
		bad += !ok;
	}
	close(fd);
	if (bad > 0)
		fail("udp: %zu echoes of the flood were wrong", bad);
	/* After it: 100 datagrams one by one. */
	fd = udp_socket(&to);
	size_t after = 0;
	for (size_t k = 0; k < 100 && !failed; k++) {
		if ((t = udp_echo(fd, 1000 + k, 1 + k * 97 % 9000, buf, in)) < 0) {
			fail("udp: datagram %zu after the flood not echoed", k);
			break;
		}
		retries += t - 1;
		after++;
	}
	close(fd);
	printf("udp zero=ok max65507=%s flood=%zu sent=%zu eagain=%zu echoed=%zu wrong=%zu "
	       "flood_secs=%.2f after=%zu retries=%d\n", failed ? "FAILED" : "ok", flood,
	       sent, eagain, back, bad, t1 - t0, after, retries);
	return 0;
}

/* ---- main ----------------------------------------------------------------- */

static int
num(const char *a, const char *name, unsigned long long *v)
{
	size_t n = strlen(name);
	char *end;

	if (strncmp(a, name, n) != 0 || a[n] != '=')
		return 0;
	errno = 0;
	*v = strtoull(a + n + 1, &end, 10);
	if (errno != 0 || *end != '\0' || a[n + 1] == '\0') {
		fprintf(stderr, PROG ": %s: bad number\n", a);
		exit(2);
	}
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct { const char *name; int (*run)(void); } cases[] = {
		{ "reset", case_reset }, { "noread", case_noread }, { "idle", case_idle },
		{ "fdflood", case_fdflood }, { "oob", case_oob }, { "udp", case_udp },
	};
	unsigned long long v;
	int which = -1;

	signal(SIGPIPE, SIG_IGN);
	for (size_t k = 0; argc > 1 && k < sizeof cases / sizeof cases[0]; k++)
		if (strcmp(argv[1], cases[k].name) == 0)
			which = (int)k;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--port=", 7) == 0)
			opt.port = a + 7;
		else if (strncmp(a, "--unix=", 7) == 0)
			opt.unix_path = a + 7;
		else if (strncmp(a, "--udp-port=", 11) == 0)
			opt.udp_port = a + 11;
		else if (num(a, "--pid", &v))
			opt.pid = (long)v;
		else if (num(a, "--conns", &v))
			opt.conns = (unsigned long)v;
		else if (num(a, "--count", &v))
			opt.count = (unsigned long)v;
		else if (num(a, "--bytes", &v))
			opt.bytes = v;
		else if (num(a, "--waited", &v))
			opt.waited = (unsigned long)v;
		else if (num(a, "--hold-ms", &v))
			opt.hold_ms = (unsigned long)v;
		else if (num(a, "--max-rss-kb", &v))
			opt.max_rss_kb = (unsigned long)v;
		else {
			fprintf(stderr, PROG ": %s: unknown option\n", a);
			return 2;
		}
	}
	if (which < 0 || (opt.port == NULL && opt.unix_path == NULL) ||
	    (which == 3 && opt.pid <= 0)) {
		fprintf(stderr, "usage: " PROG " reset|noread|idle|fdflood|oob|udp "
		        "(--port=N | --unix=PATH) [--udp-port=N] [--pid=PID]\n"
		        "       [--conns=N] [--bytes=N] [--count=N] [--max-rss-kb=N] "
		        "[--hold-ms=N] [--waited=N]   (fdflood needs --pid)\n");
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	double t0 = now();
	if (cases[which].run() < 0)
		failed = 1;
	if (!failed)
		probe("after the attack");
	fprintf(stderr, PROG ": %s %s in %.2f s\n", cases[which].name,
	        failed ? "FAILED" : "passed", now() - t0);
	return failed ? 1 : 0;
}
