/*
 * connect_sigio - the time for N concurrent sio_connect_start() calls to
 * 127.0.0.1 to complete (see connect_common.h), without and with a
 * connect timeout (a timer per connector).  The figure set against
 * bench/connect_libuv.  Not a test: nothing is asserted.
 */
#include "config.h"

#include <errno.h>

#include "connect_common.h"
#include "sigio.h"

struct round {
	int done, failed;
	int *fds;
};

static void
on_connect(sio_connector *c, int fd, int err, void *arg)
{
	(void)c;
	struct round *r = arg;
	if (err != 0)
		r->failed++;
	else
		r->fds[r->done - r->failed] = fd;
	r->done++;
}

static double
one_round(sio_loop *loop, int conns, int timeout_ms)
{
	unsigned short port;
	char svc[8];
	int lfd = bench_listener(conns, &port);
	struct round r = { 0, 0, calloc((size_t)conns, sizeof(int)) };
	snprintf(svc, sizeof svc, "%u", (unsigned)port);
	double t0 = bench_now_ms();
	for (int i = 0; i < conns; i++)
		if (sio_connect_start(loop, "127.0.0.1", svc, timeout_ms, on_connect, &r) == NULL) {
			perror("sio_connect_start");
			exit(1);
		}
	sio_loop_run(loop, SIO_RUN_DEFAULT);
	double ms = bench_now_ms() - t0;
	if (r.failed > 0)
		fprintf(stderr, "connect_sigio: %d of %d failed\n", r.failed, conns);
	for (int i = 0; i < r.done - r.failed; i++)
		close(r.fds[i]);
	free(r.fds);
	close(lfd);
	return ms;
}

int
main(int argc, char **argv)
{
	struct bench_args a;
	double ms[BENCH_MAX_ROUNDS];
	char what[64];
	bench_parse(argc, argv, &a);
	sio_loop *loop = sio_loop_new(a.backend);
	if (loop == NULL && errno == ENOSYS) {
		printf("# sigio %s: not in this build\n", a.backend);
		return 0;
	}
	if (loop == NULL) {
		perror("sio_loop_new");
		return 1;
	}
	int timeouts[2] = { -1, 10000 };
	for (int k = 0; k < 2; k++) {
		for (int i = 0; i < a.rounds; i++)
			ms[i] = one_round(loop, a.conns, timeouts[k]);
		snprintf(what, sizeof what, "sigio %s%s", sio_loop_backend(loop),
		         k ? " +timeout" : "");
		bench_report(what, a.conns, ms, a.rounds);
	}
	sio_loop_free(loop);
	return 0;
}
