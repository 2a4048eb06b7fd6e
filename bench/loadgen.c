/*
 * loadgen - the echo load generator of the benchmark.
 *
 * Opens N TCP connections to an echo server on 127.0.0.1 and, on each, keeps
 * up to DEPTH messages of SIZE bytes in flight: a message is written, its
 * echo read back in full, every byte compared with what was sent, and then
 * the next one goes out (with --depth=1, plain ping-pong).  Each message of
 * each connection has its own content (a slice of a pseudo-random table at
 * an offset given by the connection and the message number), so a byte out
 * of place, lost or repeated is an error, not a pass.
 *
 * One thread, nonblocking sockets, level-triggered epoll: it is the client,
 * not the thing measured.  Nothing is recorded during the warm-up; then,
 * for the duration, every completed message counts as one request and its
 * latency (from the write of its first byte to the read of its last) goes
 * into a histogram of 100 ns buckets.  With --pid, the server's CPU time
 * (the sum over its threads of /proc/PID/task/T/schedstat's first field,
 * else utime+stime from /proc/PID/stat) is read at the start and the end
 * of the measured window.  With --mark=SIGNO as well, the server is sent
 * that signal at the start and at the end of the window (bench/echo_sigio
 * then reports its loop's counters over the window alone).
 *
 * Output, one line on stdout:
 *   rps=... p50_us=... p99_us=... requests=... bytes=... errors=...
 *   conns=... size=... depth=... secs=... server_cpu_ns=... client_cpu_ns=...
 * (client_cpu_ns: the load generator's own CPU time over the window; on
 * loopback it includes the kernel's delivery of what it sends, signals to
 * a signal-driven server included.  server_wait_ns, client_wait_ns: time
 * either was runnable but waited for its CPU, that is, how much other
 * work on the machine got in the way of this measurement.)
 * Exit status 0, or 1 if any error happened (a mismatch, a reset, a
 * connection that failed), 2 for bad usage.
 *
 * Usage: loadgen --port=N [--host=A.B.C.D] [--connections=N] [--size=BYTES]
 *                [--depth=N] [--duration=SECS] [--warmup=SECS] [--pid=PID]
 *                [--mark=SIGNO|USR1|USR2]
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PERIOD   4093           /* length of the pattern table (a prime) */
#define MAXSIZE  (1 << 20)      /* largest message */
#define MAXDEPTH 64
#define RDBUF    65536

/* Latency histogram: 100 ns buckets up to 10 ms, then 10 us up to 1 s. */
#define FINE_NS   100
#define FINE_N    100000
#define COARSE_NS 10000
#define COARSE_N  100000

struct conn {
	int fd;
	int id;
	int connected;
	int out_watched;         /* EPOLLOUT asked for */
	uint64_t sent;           /* messages whose first byte went out */
	size_t wpos;             /* bytes written of message sent-1, or SIZE */
	uint64_t recvd;          /* messages read back in full */
	size_t rpos;             /* bytes read of message recvd */
	uint64_t stamp[MAXDEPTH];/* ns when message k (k % depth) went out */
};

static unsigned char *pattern;  /* PERIOD + MAXSIZE bytes */
static size_t msg_size = 64;
static int depth = 1;
static int nconns = 1;
static int epfd;
static int measuring;
static uint64_t requests, bytes_moved, errors, live;
static uint64_t *hist;          /* FINE_N + COARSE_N + 1 buckets */

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The content of message k of connection c starts here. */
static const unsigned char *
message(const struct conn *c, uint64_t k)
{
	return pattern + (k * 13 + (uint64_t)c->id * 101) % PERIOD;
}

static void
record(uint64_t ns)
{
	size_t b;
	if (ns < (uint64_t)FINE_NS * FINE_N)
		b = ns / FINE_NS;
	else if (ns < (uint64_t)COARSE_NS * COARSE_N)
		b = FINE_N + ns / COARSE_NS;
	else
		b = FINE_N + COARSE_N;
	hist[b]++;
}

/* The latency below which a fraction q of the requests completed, in us. */
static double
percentile(double q)
{
	uint64_t total = 0, seen = 0;
	for (size_t b = 0; b <= FINE_N + COARSE_N; b++)
		total += hist[b];
	if (total == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)total);
	if (want >= total)
		want = total - 1;
	for (size_t b = 0; b <= FINE_N + COARSE_N; b++) {
		seen += hist[b];
		if (seen > want) {
			/* the middle of the bucket */
			if (b < FINE_N)
				return ((double)b + 0.5) * FINE_NS / 1000.0;
			if (b < FINE_N + COARSE_N)
				return ((double)(b - FINE_N) + 0.5) * COARSE_NS / 1000.0;
			return (double)COARSE_NS * COARSE_N / 1000.0;
		}
	}
	return 0;
}

static void
watch_out(struct conn *c, int on)
{
	if (c->out_watched == on)
		return;
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
	                          .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->out_watched = on;
}

static void
fail(struct conn *c, const char *why)
{
	if (c->fd < 0)
		return;
	if (errors < 5)
		fprintf(stderr, "loadgen: connection %d: %s\n", c->id, why);
	errors++;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	live--;
}

/* Write what may go out: the rest of the current message, then new
 * messages while fewer than `depth` are in flight. */
static void
pump_out(struct conn *c)
{
	for (;;) {
		if (c->sent == 0 || c->wpos == msg_size) {
			if (c->sent - c->recvd >= (uint64_t)depth)
				break;
			c->stamp[c->sent % (uint64_t)depth] = now_ns();
			c->sent++;
			c->wpos = 0;
		}
		const unsigned char *m = message(c, c->sent - 1);
		ssize_t n = write(c->fd, m + c->wpos, msg_size - c->wpos);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				watch_out(c, 1);
				return;
			}
			if (errno == EINTR)
				continue;
			fail(c, strerror(errno));
			return;
		}
		c->wpos += (size_t)n;
		if (c->wpos < msg_size) {
			watch_out(c, 1);
			return;
		}
	}
	watch_out(c, 0);
}

/* Read what arrived, check it against what was sent, complete messages. */
static void
pump_in(struct conn *c)
{
	static unsigned char buf[RDBUF];
	ssize_t n;
	for (;;) {
		n = read(c->fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		break;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			fail(c, strerror(errno));
		return;
	}
	if (n == 0) {
		fail(c, "closed by the server");
		return;
	}
	const unsigned char *p = buf;
	size_t left = (size_t)n;
	int completed = 0;
	while (left > 0) {
		if (c->recvd >= c->sent) {
			fail(c, "more bytes than were sent");
			return;
		}
		size_t take = msg_size - c->rpos;
		if (take > left)
			take = left;
		if (c->recvd + 1 == c->sent && c->rpos + take > c->wpos) {
			fail(c, "echo of bytes not yet sent");
			return;
		}
		if (memcmp(p, message(c, c->recvd) + c->rpos, take) != 0) {
			fail(c, "echo differs from what was sent");
			return;
		}
		p += take;
		left -= take;
		c->rpos += take;
		if (c->rpos == msg_size) {
			if (measuring) {
				record(now_ns() - c->stamp[c->recvd % (uint64_t)depth]);
				requests++;
				bytes_moved += 2 * msg_size;
			}
			c->recvd++;
			c->rpos = 0;
			completed = 1;
		}
	}
	if (completed)
		pump_out(c);
}

/* CPU time of process `pid` so far, in ns, or 0 if it cannot be read;
 * with `wait`, the time its threads spent runnable but waiting for a CPU
 * (schedstat's second field: how much other work got in the way). */
static uint64_t
proc_cpu_ns(pid_t pid, uint64_t *wait)
{
	char path[64];
	uint64_t sum = 0, waited = 0;
	int found = 0;
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (e->d_name[0] == '.')
				continue;
			char p2[300];
			snprintf(p2, sizeof p2, "/proc/%d/task/%s/schedstat", (int)pid,
			         e->d_name);
			FILE *f = fopen(p2, "r");
			unsigned long long run, delay;
			if (f != NULL) {
				if (fscanf(f, "%llu %llu", &run, &delay) == 2) {
					sum += run;
					waited += delay;
					found = 1;
				}
				fclose(f);
			}
		}
		closedir(d);
	}
	if (wait != NULL)
		*wait = waited;
	if (found)
		return sum;
	/* No schedstat: clock ticks of /proc/PID/stat, fields 14 and 15. */
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	char line[1024];
	size_t len = fread(line, 1, sizeof line - 1, f);
	fclose(f);
	line[len] = '\0';
	char *q = strrchr(line, ')');
	unsigned long long ut, st;
	if (q == NULL || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
	                        "%*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* This process's CPU time so far, in ns. */
static uint64_t
self_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
open_conn(struct conn *c, const struct sockaddr_in *sa)
{
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) < 0 &&
	    errno != EINPROGRESS) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	live++;
	return 0;
}

/* The connect finished: check it, then start talking. */
static void
connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
		fail(c, err ? strerror(err) : "connect failed");
		return;
	}
	c->connected = 1;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
	c->out_watched = 0;
}

static int
usage(void)
{
	fprintf(stderr, "usage: loadgen --port=N [--host=ADDR] [--connections=N] "
	        "[--size=BYTES] [--depth=N] [--duration=SECS] [--warmup=SECS] "
	        "[--pid=PID [--mark=SIGNO|USR1|USR2]]\n");
	return 2;
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 0;
	double duration = 3, warmup = 1;
	pid_t pid = 0;
	int mark = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strncmp(a, "--port=", 7))
			port = atoi(a + 7);
		else if (!strncmp(a, "--host=", 7))
			host = a + 7;
		else if (!strncmp(a, "--connections=", 14))
			nconns = atoi(a + 14);
		else if (!strncmp(a, "--size=", 7))
			msg_size = (size_t)strtoul(a + 7, NULL, 10);
		else if (!strncmp(a, "--depth=", 8))
			depth = atoi(a + 8);
		else if (!strncmp(a, "--duration=", 11))
			duration = atof(a + 11);
		else if (!strncmp(a, "--warmup=", 9))
			warmup = atof(a + 9);
		else if (!strncmp(a, "--pid=", 6))
			pid = (pid_t)atoi(a + 6);
		else if (!strncmp(a, "--mark=", 7))
			mark = !strcmp(a + 7, "USR1") ? SIGUSR1 :
			       !strcmp(a + 7, "USR2") ? SIGUSR2 : atoi(a + 7);
		else
			return usage();
	}
	if (port <= 0 || port > 65535 || nconns < 1 || msg_size < 1 ||
	    msg_size > MAXSIZE || depth < 1 || depth > MAXDEPTH ||
	    duration <= 0 || warmup < 0 || mark < 0 || mark >= NSIG ||
	    (mark != 0 && pid <= 0))
		return usage();

	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "loadgen: bad address %s\n", host);
		return 2;
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)nconns + 64) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);

	pattern = malloc(PERIOD + MAXSIZE);
	hist = calloc(FINE_N + COARSE_N + 1, sizeof *hist);
	struct conn *conns = calloc((size_t)nconns, sizeof *conns);
	if (pattern == NULL || hist == NULL || conns == NULL) {
		fprintf(stderr, "loadgen: out of memory\n");
		return 1;
	}
	uint32_t x = 2463534242u;       /* xorshift32 */
	for (size_t i = 0; i < PERIOD; i++) {
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		pattern[i] = (unsigned char)(x >> 24);
	}
	for (size_t i = PERIOD; i < PERIOD + MAXSIZE; i++)
		pattern[i] = pattern[i % PERIOD];

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		perror("loadgen: epoll_create1");
		return 1;
	}

	/* Connect everything first, at most 256 connects outstanding. */
	struct epoll_event evs[512];
	int opened = 0, ready = 0;
	uint64_t give_up = now_ns() + 10000000000ull;
	while (ready < nconns && now_ns() < give_up) {
		while (opened < nconns && opened - ready < 256) {
			conns[opened].id = opened;
			if (open_conn(&conns[opened], &sa) < 0) {
				fprintf(stderr, "loadgen: connect: %s\n", strerror(errno));
				return 1;
			}
			opened++;
		}
		int n = epoll_wait(epfd, evs, 512, 100);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (!c->connected) {
				connected(c);
				if (c->fd < 0)
					return 1;
				ready++;
			}
		}
	}
	if (ready < nconns) {
		fprintf(stderr, "loadgen: only %d of %d connections came up\n",
		        ready, nconns);
		return 1;
	}

	for (int i = 0; i < nconns; i++)
		pump_out(&conns[i]);

	uint64_t t0 = now_ns();
	uint64_t t_measure = t0 + (uint64_t)(warmup * 1e9);
	uint64_t t_end = t_measure + (uint64_t)(duration * 1e9);
	uint64_t cpu0 = 0, cpu1 = 0, m0 = 0, m1 = 0, self0 = 0, self1 = 0;
	uint64_t swait0 = 0, swait1 = 0, cwait0 = 0, cwait1 = 0;
	if (warmup == 0) {
		measuring = 1;
		m0 = t0;
		cpu0 = pid ? proc_cpu_ns(pid, &swait0) : 0;
		self0 = self_cpu_ns();
		proc_cpu_ns(getpid(), &cwait0);
		if (mark)
			kill(pid, mark);
	}
	for (;;) {
		uint64_t t = now_ns();
		if (!measuring && t >= t_measure) {
			measuring = 1;
			cpu0 = pid ? proc_cpu_ns(pid, &swait0) : 0;
			self0 = self_cpu_ns();
			proc_cpu_ns(getpid(), &cwait0);
			if (mark)
				kill(pid, mark);
			m0 = now_ns();
		}
		if (t >= t_end)
			break;
		if (live == 0)
			break;
		uint64_t next = measuring ? t_end : t_measure;
		int timeout = (int)((next - t) / 1000000u) + 1;
		int n = epoll_wait(epfd, evs, 512, timeout);
		if (n < 0 && errno != EINTR) {
			perror("loadgen: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd < 0)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				pump_in(c);
			if (c->fd >= 0 && (evs[i].events & EPOLLOUT))
				pump_out(c);
		}
	}
	m1 = now_ns();
	if (mark && measuring)
		kill(pid, mark);
	cpu1 = pid ? proc_cpu_ns(pid, &swait1) : 0;
	self1 = self_cpu_ns();
	proc_cpu_ns(getpid(), &cwait1);
	if (!measuring) {
		m0 = m1;
		self0 = self1;
		swait0 = swait1;
		cwait0 = cwait1;
	}

	/* Reset, not FIN: no TIME_WAIT left behind for the next run. */
	for (int i = 0; i < nconns; i++)
		if (conns[i].fd >= 0) {
			struct linger lg = { 1, 0 };
			setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
			close(conns[i].fd);
		}
	free(conns);

	double secs = (double)(m1 - m0) / 1e9;
	printf("rps=%.0f p50_us=%.1f p99_us=%.1f requests=%llu bytes=%llu "
	       "errors=%llu conns=%d size=%zu depth=%d secs=%.3f server_cpu_ns=%llu "
	       "client_cpu_ns=%llu server_wait_ns=%llu client_wait_ns=%llu\n",
	       secs > 0 ? (double)requests / secs : 0.0, percentile(0.50),
	       percentile(0.99), (unsigned long long)requests,
	       (unsigned long long)bytes_moved, (unsigned long long)errors,
	       nconns, msg_size, depth, secs,
	       (unsigned long long)(cpu1 > cpu0 ? cpu1 - cpu0 : 0),
	       (unsigned long long)(self1 - self0),
	       (unsigned long long)(swait1 > swait0 ? swait1 - swait0 : 0),
	       (unsigned long long)(cwait1 > cwait0 ? cwait1 - cwait0 : 0));
	return errors ? 1 : 0;
}
