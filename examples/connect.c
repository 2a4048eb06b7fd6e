/*
 * connect.c - a client with a connect timeout: a nonblocking connect()
 * watched for SIO_WRITE, raced against a one-shot timer.  (The library's
 * sio_connect_start() does this for you, and also looks the name up on a
 * worker thread and races its addresses: here are the parts it is made of.)
 *
 *     $ ./examples/connect 127.0.0.1 22 1000
 *     connected to 127.0.0.1 port 22
 *     $ ./examples/connect 192.0.2.1 80 500      (TEST-NET: nobody answers)
 *     connect: timed out after 500 ms
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sigio.h>

struct attempt {
	sio_io *io;
	sio_timer *timeout;
	int result;     /* 0 connected, else an errno; -1 while pending */
};

static void
on_writable(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct attempt *a = arg;
	int err = 0;
	socklen_t len = sizeof err;

	/* Writable means the handshake ended: SO_ERROR says how. */
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	a->result = err;
	sio_io_stop(io);
	a->io = NULL;
	sio_timer_stop(a->timeout);     /* the loop now has nothing left */
	a->timeout = NULL;
}

static void
on_timeout(sio_timer *t, void *arg)
{
	struct attempt *a = arg;

	a->result = ETIMEDOUT;
	sio_io_stop(a->io);
	a->io = NULL;
}

int
main(int argc, char **argv)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct attempt a = { .result = -1 };
	sio_loop *loop;
	int fd, rc;

	if (argc != 4) {
		fprintf(stderr, "usage: connect HOST PORT TIMEOUT_MS\n");
		return 2;
	}
	if ((rc = getaddrinfo(argv[1], argv[2], &hints, &ai)) != 0) {
		fprintf(stderr, "connect: %s: %s\n", argv[1], gai_strerror(rc));
		return 2;
	}
	loop = sio_loop_new(NULL);
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (loop == NULL || fd < 0)
		return perror("connect"), 1;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		a.result = 0;
	else if (errno != EINPROGRESS)
		a.result = errno;
	else {
		a.io = sio_io_start(loop, fd, SIO_WRITE, on_writable, &a);
		a.timeout = sio_timer_start(loop, strtoull(argv[3], NULL, 10), 0,
		                            on_timeout, &a);
		if (a.io == NULL || a.timeout == NULL)
			return perror("connect"), 1;
		sio_loop_run(loop, SIO_RUN_DEFAULT);
	}
	if (a.result == 0)
		printf("connected to %s port %s\n", argv[1], argv[2]);
	else if (a.result == ETIMEDOUT)
		fprintf(stderr, "connect: timed out after %s ms\n", argv[3]);
	else
		fprintf(stderr, "connect: %s\n", strerror(a.result));
	sio_timer_stop(a.timeout);      /* NULL is ignored */
	sio_loop_free(loop);
	close(fd);
	freeaddrinfo(ai);
	return a.result == 0 ? 0 : 1;
}
