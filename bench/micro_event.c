/*
 * micro_event - the loop's cost per dispatched event as idle watched fds
 * grow, for each backend, side by side in one run.
 *
 * A token circles through a ring of ACTIVE socketpairs: each callback reads
 * the byte from its fd and writes one into the next pair, so exactly one
 * fd is ready at a time and every event is one callback.  Around the ring,
 * IDLE fds (both ends of idle socketpairs) are watched and never ready.
 * What the table shows is the cost of learning which fd is ready: rtsig's
 * stays flat (the kernel names the fd), sigio's and poll's grow with the
 * idle fds (a rescan, a pollfd array).  Not a test: nothing is asserted.
 *
 * Usage: micro_event [--backends=a,b,..] [--fds=10,1000,10000] [--ms=300]
 *                    [--rounds=3] [--active=4] [--tokens=1]
 * With --tokens=N, N bytes circle at once, so that one iteration of the
 * loop dispatches up to N events (how rtsig's batch drain is measured).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sigio.h"

#define MAXACTIVE 1024

static int active = 4;   /* pairs in the ring */
static int tokens = 1;   /* bytes circling in it at once */

struct ring;
struct member {
	struct ring *ring;
	int index;
};

struct ring {
	int sv[MAXACTIVE][2];
	struct member member[MAXACTIVE];
	unsigned long events;
	unsigned long target;
	sio_loop *loop;
};

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
on_token(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct member *m = arg;
	struct ring *r = m->ring;
	int i = m->index;
	char c;
	if (read(fd, &c, 1) != 1)
		return;                 /* spurious: nothing to pass on */
	r->events++;
	if (r->events >= r->target) {
		sio_loop_stop(r->loop);
		return;
	}
	if (write(r->sv[(i + 1) % active][1], &c, 1) != 1)
		sio_loop_stop(r->loop);
}

static void
on_idle(sio_io *io, int fd, unsigned revents, void *arg)
{
	(void)io; (void)fd; (void)revents; (void)arg;
}

/* ns of wall time and of CPU time per event, for one configuration. */
static int
measure(const char *backend, int idle, int ms, double *wall_ns, double *cpu_ns)
{
	static struct ring r;
	memset(&r, 0, sizeof r);
	int (*idle_sv)[2] = calloc((size_t)idle / 2 + 1, sizeof *idle_sv);
	int rc = -1, npairs = idle / 2;
	r.loop = sio_loop_new(backend);
	if (r.loop == NULL || idle_sv == NULL)
		goto out_free;
	for (int i = 0; i < npairs; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		               0, idle_sv[i]) < 0)
			goto out;
		for (int e = 0; e < 2; e++)
			if (!sio_io_start(r.loop, idle_sv[i][e], SIO_READ, on_idle, NULL))
				goto out;
	}
	for (int i = 0; i < active; i++) {
		r.member[i] = (struct member){ &r, i };
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		               0, r.sv[i]) < 0 ||
		    !sio_io_start(r.loop, r.sv[i][0], SIO_READ, on_token,
		                  &r.member[i]))
			goto out;
	}
	sio_loop_run(r.loop, SIO_RUN_NOWAIT);  /* start-up checks out of the way */

	/* Calibrate a count that takes about `ms`, then time it. */
	unsigned long batch = 1000;
	double t0, c0, t1, c1;
	for (;;) {
		r.events = 0;
		r.target = batch;
		t0 = now_s();
		c0 = cpu_s();
		for (int t = 0; t < tokens; t++)
			if (write(r.sv[t * active / tokens][1], "t", 1) != 1)
				goto out;
		if (sio_loop_run(r.loop, SIO_RUN_DEFAULT) < 0)
			goto out;
		t1 = now_s();
		c1 = cpu_s();
		for (int i = 0; i < active; i++) {      /* collect the tokens */
			char buf[64];
			while (read(r.sv[i][0], buf, sizeof buf) > 0)
				;
		}
		sio_loop_run(r.loop, SIO_RUN_NOWAIT);
		if (t1 - t0 >= ms / 1000.0 || batch >= 50000000)
			break;
		double per = (t1 - t0) / (double)batch;
		unsigned long want = (unsigned long)(ms / 1000.0 / (per > 0 ? per : 1e-7));
		batch = want > batch * 2 ? want : batch * 2;
	}
	*wall_ns = (t1 - t0) * 1e9 / (double)r.events;
	*cpu_ns = (c1 - c0) * 1e9 / (double)r.events;
	rc = 0;
out:
	sio_loop_free(r.loop);
	for (int i = 0; i < active; i++)
		if (r.sv[i][0] > 0) {
			close(r.sv[i][0]);
			close(r.sv[i][1]);
		}
	for (int i = 0; i < npairs; i++)
		if (idle_sv[i][0] > 0) {
			close(idle_sv[i][0]);
			close(idle_sv[i][1]);
		}
out_free:
	free(idle_sv);
	return rc;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int
split(char *s, char **out, int max)
{
	int n = 0;
	for (char *t = strtok(s, ","); t && n < max; t = strtok(NULL, ","))
		out[n++] = t;
	return n;
}

int
main(int argc, char **argv)
{
	char bdef[64] = "rtsig,sigio,poll", fdef[64] = "10,1000,10000";
	char *bnames[8], *fnames[8];
	int ms = 300, rounds = 3;
	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--backends=", 11))
			snprintf(bdef, sizeof bdef, "%s", argv[i] + 11);
		else if (!strncmp(argv[i], "--fds=", 6))
			snprintf(fdef, sizeof fdef, "%s", argv[i] + 6);
		else if (!strncmp(argv[i], "--ms=", 5))
			ms = atoi(argv[i] + 5);
		else if (!strncmp(argv[i], "--active=", 9))
			active = atoi(argv[i] + 9);
		else if (!strncmp(argv[i], "--tokens=", 9))
			tokens = atoi(argv[i] + 9);
		else if (!strncmp(argv[i], "--rounds=", 9))
			rounds = atoi(argv[i] + 9);
		else {
			fprintf(stderr, "usage: micro_event [--backends=a,b] [--fds=n,m] "
			        "[--ms=N] [--rounds=N] [--active=N] [--tokens=N]\n");
			return 2;
		}
	}
	if (ms <= 0 || rounds <= 0 || rounds > 15 || active < 1 ||
	    active > MAXACTIVE || tokens < 1 || tokens > active) {
		fprintf(stderr, "micro_event: --ms > 0, --rounds 1..15, --active "
		        "1..%d, --tokens 1..active\n", MAXACTIVE);
		return 2;
	}
	int nb = split(bdef, bnames, 8), nf = split(fdef, fnames, 8);
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);

	double wall[8][8][15], cpu[8][8][15];
	/* Interleaved: every configuration once per round, so drift hits all. */
	for (int k = 0; k < rounds; k++)
		for (int f = 0; f < nf; f++)
			for (int b = 0; b < nb; b++)
				if (measure(bnames[b], atoi(fnames[f]), ms, &wall[b][f][k],
				            &cpu[b][f][k]) < 0) {
					fprintf(stderr, "micro_event: %s with %s fds: %s\n",
					        bnames[b], fnames[f], strerror(errno));
					return 1;
				}
	printf("# loop cost per dispatched event: %d token(s) circling through %d "
	       "socketpairs, median of %d rounds\n", tokens, active, rounds);
	printf("%-8s %10s %14s %14s %10s\n", "backend", "idle fds", "wall ns/event",
	       "cpu ns/event", "vs first");
	for (int b = 0; b < nb; b++) {
		double first = 0;
		for (int f = 0; f < nf; f++) {
			qsort(wall[b][f], (size_t)rounds, sizeof(double), cmp_double);
			qsort(cpu[b][f], (size_t)rounds, sizeof(double), cmp_double);
			double w = wall[b][f][rounds / 2], c = cpu[b][f][rounds / 2];
			if (f == 0)
				first = c;
			printf("%-8s %10s %14.0f %14.0f %9.2fx\n", bnames[b], fnames[f],
			       w, c, c / first);
		}
	}
	return 0;
}
