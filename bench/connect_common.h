/*
 * connect_common.h - what bench/connect_sigio.c and bench/connect_libuv.c
 * share, so that both measure the same thing: N concurrent connects to a
 * listener on 127.0.0.1 that nobody accepts (its backlog holds them all:
 * the time is the clients' and the kernel's handshakes), R rounds, each
 * with a new listener, the median and the best printed.
 *
 * Usage: connect_X [--conns=N] [--rounds=R] [--backend=NAME (sigio)]
 */
#ifndef BENCH_CONNECT_COMMON_H
#define BENCH_CONNECT_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_ROUNDS 100

struct bench_args {
	int conns, rounds;
	const char *backend;
};

static void
bench_parse(int argc, char **argv, struct bench_args *a)
{
	a->conns = 1000;
	a->rounds = 20;
	a->backend = NULL;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--conns=", 8) == 0)
			a->conns = atoi(argv[i] + 8);
		else if (strncmp(argv[i], "--rounds=", 9) == 0)
			a->rounds = atoi(argv[i] + 9);
		else if (strncmp(argv[i], "--backend=", 10) == 0)
			a->backend = argv[i] + 10;
		else {
			fprintf(stderr, "usage: %s [--conns=N] [--rounds=R] [--backend=NAME]\n",
			        argv[0]);
			exit(2);
		}
	}
	if (a->conns < 1 || a->rounds < 1 || a->rounds > BENCH_MAX_ROUNDS) {
		fprintf(stderr, "%s: --conns >= 1, --rounds 1 to %d\n", argv[0],
		        BENCH_MAX_ROUNDS);
		exit(2);
	}
	/* Each connection is two fds (ours and the queued one). */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static double
bench_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A listener on 127.0.0.1:0 whose backlog holds `conns`; its port. */
static int
bench_listener(int conns, unsigned short *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof sin;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
	    listen(fd, conns) < 0 || getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("listener");
		exit(1);
	}
	*port = ntohs(sin.sin_port);
	return fd;
}

static int
bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void
bench_report(const char *what, int conns, double *ms, int rounds)
{
	qsort(ms, (size_t)rounds, sizeof *ms, bench_cmp);
	printf("%-28s %d connects: median %.2f ms, best %.2f ms (%d rounds)\n",
	       what, conns, ms[rounds / 2], ms[0], rounds);
}

#endif /* BENCH_CONNECT_COMMON_H */
