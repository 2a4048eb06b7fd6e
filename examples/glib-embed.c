/*
 * glib-embed.c - a sigio echo service inside a GLib main loop, next to a
 * GLib timer.
 *
 * GLib owns the thread and its sleep.  sigio is driven from it by two
 * sources: g_unix_fd_add() on sio_loop_fd(), readable whenever the sigio
 * loop has work, and a small GSource whose prepare() gives GLib
 * sio_loop_timeout() as the longest it may sleep (the next sigio timer, or
 * 0 when the sigio loop must look at its fds again).  Either one runs
 * sio_loop_run(loop, SIO_RUN_NOWAIT).  The echo service is the stream
 * layer's: a listener on 127.0.0.1 and one stream per connection.
 *
 *     $ SIGIO_BACKEND=rtsig ./examples/glib-embed
 *     listening tcp 127.0.0.1:40123
 *     ^C (or SIGTERM)
 *     glib-embed: rtsig: ticks=512 ms=5130 connections=3 bytes=4096
 *
 * The GLib timer ticks every 10 ms; the summary on stderr says how many
 * ticks it made in how long.  On poll and select sio_loop_fd() fails with
 * ENOSYS: the program then says so and exits with status 77.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <glib.h>
#include <glib-unix.h>

#include <sigio.h>

static sio_loop *loop;
static unsigned long ticks, connections;
static unsigned long long bytes;

/* ---- the sigio side: an echo service ------------------------------------ */

static void
on_read(sio_stream *s, const void *data, size_t len, void *arg)
{
	(void)arg;
	bytes += len;
	(void)sio_stream_write(s, data, len);   /* a failure closes it */
}

static void
on_accept(sio_listener *l, int fd, const struct sockaddr *peer,
          socklen_t peerlen, void *arg)
{
	(void)l;
	(void)peer;
	(void)peerlen;
	(void)arg;
	connections++;
	if (sio_stream_new(loop, fd, on_read, NULL, NULL) == NULL)
		close(fd);
}

/* ---- the GLib side: driving the sigio loop --------------------------------- */

static void
run_sigio(void)
{
	if (sio_loop_run(loop, SIO_RUN_NOWAIT) < 0)
		fprintf(stderr, "glib-embed: sio_loop_run: %s\n", strerror(errno));
}

static gboolean
on_sigio_fd(gint fd, GIOCondition cond, gpointer data)
{
	(void)fd;
	(void)cond;
	(void)data;
	run_sigio();
	return G_SOURCE_CONTINUE;
}

/* GLib asks each source, before it sleeps, how long it may: sigio's
 * answer is sio_loop_timeout(), asked afresh each time since the sigio
 * callbacks of the last run may have changed it. */
static gboolean
timeout_prepare(GSource *src, gint *timeout)
{
	(void)src;
	*timeout = sio_loop_timeout(loop);
	return *timeout == 0;
}

static gboolean
timeout_check(GSource *src)
{
	(void)src;
	return sio_loop_timeout(loop) == 0;
}

static gboolean
timeout_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
	(void)src;
	(void)cb;
	(void)data;
	run_sigio();
	return G_SOURCE_CONTINUE;
}

static GSourceFuncs timeout_funcs = {
	.prepare = timeout_prepare,
	.check = timeout_check,
	.dispatch = timeout_dispatch,
};

static gboolean
on_tick(gpointer data)
{
	(void)data;
	ticks++;
	return G_SOURCE_CONTINUE;
}

static gboolean
on_term(gpointer data)
{
	g_main_loop_quit(data);
	return G_SOURCE_REMOVE;
}

int
main(void)
{
	char addr[SIO_ADDRSTRLEN];

	loop = sio_loop_new(NULL);
	if (loop == NULL) {
		perror("glib-embed: sio_loop_new");
		return 1;
	}
	int fd = sio_loop_fd(loop);
	if (fd < 0) {
		fprintf(stderr, "glib-embed: %s: sio_loop_fd: %s\n",
		        sio_loop_backend(loop), strerror(errno));
		sio_loop_free(loop);
		return errno == ENOSYS ? 77 : 1;
	}
	sio_listener *l = sio_listen_tcp(loop, "127.0.0.1", "0", 0, on_accept,
	                                 NULL);
	if (l == NULL || sio_listener_address(l, 0, addr, sizeof addr) == NULL) {
		perror("glib-embed: sio_listen_tcp");
		return 1;
	}
	printf("listening tcp %s\n", addr);
	fflush(stdout);

	GMainLoop *main_loop = g_main_loop_new(NULL, FALSE);
	guint fd_id = g_unix_fd_add(fd, G_IO_IN, on_sigio_fd, NULL);
	GSource *to = g_source_new(&timeout_funcs, sizeof(GSource));
	g_source_attach(to, NULL);
	g_timeout_add(10, on_tick, NULL);
	g_unix_signal_add(SIGTERM, on_term, main_loop);
	g_unix_signal_add(SIGINT, on_term, main_loop);

	gint64 start = g_get_monotonic_time();
	g_main_loop_run(main_loop);
	gint64 ms = (g_get_monotonic_time() - start) / 1000;

	fprintf(stderr, "glib-embed: %s: ticks=%lu ms=%lld connections=%lu "
	        "bytes=%llu\n", sio_loop_backend(loop), ticks, (long long)ms,
	        connections, bytes);
	g_source_remove(fd_id);
	g_source_destroy(to);
	g_source_unref(to);
	g_main_loop_unref(main_loop);
	sio_listener_free(l);
	sio_loop_free(loop);
	return 0;
}
