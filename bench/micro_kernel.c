/*
 * micro_kernel - what the kernel charges for telling a program which socket
 * is ready, without any event loop: the floor under each backend.
 *
 * One thread, BATCH socketpairs made ready at once (a byte written into
 * each), then learned about and read, ROUNDS times.  The ways to learn:
 *   none     the program knows which fds (the I/O alone: the baseline)
 *   epoll    level-triggered epoll_wait() (what libev and libevent use)
 *   poll     one poll() of the BATCH fds
 *   rtsig    F_SETSIG real-time signals (si_fd), blocked, read from a
 *            signalfd in one read() (the rtsig backend's drain)
 *   sigio    plain SIGIO, blocked, read from a signalfd, then a poll() of
 *            the BATCH fds (the sigio backend's rescan)
 * For the signal-driven ways the write itself costs more: the kernel
 * queues a signal for each byte that arrives.  The table gives ns per
 * event above "none", so the columns compare the notification alone.
 * Not a test: nothing is asserted.  Linux only (F_SETSIG, signalfd).
 *
 * Usage: micro_kernel [--batch=1,16,64] [--rounds=200000]
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAXBATCH 256

enum way { NONE, EPOLL, POLL, RTSIG, SIGIO_RESCAN, NWAYS };
static const char *const way_name[NWAYS] = { "none", "epoll", "poll", "rtsig",
                                             "sigio" };

struct bench {
	int batch;
	int rd[MAXBATCH], wr[MAXBATCH];
	struct pollfd pfd[MAXBATCH];
	int ep, sfd, rtsig;
};

static void
die(const char *what)
{
	fprintf(stderr, "micro_kernel: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Route the readiness signals of the read ends: `signo` 0 for plain SIGIO,
 * -1 for none (O_ASYNC off). */
static void
route_signals(struct bench *b, int signo)
{
	struct f_owner_ex owner = { F_OWNER_TID, (pid_t)syscall(SYS_gettid) };
	for (int i = 0; i < b->batch; i++) {
		int fl = fcntl(b->rd[i], F_GETFL);
		if (signo < 0) {
			if (fcntl(b->rd[i], F_SETFL, fl & ~O_ASYNC) < 0)
				die("F_SETFL");
			continue;
		}
		if (fcntl(b->rd[i], F_SETOWN_EX, &owner) < 0 ||
		    fcntl(b->rd[i], F_SETSIG, signo) < 0 ||
		    fcntl(b->rd[i], F_SETFL, fl | O_ASYNC) < 0)
			die("arming for signals");
	}
}

static void
setup(struct bench *b, int batch)
{
	b->batch = batch;
	b->ep = epoll_create1(EPOLL_CLOEXEC);
	if (b->ep < 0)
		die("epoll_create1");
	for (int i = 0; i < batch; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		               0, sv) < 0)
			die("socketpair");
		b->rd[i] = sv[0];
		b->wr[i] = sv[1];
		b->pfd[i] = (struct pollfd){ .fd = sv[0], .events = POLLIN };
	}
	b->rtsig = SIGRTMAX - 1;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, b->rtsig);
	sigaddset(&set, SIGIO);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		die("sigprocmask");
	b->sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (b->sfd < 0)
		die("signalfd");
}

static void
teardown(struct bench *b)
{
	for (int i = 0; i < b->batch; i++) {
		close(b->rd[i]);
		close(b->wr[i]);
	}
	close(b->ep);
	close(b->sfd);
}

/* Every read end's byte, read. */
static void
read_all(struct bench *b)
{
	char c;
	for (int i = 0; i < b->batch; i++)
		if (read(b->rd[i], &c, 1) != 1)
			die("read");
}

static void
write_all(struct bench *b)
{
	for (int i = 0; i < b->batch; i++)
		if (write(b->wr[i], "x", 1) != 1)
			die("write");
}

/* Learn, the way `w` does, that the batch is ready. */
static void
learn(struct bench *b, enum way w)
{
	static struct epoll_event ev[MAXBATCH];
	static struct signalfd_siginfo si[MAXBATCH];
	int got = 0;
	switch (w) {
	case NONE:
		return;
	case EPOLL:
		while (got < b->batch) {
			int n = epoll_wait(b->ep, ev, MAXBATCH, 0);
			if (n < 0 && errno != EINTR)
				die("epoll_wait");
			got += n > 0 ? n : 0;
		}
		return;
	case POLL:
		if (poll(b->pfd, (nfds_t)b->batch, 0) != b->batch)
			die("poll");
		return;
	case RTSIG:
		while (got < b->batch) {
			ssize_t n = read(b->sfd, si, sizeof si);
			if (n < 0 && errno != EAGAIN)
				die("read signalfd");
			got += n > 0 ? (int)(n / (ssize_t)sizeof si[0]) : 0;
		}
		return;
	case SIGIO_RESCAN:
		if (read(b->sfd, si, sizeof si) < 0)
			die("read signalfd (SIGIO)");
		if (poll(b->pfd, (nfds_t)b->batch, 0) != b->batch)
			die("poll");
		return;
	default:
		return;
	}
}

/* ns per event for way `w`. */
static double
run(struct bench *b, enum way w, int rounds)
{
	struct epoll_event ev = { .events = EPOLLIN };
	if (w == EPOLL)
		for (int i = 0; i < b->batch; i++) {
			ev.data.fd = b->rd[i];
			if (epoll_ctl(b->ep, EPOLL_CTL_ADD, b->rd[i], &ev) < 0)
				die("epoll_ctl");
		}
	if (w == RTSIG || w == SIGIO_RESCAN)
		route_signals(b, w == RTSIG ? b->rtsig : 0);
	uint64_t t0 = now_ns();
	for (int r = 0; r < rounds; r++) {
		write_all(b);
		learn(b, w);
		read_all(b);
	}
	uint64_t dt = now_ns() - t0;
	if (w == EPOLL)
		for (int i = 0; i < b->batch; i++)
			(void)epoll_ctl(b->ep, EPOLL_CTL_DEL, b->rd[i], NULL);
	if (w == RTSIG || w == SIGIO_RESCAN) {
		route_signals(b, -1);
		struct signalfd_siginfo si[16];
		while (read(b->sfd, si, sizeof si) > 0)
			;
	}
	return (double)dt / ((double)rounds * b->batch);
}

int
main(int argc, char **argv)
{
	char batches[128] = "1,16,64";
	int rounds = 200000;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--batch=", 8) == 0)
			snprintf(batches, sizeof batches, "%s", argv[i] + 8);
		else if (strncmp(argv[i], "--rounds=", 9) == 0)
			rounds = atoi(argv[i] + 9);
		else {
			fprintf(stderr, "usage: micro_kernel [--batch=1,16,64] "
			        "[--rounds=N]\n");
			return 2;
		}
	}
	printf("# micro_kernel: ns per event, one thread, median of 5; "
	       "\"+x\" is above \"none\" (the I/O alone)\n");
	printf("%-6s", "batch");
	for (int w = 0; w < NWAYS; w++)
		printf(" %14s", way_name[w]);
	printf("\n");
	for (char *tok = strtok(batches, ","); tok != NULL; tok = strtok(NULL, ",")) {
		int batch = atoi(tok);
		if (batch < 1 || batch > MAXBATCH) {
			fprintf(stderr, "micro_kernel: batch %s: 1 to %d\n", tok,
			        MAXBATCH);
			return 2;
		}
		struct bench b;
		setup(&b, batch);
		int n = rounds / batch > 1000 ? rounds / batch : 1000;
		double v[NWAYS][5], med[NWAYS];
		for (int k = 0; k < 5; k++)             /* interleaved rounds */
			for (int w = 0; w < NWAYS; w++)
				v[w][k] = run(&b, (enum way)w, n);
		for (int w = 0; w < NWAYS; w++) {
			for (int i = 1; i < 5; i++)       /* sort 5 */
				for (int j = i; j > 0 && v[w][j] < v[w][j - 1]; j--) {
					double t = v[w][j];
					v[w][j] = v[w][j - 1];
					v[w][j - 1] = t;
				}
			med[w] = v[w][2];
		}
		printf("%-6d", batch);
		for (int w = 0; w < NWAYS; w++)
			if (w == NONE)
				printf(" %14.0f", med[w]);
			else
				printf(" %8.0f (+%3.0f)", med[w], med[w] - med[NONE]);
		printf("\n");
		teardown(&b);
	}
	return 0;
}
