/*
 * supervise.c - a small process supervisor on sigio's child watchers,
 * sio_spawn() and streams.
 *
 *   supervise [--restarts=N] [--grace=MS] [NAME=]COMMAND...
 *
 * Runs each COMMAND with /bin/sh -c, and prints each line of its stdout
 * and stderr (to our stdout and stderr) prefixed with "[NAME] " (NAME is
 * the command's first word when not given).  A command that exits
 * non-zero or dies of a signal is started again, up to N times (3).  On
 * SIGTERM or SIGINT every child gets SIGTERM, and SIGKILL if it still
 * runs MS milliseconds later (2000).  Once no child runs, a summary goes
 * to stderr and supervise exits with 0 if every command's last run exited
 * 0, else 1.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sigio.h>

#define MAX_PROGS 64
#define LINE_MAX_LEN 4096

struct prog;

/* One output of a child (its stdout or stderr), cut into lines. */
struct out {
	struct prog *p;
	FILE *to;
	char line[LINE_MAX_LEN];
	size_t len;
};

struct prog {
	char name[64];
	const char *cmd;
	sio_child *child;       /* NULL when not running */
	int runs;
	int status;             /* of the last run */
	struct out out[2];
};

static struct {
	sio_loop *loop;
	struct prog progs[MAX_PROGS];
	int nprogs, running, max_restarts;
	unsigned grace_ms;
	int stopping;
	sio_signal *sigterm, *sigint;
	sio_timer *grace;
} S;

static void start_prog(struct prog *p);

static void
flush_line(struct out *o)
{
	fprintf(o->to, "[%s] %.*s\n", o->p->name, (int)o->len, o->line);
	fflush(o->to);
	o->len = 0;
}

static void
on_output(sio_stream *s, const void *data, size_t len, void *arg)
{
	struct out *o = arg;
	const char *c = data;

	for (size_t i = 0; i < len; i++) {
		if (c[i] == '\n' || o->len == sizeof o->line)
			flush_line(o);
		if (c[i] != '\n')
			o->line[o->len++] = c[i];
	}
}

static void
on_output_closed(sio_stream *s, int reason, int err, void *arg)
{
	struct out *o = arg;

	if (o->len > 0)         /* a last line without its newline */
		flush_line(o);
}

static int
failed(int status)
{
	return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

static void
describe(char *buf, size_t size, int status)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, size, "signal %d (%s)", WTERMSIG(status),
		         strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "status %#x", status);
}

/* Nothing runs any more: let the loop end. */
static void
all_done(void)
{
	sio_signal_stop(S.sigterm);
	sio_signal_stop(S.sigint);
	sio_timer_stop(S.grace);
	S.sigterm = S.sigint = NULL;
	S.grace = NULL;
}

static void
on_exit_status(sio_child *c, pid_t pid, int status, void *arg)
{
	struct prog *p = arg;
	char what[64];

	sio_child_stop(c);
	p->child = NULL;
	p->status = status;
	S.running--;
	describe(what, sizeof what, status);
	fprintf(stderr, "supervise: %s (pid %d): %s\n", p->name, (int)pid, what);
	if (!S.stopping && failed(status) && p->runs <= S.max_restarts) {
		fprintf(stderr, "supervise: %s: restart %d of %d\n", p->name,
		        p->runs, S.max_restarts);
		start_prog(p);
	}
	if (S.running == 0)
		all_done();
}

static void
start_prog(struct prog *p)
{
	char *argv[] = { "sh", "-c", (char *)p->cmd, NULL };
	struct sio_spawn_opts o = {
		.file = "/bin/sh", .argv = argv,
		.stdio = { SIO_STDIO_NULL, SIO_STDIO_PIPE, SIO_STDIO_PIPE },
	};
	int pipes[3];

	p->runs++;
	p->child = sio_spawn(S.loop, &o, pipes, on_exit_status, p);
	if (p->child == NULL) {
		fprintf(stderr, "supervise: %s: %s\n", p->name, strerror(errno));
		p->status = 127 << 8;
		return;
	}
	S.running++;
	for (int i = 0; i < 2; i++) {
		struct out *out = &p->out[i];
		*out = (struct out){ .p = p, .to = i == 0 ? stdout : stderr };
		if (sio_stream_new(S.loop, pipes[i + 1], on_output,
		                   on_output_closed, out) == NULL) {
			fprintf(stderr, "supervise: %s: stream: %s\n", p->name,
			        strerror(errno));
			close(pipes[i + 1]);
		}
	}
}

static void
on_grace_over(sio_timer *t, void *arg)
{
	for (int i = 0; i < S.nprogs; i++)
		if (S.progs[i].child != NULL) {
			fprintf(stderr, "supervise: %s: SIGKILL\n", S.progs[i].name);
			sio_child_kill(S.progs[i].child, SIGKILL);
		}
}

static void
on_stop_signal(sio_signal *s, int signo, unsigned count, void *arg)
{
	if (S.stopping)
		return;
	S.stopping = 1;
	fprintf(stderr, "supervise: %s: stopping every child\n", strsignal(signo));
	for (int i = 0; i < S.nprogs; i++)
		if (S.progs[i].child != NULL)
			sio_child_kill(S.progs[i].child, SIGTERM);
	S.grace = sio_timer_start(S.loop, S.grace_ms, 0, on_grace_over, NULL);
}

static int
summary(void)
{
	int bad = 0;

	for (int i = 0; i < S.nprogs; i++) {
		struct prog *p = &S.progs[i];
		char what[64];
		describe(what, sizeof what, p->status);
		fprintf(stderr, "supervise: summary: %s: %d run(s), last %s\n",
		        p->name, p->runs, what);
		bad += failed(p->status);
	}
	return bad == 0 ? 0 : 1;
}

static void
name_prog(struct prog *p, const char *arg)
{
	const char *eq = strchr(arg, '='), *sp = strpbrk(arg, " \t");
	size_t n;

	if (eq != NULL && (sp == NULL || eq < sp) && eq != arg) {
		n = (size_t)(eq - arg);
		p->cmd = eq + 1;
	} else {
		n = sp != NULL ? (size_t)(sp - arg) : strlen(arg);
		p->cmd = arg;
	}
	if (n >= sizeof p->name)
		n = sizeof p->name - 1;
	memcpy(p->name, arg, n);
	p->name[n] = '\0';
}

int
main(int argc, char **argv)
{
	S.max_restarts = 3;
	S.grace_ms = 2000;
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--restarts=", 11) == 0)
			S.max_restarts = atoi(argv[i] + 11);
		else if (strncmp(argv[i], "--grace=", 8) == 0)
			S.grace_ms = (unsigned)atoi(argv[i] + 8);
		else if (S.nprogs < MAX_PROGS)
			name_prog(&S.progs[S.nprogs++], argv[i]);
	}
	if (S.nprogs == 0) {
		fprintf(stderr, "usage: supervise [--restarts=N] [--grace=MS] "
		        "[NAME=]COMMAND...\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	S.loop = sio_loop_new(NULL);
	if (S.loop == NULL) {
		perror("sio_loop_new");
		return 1;
	}
	S.sigterm = sio_signal_start(S.loop, SIGTERM, on_stop_signal, NULL);
	S.sigint = sio_signal_start(S.loop, SIGINT, on_stop_signal, NULL);
	for (int i = 0; i < S.nprogs; i++)
		start_prog(&S.progs[i]);
	if (S.running == 0)
		all_done();
	sio_loop_run(S.loop, SIO_RUN_DEFAULT);
	sio_loop_free(S.loop);
	return summary();
}
