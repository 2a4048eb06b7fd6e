/*
 * spawn_sigio.c - time to spawn and reap N children (/bin/true by
 * default) through sio_spawn(): all started, then the loop runs until
 * every one was reported.  Compare with bench/spawn_libuv.c.
 *
 *   spawn_sigio [N] [PROGRAM]     prints "sigio-BACKEND N children: S s"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/wait.h>
#include <time.h>

#include <sigio.h>

static int done, failed;

static void
on_exit_status(sio_child *c, pid_t pid, int status, void *arg)
{
	done++;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		failed++;
	sio_child_stop(c);
}

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 1000;
	const char *prog = argc > 2 ? argv[2] : "/bin/true";
	struct sio_spawn_opts o = { .file = prog, .stdio = { SIO_STDIO_NULL,
	                            SIO_STDIO_NULL, SIO_STDIO_NULL } };
	struct timespec t0, tm, t1;
	sio_loop *loop = sio_loop_new(NULL);

	if (loop == NULL)
		return perror("sio_loop_new"), 1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		if (sio_spawn(loop, &o, NULL, on_exit_status, NULL) == NULL) {
			fprintf(stderr, "sio_spawn %d: %s\n", i, strerror(errno));
			return 1;
		}
	clock_gettime(CLOCK_MONOTONIC, &tm);
	sio_loop_run(loop, SIO_RUN_DEFAULT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct sio_stats st;
	sio_loop_stats(loop, &st);
	printf("sigio-%s %d children: %.3f s (spawning %.3f s; %llu "
	       "iterations; %d failed)\n", sio_loop_backend(loop), done,
	       (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (double)(tm.tv_sec - t0.tv_sec) + (tm.tv_nsec - t0.tv_nsec) / 1e9,
	       (unsigned long long)st.iterations, failed);
	sio_loop_free(loop);
	return done == n && failed == 0 ? 0 : 1;
}
