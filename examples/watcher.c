/*
 * watcher.c - the smallest sigio program: echo what arrives on stdin to
 * stdout, one callback per readiness, until end of input.
 *
 *     $ printf 'hello\n' | ./examples/watcher
 *     hello
 *     watcher: 6 bytes on rtsig
 */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <sigio.h>

static size_t total;

static void
on_stdin(sio_io *io, int fd, unsigned revents, void *arg)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof buf);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;                 /* spurious: level-triggered, we come back */
	if (n <= 0) {
		sio_io_stop(io);        /* EOF or error: nothing left to watch */
		return;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	total += (size_t)n;
}

int
main(void)
{
	sio_loop *loop = sio_loop_new(NULL);

	if (loop == NULL || sio_io_start(loop, STDIN_FILENO, SIO_READ, on_stdin, NULL) == NULL) {
		perror("watcher");
		return 1;
	}
	sio_loop_run(loop, SIO_RUN_DEFAULT);    /* returns when no watcher is left */
	fprintf(stderr, "watcher: %zu bytes on %s\n", total, sio_loop_backend(loop));
	sio_loop_free(loop);
	return 0;
}
