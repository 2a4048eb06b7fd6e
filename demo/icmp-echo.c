/*
 * icmp-echo - ping over a sigio loop: ICMP echo requests on a raw socket,
 * whose ICMP header (type, code, checksum, identifier, sequence) this
 * program builds itself, and the replies received through a sio_io
 * watcher, matched to their request and timed.
 *
 * Usage: icmp-echo [--backend=NAME] [--count=N] [--interval=MS]
 *                  [--timeout=MS] [--size=BYTES] HOST
 *
 *   - The socket is SOCK_RAW with IPPROTO_ICMP (IPv4) or IPPROTO_ICMPV6
 *     (IPv6).  Without the privilege a raw socket needs (CAP_NET_RAW), an
 *     unprivileged ICMP datagram socket (SOCK_DGRAM, Linux's "ping socket",
 *     allowed to the groups of net.ipv4.ping_group_range) takes its place;
 *     if neither is allowed, one line says so and the exit status is 1.
 *   - A repeating sio timer sends one request every --interval ms; each
 *     request has its own one-shot timer (--timeout ms) after which it is
 *     counted as lost.  A SIGINT watcher ends the run early, with the
 *     summary, as ping(8) does.
 *   - One line per reply: bytes, peer (inet_ntop), sequence, TTL or hop
 *     limit where the kernel gives it, round-trip time; then a summary.
 *
 * Exit status: 0 when at least one reply came back, 1 when none did (or a
 * runtime error, or no privilege), 2 for bad usage or a host that does not
 * resolve.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sigio.h"
#include "echo-common.h"

#define PROG "icmp-echo"

#define ICMP_HDR        8               /* type, code, checksum, id, seq */
#define V4_ECHO_REQUEST 8
#define V4_ECHO_REPLY   0
#define V6_ECHO_REQUEST 128
#define V6_ECHO_REPLY   129
#define MAX_SIZE        65507           /* 65535 - 20 (IPv4) - 8 (ICMP) */
#define MAX_TIMEOUT_MS  60000
#define MAX_INTERVAL_MS 3600000
#define NSEQ            65536           /* sequence numbers are 16 bits */
#define PACKET_MAX      (65535 + 64)    /* an IPv4 header (60 at most) and all */

/* What became of one sequence number. */
enum { REQ_FREE, REQ_WAITING, REQ_ANSWERED, REQ_LOST };

struct ping;

struct request {
	struct ping *p;
	uint16_t seq;
	unsigned char state;
	uint64_t sent_ns;               /* CLOCK_MONOTONIC, for the round trip */
	sio_timer *timeout;             /* while REQ_WAITING */
};

struct ping {
	sio_loop *loop;
	const char *host;
	int family;
	int dgram;                      /* 1: the unprivileged datagram socket */
	int fd;
	struct sockaddr_storage dst;
	socklen_t dstlen;
	char dst_text[INET6_ADDRSTRLEN];
	uint16_t ident;

	uint64_t count;                 /* 0: until SIGINT */
	uint64_t interval_ms, timeout_ms;
	size_t size;                    /* payload bytes after the ICMP header */

	uint64_t sent, received, duplicates, waiting;
	uint64_t rtt_min_ns, rtt_max_ns, rtt_sum_ns;
	struct request *req;            /* NSEQ slots, indexed by sequence */
	unsigned char *out, *in;        /* packet buffers */

	sio_io *io;
	sio_timer *interval;
	sio_signal *sigint;
	int done;
};

static void finish(struct ping *p);

/* ---- the packet -------------------------------------------------------------- */

static uint64_t
now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* The Internet checksum (RFC 1071): the one's complement of the one's
 * complement sum of the data as 16-bit big-endian words, an odd last byte
 * padded with zero.  Summing bytes pairwise keeps it independent of the
 * host's byte order. */
static uint16_t
inet_checksum(const unsigned char *data, size_t len)
{
	uint32_t sum = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)data[i] << 8 | data[i + 1];
	if (i < len)
		sum += (uint32_t)data[i] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The payload byte at offset i: the same pattern as the echo demos. */
static unsigned char
payload_byte(size_t i)
{
	return echo_pattern(i);
}

/* Build the echo request with sequence `seq` in p->out; returns its length. */
static size_t
build_request(struct ping *p, uint16_t seq)
{
	unsigned char *b = p->out;
	uint16_t v;

	b[0] = p->family == AF_INET ? V4_ECHO_REQUEST : V6_ECHO_REQUEST;
	b[1] = 0;                       /* code */
	memset(b + 2, 0, 2);            /* checksum, computed below */
	v = htons(p->ident);
	memcpy(b + 4, &v, 2);
	v = htons(seq);
	memcpy(b + 6, &v, 2);
	for (size_t i = 0; i < p->size; i++)
		b[ICMP_HDR + i] = payload_byte(i);
	/* ICMPv6's checksum covers a pseudo-header of addresses the kernel
	 * chooses: on a raw ICMPv6 socket the kernel always computes it (RFC
	 * 3542 3.1, the IPV6_CHECKSUM semantics fixed at offset 2), so it
	 * stays 0 here.  ICMP for IPv4 covers the ICMP message only, and a raw
	 * socket sends what we give it: ours to compute.  (The datagram socket
	 * recomputes it in both families.) */
	if (p->family == AF_INET) {
		uint16_t ck = inet_checksum(b, ICMP_HDR + p->size);
		b[2] = (unsigned char)(ck >> 8);
		b[3] = (unsigned char)(ck & 0xff);
	}
	return ICMP_HDR + p->size;
}

/* ---- requests ---------------------------------------------------------------- */

static void
request_done(struct request *r, int state)
{
	struct ping *p = r->p;

	sio_timer_stop(r->timeout);
	r->timeout = NULL;
	r->state = (unsigned char)state;
	p->waiting--;
	if (p->count != 0 && p->sent == p->count && p->waiting == 0)
		finish(p);
}

static void
on_request_timeout(sio_timer *t, void *arg)
{
	request_done(arg, REQ_LOST);
}

/* Send the next request.  A request that cannot be sent (no route, a full
 * socket buffer) is reported and counted as sent and lost, as ping does. */
static void
send_request(struct ping *p)
{
	uint16_t seq = (uint16_t)((p->sent + 1) % NSEQ);   /* 1 first, as ping */
	struct request *r = &p->req[seq];
	size_t len = build_request(p, seq);
	ssize_t n;

	if (r->state == REQ_WAITING)    /* 65536 requests later: give up on it */
		request_done(r, REQ_LOST);
	r->seq = seq;
	r->state = REQ_WAITING;
	r->sent_ns = now_ns();
	p->sent++;
	p->waiting++;
	do
		n = sendto(p->fd, p->out, len, 0, (struct sockaddr *)&p->dst, p->dstlen);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		fprintf(stderr, PROG ": sendto %s: icmp_seq=%u: %s\n", p->dst_text,
		        (unsigned)seq, errno == EAGAIN || errno == EWOULDBLOCK ?
		        "socket buffer full" : strerror(errno));
		request_done(r, REQ_LOST);
		return;
	}
	r->timeout = sio_timer_start(p->loop, p->timeout_ms, 0, on_request_timeout, r);
	if (r->timeout == NULL) {
		perror(PROG ": sio_timer_start");
		request_done(r, REQ_LOST);
	}
}

static void
on_interval(sio_timer *t, void *arg)
{
	struct ping *p = arg;

	send_request(p);
	if (p->count != 0 && p->sent == p->count) {
		sio_timer_stop(p->interval);
		p->interval = NULL;
	}
}

/* ---- replies ----------------------------------------------------------------- */

/* What one received packet says, once its headers are parsed. */
struct reply {
	const unsigned char *icmp;      /* the ICMP message */
	size_t len;                     /* its length */
	int ttl;                        /* TTL or hop limit, -1 if unknown */
	char from[INET6_ADDRSTRLEN];
};

/* TTL (IP_TTL) or hop limit (IPV6_HOPLIMIT) from the control messages.
 * The value must lie inside msg_controllen too: CMSG_NXTHDR checks that of
 * every header but the first (the kernel never writes a cmsg_len beyond
 * the buffer, but this is cheap; fuzz/fuzz_icmp_packet.c found it). */
static int
cmsg_ttl(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c)) {
		int v;
		if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TTL) ||
		    (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT)) {
			if (c->cmsg_len < CMSG_LEN(sizeof v) ||
			    (size_t)(CMSG_DATA(c) - (unsigned char *)mh->msg_control) +
			    sizeof v > mh->msg_controllen)
				continue;
			memcpy(&v, CMSG_DATA(c), sizeof v);
			return v;
		}
	}
	return -1;
}

/* Find the ICMP message in what recvmsg returned.  A raw IPv4 socket
 * delivers the IP header too: its low nibble of byte 0 is the header
 * length in 32-bit words, byte 8 the TTL.  Returns 0, or -1 for a packet
 * too short or malformed. */
static int
parse_packet(struct ping *p, const unsigned char *pkt, size_t n, struct reply *rp)
{
	if (p->family == AF_INET && !p->dgram) {
		size_t hl;
		if (n < 20 || (pkt[0] >> 4) != 4)
			return -1;
		hl = (size_t)(pkt[0] & 0x0f) * 4;
		if (hl < 20 || n < hl)
			return -1;
		rp->ttl = pkt[8];
		pkt += hl;
		n -= hl;
	}
	if (n < ICMP_HDR)
		return -1;
	rp->icmp = pkt;
	rp->len = n;
	return 0;
}

/* Whether the reply's payload is the one we sent. */
static int
payload_intact(const struct ping *p, const struct reply *rp)
{
	if (rp->len != ICMP_HDR + p->size)
		return 0;
	for (size_t i = 0; i < p->size; i++)
		if (rp->icmp[ICMP_HDR + i] != payload_byte(i))
			return 0;
	return 1;
}

static void
print_reply(struct ping *p, const struct reply *rp, unsigned seq, uint64_t rtt_ns,
            int dup)
{
	printf("%zu bytes from %s: icmp_seq=%u", rp->len, rp->from, seq);
	if (rp->ttl >= 0)
		printf(" %s=%d", p->family == AF_INET ? "ttl" : "hlim", rp->ttl);
	printf(" time=%.3f ms%s%s\n", (double)rtt_ns / 1e6, dup ? " (DUP!)" : "",
	       payload_intact(p, rp) ? "" : " (payload differs)");
	fflush(stdout);
}

/* Match one ICMP message to its request.  Other messages are ignored: on a
 * raw socket every ICMP packet of the host arrives, our own requests on
 * loopback and other programs' replies among them.  The datagram socket
 * delivers only replies to itself, but the kernel replaced our identifier
 * with its own: there the sequence alone matches. */
static void
take_reply(struct ping *p, struct reply *rp)
{
	const unsigned char *m = rp->icmp;
	uint16_t id, seq;
	struct request *r;

	if (m[0] != (p->family == AF_INET ? V4_ECHO_REPLY : V6_ECHO_REPLY) || m[1] != 0)
		return;
	memcpy(&id, m + 4, 2);
	memcpy(&seq, m + 6, 2);
	id = ntohs(id);
	seq = ntohs(seq);
	if (!p->dgram && id != p->ident)
		return;
	if (p->family == AF_INET && inet_checksum(m, rp->len) != 0)
		return;                 /* damaged in transit */
	r = &p->req[seq];
	if (r->state == REQ_ANSWERED) {
		p->duplicates++;
		print_reply(p, rp, seq, now_ns() - r->sent_ns, 1);
		return;
	}
	if (r->state != REQ_WAITING)    /* late (already lost) or never sent */
		return;
	uint64_t rtt = now_ns() - r->sent_ns;
	p->received++;
	p->rtt_sum_ns += rtt;
	if (p->received == 1 || rtt < p->rtt_min_ns)
		p->rtt_min_ns = rtt;
	if (rtt > p->rtt_max_ns)
		p->rtt_max_ns = rtt;
	print_reply(p, rp, seq, rtt, 0);
	request_done(r, REQ_ANSWERED);
}

/* One packet as recvmsg returned it in *mh (n bytes in p->in): its sender,
 * TTL and ICMP message, matched to a request.  Every byte of it is the
 * peer's (or any host's, on a raw socket): fuzz/fuzz_icmp_packet.c feeds
 * it arbitrary packets and control messages. */
static void
take_packet(struct ping *p, struct msghdr *mh, size_t n)
{
	const struct sockaddr_storage *from = mh->msg_name;
	struct reply rp;
	const void *addr = NULL;

	memset(&rp, 0, sizeof rp);
	rp.ttl = cmsg_ttl(mh);
	if (parse_packet(p, p->in, n, &rp) < 0)
		return;
	if (from->ss_family == AF_INET6 &&
	    mh->msg_namelen >= (socklen_t)sizeof(struct sockaddr_in6))
		addr = &((const struct sockaddr_in6 *)from)->sin6_addr;
	else if (from->ss_family == AF_INET &&
	         mh->msg_namelen >= (socklen_t)sizeof(struct sockaddr_in))
		addr = &((const struct sockaddr_in *)from)->sin_addr;
	if (addr == NULL || inet_ntop(from->ss_family, addr, rp.from, sizeof rp.from) == NULL)
		snprintf(rp.from, sizeof rp.from, "?");
	take_reply(p, &rp);
}

/* Receive one packet.  Returns 1 if one was taken, 0 when none is waiting
 * (EAGAIN), -1 on an error (reported). */
static int
receive_one(struct ping *p)
{
	struct sockaddr_storage from;
	union {                         /* aligned room for the TTL message */
		struct cmsghdr align;
		unsigned char buf[CMSG_SPACE(sizeof(int)) * 4];
	} ctl;
	struct iovec iov = { .iov_base = p->in, .iov_len = PACKET_MAX };
	struct msghdr mh;
	ssize_t n;

	memset(&from, 0, sizeof from);
	memset(&mh, 0, sizeof mh);
	mh.msg_name = &from;
	mh.msg_namelen = sizeof from;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.buf;
	mh.msg_controllen = sizeof ctl.buf;
	do
		n = recvmsg(p->fd, &mh, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (n < 0) {
		/* An ICMP error about an earlier request (a datagram socket
		 * reports them): the timeout will count it lost. */
		if (errno == EHOSTUNREACH || errno == ENETUNREACH ||
		    errno == ECONNREFUSED || errno == EHOSTDOWN)
			return 1;
		fprintf(stderr, PROG ": recvmsg: %s\n", strerror(errno));
		return -1;
	}
	take_packet(p, &mh, (size_t)n);
	return 1;
}

static void
on_readable(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct ping *p = arg;

	/* A bounded batch: the loop calls us again while more is waiting. */
	for (int i = 0; i < 64 && !p->done; i++) {
		int rc = receive_one(p);
		if (rc == 0)
			return;
		if (rc < 0) {
			finish(p);
			return;
		}
	}
}

/* ---- the run ------------------------------------------------------------------ */

/* Stop every watcher and timer: the loop then has nothing left and returns. */
static void
finish(struct ping *p)
{
	if (p->done)
		return;
	p->done = 1;
	sio_timer_stop(p->interval);
	p->interval = NULL;
	for (size_t i = 0; i < NSEQ; i++) {
		sio_timer_stop(p->req[i].timeout);
		p->req[i].timeout = NULL;
	}
	sio_io_stop(p->io);
	p->io = NULL;
	sio_signal_stop(p->sigint);
	p->sigint = NULL;
}

static void
on_sigint(sio_signal *s, int signo, unsigned count, void *arg)
{
	finish(arg);
}

static void
print_summary(const struct ping *p)
{
	uint64_t lost = p->sent - p->received;

	printf("\n--- %s icmp-echo statistics ---\n", p->host);
	printf("%llu packets transmitted, %llu received", (unsigned long long)p->sent,
	       (unsigned long long)p->received);
	if (p->duplicates)
		printf(", +%llu duplicates", (unsigned long long)p->duplicates);
	printf(", %.0f%% packet loss\n",
	       p->sent ? 100.0 * (double)lost / (double)p->sent : 0.0);
	if (p->received)
		printf("rtt min/avg/max = %.3f/%.3f/%.3f ms\n", (double)p->rtt_min_ns / 1e6,
		       (double)p->rtt_sum_ns / (double)p->received / 1e6,
		       (double)p->rtt_max_ns / 1e6);
}

/* ---- the socket ---------------------------------------------------------------- */

/* Resolve the host to its first IPv4 or IPv6 address.  Returns 0, or 2
 * after a message. */
static int
resolve(struct ping *p)
{
	struct addrinfo hints, *res, *ai;
	int rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_RAW;
	do
		rc = getaddrinfo(p->host, NULL, &hints, &res);
	while (rc == EAI_SYSTEM && errno == EINTR);
	if (rc != 0) {
		fprintf(stderr, PROG ": %s: %s\n", p->host,
		        rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return 2;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (ai->ai_family == AF_INET || ai->ai_family == AF_INET6)
			break;
	if (ai == NULL) {
		fprintf(stderr, PROG ": %s: no IPv4 or IPv6 address\n", p->host);
		freeaddrinfo(res);
		return 2;
	}
	p->family = ai->ai_family;
	memcpy(&p->dst, ai->ai_addr, ai->ai_addrlen);
	p->dstlen = ai->ai_addrlen;
	freeaddrinfo(res);
	const void *addr = p->family == AF_INET6 ?
		(const void *)&((struct sockaddr_in6 *)&p->dst)->sin6_addr :
		(const void *)&((struct sockaddr_in *)&p->dst)->sin_addr;
	inet_ntop(p->family, addr, p->dst_text, sizeof p->dst_text);
	return 0;
}

/* Say why no ICMP socket could be had, with the system's group range. */
static void
explain_no_privilege(int err)
{
	char range[64] = "";
	FILE *f = fopen("/proc/sys/net/ipv4/ping_group_range", "r");

	if (f != NULL) {
		if (fgets(range, sizeof range, f) != NULL)
			range[strcspn(range, "\n")] = '\0';
		for (char *c = range; *c != '\0'; c++)
			if (*c == '\t')        /* the file separates them with a tab */
				*c = ' ';
		fclose(f);
	}
	fprintf(stderr, PROG ": raw sockets need privilege (CAP_NET_RAW), and "
	        "unprivileged ICMP sockets are not allowed for group %ld "
	        "(net.ipv4.ping_group_range%s%s%s): %s\n", (long)getegid(),
	        range[0] ? " is \"" : "", range, range[0] ? "\"" : "", strerror(err));
}

/* A raw socket, else the unprivileged datagram socket.  Returns 0, or 1
 * after a message. */
static int
open_socket(struct ping *p)
{
	int proto = p->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	int type = SOCK_NONBLOCK | SOCK_CLOEXEC;

	p->fd = socket(p->family, SOCK_RAW | type, proto);
	if (p->fd < 0 && (errno == EPERM || errno == EACCES)) {
		p->dgram = 1;
		p->fd = socket(p->family, SOCK_DGRAM | type, proto);
		if (p->fd < 0 && (errno == EPERM || errno == EACCES ||
		                  errno == EPROTONOSUPPORT || errno == ESOCKTNOSUPPORT)) {
			explain_no_privilege(errno);
			return 1;
		}
	}
	if (p->fd < 0) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}

/* Ask for the TTL (hop limit) of each reply, and on a raw ICMPv6 socket let
 * only echo replies through (ICMP6_FILTER): the rest of the host's ICMPv6
 * traffic need not wake us.  Failures cost only the TTL or the filter. */
static void
set_socket_options(struct ping *p)
{
	int on = 1;

	if (p->family == AF_INET) {
		if (p->dgram)   /* a raw socket has the IP header instead */
			(void)setsockopt(p->fd, IPPROTO_IP, IP_RECVTTL, &on, sizeof on);
		return;
	}
	(void)setsockopt(p->fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on);
	if (!p->dgram) {
		struct icmp6_filter f;
		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(V6_ECHO_REPLY, &f);
		(void)setsockopt(p->fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f);
	}
}

/* ---- options -------------------------------------------------------------------- */

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: " PROG " [--backend=NAME] [--count=N] [--interval=MS] [--timeout=MS]\n"
	        "                 [--size=BYTES] HOST\n"
	        "Sends ICMP echo requests to HOST and times the replies; SIGINT ends early.\n"
	        "Defaults: until SIGINT, --interval=1000, --timeout=2000, --size=56.\n");
}

/* One numeric option: 0 with the value stored, or 2 after a message. */
static int
number_option(const char *arg, const char *v, unsigned long long min,
              unsigned long long max, uint64_t *out)
{
	unsigned long long n;

	if (echo_parse_uint(v, min, max, &n) < 0) {
		fprintf(stderr, PROG ": %s: wants a number from %llu to %llu\n", arg, min, max);
		return 2;
	}
	*out = n;
	return 0;
}

/* The command line into *p and *backend.  Returns 0 to run, -1 after --help
 * (exit 0), or 2 after a message.  It never exits itself:
 * fuzz/fuzz_args_icmp_echo.c calls it on any argv. */
static int
parse_options(struct ping *p, int argc, char **argv, const char **backend)
{
	uint64_t size = 56;
	const char *v;
	int rc = 0;

	p->interval_ms = 1000;
	p->timeout_ms = 2000;
	for (int i = 1; i < argc && rc == 0; i++) {
		const char *a = argv[i];
		if ((v = echo_option_value(a, "--backend")) != NULL)
			*backend = v;
		else if ((v = echo_option_value(a, "--count")) != NULL)
			rc = number_option(a, v, 1, 1ULL << 40, &p->count);
		else if ((v = echo_option_value(a, "--interval")) != NULL)
			rc = number_option(a, v, 1, MAX_INTERVAL_MS, &p->interval_ms);
		else if ((v = echo_option_value(a, "--timeout")) != NULL)
			rc = number_option(a, v, 1, MAX_TIMEOUT_MS, &p->timeout_ms);
		else if ((v = echo_option_value(a, "--size")) != NULL)
			rc = number_option(a, v, 0, MAX_SIZE, &size);
		else if (strcmp(a, "--help") == 0) {
			usage(stdout);
			rc = -1;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, PROG ": %s: unknown option (see --help)\n", a);
			rc = 2;
		} else if (p->host != NULL) {
			fprintf(stderr, PROG ": %s: one host at a time\n", a);
			rc = 2;
		} else if (a[0] == '\0') {
			fprintf(stderr, PROG ": empty host name\n");
			rc = 2;
		} else
			p->host = a;
	}
	if (rc == 0 && p->host == NULL) {
		fprintf(stderr, PROG ": which host? (see --help)\n");
		rc = 2;
	}
	p->size = (size_t)size;
	return rc;
}

/* ---- main ------------------------------------------------------------------------ */

/* Everything after the options: socket, loop, watchers.  Returns 0, or an
 * exit status after a message. */
static int
start(struct ping *p, const char *backend)
{
	int rc;

	p->loop = sio_loop_new(backend);
	if (p->loop == NULL) {
		int e = errno;
		fprintf(stderr, PROG ": --backend=%s: %s\n", backend ? backend : "auto",
		        e == EINVAL ? "unknown backend" : strerror(e));
		return e == EINVAL ? 2 : 1;
	}
	if ((rc = resolve(p)) != 0 || (rc = open_socket(p)) != 0)
		return rc;
	set_socket_options(p);
	p->ident = (uint16_t)(getpid() & 0xffff);
	p->req = calloc(NSEQ, sizeof *p->req);
	p->out = malloc(ICMP_HDR + MAX_SIZE);
	p->in = malloc(PACKET_MAX);
	if (p->req == NULL || p->out == NULL || p->in == NULL) {
		perror(PROG ": malloc");
		return 1;
	}
	for (size_t i = 0; i < NSEQ; i++)
		p->req[i].p = p;
	p->io = sio_io_start(p->loop, p->fd, SIO_READ, on_readable, p);
	p->sigint = sio_signal_start(p->loop, SIGINT, on_sigint, p);
	if (p->io == NULL || p->sigint == NULL) {
		perror(PROG ": sio_io_start/sio_signal_start");
		return 1;
	}
	printf("ICMP-ECHO %s (%s): %zu data bytes, %s socket, backend %s\n", p->host,
	       p->dst_text, p->size, p->dgram ? "datagram" : "raw",
	       sio_loop_backend(p->loop));
	fflush(stdout);
	send_request(p);
	if (!p->done && (p->count == 0 || p->sent < p->count)) {
		p->interval = sio_timer_start(p->loop, p->interval_ms, p->interval_ms,
		                              on_interval, p);
		if (p->interval == NULL) {
			perror(PROG ": sio_timer_start");
			return 1;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct ping p;
	const char *backend = NULL;
	int rc;

	memset(&p, 0, sizeof p);
	p.fd = -1;
	rc = parse_options(&p, argc, argv, &backend);
	if (rc < 0)                     /* --help */
		return 0;
	if (rc == 0)
		rc = start(&p, backend);
	if (rc == 0) {
		if (sio_loop_run(p.loop, SIO_RUN_DEFAULT) < 0) {
			fprintf(stderr, PROG ": sio_loop_run: %s\n", strerror(errno));
			rc = 1;
		}
		finish(&p);
		print_summary(&p);
		if (rc == 0 && p.received == 0)
			rc = 1;
	} else if (p.req != NULL)
		finish(&p);
	sio_loop_free(p.loop);
	if (p.fd >= 0)
		close(p.fd);
	free(p.req);
	free(p.out);
	free(p.in);
	return rc;
}
