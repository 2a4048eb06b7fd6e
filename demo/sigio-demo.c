/*
 * sigio-demo - pass a message through a socketpair and a pipe on a sigio
 * loop, check every byte, and print the backend used and its counters.
 *
 *   writer --socketpair--> relay --pipe--> reader
 *
 * The message (1 MiB by default) is far larger than either buffer, so the
 * writers see EAGAIN and wait for write readiness, the relay pauses reading
 * while its buffer is full (sio_io_set(io, 0)) and resumes when it drains:
 * readiness is signalled many times in both directions.
 *
 * Usage: sigio-demo [--backend=NAME | --all] [--bytes=N] [--quiet]
 *        sigio-demo --list
 * Exit status: 0 when every byte arrived intact on every backend tried,
 * 1 when not, 2 for bad usage.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include "sigio.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

#define RELAY_BUF 65536

struct demo {
	sio_loop *loop;
	int sv[2], pp[2];
	size_t total;
	size_t sent, relayed_in, relayed_out, received;
	unsigned char relay[RELAY_BUF];
	size_t relay_len;
	int relay_eof;
	sio_io *writer, *relay_rd, *relay_wr, *reader;
	int failed;
	const char *why;
};

/* The byte at offset i of the message: a pattern no offset error hides. */
static unsigned char
msg_byte(size_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

static void
fail(struct demo *d, const char *why)
{
	if (!d->failed) {
		d->failed = 1;
		d->why = why;
	}
	sio_loop_stop(d->loop);
}

static void
on_writer(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct demo *d = arg;
	unsigned char buf[16384];
	while (d->sent < d->total) {
		size_t n = d->total - d->sent < sizeof buf ? d->total - d->sent : sizeof buf;
		for (size_t i = 0; i < n; i++)
			buf[i] = msg_byte(d->sent + i);
		ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;         /* wait for the next write readiness */
		if (w < 0)
			return fail(d, "send to the socketpair failed");
		d->sent += (size_t)w;
	}
	shutdown(fd, SHUT_WR);          /* the relay sees EOF */
	sio_io_stop(io);
	d->writer = NULL;
}

static void
relay_maybe_finish(struct demo *d)
{
	if (d->relay_eof && d->relay_len == 0 && d->pp[1] >= 0) {
		sio_io_stop(d->relay_wr);
		d->relay_wr = NULL;
		close(d->pp[1]);        /* the reader sees EOF */
		d->pp[1] = -1;
	}
}

static void
on_relay_read(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct demo *d = arg;
	while (d->relay_len < RELAY_BUF) {
		ssize_t r = read(fd, d->relay + d->relay_len, RELAY_BUF - d->relay_len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r < 0)
			return fail(d, "read from the socketpair failed");
		if (r == 0) {
			d->relay_eof = 1;
			sio_io_stop(io);
			d->relay_rd = NULL;
			break;
		}
		d->relay_len += (size_t)r;
		d->relayed_in += (size_t)r;
	}
	if (d->relay_rd != NULL && d->relay_len == RELAY_BUF)
		sio_io_set(d->relay_rd, 0);     /* full: pause until drained */
	if (d->relay_len > 0)
		sio_io_set(d->relay_wr, SIO_WRITE);
	relay_maybe_finish(d);
}

static void
on_relay_write(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct demo *d = arg;
	while (d->relay_len > 0) {
		ssize_t w = write(fd, d->relay, d->relay_len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w < 0)
			return fail(d, "write to the pipe failed");
		memmove(d->relay, d->relay + w, d->relay_len - (size_t)w);
		d->relay_len -= (size_t)w;
		d->relayed_out += (size_t)w;
	}
	sio_io_set(io, 0);                      /* empty: nothing to write */
	if (d->relay_rd != NULL)
		sio_io_set(d->relay_rd, SIO_READ);
	relay_maybe_finish(d);
}

static void
on_reader(sio_io *io, int fd, unsigned revents, void *arg)
{
	struct demo *d = arg;
	unsigned char buf[16384];
	for (;;) {
		ssize_t r = read(fd, buf, sizeof buf);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0)
			return fail(d, "read from the pipe failed");
		if (r == 0)
			break;
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != msg_byte(d->received + (size_t)i))
				return fail(d, "a byte arrived altered or out of order");
		d->received += (size_t)r;
		if (d->received > d->total)
			return fail(d, "more bytes arrived than were sent");
	}
	if (d->received != d->total)
		fail(d, "EOF before the whole message arrived");
	sio_io_stop(io);
	d->reader = NULL;
}

static int
run_demo(const char *backend, size_t total, int quiet)
{
	struct demo *d = calloc(1, sizeof *d);
	int rc = 1;
	if (d == NULL) {
		perror("sigio-demo: calloc");
		return 1;
	}
	d->total = total;
	d->sv[0] = d->sv[1] = d->pp[0] = d->pp[1] = -1;
	d->loop = sio_loop_new(backend);
	if (d->loop == NULL) {
		fprintf(stderr, "sigio-demo: backend %s: %s\n",
		        backend ? backend : "auto", strerror(errno));
		free(d);
		return errno == EINVAL ? 2 : 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, d->sv) < 0 ||
	    pipe(d->pp) < 0) {
		perror("sigio-demo: socketpair/pipe");
		goto out;
	}
	fcntl(d->pp[0], F_SETFD, FD_CLOEXEC);
	fcntl(d->pp[1], F_SETFD, FD_CLOEXEC);
	d->writer = sio_io_start(d->loop, d->sv[0], SIO_WRITE, on_writer, d);
	d->relay_rd = sio_io_start(d->loop, d->sv[1], SIO_READ, on_relay_read, d);
	d->relay_wr = sio_io_start(d->loop, d->pp[1], 0, on_relay_write, d);
	d->reader = sio_io_start(d->loop, d->pp[0], SIO_READ, on_reader, d);
	if (!d->writer || !d->relay_rd || !d->relay_wr || !d->reader) {
		perror("sigio-demo: sio_io_start");
		goto out;
	}
	if (sio_loop_run(d->loop, SIO_RUN_DEFAULT) < 0) {
		perror("sigio-demo: sio_loop_run");
		goto out;
	}
	if (!d->failed && d->received != d->total)
		fail(d, "the loop ended before the message arrived");

	struct sio_stats st;
	sio_loop_stats(d->loop, &st);
	printf("backend %-6s %s: %zu bytes socketpair -> pipe%s%s\n",
	       sio_loop_backend(d->loop), d->failed ? "FAIL" : "ok",
	       d->received, d->failed ? ": " : ", every byte checked",
	       d->failed ? d->why : "");
	if (!quiet)
		printf("  stats: signals=%llu wakeups=%llu rescans=%llu "
		       "callbacks=%llu iterations=%llu sleeps=%llu\n",
		       (unsigned long long)st.signals, (unsigned long long)st.wakeups,
		       (unsigned long long)st.rescans, (unsigned long long)st.callbacks,
		       (unsigned long long)st.iterations, (unsigned long long)st.sleeps);
	rc = d->failed ? 1 : 0;
out:
	sio_loop_free(d->loop);         /* stops the watchers still there */
	for (int i = 0; i < 2; i++) {
		if (d->sv[i] >= 0)
			close(d->sv[i]);
		if (d->pp[i] >= 0)
			close(d->pp[i]);
	}
	free(d);
	return rc;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: sigio-demo [--backend=NAME | --all] [--bytes=N] [--quiet]\n"
	           "       sigio-demo --list    (the backends this build has, best first)\n");
}

/* What the command line asks for. */
struct options {
	const char *backend;            /* NULL: the best this build has */
	int all, quiet, list;
	size_t total;
};

/* The command line into *o.  Returns 0 to run, -1 after --help (exit 0),
 * or 2 after a message.  fuzz/fuzz_args_sigio_demo.c calls it on any argv. */
static int
parse_options(struct options *o, int argc, char **argv)
{
	o->total = 1 << 20;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--backend=", 10) == 0) {
			o->backend = argv[i] + 10;
		} else if (strcmp(argv[i], "--all") == 0) {
			o->all = 1;
		} else if (strncmp(argv[i], "--bytes=", 8) == 0) {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(argv[i] + 8, &end, 10);
			if (errno || *end || end == argv[i] + 8 || v == 0 ||
			    v > (1ULL << 32) || argv[i][8] == '-') {
				fprintf(stderr, "sigio-demo: --bytes wants a number from 1 to 4294967296, not '%s'\n",
				        argv[i] + 8);
				return 2;
			}
			o->total = (size_t)v;
		} else if (strcmp(argv[i], "--quiet") == 0) {
			o->quiet = 1;
		} else if (strcmp(argv[i], "--list") == 0) {
			o->list = 1;
			return 0;       /* as before: what follows --list is not read */
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return -1;
		} else {
			fprintf(stderr, "sigio-demo: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
	if (o->all && o->backend != NULL) {
		fprintf(stderr, "sigio-demo: --all and --backend exclude each other\n");
		return 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct options o;
	const char *names[8];
	int rc;

	signal(SIGPIPE, SIG_IGN);       /* a closed peer is an error, not death */
	memset(&o, 0, sizeof o);
	if ((rc = parse_options(&o, argc, argv)) != 0)
		return rc < 0 ? 0 : rc;
	if (o.list) {
		size_t n = sio_backends(names, 8);
		for (size_t k = 0; k < n && k < 8; k++)
			printf("%s\n", names[k]);
		return 0;
	}
	if (!o.all)
		return run_demo(o.backend, o.total, o.quiet);

	size_t n = sio_backends(names, 8);
	for (size_t i = 0; i < n && i < 8; i++) {
		int r = run_demo(names[i], o.total, o.quiet);
		if (r > rc)
			rc = r;
	}
	return rc;
}
