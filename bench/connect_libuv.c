/*
 * connect_libuv - the time for N concurrent uv_tcp_connect() calls to
 * 127.0.0.1 to complete (see connect_common.h): libuv's side of the
 * figure of bench/connect_sigio.  libuv connects to an address it is
 * given (no lookup, no timeout, no racing), so this is its best case.
 * Written against libuv's documented API only.  Not a test.
 */
#include "config.h"

#include <uv.h>

#include "connect_common.h"

struct conn {
	uv_tcp_t tcp;
	uv_connect_t req;
};

struct round {
	int done, failed, closed;
};

static void
on_close(uv_handle_t *h)
{
	struct round *r = h->loop->data;
	r->closed++;
}

static void
on_connect(uv_connect_t *req, int status)
{
	struct round *r = req->handle->loop->data;
	if (status != 0)
		r->failed++;
	r->done++;
}

static double
one_round(uv_loop_t *loop, int conns)
{
	unsigned short port;
	int lfd = bench_listener(conns, &port);
	struct sockaddr_in sin;
	struct round r = { 0, 0, 0 };
	struct conn *c = calloc((size_t)conns, sizeof *c);
	uv_ip4_addr("127.0.0.1", port, &sin);
	loop->data = &r;
	double t0 = bench_now_ms();
	for (int i = 0; i < conns; i++) {
		uv_tcp_init(loop, &c[i].tcp);
		if (uv_tcp_connect(&c[i].req, &c[i].tcp, (struct sockaddr *)&sin,
		                   on_connect) != 0) {
			fprintf(stderr, "uv_tcp_connect failed\n");
			exit(1);
		}
	}
	uv_run(loop, UV_RUN_DEFAULT);
	double ms = bench_now_ms() - t0;
	if (r.failed > 0)
		fprintf(stderr, "connect_libuv: %d of %d failed\n", r.failed, conns);
	for (int i = 0; i < conns; i++)
		uv_close((uv_handle_t *)&c[i].tcp, on_close);
	uv_run(loop, UV_RUN_DEFAULT);
	free(c);
	close(lfd);
	return ms;
}

int
main(int argc, char **argv)
{
	struct bench_args a;
	double ms[BENCH_MAX_ROUNDS];
	bench_parse(argc, argv, &a);
	uv_loop_t *loop = uv_default_loop();
	for (int i = 0; i < a.rounds; i++)
		ms[i] = one_round(loop, a.conns);
	bench_report("libuv uv_tcp_connect", a.conns, ms, a.rounds);
	uv_loop_close(loop);
	return 0;
}
