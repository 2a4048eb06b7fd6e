/*
 * echo-server - echo every byte, datagram and record back, over TCP (IPv4
 * and IPv6), UDP, Unix stream and Unix SOCK_SEQPACKET sockets, on sigio
 * loops (one per thread with --threads).
 *
 * Usage: echo-server [--backend=NAME] [--tcp=HOST:PORT]... [--udp=HOST:PORT]...
 *                    [--unix=PATH]... [--seqpacket=PATH]... [--threads=N]
 *                    [--max-conns=N] [--idle-timeout=SECONDS]
 *                    [--stats-signal=USR1|USR2|HUP|RTMIN+K] [--verbose]
 *
 * For each socket bound it prints "listening <tcp|udp|unix|seqpacket>
 * <address>" on stdout (the real port, from getsockname) and flushes, once
 * every endpoint is bound; with no endpoint it serves TCP and UDP on
 * 127.0.0.1:7007.  SIGINT or SIGTERM stops it: listeners closed,
 * connections closed, one line of counters on stderr, exit 0.
 *
 * SIGUSR1 (or --stats-signal=USR2, HUP or RTMIN+K: a real-time signal is
 * queued by the kernel, not merged) prints one line of counters on stderr
 * ("stats: ..."), from the loop (signals that arrive faster than it
 * iterates are coalesced into one line); at the stop, a line says how many
 * arrived in how many callbacks.  At start-up the soft RLIMIT_NOFILE is raised to the hard
 * limit: each connection holds an fd, and a server should be able to take
 * what the administrator allows (`ulimit -n` lowers both limits).
 *
 * Exit status: 0 after a signal, 1 for a runtime error (an address that
 * cannot be bound, a port in use, an unusable path), 2 for bad usage.
 *
 * How the work is spread:
 *   - TCP and Unix stream connections are sio_streams: their read callback
 *     writes back what it got, and the stream's watermarks throttle a
 *     client that does not read (the stream stops reading its own fd while
 *     more than 64 KiB wait to go out), so memory stays bounded.
 *   - UDP is an sio_dgram: each datagram goes back to its sender, whole.
 *   - SOCK_SEQPACKET connections are served by a plain sio_io watcher doing
 *     recvmsg/sendmsg per record (see on_record() for why not sio_dgram).
 *   - --threads=N: N loops in N threads.  Thread 0 binds first (learning
 *     the real port when 0 was asked for), the others bind the same
 *     addresses; with N > 1 every TCP and UDP socket is SO_REUSEPORT and
 *     the kernel spreads connections and datagrams over them.  A Unix path
 *     has one listener, in thread 0: SO_REUSEPORT does not apply to Unix
 *     sockets, and a second bind of the same path would replace the file.
 *   - SIGINT/SIGTERM are signal watchers of thread 0's loop; thread 0 asks
 *     the others to stop through their sio_async handles.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sigio.h"
#include "echo-common.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define PROG "echo-server"
#define MAX_THREADS 64
/* How long a stop waits for connections to finish closing before the loop
 * is ended anyway (the exit must come within one second). */
#define STOP_GRACE_MS 500
/* Urgent bytes logged per second per thread without --verbose. */
#define URGENT_LOG_PER_SEC 10

enum ep_kind { EP_TCP, EP_UDP, EP_UNIX, EP_SEQPACKET };
static const char *const kind_name[] = { "tcp", "udp", "unix", "seqpacket" };

/* One endpoint option, as given. */
struct endpoint {
	int kind;
	const char *opt;                /* "--tcp=127.0.0.1:0": for messages */
	char host[ECHO_HOST_MAX];       /* tcp, udp: "" for every address */
	char port[ECHO_SERV_MAX];
	const char *path;               /* unix, seqpacket */
};

struct options {
	const char *backend;            /* NULL: auto */
	struct endpoint *eps;
	size_t neps;
	unsigned threads;               /* 1..MAX_THREADS */
	unsigned long long max_conns;   /* connections served at once, all threads */
	uint64_t idle_ms;               /* 0: no idle timeout */
	int verbose;
	int stats_signo;                /* --stats-signal, SIGUSR1 by default */
};

struct worker;

/* A bound object of one worker: a listener (tcp, unix, seqpacket) or a
 * set of UDP sockets.  Allocated one by one: callbacks hold its address. */
struct bound {
	struct worker *w;
	int kind;
	sio_listener *l;
	sio_dgram *d;
};

/* One connection. */
struct conn {
	struct worker *w;
	int kind;                       /* EP_TCP, EP_UNIX or EP_SEQPACKET */
	char peer[160];                 /* numeric address, path or "unnamed" */
	sio_stream *s;                  /* tcp, unix */
	int fd;                         /* seqpacket: the socket */
	sio_io *io;                     /* seqpacket: its watcher */
	unsigned char *held;            /* seqpacket: a record waiting for room */
	size_t held_len;
	sio_timer *idle;                /* seqpacket: --idle-timeout, pushed back
	                                   on reads (streams have their own) */
	const char *why;                /* why we close it, for the log */
	uint64_t in, out;               /* bytes read, bytes queued back */
	struct conn *prev, *next;
};

/* Counters of one worker, summed after the threads are joined. */
struct counters {
	uint64_t conns;                 /* connections served */
	uint64_t bytes;                 /* bytes echoed (all transports) */
	uint64_t datagrams;             /* UDP datagrams and SEQPACKET records */
	uint64_t urgent;                /* TCP urgent bytes */
	uint64_t refused;               /* accepted and closed at once */
};

struct worker {
	unsigned id;
	sio_loop *loop;
	pthread_t thread;
	int thread_started;
	struct bound **bound;           /* in command-line order */
	size_t nbound;
	struct conn *conns;             /* open connections */
	size_t nconns;
	sio_async *stop_req;            /* threads 1..N-1: "stop", from thread 0 */
	sio_signal *sigint, *sigterm;   /* thread 0 */
	sio_signal *sigusr1;            /* thread 0: print counters (--stats-signal) */
	uint64_t usr1_signals;          /* its deliveries, as counted */
	uint64_t usr1_callbacks;        /* ... in this many callbacks */
	uint64_t urgent_log_start;      /* loop time (ms) the second began */
	unsigned urgent_logged;         /* urgent lines logged in that second */
	uint64_t urgent_unlogged;       /* not logged since the last line */
	char urgent_note[64];
	sio_timer *grace;               /* the stop's safety net */
	int stopping;
	unsigned char *record;          /* ECHO_RECORD_MAX: SEQPACKET scratch */
	struct counters st;
	int run_failed, run_errno;
};

static struct options opt = { .threads = 1, .max_conns = ~0ULL, .stats_signo = SIGUSR1 };
static struct worker workers[MAX_THREADS];
static atomic_ullong open_conns;        /* over all threads, for --max-conns */

static void conn_free(struct conn *c, const char *why);
static void worker_stop(struct worker *w);

/* ---- logging ---------------------------------------------------------- */

static void
vlog(struct worker *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line on stderr, with the thread; --verbose only. */
static void
vlog(struct worker *w, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!opt.verbose)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, PROG ": [t%u] %s\n", w->id, line);
}

/* ---- connections -------------------------------------------------------- */

/* Options for a TCP connection: no Nagle delay (an echo answers small
 * writes at once), and keepalive probes that find a peer which vanished
 * (no FIN, no RST) within about a minute and a half.  Writes what was set
 * into `buf`. */
static void
set_tcp_options(int fd, char *buf, size_t len)
{
	static const struct { int level, name, value; const char *text; } o[] = {
		{ IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY=1" },
		{ SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE=1" },
#ifdef TCP_KEEPIDLE
		{ IPPROTO_TCP, TCP_KEEPIDLE, 60, "TCP_KEEPIDLE=60" },
#endif
#ifdef TCP_KEEPINTVL
		{ IPPROTO_TCP, TCP_KEEPINTVL, 10, "TCP_KEEPINTVL=10" },
#endif
#ifdef TCP_KEEPCNT
		{ IPPROTO_TCP, TCP_KEEPCNT, 3, "TCP_KEEPCNT=3" },
#endif
	};
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof o / sizeof o[0]; i++) {
		if (setsockopt(fd, o[i].level, o[i].name, &o[i].value,
		               sizeof o[i].value) < 0)
			continue;
		int n = snprintf(buf + used, len - used, "%s%s", used ? " " : "",
		                 o[i].text);
		if (n > 0 && (size_t)n < len - used)
			used += (size_t)n;
	}
}

/* The peer of a Unix connection: its path if it bound one, and who it is
 * (SO_PEERCRED where the platform has it). */
static void
unix_peer_text(int fd, const struct sockaddr *peer, socklen_t peerlen,
               char *buf, size_t len)
{
	echo_peer_text(peer, peerlen, buf, len);
#ifdef SO_PEERCRED
	struct ucred cred;
	socklen_t cl = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0) {
		size_t used = strlen(buf);
		snprintf(buf + used, len - used, " (pid %ld uid %ld)",
		         (long)cred.pid, (long)cred.uid);
	}
#endif
}

static void
on_idle(sio_timer *t, void *arg)
{
	struct conn *c = arg;

	c->why = "idle timeout";
	if (c->s != NULL)
		sio_stream_close(c->s);         /* on_stream_close() frees c */
	else
		conn_free(c, c->why);
}

static void
touch(struct conn *c)
{
	if (c->idle != NULL)
		sio_timer_again(c->idle, opt.idle_ms, 0);
}

/* Close a connection from our side (idle, stop). */
static void
conn_close(struct conn *c, const char *why)
{
	c->why = why;
	if (c->s != NULL)
		sio_stream_close(c->s);
	else
		conn_free(c, why);
}

static void
on_stream_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct conn *c = arg;

	c->in += len;
	if (sio_stream_write(s, data, len) < 0) {
		c->why = strerror(errno);
		sio_stream_close(s);
		return;
	}
	c->out += len;
	c->w->st.bytes += len;
}

/* A peer can send urgent bytes by the thousand: without --verbose, at
 * most URGENT_LOG_PER_SEC of them are logged each second per thread (one
 * line each, on a stderr that may be a pipe nobody drains fast enough: a
 * blocked write would stop the whole thread), the others counted and
 * announced on the next line logged. */
static int
urgent_log_allowed(struct worker *w)
{
	uint64_t now = sio_loop_now(w->loop);

	if (opt.verbose)
		return 1;
	if (now - w->urgent_log_start >= 1000) {
		w->urgent_log_start = now;
		w->urgent_logged = 0;
	}
	if (w->urgent_logged < URGENT_LOG_PER_SEC) {
		w->urgent_logged++;
		return 1;
	}
	w->urgent_unlogged++;
	return 0;
}

/* " (N more not logged)" for the line being logged, once. */
static const char *
urgent_log_note(struct worker *w)
{
	if (w->urgent_unlogged == 0)
		return "";
	snprintf(w->urgent_note, sizeof w->urgent_note,
	         " (%llu more urgent bytes not logged)",
	         (unsigned long long)w->urgent_unlogged);
	w->urgent_unlogged = 0;
	return w->urgent_note;
}

static void
on_urgent(sio_stream *s, unsigned char byte, int at_mark, void *arg)
{
	struct conn *c = arg;

	c->w->st.urgent++;
	touch(c);
	/* Logged whether --verbose or not: urgent data is rare and
	 * worth seeing.  at_mark is sockatmark() when the byte was read: 1
	 * if every in-band byte sent before it has been read. */
	if (urgent_log_allowed(c->w))
		fprintf(stderr, PROG ": [t%u] urgent byte 0x%02x '%c' from %s: "
		        "sockatmark=%d after %llu in-band bytes%s\n", c->w->id, byte,
		        byte >= 0x20 && byte < 0x7f ? byte : '.', c->peer, at_mark,
		        (unsigned long long)c->in, urgent_log_note(c->w));
	if (sio_stream_write_urgent(s, byte) < 0)
		vlog(c->w, "%s %s: urgent byte not echoed: %s", kind_name[c->kind],
		     c->peer, strerror(errno));
}

static void
on_stream_close(sio_stream *s, int reason, int err, void *arg)
{
	struct conn *c = arg;
	char why[128];

	switch (reason) {
	case SIO_CLOSE_EOF:
		snprintf(why, sizeof why, "end of stream");
		break;
	case SIO_CLOSE_RESET:
		snprintf(why, sizeof why, "reset by peer (%s)", strerror(err));
		break;
	case SIO_CLOSE_ERROR:
		snprintf(why, sizeof why, "error: %s", strerror(err));
		break;
	case SIO_CLOSE_TIMEOUT:
		snprintf(why, sizeof why, "idle timeout");
		break;
	default:
		snprintf(why, sizeof why, "%s", c->why ? c->why : "closed");
		break;
	}
	c->s = NULL;                    /* the layer frees it on return */
	conn_free(c, why);
}

/*
 * A SOCK_SEQPACKET connection, record by record.
 *
 * Not sio_dgram_new() on the accepted fd, although it receives whole
 * records: it has no end-of-stream report (recvmsg returning 0 is how a
 * SEQPACKET peer's close or half-close shows, and the fd stays readable
 * after it), and its send drops a record on EAGAIN, as UDP may, where a
 * SEQPACKET echo must hold the record until there is room.  A plain
 * watcher does both in a few lines: read one record, send it back; if the
 * socket has no room, keep that one record, watch SIO_WRITE instead of
 * SIO_READ (so a client that does not read stops being read: at most one
 * record per connection is buffered here), and resume reading once it went.
 * A zero-length record cannot be told from the end of the stream by
 * recvmsg() and ends the connection.
 */
static void
on_record(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct conn *c = arg;
	struct worker *w = c->w;
	char why[96];

	if (c->held != NULL) {
		if (echo_send_record(fd, c->held, c->held_len) < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
				return;         /* still no room */
			snprintf(why, sizeof why, "send: %s", strerror(errno));
			return conn_free(c, why);
		}
		c->out += c->held_len;
		free(c->held);
		c->held = NULL;
		sio_io_set(io, SIO_READ);
	}
	for (int i = 0; i < 64; i++) {  /* then give the other fds a turn */
		int truncated;
		ssize_t n = echo_recv_record(fd, w->record, ECHO_RECORD_MAX, &truncated);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			snprintf(why, sizeof why, errno == ECONNRESET ?
			         "reset by peer (%s)" : "recv: %s", strerror(errno));
			return conn_free(c, why);
		}
		if (n == 0)             /* everything before it went back */
			return conn_free(c, "end of stream");
		c->in += (size_t)n;
		w->st.datagrams++;
		touch(c);
		if (truncated) {        /* cannot go back whole: dropped */
			vlog(w, "seqpacket %s: record longer than %d bytes dropped",
			     c->peer, ECHO_RECORD_MAX);
			continue;
		}
		w->st.bytes += (size_t)n;
		if (echo_send_record(fd, w->record, (size_t)n) == 0) {
			c->out += (size_t)n;
			continue;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
			snprintf(why, sizeof why, "send: %s", strerror(errno));
			return conn_free(c, why);
		}
		c->held = malloc((size_t)n);
		if (c->held == NULL)
			return conn_free(c, "out of memory");
		memcpy(c->held, w->record, (size_t)n);
		c->held_len = (size_t)n;
		sio_io_set(io, SIO_WRITE);
		return;
	}
}

/* Serve a new connection; `fd` is ours. */
static void
conn_open(struct worker *w, int kind, int fd, const struct sockaddr *peer,
          socklen_t peerlen)
{
	struct conn *c = calloc(1, sizeof *c);
	char opts[160] = "";
	const char *what = "calloc";

	if (c == NULL)
		goto fail;
	c->w = w;
	c->kind = kind;
	c->fd = fd;
	if (kind == EP_TCP) {
		echo_peer_text(peer, peerlen, c->peer, sizeof c->peer);
		set_tcp_options(fd, opts, sizeof opts);
	} else {
		unix_peer_text(fd, peer, peerlen, c->peer, sizeof c->peer);
	}
	if (opt.idle_ms > 0 && kind == EP_SEQPACKET) {
		what = "sio_timer_start";
		c->idle = sio_timer_start(w->loop, opt.idle_ms, 0, on_idle, c);
		if (c->idle == NULL)
			goto fail;
	}
	if (kind == EP_SEQPACKET) {
		what = "sio_io_start";
		if (w->record == NULL && (w->record = malloc(ECHO_RECORD_MAX)) == NULL)
			goto fail;
		c->io = sio_io_start(w->loop, fd, SIO_READ, on_record, c);
		if (c->io == NULL)
			goto fail;
	} else {
		what = "sio_stream_new";
		c->s = sio_stream_new(w->loop, fd, on_stream_read, on_stream_close, c);
		if (c->s == NULL)
			goto fail;
		/* Idle: nothing to read while it could, or an echo the peer
		 * leaves unread (its queue stuck). */
		if (opt.idle_ms > 0 &&
		    sio_stream_set_timeouts(c->s, opt.idle_ms, opt.idle_ms) < 0)
			fprintf(stderr, PROG ": [t%u] %s %s: no idle timeout: %s\n",
			        w->id, kind_name[kind], c->peer, strerror(errno));
		if (kind == EP_TCP && sio_stream_on_urgent(c->s, on_urgent) < 0)
			vlog(w, "tcp %s: urgent data not watched: %s", c->peer,
			     strerror(errno));
	}
	c->next = w->conns;
	if (c->next != NULL)
		c->next->prev = c;
	w->conns = c;
	w->nconns++;
	w->st.conns++;
	vlog(w, "%s %s connected; set %s", kind_name[kind], c->peer,
	     opts[0] ? opts : "no options");
	return;
fail:
	fprintf(stderr, PROG ": [t%u] %s connection not served: %s: %s\n",
	        w->id, kind_name[kind], what, strerror(errno));
	if (c != NULL) {
		sio_timer_stop(c->idle);
		sio_io_stop(c->io);
		free(c);
	}
	close(fd);                      /* sio_stream_new() failed: still ours */
	atomic_fetch_sub(&open_conns, 1);
}

/* The connection is over: log it, free it, and end a stopping loop once
 * its last connection is gone. */
static void
conn_free(struct conn *c, const char *why)
{
	struct worker *w = c->w;

	vlog(w, "%s %s disconnected: %s; %llu bytes in, %llu out", kind_name[c->kind],
	     c->peer, why, (unsigned long long)c->in, (unsigned long long)c->out);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->nconns--;
	atomic_fetch_sub(&open_conns, 1);
	sio_timer_stop(c->idle);
	if (c->io != NULL) {
		sio_io_stop(c->io);
		close(c->fd);
	}
	free(c->held);
	free(c);
	if (w->stopping && w->nconns == 0)
		sio_loop_stop(w->loop);
}

static void
on_accept(sio_listener *l, int fd, const struct sockaddr *peer, socklen_t peerlen,
          void *arg)
{
	struct bound *b = arg;
	struct worker *w = b->w;

	if (w->stopping) {
		close(fd);
		return;
	}
	if (atomic_fetch_add(&open_conns, 1) >= opt.max_conns) {
		char text[160];
		atomic_fetch_sub(&open_conns, 1);
		w->st.refused++;
		if (opt.verbose)
			vlog(w, "%s %s refused: --max-conns=%llu reached", kind_name[b->kind],
			     echo_peer_text(peer, peerlen, text, sizeof text),
			     opt.max_conns);
		close(fd);
		return;
	}
	conn_open(w, b->kind, fd, peer, peerlen);
}

static void
on_datagram(sio_dgram *d, const void *data, size_t len, const struct sockaddr *from,
            socklen_t fromlen, int truncated, void *arg)
{
	struct bound *b = arg;
	struct worker *w = b->w;
	char text[160];

	w->st.datagrams++;
	if (truncated) {                /* cannot go back whole: dropped */
		vlog(w, "udp %s: datagram truncated, dropped",
		     echo_peer_text(from, fromlen, text, sizeof text));
		return;
	}
	w->st.bytes += len;
	if (sio_dgram_send(d, data, len, from, fromlen) < 0)
		vlog(w, "udp %s: %zu bytes not echoed: %s",
		     echo_peer_text(from, fromlen, text, sizeof text), len,
		     strerror(errno));
}

/* ---- binding ------------------------------------------------------------ */

/* Bind one endpoint in worker w: (host, port) for tcp and udp, the path
 * otherwise.  Returns 0, or -1 with errno. */
static int
bind_in(struct worker *w, const struct endpoint *ep, const char *host,
        const char *port, int flags)
{
	struct bound *b = calloc(1, sizeof *b), **grown;
	const char *h = host != NULL && host[0] != '\0' ? host : NULL;

	if (b == NULL)
		return -1;
	grown = realloc(w->bound, (w->nbound + 1) * sizeof *grown);
	if (grown == NULL) {
		free(b);
		return -1;
	}
	w->bound = grown;
	b->w = w;
	b->kind = ep->kind;
	switch (ep->kind) {
	case EP_TCP:
		b->l = sio_listen_tcp(w->loop, h, port, flags, on_accept, b);
		break;
	case EP_UDP:
		b->d = sio_dgram_bind(w->loop, h, port, flags, 0, on_datagram, b);
		break;
	case EP_UNIX:
		b->l = sio_listen_unix(w->loop, ep->path, SOCK_STREAM, 0, on_accept, b);
		break;
	case EP_SEQPACKET:
		b->l = sio_listen_unix(w->loop, ep->path, SOCK_SEQPACKET, 0, on_accept, b);
		break;
	}
	if (b->l == NULL && b->d == NULL) {
		int saved = errno;
		free(b);
		errno = saved;
		return -1;
	}
	w->bound[w->nbound++] = b;
	return 0;
}

static size_t
bound_count(const struct bound *b)
{
	return b->l != NULL ? sio_listener_count(b->l) : sio_dgram_count(b->d);
}

static char *
bound_address(const struct bound *b, size_t i, char *buf, size_t len)
{
	return b->l != NULL ? sio_listener_address(b->l, i, buf, len) :
	       sio_dgram_address(b->d, i, buf, len);
}

/* getaddrinfo() the endpoint as the layer will, to name a bad host or
 * service in the error message (the layer reports them only as
 * EADDRNOTAVAIL).  Returns NULL or the message. */
static const char *
resolve_problem(const struct endpoint *ep)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = ep->kind == EP_TCP ? SOCK_STREAM : SOCK_DGRAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(ep->host[0] ? ep->host : NULL, ep->port, &hints, &res);
	if (rc == 0) {
		freeaddrinfo(res);
		return NULL;
	}
	return rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc);
}

/* Bind endpoint `ep` in every worker: thread 0 on what was asked, the
 * others on each address thread 0 got (its real port).  Returns 0, or -1
 * after printing why. */
static int
bind_endpoint(const struct endpoint *ep)
{
	int flags = opt.threads > 1 ? SIO_LISTEN_REUSEPORT : 0;
	const char *problem;

	if ((ep->kind == EP_TCP || ep->kind == EP_UDP) &&
	    (problem = resolve_problem(ep)) != NULL) {
		fprintf(stderr, PROG ": %s: %s\n", ep->opt, problem);
		return -1;
	}
	if (bind_in(&workers[0], ep, ep->host, ep->port, flags) < 0) {
		fprintf(stderr, PROG ": %s: %s\n", ep->opt, strerror(errno));
		return -1;
	}
	if (ep->kind != EP_TCP && ep->kind != EP_UDP)
		return 0;               /* a Unix path: thread 0 only */
	const struct bound *first = workers[0].bound[workers[0].nbound - 1];
	for (size_t i = 0; i < bound_count(first); i++) {
		char addr[256], host[ECHO_HOST_MAX], port[ECHO_SERV_MAX];
		const char *why;
		if (bound_address(first, i, addr, sizeof addr) == NULL ||
		    echo_split_hostport(addr, host, sizeof host, port, sizeof port,
		                        &why) < 0) {
			fprintf(stderr, PROG ": %s: cannot read back bound address %zu\n",
			        ep->opt, i);
			return -1;
		}
		for (unsigned t = 1; t < opt.threads; t++)
			if (bind_in(&workers[t], ep, host, port, flags) < 0) {
				fprintf(stderr, PROG ": %s: thread %u: %s: %s\n",
				        ep->opt, t, addr, strerror(errno));
				return -1;
			}
	}
	return 0;
}

/* Stop accepting: free every listener and UDP socket of the worker (Unix
 * socket files are removed), keeping their refusal counts. */
static void
unbind_all(struct worker *w)
{
	for (size_t i = 0; i < w->nbound; i++) {
		struct bound *b = w->bound[i];
		if (b->l != NULL) {
			w->st.refused += sio_listener_refused(b->l);
			sio_listener_free(b->l);
		}
		sio_dgram_free(b->d);
		free(b);
	}
	free(w->bound);
	w->bound = NULL;
	w->nbound = 0;
}

/* ---- stopping ------------------------------------------------------------ */

static void
on_grace_over(sio_timer *t, void *arg)
{
	struct worker *w = arg;

	vlog(w, "%zu connections still closing: stopping anyway", w->nconns);
	sio_loop_stop(w->loop);
}

/* Stop accepting and close every connection; the loop ends when the last
 * one is gone, or STOP_GRACE_MS from now at the latest. */
static void
worker_stop(struct worker *w)
{
	if (w->stopping)
		return;
	w->stopping = 1;
	unbind_all(w);
	if (w->id == 0) {
		sio_signal_stop(w->sigint);
		sio_signal_stop(w->sigterm);
		sio_signal_stop(w->sigusr1);
		w->sigint = w->sigterm = w->sigusr1 = NULL;
	}
	w->grace = sio_timer_start(w->loop, STOP_GRACE_MS, 0, on_grace_over, w);
	for (struct conn *c = w->conns, *next; c != NULL; c = next) {
		next = c->next;         /* a SEQPACKET one is freed now */
		conn_close(c, "server stopping");
	}
	if (w->nconns == 0 || w->grace == NULL)
		sio_loop_stop(w->loop);
}

static void
on_stop_request(sio_async *a, void *arg)
{
	worker_stop(arg);
}

static void
on_signal(sio_signal *s, int signo, unsigned count, void *arg)
{
	struct worker *w = arg;

	vlog(w, "signal %d (%s): stopping", signo, strsignal(signo));
	for (unsigned t = 1; t < opt.threads; t++)
		if (workers[t].thread_started)
			sio_async_send(workers[t].stop_req);
	worker_stop(w);
}

/* SIGUSR1: one line of thread 0's counters (the other threads' change
 * under our feet: only the shared count of open connections is read). */
static void
on_stats_signal(sio_signal *s, int signo, unsigned count, void *arg)
{
	struct worker *w = arg;

	w->usr1_signals += count;
	w->usr1_callbacks++;
	fprintf(stderr, PROG ": stats: open=%llu [t0] conns=%llu bytes=%llu "
	        "datagrams=%llu urgent=%llu refused=%llu sigusr1=%llu/%llu\n",
	        (unsigned long long)atomic_load(&open_conns),
	        (unsigned long long)w->st.conns, (unsigned long long)w->st.bytes,
	        (unsigned long long)w->st.datagrams, (unsigned long long)w->st.urgent,
	        (unsigned long long)w->st.refused,
	        (unsigned long long)w->usr1_signals,
	        (unsigned long long)w->usr1_callbacks);
}

/* Raise the soft fd limit to the hard one (see the comment at the top). */
static void
raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0 && opt.verbose)
			fprintf(stderr, PROG ": setrlimit(RLIMIT_NOFILE): %s\n",
			        strerror(errno));
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	if (sio_loop_run(w->loop, SIO_RUN_DEFAULT) < 0) {
		w->run_failed = 1;
		w->run_errno = errno;
	}
	return NULL;
}

/* Free what the workers hold, connections included (a loop stopped by the
 * grace timer may still have some). */
static void
workers_free(void)
{
	for (unsigned t = 0; t < opt.threads; t++) {
		struct worker *w = &workers[t];
		unbind_all(w);
		while (w->conns != NULL) {
			struct conn *c = w->conns;
			w->conns = c->next;
			if (c->io != NULL)
				close(c->fd);
			free(c->held);
			free(c);        /* its stream and watchers go with the loop */
		}
		sio_signal_stop(w->sigint);
		sio_signal_stop(w->sigterm);
		sio_signal_stop(w->sigusr1);
		sio_timer_stop(w->grace);
		sio_async_free(w->stop_req);
		sio_loop_free(w->loop);
		free(w->record);
		memset(w, 0, sizeof *w);
	}
}

/* ---- options ------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: " PROG " [--backend=NAME] [--tcp=HOST:PORT]... [--udp=HOST:PORT]...\n"
	        "                   [--unix=PATH]... [--seqpacket=PATH]... [--threads=N]\n"
	        "                   [--max-conns=N] [--idle-timeout=SECONDS]\n"
	        "                   [--stats-signal=USR1|USR2|HUP|RTMIN+K] [--verbose]\n"
	        "With no endpoint: --tcp=127.0.0.1:" ECHO_DEFAULT_PORT
	        " --udp=127.0.0.1:" ECHO_DEFAULT_PORT ".\n"
	        "HOST: an IPv4 or IPv6 address ([::1]) or a name, empty or * for all;\n"
	        "PORT: a number (0: the kernel chooses) or a service name.\n"
	        "N: --threads 1..%d, --max-conns 1 or more; --idle-timeout 0 (off) or more.\n",
	        MAX_THREADS);
}

/* --stats-signal: USR1, USR2, HUP or RTMIN+K; -1 for anything else. */
static int
stats_signal(const char *v)
{
	unsigned long long k;

	if (strcmp(v, "USR1") == 0)
		return SIGUSR1;
	if (strcmp(v, "USR2") == 0)
		return SIGUSR2;
	if (strcmp(v, "HUP") == 0)
		return SIGHUP;
	if (strncmp(v, "RTMIN+", 6) == 0 &&
	    echo_parse_uint(v + 6, 0, (unsigned long long)(SIGRTMAX - SIGRTMIN), &k) == 0)
		return SIGRTMIN + (int)k;
	return -1;
}

/* Parse the command line into opt.  Returns 0 to run, -1 after --help
 * (exit 0), or the exit status after a message.  It never exits itself:
 * fuzz/fuzz_args_echo_server.c calls it on any argv. */
static int
parse_options(int argc, char **argv)
{
	static const char *const ep_opts[] = { "--tcp", "--udp", "--unix", "--seqpacket" };
	const char *v;
	unsigned long long n;

	/* One slot per argument, and at least the two defaults. */
	opt.eps = calloc((size_t)argc + 2, sizeof *opt.eps);
	if (opt.eps == NULL) {
		perror(PROG ": calloc");
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int kind = -1;
		for (int k = 0; k < 4; k++)
			if ((v = echo_option_value(a, ep_opts[k])) != NULL)
				kind = k;
		if (kind >= 0) {
			struct endpoint *ep = &opt.eps[opt.neps++];
			const char *why;
			v = strchr(a, '=') + 1;
			ep->kind = kind;
			ep->opt = a;
			if (kind == EP_TCP || kind == EP_UDP) {
				if (echo_split_hostport(v, ep->host, sizeof ep->host, ep->port,
				                        sizeof ep->port, &why) < 0) {
					fprintf(stderr, PROG ": %s: %s\n", a, why);
					return 2;
				}
			} else {
				struct sockaddr_un sun;
				if (v[0] == '\0') {
					fprintf(stderr, PROG ": %s: empty path\n", a);
					return 2;
				}
				if (strlen(v) >= sizeof sun.sun_path) {
					fprintf(stderr, PROG ": %s: path too long (at most %zu bytes)\n",
					        a, sizeof sun.sun_path - 1);
					return 2;
				}
				ep->path = v;
			}
		} else if ((v = echo_option_value(a, "--backend")) != NULL) {
			opt.backend = v;
		} else if ((v = echo_option_value(a, "--threads")) != NULL) {
			if (echo_parse_uint(v, 1, MAX_THREADS, &n) < 0) {
				fprintf(stderr, PROG ": %s: wants a number from 1 to %d\n",
				        a, MAX_THREADS);
				return 2;
			}
			opt.threads = (unsigned)n;
		} else if ((v = echo_option_value(a, "--max-conns")) != NULL) {
			if (echo_parse_uint(v, 1, ~0ULL >> 1, &opt.max_conns) < 0) {
				fprintf(stderr, PROG ": %s: wants a number, 1 or more\n", a);
				return 2;
			}
		} else if ((v = echo_option_value(a, "--idle-timeout")) != NULL) {
			char *end;
			errno = 0;
			double s = strtod(v, &end);
			if (v[0] < '0' || v[0] > '9' || *end != '\0' || errno != 0 ||
			    !isfinite(s) || s < 0 || s > 1e7) {
				fprintf(stderr, PROG ": %s: wants a number of seconds, "
				        "0 (no timeout) or more\n", a);
				return 2;
			}
			opt.idle_ms = (uint64_t)(s * 1000 + 0.5);
			if (s > 0 && opt.idle_ms == 0)
				opt.idle_ms = 1;
		} else if ((v = echo_option_value(a, "--stats-signal")) != NULL) {
			if ((opt.stats_signo = stats_signal(v)) < 0) {
				fprintf(stderr, PROG ": %s: wants USR1, USR2, HUP or RTMIN+K\n", a);
				return 2;
			}
		} else if (strcmp(a, "--verbose") == 0) {
			opt.verbose = 1;
		} else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			return -1;
		} else {
			fprintf(stderr, PROG ": %s: unknown option (see --help)\n", a);
			return 2;
		}
	}
	if (opt.neps == 0) {            /* the defaults */
		static const char *const defaults[] = {
			"--tcp=127.0.0.1:" ECHO_DEFAULT_PORT,
			"--udp=127.0.0.1:" ECHO_DEFAULT_PORT
		};
		for (int k = 0; k < 2; k++) {
			struct endpoint *ep = &opt.eps[opt.neps++];
			ep->kind = k == 0 ? EP_TCP : EP_UDP;
			ep->opt = defaults[k];
			snprintf(ep->host, sizeof ep->host, "127.0.0.1");
			snprintf(ep->port, sizeof ep->port, "%s", ECHO_DEFAULT_PORT);
		}
	}
	return 0;
}

/* ---- main ------------------------------------------------------------------ */

int
main(int argc, char **argv)
{
	int rc;

	signal(SIGPIPE, SIG_IGN);       /* the layer sends with MSG_NOSIGNAL; stdout too */
	if ((rc = parse_options(argc, argv)) != 0) {
		free(opt.eps);
		return rc < 0 ? 0 : rc;
	}
	raise_fd_limit();

	rc = 1;
	for (unsigned t = 0; t < opt.threads; t++) {
		struct worker *w = &workers[t];
		w->id = t;
		w->loop = sio_loop_new(opt.backend);
		if (w->loop == NULL) {
			int e = errno;
			fprintf(stderr, PROG ": --backend=%s: %s\n",
			        opt.backend ? opt.backend : "auto",
			        e == EINVAL ? "unknown backend" : strerror(e));
			if (e == EINVAL)
				rc = 2;
			goto out;
		}
		if (t > 0 && (w->stop_req = sio_async_new(w->loop, on_stop_request, w)) == NULL) {
			perror(PROG ": sio_async_new");
			goto out;
		}
	}
	/* Watch the signals before binding: a SIGTERM that comes meanwhile
	 * is served by the loop, and the Unix socket files are removed. */
	workers[0].sigint = sio_signal_start(workers[0].loop, SIGINT, on_signal, &workers[0]);
	workers[0].sigterm = sio_signal_start(workers[0].loop, SIGTERM, on_signal, &workers[0]);
	workers[0].sigusr1 = sio_signal_start(workers[0].loop, opt.stats_signo,
	                                      on_stats_signal, &workers[0]);
	if (workers[0].sigint == NULL || workers[0].sigterm == NULL ||
	    workers[0].sigusr1 == NULL) {
		perror(PROG ": sio_signal_start");
		goto out;
	}
	for (size_t i = 0; i < opt.neps; i++)
		if (bind_endpoint(&opt.eps[i]) < 0)
			goto out;       /* workers_free() unbinds what was bound */

	for (size_t i = 0; i < workers[0].nbound; i++) {
		const struct bound *b = workers[0].bound[i];
		for (size_t k = 0; k < bound_count(b); k++) {
			char addr[256];
			if (bound_address(b, k, addr, sizeof addr) == NULL)
				snprintf(addr, sizeof addr, "?");
			printf("listening %s %s\n", kind_name[b->kind], addr);
		}
	}
	fflush(stdout);

	for (unsigned t = 1; t < opt.threads; t++) {
		int e = pthread_create(&workers[t].thread, NULL, worker_main, &workers[t]);
		if (e != 0) {
			fprintf(stderr, PROG ": thread %u: %s\n", t, strerror(e));
			for (unsigned k = 1; k < t; k++)
				sio_async_send(workers[k].stop_req);
			for (unsigned k = 1; k < t; k++)
				pthread_join(workers[k].thread, NULL);
			goto out;
		}
		workers[t].thread_started = 1;
	}
	worker_main(&workers[0]);
	for (unsigned t = 1; t < opt.threads; t++)
		pthread_join(workers[t].thread, NULL);

	struct counters sum = { 0 };
	rc = 0;
	for (unsigned t = 0; t < opt.threads; t++) {
		struct worker *w = &workers[t];
		unbind_all(w);          /* if the loop ended without a stop */
		sum.conns += w->st.conns;
		sum.bytes += w->st.bytes;
		sum.datagrams += w->st.datagrams;
		sum.urgent += w->st.urgent;
		sum.refused += w->st.refused;
		if (w->run_failed) {
			fprintf(stderr, PROG ": [t%u] sio_loop_run: %s\n", t,
			        strerror(w->run_errno));
			rc = 1;
		}
	}
	fprintf(stderr, PROG ": stopped: conns=%llu bytes=%llu datagrams=%llu "
	        "urgent=%llu refused=%llu\n", (unsigned long long)sum.conns,
	        (unsigned long long)sum.bytes, (unsigned long long)sum.datagrams,
	        (unsigned long long)sum.urgent, (unsigned long long)sum.refused);
	if (workers[0].usr1_signals > 0)
		fprintf(stderr, PROG ": %s: %llu signals in %llu callbacks\n",
		        opt.stats_signo == SIGUSR1 ? "SIGUSR1" : "stats signal",
		        (unsigned long long)workers[0].usr1_signals,
		        (unsigned long long)workers[0].usr1_callbacks);
out:
	workers_free();
	free(opt.eps);
	return rc;
}
