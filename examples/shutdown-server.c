/*
 * shutdown-server.c - a TCP echo server that stops gracefully.  SIGINT or
 * SIGTERM (a signal watcher: an ordinary callback, not a handler) stops
 * accepting, half-closes every connection once what it queued is sent,
 * and gives the peers GRACE_MS to hang up before closing what is left.
 * The loop returns by itself when nothing is left to watch.
 *
 *     $ ./examples/shutdown-server 127.0.0.1 0 &
 *     listening on 127.0.0.1:40231
 *     $ kill -TERM %1
 *     shutdown: 0 connection(s) to drain
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <sigio.h>

#define GRACE_MS 5000
#define MAX_CONNS 1024

static sio_loop *loop;
static sio_listener *listener;
static sio_signal *stop_watchers[2];
static sio_stream *conns[MAX_CONNS];    /* the open streams, NULL when free */

static void
on_data(sio_stream *s, const void *data, size_t len, void *arg)
{
	sio_stream_write(s, data, len);         /* echo */
}

static void
on_close(sio_stream *s, int reason, int err, void *arg)
{
	conns[(size_t)arg] = NULL;
}

static void
on_accept(sio_listener *l, int fd, const struct sockaddr *peer, socklen_t peerlen,
          void *arg)
{
	size_t i = 0;

	while (i < MAX_CONNS && conns[i] != NULL)
		i++;
	if (i == MAX_CONNS || (conns[i] = sio_stream_new(loop, fd, on_data, on_close,
	                                                 (void *)i)) == NULL)
		close(fd);                      /* full, or out of memory */
}

static void
on_grace_over(sio_timer *t, void *arg)
{
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (conns[i] != NULL)
			sio_stream_close(conns[i]);     /* on_close clears the slot */
}

static void
on_stop_signal(sio_signal *s, int signo, unsigned count, void *arg)
{
	int n = 0;

	sio_listener_free(listener);            /* no new connections */
	sio_signal_stop(stop_watchers[0]);      /* a second signal: the default */
	sio_signal_stop(stop_watchers[1]);      /* action, i.e. exit at once */
	for (size_t i = 0; i < MAX_CONNS; i++)
		if (conns[i] != NULL && sio_stream_shutdown(conns[i]) == 0)
			n++;
	fprintf(stderr, "shutdown: %d connection(s) to drain\n", n);
	if (n > 0)
		sio_timer_start(loop, GRACE_MS, 0, on_grace_over, NULL);
}

int
main(int argc, char **argv)
{
	char addr[128];

	if (argc != 3) {
		fprintf(stderr, "usage: shutdown-server HOST PORT\n");
		return 2;
	}
	loop = sio_loop_new(NULL);
	if (loop == NULL)
		return perror("sio_loop_new"), 1;
	listener = sio_listen_tcp(loop, argv[1], argv[2], 0, on_accept, NULL);
	if (listener == NULL)
		return perror("sio_listen_tcp"), 1;
	stop_watchers[0] = sio_signal_start(loop, SIGINT, on_stop_signal, NULL);
	stop_watchers[1] = sio_signal_start(loop, SIGTERM, on_stop_signal, NULL);
	if (stop_watchers[0] == NULL || stop_watchers[1] == NULL)
		return perror("sio_signal_start"), 1;
	printf("listening on %s\n", sio_listener_address(listener, 0, addr, sizeof addr));
	fflush(stdout);
	if (sio_loop_run(loop, SIO_RUN_DEFAULT) < 0)
		perror("sio_loop_run");
	sio_loop_free(loop);
	return 0;
}
