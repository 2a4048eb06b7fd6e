/*
 * stress-client - many concurrent connections through an echo server, every
 * byte checked, with half-closes, resets and an optional signal storm.
 *
 * Opens N connections (TCP to 127.0.0.1:PORT, or a Unix stream path) and
 * drives them all at once from one thread: nonblocking sockets, level-
 * triggered epoll.  It needs nothing of sigio.
 *
 * Each connection does R rounds.  A round is one message of a random size
 * (1 B to --max-size, log-uniform so that small and large ones both come up,
 * from a seeded PRNG whose seed is printed): written while its echo is read
 * back, each byte compared with what was sent (the content is a function of
 * the connection and the offset in its stream, so a lost, repeated or
 * misplaced byte is a mismatch).  A connection reads while it writes, so an
 * echo server that throttles a client that does not read is no deadlock.
 *
 * Round 1 is a barrier: no connection starts round 2 before every one has
 * had its first message echoed, so all N are open at the server at once.
 * Then each connection ends in one of three ways, chosen at random:
 *   - normal: after the last round, close();
 *   - half-close: the last message is written, then shutdown(SHUT_WR);
 *     the rest of the echo must arrive, then EOF (a byte more is an error);
 *   - reset: in a random round after the first, after a random part of the
 *     message was written, SO_LINGER {1, 0} and close(): an RST while the
 *     server holds data for us.
 *
 * With --pid=PID --signals=N a child process sends N signals (--signo=NUM,
 * USR1, USR2, HUP or RTMIN+K; default SIGUSR1) to the server, as fast as it can, while the I/O runs;
 * those that went out after the I/O was over are counted apart
 * (signals_after_io), so that a run too short for its storm shows.
 * With --pid the server's death is also noticed (every 200 ms: its
 * /proc/PID/stat gone or a zombie).  After all connections, a final probe
 * (a fresh connection, 64 KiB echoed, half-close, EOF) shows the server
 * still serves.
 *
 * Output, one line on stdout:
 *   seed=S connections=N barrier=N rounds=R messages=M bytes_verified=B
 *   resets=X half_closes=H normal=K signals=N signals_after_io=A probe=ok secs=T
 * Any mismatch, lost byte, early EOF, unexpected reset, stall (no progress
 * for --stall seconds) or dead server: a line on stderr and exit 1.  Bad
 * usage: exit 2.
 *
 * Usage: stress-client (--port=N | --unix=PATH) [--connections=N] [--rounds=R]
 *        [--seed=S] [--max-size=BYTES] [--resets=PCT] [--half-closes=PCT]
 *        [--pid=PID] [--signals=N] [--signo=NUM] [--storm-ms=MS] [--stall=SECS]
 * (--storm-ms: spread the signals evenly over that many milliseconds from
 * the start, rather than as fast as the loop goes.)
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "peer-common.h"

#define BUFSZ 65536

enum fate { F_NORMAL, F_HALFCLOSE, F_RESET };
enum state { S_CONNECTING, S_RUNNING, S_BARRIER, S_DRAIN, S_DONE };

struct conn {
	int fd;
	unsigned id;
	int state;
	int fate;
	unsigned round;             /* 0-based, the message being echoed */
	unsigned reset_round;       /* F_RESET: in this round ... */
	size_t reset_at;            /* ... after this many bytes were written */
	size_t size;                /* of the current message */
	size_t wpos, rpos;          /* written, read back, of it */
	uint64_t base;              /* stream offset where this message starts */
	uint32_t evmask;            /* what epoll watches now */
	size_t *sizes;              /* one per round */
};

static struct {
	const char *host, *port, *unix_path;
	unsigned long conns, rounds, max_size, resets, halfs, signals, stall, storm_ms;
	unsigned long long seed;
	long pid;
	int signo;
} opt = { "127.0.0.1", NULL, NULL, 200, 4, 65536, 10, 20, 0, 30, 0, 0, 0, SIGUSR1 };

static int ep;
static struct conn *conns;
static unsigned long done, barrier_count, messages, n_resets, n_halfs, n_normal;
static unsigned long long verified;
static unsigned long signals_sent, signals_after;
static int failed;
static uint64_t rng;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

/* Byte `off` of connection `id`'s stream. */
static inline unsigned char
content(unsigned id, uint64_t off)
{
	uint64_t x = (off + 1) * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)id << 40);
	x ^= x >> 29;
	x *= 0xBF58476D1CE4E5B9ULL;
	return (unsigned char)(x >> 56);
}

static void
fail(const struct conn *c, const char *fmt, const char *what)
{
	failed = 1;
	if (c != NULL)
		fprintf(stderr, "stress-client: conn %u round %u (size %zu, written %zu, "
		        "read %zu): ", c->id, c->round, c->size, c->wpos, c->rpos);
	else
		fprintf(stderr, "stress-client: ");
	fprintf(stderr, fmt, what);
	fputc('\n', stderr);
}

/* A nonblocking socket connecting to the server; -1 after a message. */
static int
open_socket(void)
{
	int fd, rc;

	if (opt.unix_path != NULL) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		snprintf(sun.sun_path, sizeof sun.sun_path, "%s", opt.unix_path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return fail(NULL, "socket: %s", strerror(errno)), -1;
		rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
	} else {
		struct sockaddr_in sin = { .sin_family = AF_INET };
		sin.sin_port = htons((uint16_t)atoi(opt.port));
		inet_pton(AF_INET, opt.host, &sin.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return fail(NULL, "socket: %s", strerror(errno)), -1;
		rc = connect(fd, (struct sockaddr *)&sin, sizeof sin);
	}
	if (rc < 0 && errno != EINPROGRESS && errno != EAGAIN) {
		fail(NULL, "connect: %s", strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void
watch(struct conn *c, uint32_t mask)
{
	if (mask == c->evmask)
		return;
	struct epoll_event ev = { .events = mask, .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		fail(c, "epoll_ctl: %s", strerror(errno));
	c->evmask = mask;
}

static void
finish(struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = S_DONE;
	done++;
}

/* Start message c->round (or finish the connection after the last). */
static void
start_round(struct conn *c)
{
	c->base += c->size;
	c->size = c->sizes[c->round];
	c->wpos = c->rpos = 0;
	c->state = S_RUNNING;
	watch(c, EPOLLIN | EPOLLOUT);
}

static void
do_reset(struct conn *c)
{
	struct linger lg = { 1, 0 };
	if (setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
		fail(c, "SO_LINGER: %s", strerror(errno));
	n_resets++;
	finish(c);
}

static void
on_writable(struct conn *c)
{
	static unsigned char buf[BUFSZ];

	while (c->wpos < c->size) {
		size_t n = c->size - c->wpos;
		if (n > BUFSZ)
			n = BUFSZ;
		if (c->fate == F_RESET && c->round == c->reset_round) {
			if (c->wpos >= c->reset_at)
				return do_reset(c);
			if (n > c->reset_at - c->wpos)
				n = c->reset_at - c->wpos;
		}
		for (size_t i = 0; i < n; i++)
			buf[i] = content(c->id, c->base + c->wpos + i);
		ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w < 0)
			return fail(c, "send: %s", strerror(errno)), finish(c);
		c->wpos += (size_t)w;
	}
	if (c->fate == F_RESET && c->round == c->reset_round)
		return do_reset(c);     /* reset_at == size: after the last byte */
	if (c->fate == F_HALFCLOSE && c->round + 1 == opt.rounds) {
		if (shutdown(c->fd, SHUT_WR) < 0)
			return fail(c, "shutdown: %s", strerror(errno)), finish(c);
		c->state = S_DRAIN;
	}
	watch(c, EPOLLIN);
}

/* The message is echoed whole: next round, the barrier, or the end. */
static void
round_done(struct conn *c)
{
	verified += c->size;
	messages++;
	c->round++;
	if (c->round == 1) {
		barrier_count++;
		if (c->state != S_DRAIN) {
			c->state = S_BARRIER;
			watch(c, EPOLLIN);  /* anything arriving now is an error */
		}
		if (barrier_count == opt.conns)
			for (unsigned long i = 0; i < opt.conns; i++)
				if (conns[i].state == S_BARRIER) {
					if (conns[i].round == opt.rounds) {
						n_normal++;
						finish(&conns[i]);
					} else {
						start_round(&conns[i]);
					}
				}
		return;
	}
	if (c->state == S_DRAIN)
		return;                 /* now the EOF */
	if (c->round == opt.rounds) {
		n_normal++;
		return finish(c);
	}
	start_round(c);
}

static void
on_readable(struct conn *c)
{
	static unsigned char buf[BUFSZ];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0)
			return fail(c, "recv: %s (the server reset us)", strerror(errno)),
			       finish(c);
		if (n == 0) {
			if (c->state == S_DRAIN && c->rpos == c->size) {
				n_halfs++;
				return finish(c);
			}
			return fail(c, "%s", "early EOF: bytes lost"), finish(c);
		}
		if (c->state != S_RUNNING && c->state != S_DRAIN)
			return fail(c, "%s", "bytes after the message was echoed"), finish(c);
		if ((size_t)n > c->wpos - c->rpos)
			return fail(c, "%s", "more bytes echoed than sent"), finish(c);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] != content(c->id, c->base + c->rpos + (size_t)i)) {
				char what[64];
				snprintf(what, sizeof what, "mismatch at byte %zu of the message",
				         c->rpos + (size_t)i);
				return fail(c, "%s", what), finish(c);
			}
		c->rpos += (size_t)n;
		if (c->rpos == c->size && c->wpos == c->size) {
			round_done(c);
			if (c->state != S_RUNNING && c->state != S_DRAIN)
				return;
		}
	}
}

static void
on_connected(struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err != 0)
		return fail(c, "connect: %s", strerror(err)), finish(c);
	c->state = S_RUNNING;
	c->size = c->sizes[0];
	watch(c, EPOLLIN | EPOLLOUT);
	on_writable(c);
}

/* The server is gone (or a zombie)?  Only with --pid. */
static int
server_dead(void)
{
	return opt.pid > 0 && !proc_alive(opt.pid);
}

/* The storm: a child process sends opt.signals signals to the server as
 * fast as it can (or spread over --storm-ms), while this one does the I/O;
 * its count is in shared memory, so that we know how many went out before
 * the I/O was over.  Returns the child's pid, or -1 after a message. */
static _Atomic unsigned long *storm_count;

static pid_t
storm_start(void)
{
	storm_count = mmap(NULL, sizeof *storm_count, PROT_READ | PROT_WRITE,
	                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (storm_count == MAP_FAILED)
		return fail(NULL, "mmap: %s", strerror(errno)), -1;
	pid_t child = fork();
	if (child < 0)
		return fail(NULL, "fork: %s", strerror(errno)), -1;
	if (child > 0)
		return child;
	double start = now();
	for (unsigned long i = 0; i < opt.signals; i++) {
		if (opt.storm_ms > 0) {
			double due = start + (double)opt.storm_ms / 1000 * (double)i /
			             (double)opt.signals;
			while (now() < due) {
				struct timespec ts = { 0, 200000 };
				nanosleep(&ts, NULL);
			}
		}
		if (kill((pid_t)opt.pid, opt.signo) < 0)
			_exit(1);
		atomic_fetch_add(storm_count, 1);
	}
	_exit(0);
}

/* Wait for the storm to end; returns 0 if every signal went out. */
static int
storm_wait(pid_t child)
{
	int st;

	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			return fail(NULL, "waitpid: %s", strerror(errno)), -1;
	signals_sent = atomic_load(storm_count);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return fail(NULL, "%s", "the signal sender failed (kill)"), -1;
	return 0;
}

/* Blocking: one fresh connection, 64 KiB echoed, half-close, EOF.
 * Returns 0 if all came back right. */
static int
probe(void)
{
	int fd = open_socket();
	size_t sent = 0, got = 0, total = 65536;
	unsigned char in[4096], out[4096];
	double deadline = now() + 10;

	if (fd < 0)
		return -1;
	while (now() < deadline) {
		if (sent < total) {
			size_t n = total - sent < sizeof out ? total - sent : sizeof out;
			for (size_t i = 0; i < n; i++)
				out[i] = content(0xFFFFFFu, sent + i);
			ssize_t w = send(fd, out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0) {
				sent += (size_t)w;
				if (sent == total)
					shutdown(fd, SHUT_WR);
			} else if (w < 0 && errno != EAGAIN && errno != EINTR &&
			           errno != ENOTCONN && errno != EWOULDBLOCK) {
				break;
			}
		}
		ssize_t r = recv(fd, in, sizeof in, MSG_DONTWAIT);
		if (r == 0) {
			close(fd);
			return got == total ? 0 : -1;
		}
		if (r > 0) {
			for (ssize_t i = 0; i < r; i++)
				if (in[i] != content(0xFFFFFFu, got + (size_t)i)) {
					close(fd);
					return -1;
				}
			got += (size_t)r;
		} else if (errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK &&
		           errno != ENOTCONN) {
			break;
		} else if (sent == total || r < 0) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);   /* a blocking probe: wait a little */
		}
	}
	close(fd);
	return -1;
}

static int
num(const char *a, const char *name, unsigned long *v)
{
	size_t n = strlen(name);
	char *end;

	if (strncmp(a, name, n) != 0 || a[n] != '=')
		return 0;
	errno = 0;
	*v = strtoul(a + n + 1, &end, 10);
	if (errno != 0 || *end != '\0' || a[n + 1] == '\0') {
		fprintf(stderr, "stress-client: %s: bad number\n", a);
		exit(2);
	}
	return 1;
}

static void
parse(int argc, char **argv)
{
	unsigned long v;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--port=", 7) == 0)
			opt.port = a + 7;
		else if (strncmp(a, "--host=", 7) == 0)
			opt.host = a + 7;
		else if (strncmp(a, "--unix=", 7) == 0)
			opt.unix_path = a + 7;
		else if (num(a, "--connections", &opt.conns) || num(a, "--rounds", &opt.rounds) ||
		         num(a, "--max-size", &opt.max_size) || num(a, "--resets", &opt.resets) ||
		         num(a, "--half-closes", &opt.halfs) || num(a, "--signals", &opt.signals) ||
		         num(a, "--stall", &opt.stall) || num(a, "--storm-ms", &opt.storm_ms))
			;
		else if (num(a, "--seed", &v))
			opt.seed = v;
		else if (num(a, "--pid", &v))
			opt.pid = (long)v;
		else if (strncmp(a, "--signo=RTMIN+", 14) == 0)
			opt.signo = SIGRTMIN + atoi(a + 14);
		else if (strcmp(a, "--signo=USR1") == 0)
			opt.signo = SIGUSR1;
		else if (strcmp(a, "--signo=USR2") == 0)
			opt.signo = SIGUSR2;
		else if (strcmp(a, "--signo=HUP") == 0)
			opt.signo = SIGHUP;
		else if (num(a, "--signo", &v))
			opt.signo = (int)v;
		else {
			fprintf(stderr, "stress-client: %s: unknown option\n", a);
			exit(2);
		}
	}
	if ((opt.port == NULL) == (opt.unix_path == NULL) || opt.conns == 0 ||
	    opt.rounds == 0 || opt.max_size == 0 || opt.resets + opt.halfs > 100 ||
	    (opt.signals > 0 && opt.pid <= 0)) {
		fprintf(stderr, "usage: stress-client (--port=N | --unix=PATH) "
		        "[--connections=N] [--rounds=R] [--seed=S] [--max-size=BYTES]\n"
		        "       [--resets=PCT] [--half-closes=PCT] [--pid=PID "
		        "[--signals=N] [--signo=NUM] [--storm-ms=MS]] [--stall=SECS]\n");
		exit(2);
	}
}

/* Each connection's plan, from the seeded PRNG. */
static void
plan(void)
{
	conns = calloc(opt.conns, sizeof *conns);
	if (conns == NULL) {
		perror("stress-client: calloc");
		exit(1);
	}
	for (unsigned long i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		c->id = (unsigned)i;
		c->fd = -1;
		c->sizes = calloc(opt.rounds, sizeof *c->sizes);
		if (c->sizes == NULL) {
			perror("stress-client: calloc");
			exit(1);
		}
		for (unsigned long r = 0; r < opt.rounds; r++) {
			unsigned bits = (unsigned)(rnd() % 17);     /* 1 B .. 64 KiB */
			size_t s = 1 + (size_t)(rnd() % ((uint64_t)1 << bits));
			c->sizes[r] = s > opt.max_size ? opt.max_size : s;
		}
		unsigned pick = (unsigned)(rnd() % 100);
		c->fate = pick < opt.resets ? F_RESET :
		          pick < opt.resets + opt.halfs ? F_HALFCLOSE : F_NORMAL;
		if (c->fate == F_RESET && opt.rounds < 2)
			c->fate = F_NORMAL;     /* resets come after the barrier */
		if (c->fate == F_RESET) {
			c->reset_round = 1 + (unsigned)(rnd() % (opt.rounds - 1));
			/* at least one byte of the message is written */
			c->reset_at = 1 + (size_t)(rnd() % c->sizes[c->reset_round]);
		}
	}
}

int
main(int argc, char **argv)
{
	struct epoll_event evs[256];
	double t0, last_progress, last_check = 0;
	unsigned long long last_verified = 0;
	unsigned long last_done = 0, last_msgs = 0, last_barrier = 0;

	signal(SIGPIPE, SIG_IGN);
	parse(argc, argv);
	opt.seed = opt.seed ? opt.seed : ((unsigned long long)time(NULL) << 16) ^ (unsigned long long)getpid();
	rng = opt.seed | 1;
	for (int i = 0; i < 8; i++)
		rnd();
	fprintf(stderr, "stress-client: seed=%llu\n", opt.seed);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < opt.conns + 64) {
		rl.rlim_cur = opt.conns + 64 < rl.rlim_max ? opt.conns + 64 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		perror("stress-client: epoll_create1");
		return 1;
	}
	plan();
	pid_t storm = 0;
	if (opt.signals > 0 && (storm = storm_start()) < 0)
		return 1;
	t0 = last_progress = now();
	for (unsigned long i = 0; i < opt.conns; i++) {
		struct conn *c = &conns[i];
		if ((c->fd = open_socket()) < 0)
			return 1;
		c->state = S_CONNECTING;
		c->evmask = EPOLLOUT;
		struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			perror("stress-client: epoll_ctl");
			return 1;
		}
	}
	while (done < opt.conns) {
		int timeout = 100;
		int n = epoll_wait(ep, evs, 256, timeout);
		if (n < 0 && errno != EINTR) {
			perror("stress-client: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->state == S_DONE)
				continue;
			if (c->state == S_CONNECTING) {
				on_connected(c);
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(c);
			if (c->state == S_RUNNING && (evs[i].events & EPOLLOUT))
				on_writable(c);
		}
		double t = now();
		if (verified != last_verified || done != last_done || messages != last_msgs ||
		    barrier_count != last_barrier) {
			last_progress = t;
			last_verified = verified;
			last_done = done;
			last_msgs = messages;
			last_barrier = barrier_count;
		}
		if (t - last_check > 0.2) {
			last_check = t;
			if (server_dead()) {
				fail(NULL, "%s", "the server died");
				break;
			}
		}
		if (t - last_progress > (double)opt.stall) {
			char what[160];
			snprintf(what, sizeof what, "stall: no progress for %lu s, %lu of %lu "
			         "connections done, %lu past the barrier", opt.stall, done,
			         opt.conns, barrier_count);
			fail(NULL, "%s", what);
			break;
		}
	}
	if (storm > 0) {
		unsigned long during = atomic_load(storm_count);
		storm_wait(storm);
		signals_after = signals_sent - during;
	}
	int probe_ok = !failed && probe() == 0;
	if (!failed && !probe_ok)
		fail(NULL, "%s", "the final probe (64 KiB on a fresh connection) failed");
	if (!failed && server_dead())
		fail(NULL, "%s", "the server died");
	printf("seed=%llu connections=%lu barrier=%lu rounds=%lu messages=%lu "
	       "bytes_verified=%llu resets=%lu half_closes=%lu normal=%lu signals=%lu "
	       "signals_after_io=%lu probe=%s secs=%.2f\n", opt.seed, opt.conns,
	       barrier_count, opt.rounds, messages, verified, n_resets, n_halfs, n_normal,
	       signals_sent, signals_after, probe_ok ? "ok" : "FAILED", now() - t0);
	if (!failed && (done != opt.conns || n_resets + n_halfs + n_normal != opt.conns))
		fail(NULL, "%s", "connections unaccounted for");
	for (unsigned long i = 0; i < opt.conns; i++)
		free(conns[i].sizes);
	free(conns);
	close(ep);
	return failed ? 1 : 0;
}
