/*
 * child.c - child watchers: a child process's end as an event of the loop.
 *
 * SIGCHLD says that some child changed state, not which, and instances
 * coalesce: two children exiting close together may raise one.  So on
 * every SIGCHLD each loop with child watchers tries waitpid(pid, WNOHANG)
 * on each pid it watches, and on nothing else: a child the application
 * or a library waits for itself is never taken from it, which
 * waitpid(-1) would do.  The runtime's handler (signals.c) writes the
 * signal into the self-pipe of every loop holding SIGCHLD, so each loop
 * learns of it on its own thread, and then calls the handler the
 * application had (the hold is "chained").
 *
 * A process-wide registry of watched pids, under a mutex, makes a pid
 * watched twice an error (two loops would race to reap it, and one would
 * report a status it never had).  Only the loops' threads touch it, never
 * the signal handler.  A pid leaves it when reaped, since from then on the
 * kernel may give the number to another process.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "list.h"
#include "sigio-internal.h"

#define REG_BUCKETS 256

static struct sio_child *registry[REG_BUCKETS];
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static void reg_prepare(void) { pthread_mutex_lock(&reg_lock); }
static void reg_parent(void) { pthread_mutex_unlock(&reg_lock); }
static void reg_child(void) { pthread_mutex_unlock(&reg_lock); }

/* A fork() while another thread holds the lock must not leave the child
 * a mutex locked for good. */
static void
reg_init(void)
{
	(void)pthread_atfork(reg_prepare, reg_parent, reg_child);
}

static struct sio_child **
reg_bucket(pid_t pid)
{
	return &registry[(unsigned)pid % REG_BUCKETS];
}

static int
reg_insert(sio_child *c)
{
	(void)pthread_once(&reg_once, reg_init);
	pthread_mutex_lock(&reg_lock);
	struct sio_child **b = reg_bucket(c->pid);
	for (struct sio_child *o = *b; o != NULL; o = o->hnext)
		if (o->pid == c->pid) {
			pthread_mutex_unlock(&reg_lock);
			errno = EBUSY;
			return -1;
		}
	c->hnext = *b;
	*b = c;
	c->registered = 1;
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

static void
reg_remove(sio_child *c)
{
	if (!c->registered)
		return;
	pthread_mutex_lock(&reg_lock);
	for (struct sio_child **p = reg_bucket(c->pid); *p != NULL; p = &(*p)->hnext)
		if (*p == c) {
			*p = c->hnext;
			break;
		}
	c->registered = 0;
	pthread_mutex_unlock(&reg_lock);
}

/* Whether `pid` is a child of this process that nobody has reaped yet,
 * asked without reaping it (WNOWAIT) and without sending it anything:
 * kill(pid, 0) would say yes for any process we may signal, and a
 * waitpid() probe would reap a child that has exited. */
static int
is_our_child(pid_t pid)
{
	siginfo_t si;
	int rc;
	do {
		si.si_pid = 0;
		rc = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
	} while (rc < 0 && errno == EINTR);
	return rc == 0;         /* errno ECHILD otherwise */
}

sio_child *
sio__child_new(sio_loop *loop, sio_child_cb cb, void *arg)
{
	struct sio_child *c = calloc(1, sizeof *c);
	if (c == NULL)
		return NULL;
	if (sio__signals_hold(loop, SIGCHLD, 1) < 0) {
		int saved = errno;
		free(c);
		errno = saved;
		return NULL;
	}
	*c = (struct sio_child){ .loop = loop, .pid = -1, .cb = cb, .arg = arg,
	                         .state = SIO__H_IDLE };
	return c;
}

int
sio__child_begin(sio_child *c, pid_t pid)
{
	c->pid = pid;
	if (reg_insert(c) < 0)
		return -1;
	sio_loop *loop = c->loop;
	SIO__LIST_PUSH(loop->children, c);
	c->linked = 1;
	c->state = SIO__H_ACTIVE;
	loop->active++;
	/* It may have exited already, its SIGCHLD gone before the runtime
	 * held the signal: look at the next iteration without waiting for
	 * one. */
	loop->child_pending = 1;
	return 0;
}

void
sio__child_discard(sio_child *c)
{
	sio__signals_release(c->loop, SIGCHLD, 1);
	free(c);
}

sio_child *
sio_child_start(sio_loop *loop, pid_t pid, sio_child_cb cb, void *arg)
{
	if (loop == NULL || cb == NULL || pid <= 0) {
		errno = EINVAL;
		return NULL;
	}
	if (!is_our_child(pid))
		return NULL;
	sio_child *c = sio__child_new(loop, cb, arg);
	if (c == NULL)
		return NULL;
	if (sio__child_begin(c, pid) < 0) {
		int saved = errno;
		sio__child_discard(c);
		errno = saved;
		return NULL;
	}
	return c;
}

void
sio_child_stop(sio_child *c)
{
	if (c == NULL || c->state == SIO__H_STOPPED)
		return;
	sio_loop *loop = c->loop;
	reg_remove(c);
	if (c->linked)
		SIO__LIST_UNLINK(loop->children, c);  /* a dispatch may stand here */
	if (c->state == SIO__H_ACTIVE)
		loop->active--;
	c->state = SIO__H_STOPPED;
	sio__signals_release(loop, SIGCHLD, 1);
	sio__retire(loop, c);
}

pid_t
sio_child_pid(const sio_child *c)
{
	if (c == NULL) {
		errno = EINVAL;
		return -1;
	}
	return c->pid;
}

int
sio_child_kill(sio_child *c, int signo)
{
	if (c == NULL || c->state == SIO__H_STOPPED) {
		errno = EINVAL;
		return -1;
	}
	/* Only this loop's thread reaps the child, so until it did the pid
	 * cannot have been given to another process. */
	if (c->state != SIO__H_ACTIVE) {
		errno = ESRCH;
		return -1;
	}
	return kill(c->pid, signo);
}

void
sio__child_note(sio_loop *loop)
{
	if (loop->children != NULL)
		loop->child_pending = 1;
}

/* Reap `c` if it has terminated.  1 when it is done (status in c->status,
 * SIO_CHILD_LOST if someone else reaped it), 0 while it runs. */
static int
child_reap(sio_child *c)
{
	int status = 0;
	pid_t r;
	do
		r = waitpid(c->pid, &status, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	c->status = r == c->pid ? status : SIO_CHILD_LOST;
	return 1;
}

size_t
sio__child_dispatch(sio_loop *loop)
{
	size_t ran = 0;
	if (!loop->child_pending)
		return 0;
	loop->child_pending = 0;
	/* A watcher started by a callback goes first in the list, unseen by
	 * this walk: it set child_pending, the next iteration looks. */
	for (struct sio_child *c = loop->children, *next; c != NULL; c = next) {
		next = c->next;
		if (c->state != SIO__H_ACTIVE || !child_reap(c))
			continue;
		reg_remove(c);          /* the pid may be reused from now on */
		c->state = SIO__H_IDLE;
		loop->active--;
		ran++;
		loop->stats.callbacks++;
		c->cb(c, c->pid, c->status, c->arg);
	}
	return ran;
}

void
sio__child_free_all(sio_loop *loop)
{
	while (loop->children != NULL) {
		struct sio_child *c = loop->children;
		loop->children = c->next;
		reg_remove(c);
		sio__signals_release(loop, SIGCHLD, 1);
		free(c);
	}
}
