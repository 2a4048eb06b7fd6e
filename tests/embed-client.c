/*
 * embed-client - N connections to an echo server on 127.0.0.1:PORT, each
 * sending BYTES and reading its echo back, every byte compared, all at
 * once from one thread (nonblocking sockets and poll()).  For
 * tests/glib-embed.sh; it needs nothing of sigio.
 *
 * Usage: embed-client PORT [CONNECTIONS [BYTES]]   (100, 1 MiB)
 * Prints "connections=N bytes_verified=B" and exits 0, or says what went
 * wrong on stderr and exits 1 (a mismatch, an early EOF, an error, no
 * progress for 20 s).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
	int fd;
	size_t sent, got;
};

/* The content: a function of the connection and the offset, so that a
 * byte lost, repeated or from another connection is a mismatch. */
static unsigned char
byte_at(size_t c, size_t off)
{
	return (unsigned char)((off * 131u + c * 7u + (off >> 12)) & 0xff);
}

static int
conn_open(unsigned short port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int rc;
	while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof sa)) < 0 &&
	       errno == EINTR)
		;
	if (rc < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One step of connection `c`: write what poll allows, read what came. */
static int
conn_step(struct conn *k, size_t c, short revents, size_t total)
{
	unsigned char buf[65536];
	if ((revents & POLLOUT) && k->sent < total) {
		size_t n = total - k->sent < sizeof buf ? total - k->sent : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = byte_at(c, k->sent + i);
		ssize_t w = send(k->fd, buf, n, MSG_NOSIGNAL);
		if (w < 0 && errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "embed-client: conn %zu: send: %s\n", c,
			        strerror(errno));
			return -1;
		}
		if (w > 0)
			k->sent += (size_t)w;
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		ssize_t r = recv(k->fd, buf, sizeof buf, 0);
		if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
			fprintf(stderr, "embed-client: conn %zu: %s after %zu of %zu "
			        "bytes\n", c, r == 0 ? "EOF" : strerror(errno),
			        k->got, total);
			return -1;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != byte_at(c, k->got + (size_t)i)) {
				fprintf(stderr, "embed-client: conn %zu: byte %zu "
				        "differs\n", c, k->got + (size_t)i);
				return -1;
			}
		if (r > 0)
			k->got += (size_t)r;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		return fprintf(stderr, "usage: embed-client PORT [CONNS [BYTES]]\n"), 2;
	unsigned short port = (unsigned short)atoi(argv[1]);
	size_t n = argc > 2 ? (size_t)atol(argv[2]) : 100;
	size_t total = argc > 3 ? (size_t)atol(argv[3]) : 1048576;
	struct conn *k = calloc(n, sizeof *k);
	struct pollfd *p = calloc(n, sizeof *p);
	if (k == NULL || p == NULL)
		return perror("embed-client"), 1;
	for (size_t c = 0; c < n; c++)
		if ((k[c].fd = conn_open(port)) < 0)
			return perror("embed-client: connect"), 1;
	unsigned long long verified = 0;
	for (size_t done = 0; done < n;) {
		for (size_t c = 0; c < n; c++) {
			p[c].fd = k[c].got < total ? k[c].fd : -1;
			p[c].events = (short)(POLLIN | (k[c].sent < total ? POLLOUT : 0));
		}
		int m = poll(p, (nfds_t)n, 20000);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0) {
			fprintf(stderr, "embed-client: %s\n", m == 0 ?
			        "no progress for 20 s" : strerror(errno));
			return 1;
		}
		for (size_t c = 0; c < n; c++) {
			if (p[c].fd < 0 || p[c].revents == 0)
				continue;
			if (conn_step(&k[c], c, p[c].revents, total) < 0)
				return 1;
			if (k[c].got == total) {
				verified += total;
				close(k[c].fd);
				done++;
			}
		}
	}
	printf("connections=%zu bytes_verified=%llu\n", n, verified);
	free(k);
	free(p);
	return 0;
}
