/*
 * sigio.h - the whole public API of sigio, a signal-driven I/O event loop.
 *
 * A program creates a loop, starts watchers on file descriptors and runs the
 * loop; the loop calls each watcher's callback when its fd is ready.  On the
 * "sigio" backend the kernel announces readiness with SIGIO (F_SETOWN plus
 * O_ASYNC on each fd); the "poll" and "select" backends serve the same API
 * where signal-driven I/O is not available.
 *
 * Conventions, as in the sockets API: a function that fails returns -1 (or
 * NULL) and sets errno; nothing here prints, exits or aborts.  A loop and its
 * watchers belong to one thread at a time: call the functions on a loop from
 * the thread that runs it (or while nobody runs it), except where a function
 * says it is thread-safe.
 */
#ifndef SIGIO_H
#define SIGIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SIO_VERSION_MAJOR 0
#define SIO_VERSION_MINOR 1
#define SIO_VERSION_PATCH 0
/* The same as one number, MAJOR * 10000 + MINOR * 100 + PATCH, for #if. */
#define SIO_VERSION_NUMBER \
	(SIO_VERSION_MAJOR * 10000 + SIO_VERSION_MINOR * 100 + SIO_VERSION_PATCH)

/* An event loop.  Opaque; create with sio_loop_new(). */
typedef struct sio_loop sio_loop;

/* A watcher on one file descriptor.  Opaque; created by sio_io_start(),
 * valid until sio_io_stop() (or sio_loop_free()) returns. */
typedef struct sio_io sio_io;

/* Event bits for sio_io_start() and sio_io_set(), and bits of the revents
 * passed to a callback. */
enum {
	SIO_READ   = 0x01,  /* readable: data, a pending connection, or EOF */
	SIO_WRITE  = 0x02,  /* writable without blocking */
	SIO_URGENT = 0x04,  /* urgent (out-of-band) data is waiting: read it
	                       with sio_urgent_read() */
	SIO_HUP    = 0x10,  /* revents only: the peer hung up */
	SIO_ERROR  = 0x20,  /* revents only: an error is pending on the fd (read
	                       it with getsockopt(SO_ERROR)), or the fd was closed
	                       while watched (the watcher is then dead) */
	SIO_EDGE   = 0x100  /* events only: edge-triggered, see sio_io_start() */
};

/* Modes for sio_loop_run(). */
enum {
	SIO_RUN_DEFAULT = 0, /* until sio_loop_stop() or no active watcher is left */
	SIO_RUN_ONCE    = 1, /* block until at least one callback ran */
	SIO_RUN_NOWAIT  = 2  /* dispatch what is ready now, never block */
};

/* Counters kept by each loop; read them with sio_loop_stats().  All count
 * from sio_loop_new() on and only grow. */
struct sio_stats {
	uint64_t signals;        /* runtime signals consumed (SIGIO), whether
	                            taken synchronously or through the handler */
	uint64_t wakeups;        /* times the loop woke because its self-pipe
	                            became readable */
	uint64_t rescans;        /* full rescans of every watched fd (plain SIGIO
	                            says only "something is ready") */
	uint64_t pipe_overflows; /* times the self-pipe was full when the handler
	                            or sio_shutdown() wrote to it (each forces
	                            a rescan) */
	uint64_t queue_overflows;/* rtsig: plain SIGIOs received because the
	                            kernel's real-time queue was full (each
	                            forces a rescan) */
	uint64_t callbacks;      /* watcher callbacks called */
	uint64_t iterations;     /* loop iterations */
	uint64_t sleeps;         /* waits that could block (a timeout other
	                            than 0) because nothing was known ready */
	uint64_t fallback_fds;   /* fds currently watched by poll() inside a
	                            signal-driven backend (O_ASYNC not possible) */
	uint64_t reserved[7];    /* zero; room to grow without breaking the ABI */
};

/* Callback of an fd watcher.  `revents` holds the events that are ready,
 * among those watched, plus SIO_HUP and SIO_ERROR whatever was watched.
 * The callback may call any function of this API on its own loop,
 * sio_io_stop() on its own watcher or on any other included. */
typedef void (*sio_io_cb)(sio_io *io, int fd, unsigned revents, void *arg);

/* ---- version ------------------------------------------------------------ */

/* sio_version - the version of the library the program runs with, as
 * "MAJOR.MINOR.PATCH" (a static string); it may differ from the
 * SIO_VERSION_* macros the program was compiled with.  Thread-safe. */
const char *sio_version(void);

/* sio_version_number - the same as MAJOR * 10000 + MINOR * 100 + PATCH,
 * to compare with SIO_VERSION_NUMBER.  Thread-safe. */
int sio_version_number(void);

/* ---- loops ------------------------------------------------------------ */

/*
 * sio_loop_new - create an event loop.
 *
 * `backend` names how readiness is learnt: "rtsig" (Linux: a queued
 * real-time signal per event, carrying the fd and its poll bits, see
 * sio_rtsig_set()), "sigio" (plain SIGIO with F_SETOWN and O_ASYNC, then a
 * poll of every watched fd), "poll" or "select".  NULL or "auto" first
 * looks at the environment variable SIGIO_BACKEND: whenever it is set, not
 * empty and not "auto", its value is used as if it had been passed.
 * Otherwise NULL or "auto" picks the best backend this build and platform
 * have, in that order, passing over a signal-driven one whose signal the
 * application already handles (a SIGIO handler of its own).  Naming
 * "sigio" or "rtsig" (here or in SIGIO_BACKEND) gives the runtime SIGIO
 * even if the application had a handler for it (saved, and restored by the
 * last sio_loop_free()).  sio_loop_new(3) says the same at length.
 *
 * The sigio and rtsig backends install a handler (SA_SIGINFO | SA_RESTART)
 * for SIGIO (and rtsig for its real-time signal) when the first loop that
 * needs it is created, saving the disposition it replaces, and restore that
 * disposition when the last such loop is freed.  While sio_loop_run() works
 * these signals are blocked in the running thread and consumed
 * synchronously (in batches from a signalfd, or with sigtimedwait() when
 * none can be made).  rtsig with a signalfd sleeps in poll() on it with
 * them still blocked, while its loop is the only sigio or rtsig loop of the
 * process (the kernel wakes every thread asleep on a signalfd for any
 * signal queued to any thread); otherwise they are unblocked only while
 * the loop sleeps, and the handler wakes it through the self-pipe.  The
 * run changes only those signals: when sio_loop_run() returns it unblocks
 * just what it blocked, and the mask the loop sleeps with is the thread's
 * mask of the moment, so a signal the application (or a callback) blocks
 * stays blocked.  A child forked from a callback starts with the
 * application's mask, none of the runtime's signals blocked behind its
 * back (a pthread_atfork() handler), and so does a program it execs.
 * Each fd's signals go to the thread that runs the loop (F_SETOWN_EX with
 * F_OWNER_TID on Linux), so one loop per thread works without the
 * application touching its signal masks, and threads that run no loop are
 * not interrupted.  Two loops run by one thread (one nested in a callback
 * of the other, or in turn) share the thread's signals: what one drains
 * for the other is passed on to it through its self-pipe.
 *
 * These signals are the runtime's while a loop uses them.  A handler the
 * application installs for one of them afterwards takes its readiness
 * signals away (the loop's watchers are then told only by the next poll,
 * if ever): don't.  sio_loop_free() leaves such a handler in place rather
 * than restoring the disposition it had saved.  In a forked child that
 * does not call sio_loop_fork(), the runtime's handler is not the
 * runtime's any more: a signal it catches there gets the disposition the
 * application had before the runtime took it (its handler runs, or the
 * default action), from then on, and never reaches the parent's loop.
 *
 * Returns the loop, or NULL with errno: EINVAL for an unknown backend name,
 * ENOSYS for a backend this build or platform lacks, ENOMEM, EMFILE or
 * ENFILE when the self-pipe cannot be made, EAGAIN when SIO_MAX_LOOPS loops
 * already exist, ERANGE for "select" when the self-pipe's fd is not below
 * FD_SETSIZE.
 */
sio_loop *sio_loop_new(const char *backend);

/* The most loops that may exist at once in a process. */
#define SIO_MAX_LOOPS 1024

/*
 * sio_loop_free - destroy a loop: every watcher still on it is stopped (its
 * O_ASYNC undone, its memory freed: handles to it become invalid), the
 * self-pipe closed, and signal dispositions restored if this was the last
 * loop that needed them.  Work items and lookups still pending are given
 * up: their callbacks never run, and nothing leaks (see sio_work_submit()).
 * Streams closed (sio_stream_close()) whose on_close is still to come are
 * finished first, the loop still whole: their on_close runs here.
 * Must not be called from a callback of that loop or while another thread
 * runs it.  NULL is ignored.
 *
 * In a child process that inherited the loop through fork() and did not
 * call sio_loop_fork(), it frees the child's copy and leaves the fds'
 * owner and O_ASYNC as they are: they are the parent's, which still
 * serves them.  There it may also be called from a callback of a run the
 * child inherited (it forked from that callback), provided the child then
 * never returns into that run: it execs or exits.
 */
void sio_loop_free(sio_loop *loop);

/* sio_loop_backend - the name of the backend the loop uses ("rtsig",
 * "sigio", "poll" or "select").  The string is static. */
const char *sio_loop_backend(const sio_loop *loop);

/*
 * sio_backends - the names of the backends this build can offer, best first,
 * as "auto" would try them.  Stores up to `max` static strings in `names` and
 * returns how many there are in all (which may exceed `max`).
 */
size_t sio_backends(const char **names, size_t max);

/*
 * sio_loop_run - wait for events and call the callbacks of ready watchers.
 *
 * SIO_RUN_DEFAULT runs until sio_loop_stop() is called or nothing active is
 * left: an fd watcher is active from sio_io_start() until sio_io_stop(), as
 * long as its events are not 0 and its fd was not found closed; a timer
 * until it fired (one-shot) or is stopped; a signal watcher until it is
 * stopped; an async handle until it is freed.
 *
 * One iteration, in order: update the cached time, run the timers that are
 * due, learn what is ready (sleeping, if nothing is, until an fd is ready,
 * a signal or wake-up arrives, or the next timer is due), then call the
 * ready fd watchers, the signal watchers whose signal arrived, the async
 * handles that were sent to, and the timers that fell due meanwhile.
 * SIO_RUN_ONCE blocks until at least one callback ran, or returns at once
 * when no active watcher is left.  SIO_RUN_NOWAIT dispatches what is ready
 * now and returns without blocking.
 *
 * Delivery is level-triggered: a callback is called again, on later
 * iterations, while its fd stays ready for a watched event, although the
 * signals behind it are edges.  Spurious calls are possible (an fd reported
 * ready that is no longer ready by the time the callback reads it): watched
 * fds are put in O_NONBLOCK, so the callback sees EAGAIN, not a hang.
 *
 * Returns 0, or -1 with errno: EINVAL for a bad mode or NULL loop, EBUSY
 * when called from a callback of the same loop (the loop is not reentrant),
 * or the errno of a system call that failed unrecoverably.
 */
int sio_loop_run(sio_loop *loop, int mode);

/*
 * sio_loop_stop - make sio_loop_run() return once the callbacks of the
 * current iteration have run.  If the loop is not running, the next
 * sio_loop_run() returns after at most one iteration.  Thread-safe and
 * async-signal-safe: it may be called from another thread or a signal
 * handler, and wakes the loop if it sleeps.
 */
void sio_loop_stop(sio_loop *loop);

/*
 * sio_loop_stats - copy the loop's counters into *stats.  Returns 0, or -1
 * with errno EINVAL when an argument is NULL.
 */
int sio_loop_stats(const sio_loop *loop, struct sio_stats *stats);

/*
 * sio_rtsig_set - choose the real-time signal of the rtsig backend, for
 * loops created from now on: a number from SIGRTMIN to SIGRTMAX, or 0 for
 * the default.  The default is the environment variable SIGIO_RTSIG, read
 * as k in SIGRTMIN+k, if set; otherwise the highest real-time signal whose
 * disposition is still SIG_DFL when the first rtsig loop is created (that
 * is, one the application does not use).  All rtsig loops of a process
 * share one signal.  Returns 0, or -1 with errno: EINVAL for a number out
 * of range, EBUSY if rtsig loops exist and use another signal, ENOSYS if
 * the platform has no real-time signals.  Thread-safe.
 */
int sio_rtsig_set(int signo);

/* sio_rtsig_get - the real-time signal rtsig loops use now, or 0 if no
 * rtsig loop exists.  Thread-safe. */
int sio_rtsig_get(void);

/* ---- fd watchers ------------------------------------------------------ */

/*
 * sio_io_start - watch `fd` for `events` (SIO_READ and/or SIO_WRITE, with
 * SIO_EDGE optionally) and call `cb(io, fd, revents, arg)` when it is ready.
 *
 * The fd is put in O_NONBLOCK.  Change its flags afterwards only by adding
 * to or removing from what F_GETFL gives (fcntl(fd, F_SETFL,
 * fcntl(fd, F_GETFL) | flag)): a bare F_SETFL value clears the O_ASYNC
 * the loop set, and the watcher goes deaf on the sigio and rtsig backends.
 * On the sigio and rtsig backends it is also
 * given an owner (F_SETOWN_EX naming the loop's thread on Linux, F_SETOWN
 * with the process id elsewhere), a signal (F_SETSIG: 0 for sigio, the
 * real-time signal for rtsig) and O_ASYNC; an fd that cannot signal (a
 * regular file, a directory, most devices) is watched with poll() inside
 * the same loop instead (counted in sio_stats.fallback_fds).  A regular
 * file is always ready, as with poll().
 *
 * A watcher started on an fd that is already ready fires on the next
 * iteration without waiting for a signal.  With SIO_EDGE the loop does not
 * check the fd again after the callback ran, as EPOLLET: the callback
 * promises to read or write until EAGAIN, and is called again only when the
 * kernel signals new readiness.  The poll and select backends treat
 * SIO_EDGE as level-triggered (extra calls are allowed).
 *
 * Several watchers may watch one fd, and several fds of one loop may share
 * an open file description (an fd and its dup()s, a socket that is both
 * stdin and stdout); each watcher is called for its own events.  Owner,
 * signal and O_ASYNC belong to the description, not the fd, so the signal-
 * driven backends track descriptions: readiness signalled for one reaches
 * the watchers of every fd of the loop on it, and its O_ASYNC stays until
 * the last of them stops.  Linux tells descriptions apart with kcmp(2).
 * Where that is missing or refused (other systems, seccomp sandboxes), fds
 * on one inode count as one description when O_ASYNC is on already: exact
 * for sockets, which cannot be opened twice; two opens of one FIFO or
 * terminal are taken for one only if something else set O_ASYNC on the
 * second, which then gets spurious calls and keeps its O_ASYNC.  Do not
 * watch one description from two loops on the signal-driven backends: only
 * the loop that armed it last is signalled.
 *
 * Shut a watched socket down with sio_shutdown(), not shutdown(2): the
 * kernel raises no signal for a process's own shutdown, and on the sigio
 * and rtsig backends its watchers would not hear of it.
 *
 * Stop a watcher before closing its fd.  If the fd is closed while watched,
 * the next poll-based check of it reports it once with SIO_ERROR and the
 * watcher dies (it stays allocated, inactive, until sio_io_stop()); poll,
 * select and sigio check every fd often, rtsig only at its next full rescan
 * (a closed fd sends no signal), so until then the watcher keeps
 * SIO_RUN_DEFAULT running, as it would on epoll.  If the number is
 * reused by a new watcher first, the new watcher takes the fd and the old
 * callback never runs again (sockets and pipes are told apart by device and
 * inode; a reopened regular file may look the same).
 *
 * Events may be 0: the watcher exists but is paused (see sio_io_set()).
 *
 * Returns the watcher, or NULL with errno: EINVAL for a NULL loop or
 * callback or unknown event bits, EBADF for a negative or closed fd,
 * ERANGE on the select backend
 * for fd >= FD_SETSIZE, ENOMEM, or the errno of a failing fcntl().
 * Cost: O(1) amortised, plus an fstat() and one or two fcntl() calls; on
 * the signal-driven backends the first watcher of an fd adds the fcntl()s
 * that arm it, or, when the loop already watches its inode, a kcmp().
 */
sio_io *sio_io_start(sio_loop *loop, int fd, unsigned events, sio_io_cb cb,
                     void *arg);

/*
 * sio_io_set - change the events a watcher waits for (0 pauses it: a paused
 * watcher keeps no loop running).  Widening the set on an fd that is already
 * ready fires on the next iteration.  Returns 0, or -1 with errno as for
 * sio_io_start(), and EINVAL for a NULL or dead watcher.
 */
int sio_io_set(sio_io *io, unsigned events);

/* sio_io_events - the events a watcher waits for (as last set). */
unsigned sio_io_events(const sio_io *io);

/* sio_io_fd - the fd a watcher watches. */
int sio_io_fd(const sio_io *io);

/*
 * sio_io_stop - stop a watcher and free it.  Safe from any callback of its
 * loop, its own included; once it returns, the watcher's callback never runs
 * again, even if it was ready in the iteration being dispatched.  When the
 * last watcher of an open file description stops (of every fd of the loop
 * on it), the O_ASYNC the loop set on it is undone (O_NONBLOCK stays).  On
 * rtsig, whose signals name a description by the fd through which O_ASYNC
 * was turned on, stopping the last watcher of that fd while a dup() is
 * still watched turns O_ASYNC off and on again through the dup (a few
 * fcntl() calls) and checks the dup's watchers on the next iteration.  The
 * fd itself is not closed.  NULL is ignored.
 */
void sio_io_stop(sio_io *io);

/* ---- shutting a watched socket down ------------------------------------ */

/*
 * sio_shutdown - shutdown(fd, how), then tell `loop` that fd's readiness
 * changed.  Use it, not shutdown(2), on a socket the loop watches: on the
 * rtsig and sigio backends the kernel raises no signal when a process
 * shuts its own socket down (Linux signals only the peer), so a watcher
 * would never hear of it, although poll() and epoll report the change at
 * once.  "Shut the socket down to wake its reader" works with this call
 * on every backend.
 *
 * On the next iteration (the loop is woken if it sleeps) fd's watchers,
 * and those of every fd of the loop on its open file description (a dup()
 * of it, watched or not), get what poll() reports then: after SHUT_RD or SHUT_RDWR a read watcher
 * is called with SIO_READ and reads end of file (0); after SHUT_WR a TCP
 * socket is writable (a write watcher blocked on a full send buffer is
 * called, and its writes fail with EPIPE), while an AF_UNIX socket stays
 * as it was, for poll() as for the loop.  The poll and select backends
 * would see the change by themselves; the call only wakes them.  An fd the
 * loop does not watch (or watches no more) is shut down all the same, and
 * the loop, woken, finds nothing to do.  A plain shutdown(2) followed by
 * sio_shutdown() for the same direction works too (the second shutdown
 * changes nothing; the loop is told).
 *
 * The loop is told whatever shutdown(2) returned, for `fd` >= 0: Linux
 * marks an unconnected socket shut (poll() reports it) and still fails
 * with ENOTCONN.  Returns 0, or -1 with errno: EINVAL for a NULL loop or a
 * `how` other than SHUT_RD, SHUT_WR and SHUT_RDWR (nothing is shut down
 * then); else shutdown(2)'s: EBADF (a negative or closed fd), ENOTSOCK,
 * ENOTCONN.  errno is left alone on success.
 *
 * Thread-safe and async-signal-safe (shutdown(2), one write(2) to the
 * loop's self-pipe, atomics): another thread, or a signal handler, may
 * shut a socket down to wake the loop's reader while the loop sleeps, as
 * long as the loop is not being freed meanwhile.  Cost: the shutdown(2)
 * and one pipe write; the loop then polls the fds of that description (an
 * fstat() finds them when `fd` itself is not watched).  When the pipe is
 * full (thousands of notes nobody has read yet), the loop polls every fd
 * once instead (counted in sio_stats.pipe_overflows): nothing is lost.
 */
int sio_shutdown(sio_loop *loop, int fd, int how);


/* ---- timers ------------------------------------------------------------- */

/* A timer.  Opaque; created by sio_timer_start(), valid until
 * sio_timer_stop() (or sio_loop_free()). */
typedef struct sio_timer sio_timer;

typedef void (*sio_timer_cb)(sio_timer *t, void *arg);

/*
 * sio_timer_start - call `cb(t, arg)` once `after_ms` milliseconds have
 * passed (counted from this call, on CLOCK_MONOTONIC), then every
 * `repeat_ms` milliseconds if that is not 0.  The loop's sleep is bounded by
 * the next deadline.  Timers due in the same iteration fire in deadline
 * order, and in start order for equal deadlines.
 *
 * A repeating timer that falls behind (a long callback, a suspended process)
 * does not fire in a burst to catch up: if its next deadline has already
 * passed when it fires, the next one is set `repeat_ms` after now, and the
 * missed periods are skipped.
 *
 * A one-shot timer is inactive once it fired, but its handle stays valid
 * (and its memory allocated) until sio_timer_stop(): stop every timer you
 * start, fired or not, exactly once.  Active timers keep SIO_RUN_DEFAULT
 * running.  Cost: O(log n) in the number of timers (a binary heap).
 * Returns the timer, or NULL with errno EINVAL (NULL loop or callback,
 * a time that overflows) or ENOMEM.
 */
sio_timer *sio_timer_start(sio_loop *loop, uint64_t after_ms, uint64_t repeat_ms,
                           sio_timer_cb cb, void *arg);

/* sio_timer_stop - stop a timer (if still active) and free it.  Safe from
 * any callback, its own included: once it returns, the callback never runs
 * again.  NULL is ignored.  O(log n). */
void sio_timer_stop(sio_timer *t);

/* sio_timer_again - restart a timer: the same callback, `after_ms` from now,
 * then every `repeat_ms`; for a fired one-shot as well as an active timer
 * (an idle timeout pushed back on every read).  Returns 0, or -1 with errno
 * EINVAL. */
int sio_timer_again(sio_timer *t, uint64_t after_ms, uint64_t repeat_ms);

/* sio_loop_now - the loop's time in milliseconds on CLOCK_MONOTONIC, cached
 * at the start of each iteration (and after each sleep). */
uint64_t sio_loop_now(const sio_loop *loop);

/* sio_loop_update_time - refresh the cached time now. */
void sio_loop_update_time(sio_loop *loop);

/* ---- signal watchers ------------------------------------------------------ */

/* A signal watcher.  Opaque; valid until sio_signal_stop(). */
typedef struct sio_signal sio_signal;

/* `count`: how many times the signal arrived since the last call, at least
 * 1 (signals arriving faster than the loop iterates are coalesced and
 * counted; the count is exact unless the self-pipe overflowed, when it may
 * be low). */
typedef void (*sio_signal_cb)(sio_signal *s, int signo, unsigned count, void *arg);

/*
 * sio_signal_start - call `cb` from the loop, never inside a signal handler,
 * when `signo` is delivered to the process.  Several watchers, in one loop
 * or several, may watch one signal: each runs.  The first watcher of a
 * signal in the process installs the runtime's handler, saving the
 * disposition it replaces; the last one to stop restores it.  The signal
 * must not be blocked in the threads that should receive it.
 *
 * Returns the watcher, or NULL with errno EINVAL: NULL loop or callback, a
 * number that is not a signal, SIGKILL or SIGSTOP, or a signal the runtime
 * itself uses (SIGIO, SIGURG while a signal-driven loop exists, the rtsig
 * backend's real-time signal).  Active signal watchers keep
 * SIO_RUN_DEFAULT running.
 */
sio_signal *sio_signal_start(sio_loop *loop, int signo, sio_signal_cb cb, void *arg);

/* sio_signal_stop - stop a signal watcher and free it; safe from any
 * callback.  NULL is ignored. */
void sio_signal_stop(sio_signal *s);

/* ---- child processes ---------------------------------------------------- */

/* A child watcher.  Opaque; created by sio_child_start() or sio_spawn(),
 * valid until sio_child_stop() (or sio_loop_free()). */
typedef struct sio_child sio_child;

/* `status` is what waitpid() stored (test it with WIFEXITED() and
 * WEXITSTATUS(), WIFSIGNALED() and WTERMSIG()), or SIO_CHILD_LOST when
 * other code reaped the child first and its status is unknown. */
typedef void (*sio_child_cb)(sio_child *c, pid_t pid, int status, void *arg);

/* The status of a watched child that other code reaped (waitpid(-1) or
 * wait() elsewhere in the program, a handler reaping every child, or
 * SIGCHLD ignored when it exited): no waitpid() status is ever -1. */
#define SIO_CHILD_LOST (-1)

/*
 * sio_child_start - call `cb` once, from the loop on its thread, when the
 * child `pid` has terminated; the runtime has reaped it by then.  Stops
 * and continues are not reported.  The child may have been started in any
 * way (fork, posix_spawn, popen...); one that has already exited when the
 * watcher starts is reported on the next iteration.  Any loop may watch
 * children, several loops in several threads at once; each child can be
 * watched by one watcher at a time.
 *
 * Only watched children are reaped, each by its pid (waitpid(pid,
 * WNOHANG) on every SIGCHLD, never waitpid(-1)): a child the application
 * or a library waits for itself is left to it.  While child watchers
 * exist, SIGCHLD is the runtime's handler's, which writes to every loop
 * with child watchers and then calls the handler the application had
 * installed before (not for stops and continues if it had SA_NOCLDSTOP);
 * the disposition is restored when the last child watcher is stopped.
 * The runtime takes SIGCHLD without SA_NOCLDWAIT, whatever the
 * application had: if SIGCHLD was ignored (SIG_IGN, or SA_NOCLDWAIT), the
 * kernel reaps children by itself and no status could be had, so while
 * child watchers exist, children the application does not wait for become
 * zombies until it does (and a watched child that exited while SIGCHLD
 * was still ignored is reported as SIO_CHILD_LOST).  SIGCHLD must not be
 * blocked in every thread, and a SIGCHLD handler of the application's
 * belongs installed before the first child watcher (it is then chained),
 * not while they exist: it would take SIGCHLD from them.
 *
 * After its callback ran the watcher is inactive (it no longer keeps
 * SIO_RUN_DEFAULT running) but stays valid until sio_child_stop(), as a
 * fired one-shot timer does: stop every child watcher exactly once.  An
 * active child watcher keeps SIO_RUN_DEFAULT running.
 *
 * Returns the watcher, or NULL with errno EINVAL (NULL loop or callback,
 * pid <= 0), ECHILD (not a child of this process, or already reaped),
 * EBUSY (already watched, by this loop or another) or ENOMEM.
 */
sio_child *sio_child_start(sio_loop *loop, pid_t pid, sio_child_cb cb, void *arg);

/* sio_child_stop - stop watching and free the watcher; safe from any
 * callback, its own included.  A child not yet reported is left unreaped,
 * for the application to wait for.  NULL is ignored. */
void sio_child_stop(sio_child *c);

/* sio_child_pid - the watched pid (also after it was reported), or -1
 * with errno EINVAL for NULL. */
pid_t sio_child_pid(const sio_child *c);

/*
 * sio_child_kill - kill(pid, signo) on the watched child, which cannot be
 * a recycled pid: until the runtime reaps it, the pid stays the child's
 * (a zombie at worst).  Returns 0, or -1 with errno: ESRCH once the child
 * was reaped (its callback is due or ran), EINVAL (NULL, a bad signal),
 * or what kill() says.  Other code that reaps a watched child behind the
 * runtime's back (waitpid(-1)) voids that guarantee.
 */
int sio_child_kill(sio_child *c, int signo);

/* What a child gets as fd 0, 1 or 2 (sio_spawn_opts.stdio): an fd of the
 * parent (>= 0), or one of these. */
enum {
	SIO_STDIO_INHERIT = -1, /* the parent's own fd 0, 1 or 2 (closed if
	                           the parent's is) */
	SIO_STDIO_NULL    = -2, /* /dev/null, opened read-write */
	SIO_STDIO_PIPE    = -3  /* a new pipe: the parent's end comes back in
	                           pipes[i] */
};

/* sio_spawn_opts.flags */
enum {
	SIO_SPAWN_SETSID  = 0x1, /* the child leads a new session (and so a
	                            new process group) */
	SIO_SPAWN_SETPGID = 0x2  /* the child leads a new process group */
};

struct sio_spawn_opts {
	const char *file;       /* the program: searched in PATH when it has
	                           no '/' */
	char *const *argv;      /* NULL-terminated; NULL: { file, NULL } */
	char *const *envp;      /* NULL: the parent's environment */
	const char *cwd;        /* NULL: the parent's working directory */
	int stdio[3];           /* fd 0, 1, 2 of the child: see SIO_STDIO_* */
	int flags;              /* SIO_SPAWN_* */
};

/*
 * sio_spawn - start `opts->file` in a child process and watch it, as
 * sio_child_start() would (the same callback, the same watcher).
 *
 * The file is searched in the parent's PATH ("/bin:/usr/bin" if unset)
 * when it has no '/', as execvp() does, except that a file that is not an
 * executable format is an error (ENOEXEC), never run by /bin/sh.  For
 * each stdio[i] that is SIO_STDIO_PIPE, pipes[i] receives the parent's
 * end (the write end for 0, the read end for 1 and 2), nonblocking and
 * close-on-exec, ready for sio_stream_new(); pipes[i] is -1 for the
 * others.  `pipes` may be NULL when no pipe is asked for.  A stream
 * writing to the stdin pipe of a child that is gone closes with EPIPE,
 * without a SIGPIPE: see sio_stream_new().
 *
 * Only the fds named in stdio reach the child: every other fd of the
 * parent, close-on-exec or not, is closed in it.  The child starts with
 * an empty signal mask and every signal's disposition the default: none
 * of the runtime's (or the application's) blocked signals and handlers
 * leak into it (but for the few signals the C library keeps for itself,
 * glibc's 32 and 33, which no program can change).  Between fork() and exec the child makes only
 * async-signal-safe calls.
 *
 * A program that cannot be run is an error of sio_spawn() with the errno
 * of its exec (ENOENT, EACCES, ENOEXEC, E2BIG...), or of the chdir() to
 * cwd, of setsid() or setpgid(), and nothing is left behind: the child is
 * reaped, no pipe is left open, no watcher is made.  A child that ran is
 * never reported with a status the runtime made up.
 *
 * Returns the watcher, or NULL with errno: EINVAL (NULL loop, opts, file
 * or callback, a bad stdio value or flag, a pipe asked for with `pipes`
 * NULL), EMFILE, ENFILE, ENOMEM, EAGAIN (fork), or the child's error as
 * above.  The call blocks until the child has exec'd (or failed to):
 * that is the child's own fork-to-exec time, no longer.
 */
sio_child *sio_spawn(sio_loop *loop, const struct sio_spawn_opts *opts,
                     int pipes[3], sio_child_cb cb, void *arg);

/* ---- cross-thread wake-ups ------------------------------------------------ */

/* An async handle.  Opaque; valid until sio_async_free(). */
typedef struct sio_async sio_async;

typedef void (*sio_async_cb)(sio_async *a, void *arg);

/*
 * sio_async_new - a handle that other threads (or signal handlers) poke with
 * sio_async_send() to have `cb` called on the loop's thread.  An async
 * handle counts as an active watcher: it keeps SIO_RUN_DEFAULT running
 * until it is freed, as libev's ev_async and libuv's uv_async_t do.
 * Returns the handle, or NULL with errno EINVAL or ENOMEM.
 */
sio_async *sio_async_new(sio_loop *loop, sio_async_cb cb, void *arg);

/*
 * sio_async_send - wake the loop and have the handle's callback run on its
 * next iteration.  Sends between two iterations coalesce into one call.
 * Thread-safe and async-signal-safe (lock-free atomics and write(2)).
 * Returns 0, or -1 with errno EINVAL for NULL.
 */
int sio_async_send(sio_async *a);

/* sio_async_free - stop and free the handle.  Call it from the loop's
 * thread (a callback included) once no other thread can still send to it.
 * NULL is ignored. */
void sio_async_free(sio_async *a);

/* ---- hooks around the sleep ------------------------------------------------ */

/* A prepare, check or idle hook.  Opaque; valid until sio_hook_stop(). */
typedef struct sio_hook sio_hook;

typedef void (*sio_hook_cb)(sio_hook *h, void *arg);

/*
 * sio_prepare_start - call `cb` on every iteration of the loop, just before
 * it looks at the fds and may sleep.  What the callback does is taken into
 * account by that sleep: a timer it starts, a watcher it stops, a wake-up
 * it sends.  A prepare hook does not keep SIO_RUN_DEFAULT running.
 *
 * sio_check_start - call `cb` on every iteration just after the loop woke
 * and learnt what is ready, before the ready fd watchers' callbacks run.
 * A check hook does not keep SIO_RUN_DEFAULT running either.
 *
 * sio_idle_start - call `cb` on every iteration, after the other callbacks
 * of the iteration, for as long as the hook is started; meanwhile the loop
 * never sleeps (it looks at the fds without blocking).  An idle hook is an
 * active watcher: it keeps SIO_RUN_DEFAULT running, and its call ends a
 * SIO_RUN_ONCE.
 *
 * Hooks of one kind are called in the order they were started; a hook
 * started by a callback is first called on the next iteration.  Prepare
 * and check hooks run on every iteration, also those whose look at the fds
 * the loop skips while signals keep coming.  Each returns the hook, or NULL
 * with errno EINVAL (NULL loop or cb) or ENOMEM.
 */
sio_hook *sio_prepare_start(sio_loop *loop, sio_hook_cb cb, void *arg);
sio_hook *sio_check_start(sio_loop *loop, sio_hook_cb cb, void *arg);
sio_hook *sio_idle_start(sio_loop *loop, sio_hook_cb cb, void *arg);

/* sio_hook_stop - stop a hook and free it; safe from any callback (its own
 * included, and that of another hook of the same iteration, which is then
 * not called).  sio_loop_free() frees the hooks still started.  NULL is
 * ignored. */
void sio_hook_stop(sio_hook *h);

/* ---- worker threads ------------------------------------------------------- */

/* A work item.  Opaque; valid until its `done` callback has returned. */
typedef struct sio_work sio_work;

/* Runs on a worker thread: it must not call this API on any loop (except
 * the thread-safe functions, sio_async_send() and sio_loop_stop()). */
typedef void (*sio_work_fn)(void *arg);

/* Runs afterwards on the loop's thread: `status` 0 when `fn` ran, or
 * ECANCELED when sio_work_cancel() took the item before it started. */
typedef void (*sio_work_cb)(sio_work *w, int status, void *arg);

/*
 * sio_work_submit - run `fn(arg)` on a worker thread, then `done(w, 0,
 * arg)` on the loop's thread, from an iteration of sio_loop_run().  Items
 * start in the order they were submitted (as threads free up); each
 * `done` runs in the order the items finished.  A pending item (not yet
 * done) is an active watcher: it keeps SIO_RUN_DEFAULT running.
 *
 * The pool is shared by every loop of the process and started on first
 * use: at most 4 threads, or what the environment variable SIGIO_WORKERS
 * says (1 to 128; read once, when the first thread starts).  Threads are
 * made as work needs them and then kept; every signal is blocked in them,
 * so that no signal meant for a loop is ever taken by a worker.  The end
 * of the work reaches the loop through its self-pipe, as sio_async_send()
 * does.  Several loops in several threads may submit: each `done` runs on
 * its own loop's thread.
 *
 * sio_loop_free() with items still pending: none of their `done`
 * callbacks runs; an item not yet started is dropped (its `fn` never
 * runs), one running finishes on its worker and is then freed by the
 * pool.  `arg` stays the caller's in both cases: release what it points
 * to only once `fn` can no longer use it.  In a child process (fork()),
 * the items its loops had pending in the parent run in the parent only:
 * the child's copies are done with ECANCELED.
 *
 * Returns the item, or NULL with errno: EINVAL for a NULL loop, fn or
 * done; ENOMEM; EAGAIN when no worker thread can be started at all.
 */
sio_work *sio_work_submit(sio_loop *loop, sio_work_fn fn, sio_work_cb done,
                          void *arg);

/*
 * sio_work_cancel - take back an item that has not started: returns 0, and
 * its `done` runs with ECANCELED from the loop (never inside this call).
 * Returns -1 with errno EBUSY when it is running or has finished (its
 * `done` runs as usual, with 0), or was cancelled already; EINVAL for
 * NULL.  Call it from the loop's thread, before `done` has run.
 */
int sio_work_cancel(sio_work *w);

/* ---- embedding in another event loop --------------------------------------- */

/*
 * sio_loop_fd - an fd that becomes readable whenever the loop, not
 * running, has something to do: a watched fd became ready, a watched
 * signal arrived, an async handle was sent to, sio_loop_stop() was called.
 * A due timer does not make it readable: see sio_loop_timeout().  Another
 * event loop watches it for reading, sleeps at most sio_loop_timeout(), and
 * then calls sio_loop_run(loop, SIO_RUN_NOWAIT).  The fd is the loop's:
 * never read it or close it.  It stays the same for the loop's life (also
 * across sio_loop_fork(), in the child).
 *
 * rtsig and sigio (Linux): an epoll fd holding the self-pipe, into which
 * the runtime's signal handler writes a record for every signal the loop
 * takes while it is not running (its signals are blocked only during a
 * run), the signalfd of those signals (for a thread that blocks them
 * itself), and the fds polled directly rather than told by signals.  It
 * must be polled from the thread that runs the loop, where the signals
 * are sent.
 *
 * poll and select: -1 with errno ENOSYS.  These backends learn readiness
 * only by asking the kernel about every watched fd on each iteration;
 * nothing in them says "ready" between runs, and one fd standing for them
 * would have to mirror every watcher in an epoll set of its own.  The
 * same for the signal-driven backends where there is no epoll.  Embed a
 * loop of those backends with a timer of the outer loop, or run it in a
 * thread of its own.
 *
 * Returns the fd, or -1 with errno EINVAL (NULL) or ENOSYS (see above), or
 * that of epoll_create1() the first time it is asked for.
 */
int sio_loop_fd(const sio_loop *loop);

/*
 * sio_loop_timeout - how many milliseconds the outer loop may sleep before
 * calling sio_loop_run(loop, SIO_RUN_NOWAIT), even if sio_loop_fd() stays
 * unreadable: 0 if the loop has something to do already (a timer is due,
 * an idle hook is started, a wake-up or signal was taken but not yet
 * dispatched, fds must be looked at again: those whose callback ran, so
 * that delivery stays level-triggered, and watchers started or widened
 * since the last run, whose fd may have been ready before they were
 * armed), else the time until the next timer, rounded up, or -1 if there
 * is no timer.  It reflects every change made since the last run; call it
 * each time before the outer loop sleeps.  -1 with errno EINVAL for NULL.
 */
int sio_loop_timeout(const sio_loop *loop);

/* ---- fork ----------------------------------------------------------------- */

/*
 * sio_loop_fork - call in the child after fork(), for each loop the child
 * keeps using, before anything else on that loop.  It gives the child's
 * loop its own self-pipe and makes the runtime's signals the child's.  On
 * the signal-driven backends the fds the loop watches still belong to the
 * parent: an open file description (which parent and child share) has one
 * owner and one O_ASYNC flag.  The child's next loop iteration makes the
 * child the owner of the descriptions its loop still watches then;
 * watchers stopped (or the loop freed) in the child before that leave
 * their description to the parent, flags and owner untouched.  So: stop in
 * the child what the parent keeps serving, then run.  A description served
 * by both processes signals only one: prefork servers should give each
 * process its own listener (SO_REUSEPORT).
 *
 * A child forked from a callback is inside a run of the parent's: it may
 * call sio_loop_fork() there, and that run then goes on in the child,
 * served by the child's own pipe and signals (what was pending in the
 * parent's iteration is still dispatched in the child's copy of it: stop
 * first what the child does not keep).
 *
 * Without the call, the child's loop shares the parent's self-pipe (wake-ups
 * go to whichever process reads first) and is never signalled; it can only
 * be freed (see sio_loop_free()).
 * Returns 0, or -1 with errno: EINVAL for NULL, or for a loop running in
 * the calling process itself (not a child's inherited run); EMFILE, ENFILE
 * or ERANGE (select) when the new pipe cannot be made.
 */
int sio_loop_fork(sio_loop *loop);

/* ---- urgent data ------------------------------------------------------------ */

/* sio_urgent_read - read the urgent byte of a TCP socket (recv with
 * MSG_OOB): 1 with the byte in *byte, 0 at end of stream, or -1 with errno
 * (EINVAL: no urgent data is waiting or it was already read; EAGAIN: it is
 * announced but not yet arrived). */
int sio_urgent_read(int fd, unsigned char *byte);

/* sio_at_mark - whether the next byte to read in band is the one that
 * followed the urgent byte (sockatmark()): 1, 0, or -1 with errno. */
int sio_at_mark(int fd);

/* ---- the stream layer: listeners, streams, datagrams ------------------------
 *
 * A small buffered layer over the API above (it uses nothing else), for
 * what libevent's evconnlistener and bufferevent and libuv's uv_tcp and
 * uv_stream do.  Sockets it makes are nonblocking and close-on-exec, and it
 * never raises SIGPIPE on a socket (MSG_NOSIGNAL, or SO_NOSIGPIPE where that
 * is what the platform has; see sio_stream_new() for pipes).
 *
 * Objects of this layer (listeners, streams, datagram sockets) belong to
 * their loop's thread, as watchers do.  Their callbacks may call any
 * function of this API, on their own object as well as on others: closing
 * or freeing an object from inside one of its own callbacks is safe, its
 * memory is released once that callback has returned.  Free or close
 * every object before sio_loop_free(): the loop frees the watchers and
 * timers behind them, not the objects themselves.  A closed stream whose
 * on_close is still to come is finished by sio_loop_free() (on_close, then
 * its fd closed and its memory freed), so closing and then freeing the
 * loop without another run is safe.
 */

/*
 * sio_sockaddr_text - write `sa` as text into `buf` (`size` bytes):
 * "127.0.0.1:8080", "[::1]:8080" (with "%scope" for a scoped address), a
 * Unix path, "@name" for a Linux abstract Unix address, "" for an unnamed
 * Unix socket.  Returns `buf`, or NULL with errno: EINVAL for a NULL
 * argument or a length too short for the family, EAFNOSUPPORT for another
 * family, ENOSPC when the text (and its NUL) does not fit.  No system call;
 * thread-safe.
 */
char *sio_sockaddr_text(const struct sockaddr *sa, socklen_t len, char *buf,
                        size_t size);

/* The longest text sio_sockaddr_text() writes, NUL included: enough for
 * "[IPv6%scope]:65535" and for a Unix path. */
#define SIO_ADDRSTRLEN 112

/* A listening endpoint: every socket bound for one (host, service) or
 * path.  Opaque. */
typedef struct sio_listener sio_listener;

/* A new connection: `fd` is nonblocking and close-on-exec and now belongs
 * to the callback (wrap it in sio_stream_new(), or close it).  `peer` is
 * the peer's address (for a Unix socket often unnamed: peerlen small). */
typedef void (*sio_accept_cb)(sio_listener *l, int fd, const struct sockaddr *peer,
                              socklen_t peerlen, void *arg);

/* Flags for sio_listen_tcp() and sio_dgram_bind(). */
enum {
	SIO_LISTEN_REUSEPORT = 0x1   /* SO_REUSEPORT: several loops or processes
	                                share the port */
};

/*
 * sio_listen_tcp - bind and listen on every address getaddrinfo() gives for
 * (host, service) with AI_PASSIVE: IPv4 and IPv6 (IPv6 sockets are
 * IPV6_V6ONLY, so that both families can be bound on one port), with
 * SO_REUSEADDR and a backlog of SOMAXCONN.  `host` NULL means every local
 * address (0.0.0.0 and ::); `service` is a port number (0 to 65535) or a
 * service name, "0" letting the kernel choose: the port it chose for the
 * first address is then used for the others too, so that "host NULL, port
 * 0" gives one port on both families (the whole bind is retried a few
 * times if that port is taken in the other family).  Addresses of a family
 * the machine lacks (socket() fails with EAFNOSUPPORT, or bind() with
 * EADDRNOTAVAIL, as for :: where IPv6 is disabled) are passed over as long
 * as one address is bound; any other failure fails the whole call.
 *
 * Each connection is accepted in a loop (accept4 with SOCK_NONBLOCK and
 * SOCK_CLOEXEC, or accept and fcntl where accept4 is missing), at most 64
 * per callback so that other watchers get their turn, and handed to `cb`.
 * Aborted connections (ECONNABORTED, EPROTO, network errors) are skipped.
 * When the process runs out of fds (EMFILE, ENFILE) the listener keeps
 * serving: it gives up a reserved fd (one /dev/null descriptor per
 * listener, taken at creation) to accept the waiting connection and close
 * it at once (counted in sio_listener_refused()), then takes the reserve
 * again; if even that fails (no reserve, or ENOBUFS, ENOMEM or another
 * unexpected error) it stops watching its sockets for 100 ms instead of
 * spinning, then tries again.
 *
 * `flags`: 0 or SIO_LISTEN_REUSEPORT.  Returns the listener, or NULL with
 * errno: EINVAL for a NULL loop, service or callback, unknown flags, an
 * empty service or a port number above 65535; EADDRNOTAVAIL when
 * getaddrinfo() fails (the reason is in sio_listener_error()), EAGAIN for
 * its temporary failure (EAI_AGAIN), ENOMEM; EADDRINUSE, EACCES and the
 * like from bind() or listen(); ENOPROTOOPT for SIO_LISTEN_REUSEPORT where
 * the platform has no SO_REUSEPORT.  Nothing stays bound or open on
 * failure.  Cost: getaddrinfo() (which may block on a name server when
 * `host` is a name: pass numeric hosts from a loop that serves others).
 */
sio_listener *sio_listen_tcp(sio_loop *loop, const char *host, const char *service,
                             int flags, sio_accept_cb cb, void *arg);

/*
 * sio_listener_error - the text of the last getaddrinfo() failure in the
 * calling thread, for the EADDRNOTAVAIL (or EAGAIN) of sio_listen_tcp(),
 * sio_dgram_bind() and sio_connect_tcp(): gai_strerror()'s message, a
 * static string.  Each of those calls that gets as far as getaddrinfo()
 * resets it, to "" when getaddrinfo() succeeded (argument checks that fail
 * first leave it as it was).  Never NULL.  Thread-safe (the text is per thread).
 */
const char *sio_listener_error(void);

/*
 * sio_listen_unix - the same for a Unix-domain path, `type` SOCK_STREAM or
 * SOCK_SEQPACKET (accepted sockets are of that type).  A socket file
 * already at `path` is replaced only if nothing listens on it: a
 * nonblocking connect() of the same type is refused (ECONNREFUSED), so
 * the file is stale and is unlinked; if the connect succeeds or is only
 * delayed (EAGAIN: a full backlog) or the file is not a socket, the call
 * fails with EADDRINUSE and the file stays.  (Between that probe and the
 * bind another process could bind the path: the check is advisory, as
 * every such check is.)  The socket file is created with the process's
 * umask and removed by sio_listener_free(), if it is still the file this
 * listener created (same device and inode).
 *
 * `flags` must be 0 (SO_REUSEPORT means nothing for a path).  Returns the
 * listener, or NULL with errno: EINVAL for a NULL loop, path or callback,
 * an empty path, another type or flags; ENAMETOOLONG for a path that does
 * not fit in sun_path; EADDRINUSE as above; what socket(), bind() and
 * listen() say.  Nothing stays bound, open or created on failure.
 */
sio_listener *sio_listen_unix(sio_loop *loop, const char *path, int type, int flags,
                              sio_accept_cb cb, void *arg);

/* sio_listener_count - how many sockets the listener has bound (0 for
 * NULL). */
size_t sio_listener_count(const sio_listener *l);

/* sio_listener_fd - the i-th bound socket, or -1 (with errno EINVAL) when
 * `l` is NULL or `i` is not below sio_listener_count(). */
int sio_listener_fd(const sio_listener *l, size_t i);

/* sio_listener_address - the i-th bound address as text, as
 * sio_sockaddr_text() writes it: "127.0.0.1:PORT", "[::1]:PORT" (the real
 * port, from getsockname()) or the path.  Returns `buf`, or NULL with
 * errno: EINVAL for a NULL argument or `i` out of range, ENOSPC when `len`
 * is too small (SIO_ADDRSTRLEN always suffices), or getsockname()'s. */
char *sio_listener_address(const sio_listener *l, size_t i, char *buf, size_t len);

/* sio_listener_refused - connections accepted and closed at once because
 * the process was out of fds (0 for NULL). */
uint64_t sio_listener_refused(const sio_listener *l);

/* sio_listener_free - stop accepting, close every socket and the reserved
 * fd, remove the Unix socket file it created.  Safe from the listener's
 * own accept callback (no further connection is handed to it).  NULL is
 * ignored. */
void sio_listener_free(sio_listener *l);

/*
 * sio_connect_tcp - a TCP connection to (host, service), for a client:
 * tries every address getaddrinfo() gives, in its order, each with a
 * nonblocking connect() waited for with poll() up to `timeout_ms`
 * milliseconds (negative: as long as the kernel tries), and returns the
 * first socket that connected: nonblocking, close-on-exec, ready for
 * sio_stream_new().  The call blocks the calling thread (getaddrinfo and
 * the connects, one address after the other): use it at start-up, or
 * from a loop with nothing else to serve; a loop that serves others
 * connects with sio_connect_start().  Returns the
 * fd, or -1 with errno: EINVAL for a NULL host or service or a bad port,
 * EADDRNOTAVAIL or EAGAIN for getaddrinfo() (see sio_listener_error()),
 * ETIMEDOUT, or the last address's connect() error (ECONNREFUSED, ...).
 */
int sio_connect_tcp(const char *host, const char *service, int timeout_ms);

/*
 * sio_connect_unix - the same for a Unix path, `type` SOCK_STREAM or
 * SOCK_SEQPACKET.  A listener whose backlog is full makes the connect wait,
 * up to `timeout_ms`: 0 does not wait at all (a full backlog is an
 * ETIMEDOUT at once), negative waits without limit.  The call blocks the
 * calling thread meanwhile (sio_connect_unix_start() does not).  Returns the fd,
 * nonblocking and close-on-exec, or -1 with errno: EINVAL, ENAMETOOLONG,
 * ETIMEDOUT, or connect()'s (ENOENT, ECONNREFUSED, ...).
 */
int sio_connect_unix(const char *path, int type, int timeout_ms);

/* ---- asynchronous lookups --------------------------------------------------- */

struct addrinfo;

/* A name lookup in progress.  Opaque; valid until its callback has
 * returned or sio_lookup_cancel() has. */
typedef struct sio_lookup sio_lookup;

/* `status` 0 or getaddrinfo()'s EAI_* code (its text: gai_strerror()).
 * `res` (NULL on failure) is valid during the call only. */
typedef void (*sio_addrinfo_cb)(sio_lookup *q, int status,
                                const struct addrinfo *res, void *arg);

/* `status` 0 or getnameinfo()'s EAI_* code; `host` and `service` ("" on
 * failure) are valid during the call only. */
typedef void (*sio_nameinfo_cb)(sio_lookup *q, int status, const char *host,
                                const char *service, void *arg);

/*
 * sio_getaddrinfo - getaddrinfo(host, service, hints) on a worker thread
 * (see sio_work_submit()), then `cb` on the loop's thread.  The arguments
 * are copied: they need not outlive the call.  A numeric host (an IPv4 or
 * IPv6 literal, or `hints` with AI_NUMERICHOST) with a numeric or NULL
 * service (or AI_NUMERICSERV) needs no name server: it is answered
 * without a thread, by the loop's next iteration (never inside this
 * call).  Lookups never occupy more than half the pool (at least one
 * thread): a name server that does not answer cannot stop other work.
 * A pending lookup keeps SIO_RUN_DEFAULT running.  `hints` may be NULL
 * (as for getaddrinfo(): AF_UNSPEC, any socket type).
 *
 * Returns the lookup, or NULL with errno: EINVAL for a NULL loop or cb,
 * or both host and service NULL; ENOMEM; EAGAIN (no thread can start).
 * sio_loop_free() with lookups pending: their callbacks never run, and
 * their memory is released (by the worker, when a resolver still blocked
 * returns).
 */
sio_lookup *sio_getaddrinfo(sio_loop *loop, const char *host, const char *service,
                            const struct addrinfo *hints, sio_addrinfo_cb cb,
                            void *arg);

/*
 * sio_getnameinfo - getnameinfo(sa, salen, flags) on a worker thread, then
 * `cb` on the loop's thread, as sio_getaddrinfo() (the address is copied;
 * NI_NUMERICHOST with NI_NUMERICSERV is answered without a thread).
 * Returns the lookup, or NULL with errno: EINVAL for a NULL loop, sa or cb
 * or a length that is 0 or larger than struct sockaddr_storage; ENOMEM;
 * EAGAIN.
 */
sio_lookup *sio_getnameinfo(sio_loop *loop, const struct sockaddr *sa,
                            socklen_t salen, int flags, sio_nameinfo_cb cb,
                            void *arg);

/*
 * sio_lookup_cancel - give up a lookup whose callback has not run yet,
 * from the loop's thread (not from inside that callback).  Once it
 * returns the callback never runs and the lookup no longer keeps the loop
 * running; a resolver still blocked in a worker finishes there and its
 * result is freed when it arrives.  NULL is ignored.
 */
void sio_lookup_cancel(sio_lookup *q);

/* ---- asynchronous connect --------------------------------------------------- */

/* A connect in progress.  Opaque; valid until its callback has run or
 * sio_connect_cancel() has returned. */
typedef struct sio_connector sio_connector;

/* On success `fd` is a connected, nonblocking, close-on-exec socket that
 * now belongs to the callback (ready for sio_stream_new()) and `err` is 0;
 * on failure `fd` is -1 and `err` says why. */
typedef void (*sio_connect_cb)(sio_connector *c, int fd, int err, void *arg);

/*
 * sio_connect_start - connect to (host, service) over TCP without blocking
 * the loop: the name is looked up with sio_getaddrinfo(), and the
 * addresses are raced as RFC 8305 (Happy Eyeballs) says.  They are put in
 * the order of its section 4: families interleaved, one address at a
 * time, starting with the family of getaddrinfo()'s first.  The first
 * attempt starts at once; each next one when the previous failed, or
 * after a Connection Attempt Delay of 250 ms, with the earlier attempts
 * left running.  The first to connect wins, and every other attempt is
 * closed at once.  An address whose SYNs vanish (a broken IPv6 route)
 * therefore costs 250 ms, not the kernel's two minutes of retries.
 *
 * `timeout_ms` bounds the whole (lookup included); negative: no limit of
 * ours, only the kernel's.  The callback runs once, on the loop's thread,
 * never inside this call.  On failure `err` is ETIMEDOUT when the timeout
 * passed; when every address failed, the connect error of the last one
 * to fail (ECONNREFUSED, ENETUNREACH, ...); when the lookup failed,
 * EADDRNOTAVAIL (or EAGAIN for EAI_AGAIN, ENOMEM for EAI_MEMORY), with
 * gai_strerror()'s text in sio_listener_error() during the callback.
 * Sockets are nonblocking and close-on-exec, and never raise SIGPIPE
 * (SO_NOSIGPIPE where it exists; elsewhere send with MSG_NOSIGNAL, as the
 * stream layer does).  A pending connector keeps SIO_RUN_DEFAULT running;
 * like every object of the stream layer it is not freed by
 * sio_loop_free(): cancel it first.
 *
 * Returns the connector, or NULL with errno: EINVAL for a NULL loop, host,
 * service or cb, an empty service or a port number above 65535; ENOMEM;
 * EAGAIN (no worker thread could start for the lookup).
 */
sio_connector *sio_connect_start(sio_loop *loop, const char *host,
                                 const char *service, int timeout_ms,
                                 sio_connect_cb cb, void *arg);

/*
 * sio_connect_unix_start - the same for a Unix-domain path, `type`
 * SOCK_STREAM or SOCK_SEQPACKET.  A listener whose backlog is full makes
 * it wait (it tries again, at intervals growing from 1 to 50 ms, since the
 * kernel gives no word when room is made), up to `timeout_ms` (negative:
 * without limit).  `err`: ETIMEDOUT, or connect()'s (ENOENT,
 * ECONNREFUSED, ...).  Returns the connector, or NULL with errno: EINVAL
 * (NULL or empty path, another type, NULL loop or cb), ENAMETOOLONG,
 * ENOMEM, or socket()'s.
 */
sio_connector *sio_connect_unix_start(sio_loop *loop, const char *path, int type,
                                      int timeout_ms, sio_connect_cb cb,
                                      void *arg);

/*
 * sio_connect_cancel - give up a connect whose callback has not run, from
 * the loop's thread (not from inside that callback): every socket it
 * opened is closed, its lookup dropped, and the callback never runs.
 * NULL is ignored.
 */
void sio_connect_cancel(sio_connector *c);

/* A buffered nonblocking connection.  Opaque. */
typedef struct sio_stream sio_stream;

/* Bytes read, at most SIO_STREAM_READ_MAX at a time; valid during the call
 * only.  On a SOCK_SEQPACKET socket each call is one whole message. */
typedef void (*sio_stream_read_cb)(sio_stream *s, const void *data, size_t len,
                                   void *arg);

/* The most bytes one on_read call gets (the size of the read buffer, on
 * the stack of the loop's thread). */
#define SIO_STREAM_READ_MAX 65536

/* Why a stream closed. */
enum {
	SIO_CLOSE_EOF = 1,    /* the peer shut its side down, and our queue was
	                         delivered (or we had shut ours too) */
	SIO_CLOSE_RESET,      /* the peer reset the connection (ECONNRESET,
	                         EPIPE, ENOTCONN) */
	SIO_CLOSE_ERROR,      /* another error: `err` says which */
	SIO_CLOSE_LOCAL,      /* sio_stream_close(), or the drained
	                         sio_stream_shutdown() of a non-socket */
	SIO_CLOSE_TIMEOUT     /* a timeout of sio_stream_set_timeouts()
	                         passed; `err` is ETIMEDOUT */
};

/* The stream is closed: no callback of it runs again, what was queued and
 * not written is dropped, and its fd is closed and the stream freed when
 * this returns (the fd is still open during the call).  `err` is the errno
 * behind SIO_CLOSE_RESET/ERROR, ETIMEDOUT for SIO_CLOSE_TIMEOUT, else 0. */
typedef void (*sio_stream_close_cb)(sio_stream *s, int reason, int err, void *arg);

/* Urgent byte received (TCP MSG_OOB).  `at_mark` is sockatmark() after
 * the byte was read: 1 when every in-band byte sent before it has been
 * delivered to on_read already. */
typedef void (*sio_stream_urgent_cb)(sio_stream *s, unsigned char byte, int at_mark,
                                     void *arg);

/*
 * sio_stream_new - take `fd` (a connected SOCK_STREAM or SOCK_SEQPACKET
 * socket, or a pipe, FIFO or terminal) and watch it: `on_read` gets what
 * arrives, `on_close` is called exactly once when the stream ends, for
 * whatever reason, always from the loop (never inside a call of this API).
 * Either may be NULL (what is read is then dropped, the end unannounced).
 * The fd is put in O_NONBLOCK (its close-on-exec flag is left as it is);
 * the stream owns the fd from now on and closes it.  An fd opened
 * read-only is only read, one opened write-only only written (and, having
 * nothing to read, hears of a vanished reader only when it writes).
 *
 * On sockets data goes out with send()/sendmsg() and MSG_NOSIGNAL, so a
 * vanished peer is an EPIPE, never a SIGPIPE.  On any other fd (a pipe,
 * FIFO or terminal) it goes out with writev(), which has no such flag:
 * the stream holds SIGPIPE back in the calling thread for the write and
 * takes back the one a vanished reader raised, so that the stream closes
 * with SIO_CLOSE_RESET, EPIPE, whatever the application's disposition of
 * SIGPIPE (a SIGPIPE the application had pending, blocked, is left to it).
 * That costs two sigprocmask() per write to such an fd.
 *
 * On a SOCK_SEQPACKET socket message boundaries are kept: each
 * sio_stream_write() is sent as one message (never coalesced), each
 * on_read call is one message, and a message longer than
 * SIO_STREAM_READ_MAX closes the stream with SIO_CLOSE_ERROR, EMSGSIZE
 * rather than arrive cut.  A write too long for the socket fails with
 * EMSGSIZE and leaves the stream open when nothing was queued before it;
 * queued behind other messages, it closes the stream (SIO_CLOSE_ERROR,
 * EMSGSIZE) when its turn comes.
 *
 * A TCP socket whose nonblocking connect() is still in progress
 * (EINPROGRESS) may be given too, which is how to start a client stream
 * without blocking: what is written meanwhile is queued and goes out once
 * the connection is established, and a connect that fails closes the
 * stream with SIO_CLOSE_ERROR and its error (ECONNREFUSED, ETIMEDOUT,
 * EHOSTUNREACH, ...).  A write timeout (sio_stream_set_timeouts()) with
 * something queued bounds the connect.
 *
 * The default watermarks are 64 KiB high, 16 KiB low (see
 * sio_stream_set_watermarks).  Returns the stream, or NULL with errno:
 * EINVAL for a NULL loop, a listening socket or a datagram socket, EBADF
 * for a negative or closed fd, ENOMEM, or what sio_io_start() says; on
 * failure the fd is not taken (the caller still owns it, open).
 * Cost: an fstat(); then, for a socket, two getsockopt() calls (its type,
 * and whether it listens) and a getsockname() (whether TCP urgent data
 * can arrive), plus a setsockopt(SO_NOSIGPIPE) where the platform has
 * that option (not Linux); for any other fd, one fcntl(F_GETFL) (its access mode);
 * then what sio_io_start() costs (the O_NONBLOCK is its fcntl()s).
 * sio_stream_new(3) says the same.
 */
sio_stream *sio_stream_new(sio_loop *loop, int fd, sio_stream_read_cb on_read,
                           sio_stream_close_cb on_close, void *arg);

/*
 * sio_stream_write - queue `len` bytes (copied) and write as much as the
 * fd takes now, when nothing is queued before them; the rest goes out,
 * in order and coalesced (up to 64 buffers per sendmsg()/writev()), as the
 * peer reads.  Short counts are resumed where they stopped.  `len` 0 does
 * nothing.  While more than the high watermark is queued, the stream stops
 * reading from its own fd (an echo whose peer does not read is throttled,
 * not buffered without bound) until the queue is back at or below the low
 * watermark.  Writing is allowed after the peer's EOF: the stream then
 * closes (SIO_CLOSE_EOF) once the queue is empty.
 *
 * Returns 0, or -1 with errno: EINVAL for NULL `s` (or NULL `data` with
 * `len` > 0); EBADF for a read-only fd; EPIPE after sio_stream_shutdown()
 * or sio_stream_close(), or once the stream failed (on_close says why);
 * ENOMEM when the copy cannot be made (nothing was written then, unless a
 * part had gone out: the stream is then closed with SIO_CLOSE_ERROR,
 * ENOMEM, as its byte stream has a hole).  When the immediate write fails
 * (the peer reset, ...), it returns -1 with that errno, and on_close
 * follows with the reason.  Cost: one send() when nothing is queued,
 * else a copy into the queue (small writes share one buffer).
 */
int sio_stream_write(sio_stream *s, const void *data, size_t len);

/*
 * sio_stream_write_urgent - send `byte` as TCP urgent data (send() with
 * MSG_OOB) after every byte queued before it, in order: the byte goes out
 * as soon as the queue ahead of it has been written, and the peer's mark
 * falls right after those bytes.  TCP keeps a single urgent pointer: a
 * second urgent byte sent before the peer read the first moves the mark,
 * and the first is then read in band.  Counts as one byte in
 * sio_stream_queued().  Returns 0, or -1 with errno: EINVAL for NULL;
 * EOPNOTSUPP when the fd is not a TCP socket; EPIPE and the rest as
 * sio_stream_write().
 */
int sio_stream_write_urgent(sio_stream *s, unsigned char byte);

/*
 * sio_stream_shutdown - sio_shutdown(SHUT_WR) once everything queued is
 * written (at once when nothing is), so that a watcher the application
 * keeps on the stream's fd hears of it on every backend.  Reading goes on
 * until the peer's EOF, which then closes the stream with SIO_CLOSE_EOF.
 * Later writes fail with EPIPE.  A pipe cannot be half-closed: on a
 * non-socket the stream is closed instead, with SIO_CLOSE_LOCAL, once the
 * queue has drained.  Calling it again does nothing.  Returns 0, or -1
 * with errno EINVAL (NULL) or EPIPE (the stream is closing).
 */
int sio_stream_shutdown(sio_stream *s);

/*
 * The peer's EOF, precisely: when a read returns end of file, the stream
 * stops reading.  If nothing is queued it closes with SIO_CLOSE_EOF at
 * once (on_close from the loop, right after the read); otherwise it keeps
 * writing what is queued (and what is written meanwhile) and closes with
 * SIO_CLOSE_EOF when the queue is empty, or with SIO_CLOSE_RESET/ERROR if
 * the writes fail.  A peer that half-closed therefore receives our whole
 * answer, then our FIN.
 */

/* sio_stream_close - close now, dropping what is queued; on_close runs with
 * SIO_CLOSE_LOCAL (from the loop, not inside this call: after the current
 * callback of this stream returns, or from a zero-delay timer, or from
 * sio_loop_free() if that comes first; should that timer not be
 * allocated, on_close runs inside this call).  Safe from any
 * callback, the stream's own included.  Calling it on a stream that is
 * already closing does nothing (the first reason stands).  NULL is
 * ignored. */
void sio_stream_close(sio_stream *s);

/* sio_stream_set_watermarks - the queue size that pauses reading when
 * exceeded (high) and the one at or below which reading resumes (low <
 * high).  Takes effect at once.  Returns 0 or -1 with EINVAL. */
int sio_stream_set_watermarks(sio_stream *s, size_t low, size_t high);

/* sio_stream_on_urgent - have TCP urgent bytes delivered to `cb`
 * (SIO_URGENT is watched from now on, until the peer's EOF); NULL stops
 * it.  In-band data that arrived before the urgent byte is given to
 * on_read first, in the same callback, when reading is not paused.  Do not
 * set SO_OOBINLINE on the socket (the byte would then come in band).
 * Returns 0, or -1 with errno EINVAL (NULL stream) or EOPNOTSUPP (not a
 * TCP socket). */
int sio_stream_on_urgent(sio_stream *s, sio_stream_urgent_cb cb);

/* sio_stream_queued - bytes waiting to be written (0 for NULL). */
size_t sio_stream_queued(const sio_stream *s);

/* sio_stream_fd - the stream's fd (-1 for NULL). */
int sio_stream_fd(const sio_stream *s);

/*
 * sio_stream_set_timeouts - close the stream with SIO_CLOSE_TIMEOUT (err
 * ETIMEDOUT, through on_close, from the loop) when it has waited `read_ms`
 * milliseconds for data while reading, or when queued output has made no
 * progress for `write_ms`; 0 turns either off.  The read time counts only
 * while the stream wants to read: not while it is paused (by the high
 * watermark or sio_stream_pause(); a pause stops the count and a resume
 * continues it), nor after the peer's EOF.  Each read that returns data
 * starts it again.  The write time counts only while something is queued;
 * each write that takes bytes of the queue starts it again.  Both count
 * from this call, and are measured on the loop's cached time (see
 * sio_loop_now()), so they may fire up to one iteration's length early or
 * late.  A timeout that ran out while the loop was late (a long callback,
 * a starved process) does not close a stream whose fd has meanwhile
 * become readable (read count) or writable (write count): before it
 * closes, the timer asks the fd with a zero-timeout poll(), and such a
 * stream is served in the same iteration instead.
 *
 * One timer per stream, re-armed only when it fires: a read or a write
 * stores the time, no heap operation, so a busy stream pays next to
 * nothing for its timeouts.  While a timeout is set, that timer may keep
 * SIO_RUN_DEFAULT running for up to the timeout's length after the stream
 * stopped counting (paused, queue empty).  The timer never runs after the
 * stream ended.
 *
 * Returns 0, or -1 with errno: EINVAL for NULL, a stream that is closing
 * (on_close ran or is pending) or a timeout above 2^40 ms (about 34
 * years); ENOMEM when the timer cannot be allocated.
 */
int sio_stream_set_timeouts(sio_stream *s, uint64_t read_ms, uint64_t write_ms);

/*
 * sio_stream_pause - stop reading, on the application's say (to push back
 * on a fast sender: a relay whose destination is full pauses its source);
 * sio_stream_resume - read again.  Independent of the high watermark's
 * pause: the stream reads only when neither holds it, so resuming a stream
 * whose queue is above the high watermark changes nothing until the queue
 * has drained to the low one.  Neither nests: one resume undoes any number
 * of pauses.  A paused stream still writes what is queued, still hears of
 * errors and hangups, and still delivers urgent bytes to its on_urgent
 * callback.  Data already in the kernel stays there: a resumed stream reads
 * it on the loop's next iteration, not inside sio_stream_resume().  Both
 * are safe from any callback, the stream's own included.  Returns 0, or -1
 * with errno EINVAL (NULL, or a stream that is closing).
 */
int sio_stream_pause(sio_stream *s);
int sio_stream_resume(sio_stream *s);

/* The write queue drained to the low watermark (see sio_stream_on_drain());
 * `arg` is the stream's own, given to sio_stream_new(). */
typedef void (*sio_stream_drain_cb)(sio_stream *s, void *arg);

/*
 * sio_stream_on_drain - have `cb` called when the write queue falls to the
 * low watermark or below after having been above it: once per such fall,
 * from the loop (right after the write to the fd that brought it down),
 * never inside sio_stream_write() or another call of this API, and not for
 * a queue dropped because the stream ended.  A relay pauses its source when the destination's queue is high
 * and resumes it here.  NULL stops it.  Returns 0, or -1 with errno EINVAL
 * (NULL stream, or one that is closing).
 */
int sio_stream_on_drain(sio_stream *s, sio_stream_drain_cb cb);

/* A datagram socket (UDP, or a Unix SOCK_DGRAM/SEQPACKET socket) watched
 * for whole messages.  Opaque. */
typedef struct sio_dgram sio_dgram;

/* One datagram: `truncated` is 1 when it was longer than the receive
 * buffer (MSG_TRUNC) and `len` is then what fit.  On a SOCK_SEQPACKET
 * socket the peer's close is reported once as a call with `data` NULL and
 * `len` 0 (that socket is not watched after it); a zero-length datagram has
 * `data` non-NULL. */
typedef void (*sio_dgram_cb)(sio_dgram *d, const void *data, size_t len,
                             const struct sockaddr *from, socklen_t fromlen,
                             int truncated, void *arg);

/*
 * sio_dgram_bind - bind UDP sockets on what getaddrinfo gives for (host,
 * service), as sio_listen_tcp does (IPV6_V6ONLY, families the machine
 * lacks passed over, port 0 shared), but without SO_REUSEADDR, which would
 * let two UDP sockets share a port unawares; SIO_LISTEN_REUSEPORT asks
 * for that sharing.  Each datagram is received with recvmsg() and handed
 * to `cb` with the sender's address; up to 64 per socket per callback, so
 * that other watchers get their turn.  ICMP errors reported on a receive
 * (ECONNREFUSED, EHOSTUNREACH, ...) are skipped.  `bufsize` is the largest
 * datagram received whole (0: 65,536); one buffer of that size is
 * allocated for the object.  Returns the object, or NULL with errno as
 * sio_listen_tcp() (EINVAL, EADDRNOTAVAIL with sio_listener_error(),
 * EADDRINUSE, ...).  Nothing stays bound on failure.
 */
sio_dgram *sio_dgram_bind(sio_loop *loop, const char *host, const char *service,
                          int flags, size_t bufsize, sio_dgram_cb cb, void *arg);

/* sio_dgram_new - the same on one socket you made (SOCK_DGRAM or
 * SOCK_SEQPACKET, bound or connected): it is put in O_NONBLOCK and belongs
 * to the object from now on.  Returns the object, or NULL with errno
 * (EINVAL for a NULL loop or callback or another socket type, EBADF,
 * ENOTSOCK, ENOMEM); on failure the fd stays the caller's, open. */
sio_dgram *sio_dgram_new(sio_loop *loop, int fd, size_t bufsize, sio_dgram_cb cb,
                         void *arg);

/*
 * sio_dgram_send - send one datagram (sendmsg() with MSG_NOSIGNAL) to `to`
 * from the first socket of `to`'s family (the one that received from that
 * family; when several addresses of one family are bound, the first of
 * them), or from the first socket when `to` is NULL (a connected socket).
 * Returns 0, or -1 with errno: EINVAL for NULL `d` (or NULL `data` with
 * `len` > 0) or a `tolen` too short; EAFNOSUPPORT when no socket of that
 * family is bound; EAGAIN when the socket buffer is full (the datagram was
 * dropped, as UDP would); EMSGSIZE; or another sendmsg() error.
 */
int sio_dgram_send(sio_dgram *d, const void *data, size_t len,
                   const struct sockaddr *to, socklen_t tolen);

/* sio_dgram_count / sio_dgram_fd / sio_dgram_address - as for listeners. */
size_t sio_dgram_count(const sio_dgram *d);
int sio_dgram_fd(const sio_dgram *d, size_t i);
char *sio_dgram_address(const sio_dgram *d, size_t i, char *buf, size_t len);

/* sio_dgram_truncated - datagrams that arrived truncated (0 for NULL). */
uint64_t sio_dgram_truncated(const sio_dgram *d);

/* sio_dgram_free - stop watching, close every socket and free.  Safe from
 * the object's own callback.  NULL is ignored. */
void sio_dgram_free(sio_dgram *d);

#ifdef __cplusplus
}
#endif

#endif /* SIGIO_H */
