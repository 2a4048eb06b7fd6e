/*
 * signals.c - the runtime's signal handler, the table it reads, signal
 * dispositions and masks, the rtsig backends' signal, and what fork()
 * leaves of them.  Nothing else in lib/ touches dispositions or masks.
 * The application's signals as loop events (signal watchers) are in
 * sigwatch.c, on top of this.
 *
 * The handler cannot take a lock, so the loops it may wake live in a fixed
 * table of slots read with atomics.  A slot holds its loop's self-pipe
 * write end and the set of signals that loop wants to hear of.  The handler
 * marks a slot busy while it uses the fd; a loop leaving its slot clears the
 * fd and then waits for the slot to be idle before closing the pipe, so a
 * handler in another thread never writes into a closed (or reused) fd.
 *
 * Dispositions are reference-counted per signal: the first loop that wants
 * a signal installs the handler and saves what was there; the last one to
 * let go restores it.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_SYS_SYSCALL_H
#include <sys/syscall.h>
#endif

#include "list.h"
#include "sigio-internal.h"

#define NSIG_TRACKED 65 /* signal numbers 1..64 fit a uint64_t mask */
#ifdef NSIG
#define NSIG_ALL NSIG
#else
#define NSIG_ALL 65
#endif

struct wake_slot {
	atomic_int wfd;                  /* self-pipe write end, -1 if none */
	atomic_int pid;                  /* the process whose pipe wfd is: a
	                                    forked child that did not call
	                                    sio_loop_fork() never writes it */
	atomic_int busy;                 /* handlers using wfd right now */
	atomic_int overflow;             /* a write found the pipe full */
	atomic_uint_least64_t caught;    /* bit signo-1: watched signals caught
	                                    since the loop last looked */
	atomic_uint_least64_t wants;     /* bit signo-1: signals to report */
	atomic_int tid;                  /* thread its fds signal, 0: any */
	int claimed;                     /* owned by a loop (under the lock) */
};

static struct wake_slot wake_table[SIO_MAX_LOOPS];
static atomic_int wake_high;             /* slots [0, wake_high) may be in use */
static atomic_uint_least64_t fd_sigs;    /* signals that carry fd readiness */
static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static int sig_users[NSIG_TRACKED];      /* loops wanting each signal */
enum { SIG_KIND_NONE, SIG_KIND_FD, SIG_KIND_WATCH };
static int sig_kind[NSIG_TRACKED];       /* what the users take it for */
static struct sigaction sig_saved[NSIG_TRACKED];
static atomic_int handler_pid[NSIG_TRACKED];  /* the process that installed
                                    the handler for each signal (or took
                                    it over with sio_loop_fork()) */
static atomic_int sig_chain[NSIG_TRACKED];   /* holders that want the
                                    application's own handler called too */
static int rtsig_chosen;                 /* the rtsig backends' signal, or 0 */
static int rtsig_users;                  /* loops using it */
static int rtsig_wanted;                 /* set by sio_rtsig_set(), or 0 */

static pthread_once_t at_fork_once = PTHREAD_ONCE_INIT;
static void at_fork_install(void);

static uint64_t
sigbit(int signo)
{
	return (uint64_t)1 << (signo - 1);
}

/* Write `rec` to every slot of process `self` that wants it, but `skip`
 * (-1: none); with `tid`, only to the slots whose fds signal that thread
 * (or any thread).  Returns how many. */
static int
post(const struct sio__sigrec *rec, pid_t self, pid_t tid, int skip)
{
	int high = atomic_load(&wake_high), posted = 0;
	for (int i = 0; i < high; i++) {
		struct wake_slot *s = &wake_table[i];
		if (i == skip || !(atomic_load(&s->wants) & sigbit(rec->signo)) ||
		    atomic_load(&s->pid) != self)
			continue;
		int stid = atomic_load(&s->tid);
		if (tid != 0 && stid != 0 && stid != tid)
			continue;
		atomic_fetch_add(&s->busy, 1);
		if (tid == 0)           /* remembered even if the record
		                           finds the pipe full */
			atomic_fetch_or(&s->caught, sigbit(rec->signo));
		int fd = atomic_load(&s->wfd);
		if (fd >= 0) {
			if (sio__selfpipe_write(fd, rec) < 0 && errno == EAGAIN)
				atomic_store(&s->overflow, 1);
			posted++;
		}
		atomic_fetch_sub(&s->busy, 1);
	}
	return posted;
}

/* The signal reached a process that inherited the handler through fork()
 * but never took a loop over with sio_loop_fork(): sigio is not this
 * process's, so the signal gets the disposition the application had
 * before the runtime took it, now and from now on.  sigaction() and
 * raise() are async-signal-safe; the signal stays blocked until this
 * handler returns, so a default action happens then. */
static void
pass_on(int signo, siginfo_t *info, void *uctx)
{
	const struct sigaction *old = &sig_saved[signo];
	(void)sigaction(signo, old, NULL);
	if (old->sa_flags & SA_SIGINFO) {
		if (old->sa_sigaction != NULL)
			old->sa_sigaction(signo, info, uctx);
	} else if (old->sa_handler == SIG_DFL) {
		(void)raise(signo);
	} else if (old->sa_handler != SIG_IGN) {
		old->sa_handler(signo);
	}
}

/* After the loops heard of it, the signal goes on to the handler the
 * application had installed before the runtime took it, as if the runtime
 * were not there: a SIGCHLD handler of the application's keeps working
 * while child watchers exist.  Its SA_NOCLDSTOP is honoured here, since
 * the runtime's own disposition cannot carry it for both.  Its other
 * flags (SA_RESETHAND, SA_NODEFER) are not emulated. */
static void
chain_on(int signo, siginfo_t *info, void *uctx)
{
	const struct sigaction *old = &sig_saved[signo];
	if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN)
		return;
	if (signo == SIGCHLD && (old->sa_flags & SA_NOCLDSTOP) && info != NULL &&
	    (info->si_code == CLD_STOPPED || info->si_code == CLD_CONTINUED))
		return;
	if (old->sa_flags & SA_SIGINFO)
		old->sa_sigaction(signo, info, uctx);
	else
		old->sa_handler(signo);
}

/* The handler: one record into the self-pipe of each loop it concerns.
 * Only write(2), a gettid system call and atomics; errno preserved.  A
 * readiness signal was sent to the thread that owns the fd, so it goes to
 * that thread's loops; if none is found (the loop moved, or the platform
 * sends SIGIO to the process) every loop that wants it hears of it. */
static void
sio_signal_handler(int signo, siginfo_t *info, void *uctx)
{
	int saved = errno;
	pid_t self = getpid();
	if (atomic_load(&handler_pid[signo]) != self) {
		pass_on(signo, info, uctx);
		errno = saved;
		return;
	}
	struct sio__sigrec rec = { signo, -1, 0 };
	int is_fd_sig = (atomic_load(&fd_sigs) & sigbit(signo)) != 0;
	if (is_fd_sig && info != NULL && info->si_code >= POLL_IN &&
	    info->si_code <= POLL_HUP) {
		rec.fd = info->si_fd;
		rec.band = info->si_band;
	}
	if (!is_fd_sig || post(&rec, self, sio__gettid(), -1) == 0)
		(void)post(&rec, self, 0, -1);
	if (atomic_load(&sig_chain[signo]) > 0)
		chain_on(signo, info, uctx);
	errno = saved;
}

int
sio__signals_register(sio_loop *loop)
{
	(void)pthread_once(&at_fork_once, at_fork_install);
	pthread_mutex_lock(&sig_lock);
	int i;
	for (i = 0; i < SIO_MAX_LOOPS && wake_table[i].claimed; i++)
		;
	if (i == SIO_MAX_LOOPS) {
		pthread_mutex_unlock(&sig_lock);
		errno = EAGAIN;
		return -1;
	}
	struct wake_slot *s = &wake_table[i];
	s->claimed = 1;
	atomic_store(&s->wants, 0);
	atomic_store(&s->overflow, 0);
	atomic_store(&s->caught, 0);
	atomic_store(&s->tid, (int)loop->owner_tid);
	atomic_store(&s->pid, (int)loop->pid);
	atomic_store(&s->wfd, loop->pipe_wr);
	if (i >= atomic_load(&wake_high))
		atomic_store(&wake_high, i + 1);
	pthread_mutex_unlock(&sig_lock);
	loop->wake_slot = i;
	return 0;
}

void
sio__signals_unregister(sio_loop *loop)
{
	if (loop->wake_slot < 0)
		return;
	struct wake_slot *s = &wake_table[loop->wake_slot];
	atomic_store(&s->wants, 0);
	atomic_store(&s->wfd, -1);
	while (atomic_load(&s->busy) != 0)
		sched_yield();          /* a handler is mid-write: it is short */
	pthread_mutex_lock(&sig_lock);
	s->claimed = 0;
	pthread_mutex_unlock(&sig_lock);
	loop->wake_slot = -1;
}

/* Another loop of this process hears of signals sent to the thread that
 * runs `loop`.  Its readiness signals are then shared: whichever loop of
 * the thread drains the queue takes them all, and must pass on what it
 * took (sio__signals_forward()). */
int
sio__signals_siblings(const sio_loop *loop)
{
	int high = atomic_load(&wake_high);
	int self = (int)loop->pid;
	int tid = atomic_load(&wake_table[loop->wake_slot].tid);
	for (int i = 0; i < high; i++) {
		struct wake_slot *s = &wake_table[i];
		if (i == loop->wake_slot || atomic_load(&s->pid) != self ||
		    !(atomic_load(&s->wants) & atomic_load(&fd_sigs)))
			continue;
		int stid = atomic_load(&s->tid);
		if (tid == 0 || stid == 0 || stid == tid)
			return 1;
	}
	return 0;
}

/* A readiness signal drained synchronously by `loop`, which may concern
 * another loop run by the same thread (nested in a callback, or run in
 * turn): a record in the self-pipe of every such loop that wants it, as
 * the handler would have written. */
void
sio__signals_forward(sio_loop *loop, const struct sio__sigrec *rec)
{
	(void)post(rec, loop->pid, atomic_load(&wake_table[loop->wake_slot].tid),
	           loop->wake_slot);
}

void
sio__signals_set_tid(sio_loop *loop, pid_t tid)
{
	atomic_store(&wake_table[loop->wake_slot].tid, (int)tid);
}

/* Nobody handles `signo`: its disposition is the default or "ignore". */
static int
signal_is_free(int signo)
{
	struct sigaction old;
	if (sigaction(signo, NULL, &old) < 0)
		return 0;
	return !(old.sa_flags & SA_SIGINFO) &&
	       (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN);
}

/* The runtime's handler is still the disposition of `signo`. */
static int
handler_is_ours(int signo)
{
	struct sigaction cur;
	return sigaction(signo, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	       cur.sa_sigaction == sio_signal_handler;
}

static void block_more(sio_loop *loop, int signo);

/* Have the handler report `signo` to this loop.  `fd_sig`: a readiness
 * signal of the runtime's own, sent to the thread that owns the fd, blocked
 * and drained while the loop runs; else a signal watched by the user.  A
 * signal is one or the other in the whole process (EBUSY).  `polite`: fail
 * with EBUSY rather than take a signal the application handles. */
/* The flags of the runtime's disposition for `signo`.  SIGCHLD taken for
 * child watchers (`chained`) copies the application's SA_NOCLDSTOP, and
 * sets it when the application had no handler: stops are not the
 * runtime's business, and a stop's or a continue's SIGCHLD still pending
 * would swallow an exit's (instances coalesce), so that the application's
 * handler would never hear of that exit. */
static int
disposition_flags(int signo, int chained)
{
	int flags = SA_SIGINFO | SA_RESTART;
	struct sigaction cur;
	if (chained && signo == SIGCHLD && sigaction(signo, NULL, &cur) == 0 &&
	    (cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN ||
	     (cur.sa_flags & SA_NOCLDSTOP)))
		flags |= SA_NOCLDSTOP;
	return flags;
}

static int signals_want(sio_loop *loop, int signo, int fd_sig, int polite,
                        int chained);

int
sio__signals_want(sio_loop *loop, int signo, int fd_sig, int polite)
{
	return signals_want(loop, signo, fd_sig, polite, 0);
}

static int
signals_want(sio_loop *loop, int signo, int fd_sig, int polite, int chained)
{
	if (signo <= 0 || signo >= NSIG_TRACKED) {
		errno = EINVAL;
		return -1;
	}
	if (loop->wanted & sigbit(signo)) {
		errno = EBUSY;          /* a bug of ours: wanted twice */
		return -1;
	}
	pthread_mutex_lock(&sig_lock);
	int kind = fd_sig ? SIG_KIND_FD : SIG_KIND_WATCH;
	if (sig_users[signo] > 0 && sig_kind[signo] != kind) {
		pthread_mutex_unlock(&sig_lock);
		errno = EBUSY;          /* the runtime's and the user's at once */
		return -1;
	}
	if (sig_users[signo] == 0 && polite && !signal_is_free(signo)) {
		pthread_mutex_unlock(&sig_lock);
		errno = EBUSY;          /* the application handles it */
		return -1;
	}
	if (sig_users[signo] == 0) {
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = sio_signal_handler;
		sa.sa_flags = disposition_flags(signo, chained);
		sigfillset(&sa.sa_mask);  /* one handler at a time per thread */
		if (sigaction(signo, &sa, &sig_saved[signo]) < 0) {
			int saved = errno;
			pthread_mutex_unlock(&sig_lock);
			errno = saved;
			return -1;
		}
		sig_kind[signo] = kind;
		atomic_store(&handler_pid[signo], (int)getpid());
		if (fd_sig)
			atomic_fetch_or(&fd_sigs, sigbit(signo));
	}
	sig_users[signo]++;
	pthread_mutex_unlock(&sig_lock);
	loop->wanted |= sigbit(signo);
	atomic_fetch_or(&wake_table[loop->wake_slot].wants, sigbit(signo));
	if (fd_sig) {
		sigaddset(&loop->runtime_sigs, signo);
		if (loop->running)      /* an fd signal added mid-run */
			block_more(loop, signo);
	}
	return 0;
}

void
sio__signals_unwant(sio_loop *loop, int signo)
{
	if (signo <= 0 || signo >= NSIG_TRACKED || !(loop->wanted & sigbit(signo)))
		return;
	loop->wanted &= ~sigbit(signo);
	sigdelset(&loop->runtime_sigs, signo);
	atomic_fetch_and(&wake_table[loop->wake_slot].wants, ~sigbit(signo));
	pthread_mutex_lock(&sig_lock);
	if (--sig_users[signo] == 0) {
		if (handler_is_ours(signo)) {
			/* Ignoring a signal discards its pending instances:
			 * none queued for us may reach a default action that
			 * kills.  Not SIGCHLD: its default kills nobody, and
			 * ignoring it even for an instant has the kernel reap
			 * the application's children that exit meanwhile. */
			if (signo != SIGCHLD) {
				struct sigaction ign;
				memset(&ign, 0, sizeof ign);
				ign.sa_handler = SIG_IGN;
				sigemptyset(&ign.sa_mask);
				(void)sigaction(signo, &ign, NULL);
			}
			(void)sigaction(signo, &sig_saved[signo], NULL);
		}
		/* else the application installed a handler of its own since:
		 * it is the application's now, and stays. */
		atomic_fetch_and(&fd_sigs, ~sigbit(signo));
		sig_kind[signo] = SIG_KIND_NONE;
	}
	pthread_mutex_unlock(&sig_lock);
}

/* A loop's watchers of a signal, of every kind (signal watchers, child
 * watchers for SIGCHLD), share the loop's one want of it: the first hold
 * takes it, the last release lets it go.  `chain`: the holder wants the
 * application's own handler called after the runtime's (see chain_on()). */
int
sio__signals_hold(sio_loop *loop, int signo, int chain)
{
	if (signo <= 0 || signo >= NSIG_TRACKED) {
		errno = EINVAL;
		return -1;
	}
	if (chain)      /* before the handler can run for this holder */
		atomic_fetch_add(&sig_chain[signo], 1);
	if (loop->sig_holds[signo] == 0 &&
	    signals_want(loop, signo, 0, 0, chain) < 0) {
		int saved = errno;
		if (chain)
			atomic_fetch_sub(&sig_chain[signo], 1);
		errno = saved;
		return -1;
	}
	loop->sig_holds[signo]++;
	return 0;
}

void
sio__signals_release(sio_loop *loop, int signo, int chain)
{
	if (signo <= 0 || signo >= NSIG_TRACKED || loop->sig_holds[signo] == 0)
		return;
	if (--loop->sig_holds[signo] == 0)
		sio__signals_unwant(loop, signo);
	if (chain)
		atomic_fetch_sub(&sig_chain[signo], 1);
}

/* The runtime takes `signo` for readiness (SIGIO, SIGURG, the rtsig
 * signal) in some loop of the process. */
int
sio__signals_reserved(int signo)
{
	if (signo <= 0 || signo >= NSIG_TRACKED)
		return 0;
	pthread_mutex_lock(&sig_lock);
	int r = sig_users[signo] > 0 && sig_kind[signo] == SIG_KIND_FD;
	r = r || (rtsig_chosen != 0 && signo == rtsig_chosen);
	pthread_mutex_unlock(&sig_lock);
	return r;
}

/* The watched signals the handler caught for this loop since the last
 * call (bit signo-1), read even when their records were lost. */
uint64_t
sio__signals_caught(sio_loop *loop)
{
	return atomic_exchange(&wake_table[loop->wake_slot].caught, 0);
}

int
sio__signals_overflowed(sio_loop *loop)
{
	return atomic_exchange(&wake_table[loop->wake_slot].overflow, 0);
}

/* The runtime's signals that the runs in progress in this thread blocked
 * and the application had not: what a child forked from a callback must
 * get back (see at_fork_child()). */
static _Thread_local sigset_t thread_blocked;

/* Block the runtime's signals in this thread for the run.  Only those the
 * application had not blocked itself are recorded, and only they are
 * unblocked again at the end: the application's own changes to its mask,
 * made before the run or by a callback, are kept. */
int
sio__signals_block(sio_loop *loop)
{
	sigset_t before;
	int err = pthread_sigmask(SIG_BLOCK, &loop->runtime_sigs, &before);
	if (err != 0) {
		errno = err;
		return -1;
	}
	sigemptyset(&loop->run_blocked);
	for (int s = 1; s < NSIG_TRACKED; s++)
		if (sigismember(&loop->runtime_sigs, s) && !sigismember(&before, s)) {
			sigaddset(&loop->run_blocked, s);
			sigaddset(&thread_blocked, s);
		}
	return 0;
}

/* An fd signal wanted while the loop runs: blocked from now on. */
static void
block_more(sio_loop *loop, int signo)
{
	sigset_t one, before;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (pthread_sigmask(SIG_BLOCK, &one, &before) == 0 &&
	    !sigismember(&before, signo)) {
		sigaddset(&loop->run_blocked, signo);
		sigaddset(&thread_blocked, signo);
	}
}

void
sio__signals_restore(sio_loop *loop)
{
	(void)pthread_sigmask(SIG_UNBLOCK, &loop->run_blocked, NULL);
	for (int s = 1; s < NSIG_TRACKED; s++)
		if (sigismember(&loop->run_blocked, s))
			sigdelset(&thread_blocked, s);
	sigemptyset(&loop->run_blocked);
}

/* The mask to sleep with: the thread's mask as it is now (a callback may
 * have changed it), with the runtime's signals unblocked so that one
 * arriving runs the handler, whose record wakes the sleep, except those in
 * `keep` (NULL: none).  One system call, paid only when the loop is about
 * to sleep. */
int
sio__signals_sleep_mask(const sio_loop *loop, sigset_t *mask,
                        const sigset_t *keep)
{
	int err = pthread_sigmask(SIG_BLOCK, NULL, mask);
	if (err != 0) {
		errno = err;
		return -1;
	}
	for (int s = 1; s < NSIG_TRACKED; s++)
		if (sigismember(&loop->runtime_sigs, s) &&
		    (keep == NULL || !sigismember(keep, s)))
			sigdelset(mask, s);
	return 0;
}

pid_t
sio__gettid(void)
{
#if defined(HAVE_GETTID)
	return gettid();
#elif defined(HAVE_DECL_SYS_GETTID) && HAVE_DECL_SYS_GETTID
	return (pid_t)syscall(SYS_gettid);
#else
	return getpid();
#endif
}

/* ---- the real-time signal of the rtsig backend ------------------------------ */

#ifdef SIGRTMIN
/* A real-time signal nobody in the process uses: its disposition is still
 * the default.  From the top down, as applications tend to count up from
 * SIGRTMIN. */
static int
rtsig_pick(void)
{
	if (rtsig_wanted != 0)
		return rtsig_wanted;
	const char *env = getenv("SIGIO_RTSIG");
	if (env != NULL && *env != '\0') {
		char *end;
		errno = 0;
		long k = strtol(env, &end, 10);
		if (errno || *end || k < 0 || k > SIGRTMAX - SIGRTMIN ||
		    SIGRTMIN + k >= NSIG_TRACKED) {
			errno = EINVAL;
			return -1;
		}
		return SIGRTMIN + (int)k;
	}
	for (int s = SIGRTMAX < NSIG_TRACKED ? SIGRTMAX : NSIG_TRACKED - 1;
	     s >= SIGRTMIN; s--) {
		struct sigaction old;
		if (sig_users[s] == 0 && sigaction(s, NULL, &old) == 0 &&
		    !(old.sa_flags & SA_SIGINFO) && old.sa_handler == SIG_DFL)
			return s;
	}
	errno = EAGAIN;
	return -1;
}
#endif

int
sio__rtsig_acquire(void)
{
#ifdef SIGRTMIN
	pthread_mutex_lock(&sig_lock);
	if (rtsig_users == 0) {
		int s = rtsig_pick();
		if (s < 0) {
			int saved = errno;
			pthread_mutex_unlock(&sig_lock);
			errno = saved;
			return -1;
		}
		rtsig_chosen = s;
	}
	rtsig_users++;
	int s = rtsig_chosen;
	pthread_mutex_unlock(&sig_lock);
	return s;
#else
	errno = ENOSYS;
	return -1;
#endif
}

void
sio__rtsig_release(void)
{
	pthread_mutex_lock(&sig_lock);
	if (--rtsig_users == 0)
		rtsig_chosen = 0;
	pthread_mutex_unlock(&sig_lock);
}

int
sio_rtsig_set(int signo)
{
#ifdef SIGRTMIN
	if (signo != 0 && (signo < SIGRTMIN || signo > SIGRTMAX ||
	                   signo >= NSIG_TRACKED)) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&sig_lock);
	if (rtsig_users > 0 && signo != 0 && signo != rtsig_chosen) {
		pthread_mutex_unlock(&sig_lock);
		errno = EBUSY;
		return -1;
	}
	rtsig_wanted = signo;
	pthread_mutex_unlock(&sig_lock);
	return 0;
#else
	(void)signo;
	errno = ENOSYS;
	return -1;
#endif
}

int
sio_rtsig_get(void)
{
	pthread_mutex_lock(&sig_lock);
	int s = rtsig_chosen;
	pthread_mutex_unlock(&sig_lock);
	return s;
}

/* sio_loop_fork(): the handler must write into the child's new pipe and
 * treat the child's thread as the owner, and the signals the loop wants
 * are the runtime's in this process again (in a child that received one
 * before the call, pass_on() gave it back its old disposition). */
void
sio__signals_fork(sio_loop *loop)
{
	struct wake_slot *s = &wake_table[loop->wake_slot];
	atomic_store(&s->wfd, loop->pipe_wr);
	atomic_store(&s->pid, (int)loop->pid);
	if (atomic_load(&s->tid) != 0)
		atomic_store(&s->tid, (int)loop->owner_tid);
	atomic_store(&s->overflow, 0);
	atomic_store(&s->caught, 0);
	pthread_mutex_lock(&sig_lock);
	for (int signo = 1; signo < NSIG_TRACKED; signo++) {
		if (!(loop->wanted & sigbit(signo)) ||
		    atomic_load(&handler_pid[signo]) == (int)loop->pid)
			continue;
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_sigaction = sio_signal_handler;
		sa.sa_flags = SA_SIGINFO | SA_RESTART;
		sigfillset(&sa.sa_mask);
		if (sigaction(signo, &sa, NULL) == 0)
			atomic_store(&handler_pid[signo], (int)loop->pid);
	}
	pthread_mutex_unlock(&sig_lock);
}

/* ---- fork() without sio_loop_fork() ------------------------------------------
 *
 * Whatever the application does after fork(), the child must not inherit
 * a lock held by another thread of the parent, a handler marked busy for
 * good, or the runtime's signals blocked by a run it forked from: a child
 * that execs would keep them blocked (SIGURG and the real-time signal
 * included), and nothing would tell its author why. */

static void
at_fork_prepare(void)
{
	pthread_mutex_lock(&sig_lock);
}

static void
at_fork_parent(void)
{
	pthread_mutex_unlock(&sig_lock);
}

static void
at_fork_child(void)
{
	pthread_mutex_unlock(&sig_lock);
	/* The threads whose handlers were mid-write are not in the child. */
	for (int i = 0; i < SIO_MAX_LOOPS; i++)
		atomic_store(&wake_table[i].busy, 0);
	(void)pthread_sigmask(SIG_UNBLOCK, &thread_blocked, NULL);
	sigemptyset(&thread_blocked);
}

static void
at_fork_install(void)
{
	(void)pthread_atfork(at_fork_prepare, at_fork_parent, at_fork_child);
}

/* ---- a child about to exec (sio_spawn()) -------------------------------------
 *
 * spawn.c forks with every signal blocked, so that no handler (the
 * runtime's, which would take the child for a stranger, or the
 * application's) runs in the child before it has given every signal its
 * default disposition; the child then empties its mask, and the program
 * it execs starts clean. */

int
sio__signals_block_all(sigset_t *old)
{
	sigset_t all;
	sigfillset(&all);
	int rc = pthread_sigmask(SIG_SETMASK, &all, old);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

void
sio__signals_set_mask(const sigset_t *mask)
{
	(void)pthread_sigmask(SIG_SETMASK, mask, NULL);
}

/* In the child, between fork() and exec: async-signal-safe calls only.
 * The atfork handler above may have unblocked the runtime's signals:
 * everything is blocked again first, until no handler is left to run. */
void
sio__signals_child_defaults(void)
{
	sigset_t set;
	sigfillset(&set);
	(void)sigprocmask(SIG_SETMASK, &set, NULL);
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	for (int s = 1; s < NSIG_ALL; s++)
		if (s != SIGKILL && s != SIGSTOP)
			(void)sigaction(s, &dfl, NULL);   /* EINVAL for the C
			                                     library's own: fine */
}

void
sio__signals_child_unblock(void)
{
	sigset_t none;
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* ---- threads of the library --------------------------------------------------- */

/* A worker inherits its creator's mask, which inside a run leaves the
 * runtime's signals unblocked while a handler is installed: a signal
 * process-directed (plain SIGIO, a kill) could then land on the worker,
 * whose handler slot serves no loop.  Blocking everything for the
 * creation makes the new thread start with a full mask. */
int
sio__thread_spawn(void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	int err = pthread_attr_init(&attr);
	if (err != 0)
		return err;
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&t, &attr, fn, arg);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return err;
}

/* ---- thread identity ------------------------------------------------------------ */

/* A number no other thread of the process ever had: kernel thread ids are
 * reused once their thread is gone (pid_max is often 32768), and a loop
 * run by a new thread with a dead one's id must still re-point its fds. */
uint64_t
sio__thread_serial(void)
{
	static atomic_uint_least64_t last;
	static _Thread_local uint64_t serial;
	if (serial == 0)
		serial = atomic_fetch_add(&last, 1) + 1;
	return serial;
}

