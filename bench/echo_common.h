/*
 * echo_common.h - what every echo server of the benchmark shares, so that
 * they differ only in the event loop: the buffer size, the listening socket
 * (127.0.0.1, backlog SOMAXCONN, nonblocking), the accept strategy (accept4
 * until EAGAIN each time the listener is readable, TCP_NODELAY on every
 * connection) and the command line (--port=N, 0 for any; the server prints
 * "port=N" on stdout once it listens; --buf=N reads at most N bytes).
 *
 * The echo itself is the same everywhere and written out in each server:
 * read up to ECHO_BUF bytes, write them back; only when that write comes up
 * short, stop reading and watch for writability until the rest is out.
 */
#ifndef ECHO_COMMON_H
#define ECHO_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define ECHO_BUF 65536           /* read buffer of one connection */

/* Bytes one read asks for: ECHO_BUF, or less with --buf=N (to show what a
 * small buffer costs a loop: more reads, more iterations per message). */
static size_t echo_buf = ECHO_BUF;

/* --port=N from the command line (0 if absent) and --buf=N; other
 * arguments starting with `extra` are left to the caller, anything else is
 * a usage error. */
static inline int
echo_port(int argc, char **argv, const char *extra, const char *usage)
{
	int port = 0;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--port=", 7) == 0) {
			port = atoi(argv[i] + 7);
		} else if (strncmp(argv[i], "--buf=", 6) == 0) {
			long b = atol(argv[i] + 6);
			if (b < 1 || b > ECHO_BUF) {
				fprintf(stderr, "--buf: 1 to %d\n", ECHO_BUF);
				exit(2);
			}
			echo_buf = (size_t)b;
		} else if (extra == NULL || strncmp(argv[i], extra, strlen(extra)) != 0) {
			fprintf(stderr, "usage: %s\n", usage);
			exit(2);
		}
	}
	return port;
}

/* A nonblocking listener on 127.0.0.1:port; prints "port=N".  Exits on
 * failure: these are benchmark programs. */
static inline int
echo_listen(int port)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET,
	                          .sin_port = htons((uint16_t)port),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(fd, SOMAXCONN) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		perror("echo: listen");
		exit(1);
	}
	printf("port=%d\n", ntohs(sa.sin_port));
	fflush(stdout);
	return fd;
}

/* One pending connection, nonblocking with TCP_NODELAY, or -1 when there
 * is none left (EAGAIN) or accept failed. */
static inline int
echo_accept(int lfd)
{
	int fd;
	do
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	return fd;
}

/* What a connection waits for after echo_step(). */
enum echo_next { ECHO_SAME, ECHO_WANT_READ, ECHO_WANT_WRITE, ECHO_CLOSE };

/* One readiness call's work, the same in every server so that they differ
 * only in their loop: finish a short write of buf[*off..*len), or read and
 * write straight back, keeping what the socket did not take. */
static inline enum echo_next
echo_step(int fd, char *buf, size_t *off, size_t *len)
{
	if (*len > *off) {                      /* finishing a short write */
		ssize_t w = write(fd, buf + *off, *len - *off);
		if (w < 0)
			return errno == EAGAIN ? ECHO_SAME : ECHO_CLOSE;
		*off += (size_t)w;
		return *off == *len ? ECHO_WANT_READ : ECHO_SAME;
	}
	ssize_t n = read(fd, buf, echo_buf);
	if (n <= 0)
		return n == 0 || (errno != EAGAIN && errno != EINTR) ? ECHO_CLOSE : ECHO_SAME;
	ssize_t w = write(fd, buf, (size_t)n);
	if (w < 0 && errno != EAGAIN)
		return ECHO_CLOSE;
	if (w == n)
		return ECHO_SAME;
	*off = w < 0 ? 0 : (size_t)w;
	*len = (size_t)n;
	return ECHO_WANT_WRITE;
}

#endif /* ECHO_COMMON_H */
