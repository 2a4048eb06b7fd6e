/*
 * spawn_libuv.c - the same as spawn_sigio.c through libuv's uv_spawn():
 * N children (/bin/true by default), stdio on /dev/null (UV_IGNORE), all
 * started, then uv_run() until every one's exit callback ran.
 *
 *   spawn_libuv [N] [PROGRAM]     prints "libuv N children: S s"
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <uv.h>

static int done, failed;

static void
on_close(uv_handle_t *h)
{
	free(h);
}

static void
on_exit_cb(uv_process_t *p, int64_t status, int signo)
{
	done++;
	if (status != 0 || signo != 0)
		failed++;
	uv_close((uv_handle_t *)p, on_close);
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	char *prog = argc > 2 ? argv[2] : "/bin/true";
	char *args[] = { prog, NULL };
	uv_stdio_container_t stdio[3] = { { .flags = UV_IGNORE },
	                                  { .flags = UV_IGNORE },
	                                  { .flags = UV_IGNORE } };
	uv_process_options_t o = { .exit_cb = on_exit_cb, .file = prog,
	                           .args = args, .stdio_count = 3,
	                           .stdio = stdio };
	struct timespec t0, t1;
	uv_loop_t *loop = uv_default_loop();

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++) {
		uv_process_t *p = malloc(sizeof *p);
		int rc = p == NULL ? UV_ENOMEM : uv_spawn(loop, p, &o);
		if (rc != 0) {
			fprintf(stderr, "uv_spawn %d: %s\n", i, uv_strerror(rc));
			return 1;
		}
	}
	uv_run(loop, UV_RUN_DEFAULT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("libuv %d children: %.3f s (%d failed)\n", done,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       failed);
	uv_loop_close(loop);
	return done == n && failed == 0 ? 0 : 1;
}
