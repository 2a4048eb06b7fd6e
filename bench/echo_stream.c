/*
 * echo_stream - an echo server on sigio's stream layer (sio_listen_tcp,
 * sio_stream), as applications write one: what users run, measured beside
 * echo_sigio (raw watchers) and the bare loops.  See echo_common.h for
 * what the echo servers share; the listener is the stream layer's own.
 *
 * Like echo_sigio it prints the loop's counters on SIGTERM or SIGINT, over
 * the window between two SIGUSR1 when loadgen --mark sent them.
 *
 * Usage: echo_stream [--backend=rtsig|sigio|poll|select|auto] [--port=N]
 */
#include "config.h"

#include "sigio.h"
#include "echo_common.h"
#include "echo_stats.h"

static size_t open_streams;

static void
on_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	(void)arg;
	if (sio_stream_write(s, data, len) < 0)
		sio_stream_close(s);
}

static void
on_close(sio_stream *s, int reason, int err, void *arg)
{
	(void)s; (void)reason; (void)err; (void)arg;
	open_streams--;
}

static void
on_accept(sio_listener *l, int fd, const struct sockaddr *peer,
          socklen_t peerlen, void *arg)
{
	int one = 1;
	(void)l; (void)peer; (void)peerlen;
	/* As echo_accept() does for the other servers. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (sio_stream_new(arg, fd, on_read, on_close, NULL) == NULL)
		close(fd);      /* select: fd >= FD_SETSIZE (ERANGE) */
	else
		open_streams++;
}

static void
on_term(sio_signal *s, int signo, unsigned count, void *arg)
{
	(void)s; (void)signo; (void)count;
	sio_loop_stop(arg);
}

int
main(int argc, char **argv)
{
	const char *backend = NULL;
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], "--backend=", 10) == 0)
			backend = argv[i] + 10;
	int port = echo_port(argc, argv, "--backend=",
	                     "echo_stream [--backend=NAME] [--port=N]");
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	sio_loop *loop = sio_loop_new(backend);
	if (loop == NULL) {
		fprintf(stderr, "echo_stream: backend %s: %s\n",
		        backend ? backend : "auto", strerror(errno));
		return 1;
	}
	char service[16];
	snprintf(service, sizeof service, "%d", port);
	sio_listener *l = sio_listen_tcp(loop, "127.0.0.1", service, 0,
	                                 on_accept, loop);
	if (l == NULL) {
		perror("echo_stream: listen");
		return 1;
	}
	char addr[SIO_ADDRSTRLEN];
	if (sio_listener_address(l, 0, addr, sizeof addr) == NULL) {
		perror("echo_stream: address");
		return 1;
	}
	printf("port=%s\n", strrchr(addr, ':') + 1);
	fflush(stdout);
	if (sio_signal_start(loop, SIGTERM, on_term, loop) == NULL ||
	    sio_signal_start(loop, SIGINT, on_term, loop) == NULL ||
	    sio_signal_start(loop, SIGUSR1, echo_on_mark, loop) == NULL) {
		perror("echo_stream: start");
		return 1;
	}
	if (sio_loop_run(loop, SIO_RUN_DEFAULT) < 0) {
		perror("echo_stream: run");
		return 1;
	}
	echo_stats_print("echo_stream", loop);
	sio_listener_free(l);
	sio_loop_free(loop);
	return 0;
}
