/*
 * spawn.c - sio_spawn(): fork, set the child up, exec, and watch it.
 *
 * Everything the child needs is prepared by the parent before fork()
 * (the fds to give it, the PATH to search, argv's storage), because
 * between fork() and exec the child of a threaded program may only make
 * async-signal-safe calls: another thread may have held the malloc lock
 * at the moment of the fork.
 *
 * The child reports a failure to the parent through a close-on-exec pipe:
 * a successful exec closes it (the parent reads end of file), a failure
 * writes the errno first.  So the parent knows, before sio_spawn()
 * returns, whether the program runs, and an exec failure is an error of
 * the call, never a made-up exit status later; the failed child is then
 * reaped at once, and no zombie is left.
 *
 * All signals are blocked around fork(): the child must run no handler
 * (the runtime's, which would see a process that is not its own, or the
 * application's) before it has reset every disposition to the default.
 * It then empties its mask, so that the program starts clean.  Masks and
 * dispositions are signals.c's business: it does both (sio__signals_*).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef HAVE_SYS_SYSCALL_H
#include <sys/syscall.h>
#endif

#include "fdflags.h"
#include "sigio-internal.h"

extern char **environ;

/* What the child does, all of it decided in the parent. */
struct plan {
	const char *file;
	char *const *argv;
	char *const *envp;
	const char *path;        /* the parent's PATH, for a bare name */
	char *argv_file[2];      /* argv when the caller gave none */
	int src[3];              /* what becomes fd i: an fd, or -1 (closed) */
	int mine[3];             /* fds sio_spawn() opened for the child */
	int parent_end[3];       /* the parent's end of each pipe, or -1 */
	int err_rd, err_wr;      /* the exec-error pipe */
	int flags;
	const char *cwd;
	long max_fd;             /* bound of the close loop without close_range */
};

static void
close_if(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
	*fd = -1;
}

static void
plan_close(struct plan *p)
{
	for (int i = 0; i < 3; i++) {
		close_if(&p->mine[i]);
		close_if(&p->parent_end[i]);
	}
	close_if(&p->err_rd);
	close_if(&p->err_wr);
}

static int
valid_stdio(int v)
{
	return v >= 0 || v == SIO_STDIO_INHERIT || v == SIO_STDIO_NULL ||
	       v == SIO_STDIO_PIPE;
}

static int
fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int
pipe_cloexec(int p[2])
{
#ifdef HAVE_PIPE2
	return pipe2(p, O_CLOEXEC);
#else
	if (pipe(p) < 0)
		return -1;
	if (sio__fd_cloexec(p[0]) < 0 || sio__fd_cloexec(p[1]) < 0) {
		int saved = errno;
		close(p[0]);
		close(p[1]);
		errno = saved;
		return -1;
	}
	return 0;
#endif
}

/* The child's side of a pipe for fd i, and the parent's (nonblocking, for
 * the loop).  Fd 0 is the child's input: the parent writes. */
static int
plan_pipe(struct plan *p, int i)
{
	int fds[2];
	if (pipe_cloexec(fds) < 0)
		return -1;
	int child = i == 0 ? fds[0] : fds[1];
	p->parent_end[i] = i == 0 ? fds[1] : fds[0];
	p->mine[i] = child;
	p->src[i] = child;
	return sio__fd_nonblock(p->parent_end[i]);
}

static int
plan_devnull(struct plan *p, int i)
{
	int fd;
	do
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	p->mine[i] = p->src[i] = fd;
	return 0;
}

/* Whether the parent's fds 0-2 are open is read before sio_spawn() opens
 * anything, which could take a closed one's number. */
static int
plan_stdio(struct plan *p, const int stdio[3])
{
	for (int i = 0; i < 3; i++) {
		if (stdio[i] == SIO_STDIO_INHERIT)
			p->src[i] = fd_is_open(i) ? i : -1;
		else if (stdio[i] >= 0 && !fd_is_open(stdio[i]))
			return -1;      /* EBADF */
		else if (stdio[i] >= 0)
			p->src[i] = stdio[i];
	}
	for (int i = 0; i < 3; i++) {
		if (stdio[i] == SIO_STDIO_PIPE && plan_pipe(p, i) < 0)
			return -1;
		if (stdio[i] == SIO_STDIO_NULL && plan_devnull(p, i) < 0)
			return -1;
	}
	int e[2];
	if (pipe_cloexec(e) < 0)
		return -1;
	p->err_rd = e[0];
	p->err_wr = e[1];
	return 0;
}

static int
plan_make(struct plan *p, const struct sio_spawn_opts *o)
{
	*p = (struct plan){ .file = o->file, .argv = o->argv, .envp = o->envp,
	                    .flags = o->flags, .cwd = o->cwd,
	                    .err_rd = -1, .err_wr = -1 };
	for (int i = 0; i < 3; i++)
		p->src[i] = p->mine[i] = p->parent_end[i] = -1;
	if (p->argv == NULL) {
		p->argv_file[0] = (char *)o->file;
		p->argv = p->argv_file;
	}
	if (p->envp == NULL)
		p->envp = environ;
	p->path = getenv("PATH");
	if (p->path == NULL)
		p->path = "/bin:/usr/bin";
	p->max_fd = sysconf(_SC_OPEN_MAX);
	if (p->max_fd < 0)
		p->max_fd = 65536;
	return plan_stdio(p, o->stdio);
}

/* ---- the child, between fork() and exec: async-signal-safe calls only ---- */

static int
dup2_again(int from, int to)
{
	int rc;
	do
		rc = dup2(from, to);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/* Every fd from `lo` up, whatever its close-on-exec flag. */
static void
close_from(int lo, long max_fd)
{
#if defined(SYS_close_range)
	if (syscall(SYS_close_range, (unsigned)lo, ~0u, 0) == 0)
		return;
#endif
	for (long fd = lo; fd < max_fd; fd++)
		(void)close((int)fd);
}

/* Put src[i] in place as fd i.  Each source is first copied above 2, so
 * that no placement overwrites a source still to be placed (a caller may
 * swap 1 and 2, or give fd 1 as the child's 0).  The error pipe is moved
 * to fd 3 and everything above it closed. */
static int
child_fds(const struct plan *p, int *err_out)
{
	int err_fd = p->err_wr, tmp[3];
	if (err_fd < 3 && (err_fd = fcntl(p->err_wr, F_DUPFD_CLOEXEC, 3)) < 0)
		return -1;
	*err_out = err_fd;
	for (int i = 0; i < 3; i++) {
		tmp[i] = -1;
		if (p->src[i] >= 0 &&
		    (tmp[i] = fcntl(p->src[i], F_DUPFD_CLOEXEC, 3)) < 0)
			return -1;
	}
	for (int i = 0; i < 3; i++) {
		if (tmp[i] < 0)
			(void)close(i);
		else if (dup2_again(tmp[i], i) < 0)   /* clears FD_CLOEXEC */
			return -1;
	}
	if (err_fd != 3) {
		if (dup2_again(err_fd, 3) < 0 || fcntl(3, F_SETFD, FD_CLOEXEC) < 0)
			return -1;
		*err_out = 3;
	}
	close_from(4, p->max_fd);
	return 0;
}

/* execvp()'s search, without its fallback to /bin/sh for ENOEXEC and
 * without allocating.  Returns the errno to report. */
static int
child_exec(const struct plan *p)
{
	if (strchr(p->file, '/') != NULL) {
		execve(p->file, p->argv, p->envp);
		return errno;
	}
	if (p->file[0] == '\0')
		return ENOENT;
	size_t flen = strlen(p->file);
	int err = ENOENT, denied = 0;
	char buf[PATH_MAX];
	for (const char *dir = p->path;; ) {
		const char *end = strchr(dir, ':');
		size_t dlen = end != NULL ? (size_t)(end - dir) : strlen(dir);
		const char *d = dlen == 0 ? "." : dir;   /* empty: the cwd */
		size_t n = dlen == 0 ? 1 : dlen;
		if (n + 1 + flen + 1 <= sizeof buf) {
			memcpy(buf, d, n);
			buf[n] = '/';
			memcpy(buf + n + 1, p->file, flen + 1);
			execve(buf, p->argv, p->envp);
			err = errno;
			if (err == EACCES)
				denied = 1;
			else if (err != ENOENT && err != ENOTDIR && err != ESTALE &&
			         err != ELOOP && err != ENAMETOOLONG && err != ENODEV &&
			         err != ETIMEDOUT)
				return err;     /* found, but it cannot run */
		}
		if (end == NULL)
			break;
		dir = end + 1;
	}
	return denied ? EACCES : err;
}

/* Returns the errno to report, through *err_fd (where the error pipe is
 * by then), if the child could not exec. */
static int
child_setup(const struct plan *p, int *err_fd)
{
	sio__signals_child_defaults();
	if (child_fds(p, err_fd) < 0)
		return errno;
	if (p->cwd != NULL && chdir(p->cwd) < 0)
		return errno;
	if ((p->flags & SIO_SPAWN_SETSID) && setsid() < 0)
		return errno;
	if ((p->flags & SIO_SPAWN_SETPGID) && !(p->flags & SIO_SPAWN_SETSID) &&
	    setpgid(0, 0) < 0)
		return errno;
	sio__signals_child_unblock();
	return child_exec(p);
}

static _Noreturn void
child_run(const struct plan *p)
{
	int fd = p->err_wr;
	int err = child_setup(p, &fd);
	while (write(fd, &err, sizeof err) < 0 && errno == EINTR)
		;
	_exit(127);
}

/* ---- the parent ------------------------------------------------------------ */

/* The child's errno, or 0 once the pipe closed on a successful exec. */
static int
read_child_error(int fd)
{
	int err = 0;
	size_t got = 0;
	while (got < sizeof err) {
		ssize_t n = read(fd, (char *)&err + got, sizeof err - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got == sizeof err ? err : 0;
}

static void
reap_now(pid_t pid)
{
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* fork() with every signal blocked (see the top of the file). */
static pid_t
fork_quiet(const struct plan *p)
{
	sigset_t old;
	if (sio__signals_block_all(&old) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0)
		child_run(p);
	int saved = errno;
	sio__signals_set_mask(&old);
	errno = saved;
	return pid;
}

static int
opts_valid(const sio_loop *loop, const struct sio_spawn_opts *o,
           const int *pipes, sio_child_cb cb)
{
	if (loop == NULL || o == NULL || o->file == NULL || cb == NULL ||
	    (o->flags & ~(SIO_SPAWN_SETSID | SIO_SPAWN_SETPGID)) != 0)
		return 0;
	for (int i = 0; i < 3; i++)
		if (!valid_stdio(o->stdio[i]) ||
		    (o->stdio[i] == SIO_STDIO_PIPE && pipes == NULL))
			return 0;
	return 1;
}

/* Start the planned child; its pid, or -1 with errno (the child's own
 * error included, the child then reaped). */
static pid_t
spawn_child(struct plan *p)
{
	pid_t pid = fork_quiet(p);
	int saved = errno;
	for (int i = 0; i < 3; i++)
		close_if(&p->mine[i]);
	close_if(&p->err_wr);
	if (pid < 0) {
		errno = saved;
		return -1;
	}
	int err = read_child_error(p->err_rd);
	close_if(&p->err_rd);
	if (err != 0) {
		reap_now(pid);
		errno = err;
		return -1;
	}
	return pid;
}

sio_child *
sio_spawn(sio_loop *loop, const struct sio_spawn_opts *opts, int pipes[3],
          sio_child_cb cb, void *arg)
{
	if (!opts_valid(loop, opts, pipes, cb)) {
		errno = EINVAL;
		return NULL;
	}
	if (pipes != NULL)
		pipes[0] = pipes[1] = pipes[2] = -1;
	struct plan p;
	sio_child *c = NULL;
	if (plan_make(&p, opts) < 0)
		goto fail;
	/* Before the fork: SIGCHLD is the runtime's before the child can
	 * exit, and nothing can fail once the child exists. */
	if ((c = sio__child_new(loop, cb, arg)) == NULL)
		goto fail;
	pid_t pid = spawn_child(&p);
	if (pid < 0)
		goto fail;
	if (sio__child_begin(c, pid) < 0) {
		/* Only if other code reaped a watched pid that was then
		 * reused for this child: the runtime cannot tell them apart. */
		(void)kill(pid, SIGKILL);
		reap_now(pid);
		errno = EBUSY;
		goto fail;
	}
	for (int i = 0; i < 3 && pipes != NULL; i++) {
		pipes[i] = p.parent_end[i];
		p.parent_end[i] = -1;
	}
	return c;
fail:;
	int saved = errno;
	plan_close(&p);
	if (c != NULL)
		sio__child_discard(c);
	errno = saved;
	return NULL;
}
