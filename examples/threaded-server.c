/*
 * threaded-server.c - one loop per thread: N threads each run their own
 * loop with their own listener on one shared port (SO_REUSEPORT), so the
 * kernel spreads connections over them.  On rtsig and sigio each fd's
 * signals go to its own loop's thread; nothing to do with signal masks.
 *
 *     $ ./examples/threaded-server 127.0.0.1 7000 4
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sigio.h>

struct worker {
	pthread_t thread;
	sio_loop *loop;
	sio_listener *listener;
	int id;
};

static void
on_data(sio_stream *s, const void *data, size_t len, void *arg)
{
	sio_stream_write(s, data, len);
}

static void
on_accept(sio_listener *l, int fd, const struct sockaddr *peer, socklen_t peerlen,
          void *arg)
{
	struct worker *w = arg;

	if (sio_stream_new(w->loop, fd, on_data, NULL, NULL) == NULL)
		close(fd);
}

static void *
run(void *arg)
{
	struct worker *w = arg;

	sio_loop_run(w->loop, SIO_RUN_DEFAULT);   /* until killed */
	return NULL;
}

int
main(int argc, char **argv)
{
	int n = argc == 4 ? atoi(argv[3]) : 0;
	struct worker *w;
	const char *port = argc == 4 ? argv[2] : NULL;
	char addr[128], *colon;

	if (n < 1 || n > 64) {
		fprintf(stderr, "usage: threaded-server HOST PORT THREADS(1-64)\n");
		return 2;
	}
	w = calloc((size_t)n, sizeof *w);
	for (int i = 0; w != NULL && i < n; i++) {
		w[i].id = i;
		/* Loops are made here, each run by its own thread below: a loop
		 * belongs to the thread that runs it. */
		w[i].loop = sio_loop_new(NULL);
		if (w[i].loop == NULL)
			return perror("sio_loop_new"), 1;
		w[i].listener = sio_listen_tcp(w[i].loop, argv[1], port,
		                               SIO_LISTEN_REUSEPORT, on_accept, &w[i]);
		if (w[i].listener == NULL)
			return perror("sio_listen_tcp"), 1;
		/* Port 0: the others join the port the kernel gave the first. */
		if (i == 0 && sio_listener_address(w[0].listener, 0, addr, sizeof addr) &&
		    (colon = strrchr(addr, ':')) != NULL)
			port = colon + 1;
		if (pthread_create(&w[i].thread, NULL, run, &w[i]) != 0)
			return fprintf(stderr, "pthread_create failed\n"), 1;
	}
	printf("%d threads serving %s port %s\n", n, argv[1], port);
	fflush(stdout);
	for (int i = 0; w != NULL && i < n; i++)
		pthread_join(w[i].thread, NULL);
	return 0;
}
