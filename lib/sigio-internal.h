/*
 * sigio-internal.h - what the files of lib/ share: the loop and watcher
 * structures, the backend table, and the internal calls between rooms.
 * Internal non-static names start with sio__.
 */
#ifndef SIGIO_INTERNAL_H
#define SIGIO_INTERNAL_H

#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "sigio.h"

/* Event bits the public API accepts in `events`. */
#define SIO__EVENT_MASK (SIO_READ | SIO_WRITE | SIO_URGENT)

/* Signal numbers the runtime tracks: 1..64, one bit each in a uint64_t. */
#define SIO__NSIG 65

/* ---- backends ------------------------------------------------------------
 *
 * One backend per file, each exporting one of these.  A backend is
 * mechanism only: it arms fds, turns what the kernel queued into reports
 * (sio__fd_ready(), sio__slot_kill(), loop->rescan), and looks at a set of
 * fds.  When to look, when to sleep and what to run is the loop's
 * business (loop_iterate() in loop.c).
 */
struct sio__sigrec;

struct sio__backend {
	const char *name;
	/* Readiness survives across iterations without help (poll, select)?
	 * If 0, the loop keeps a recheck set: fds whose callback ran, and new
	 * or widened watchers, which the backend's check must look at. */
	int level_triggered;
	/* Set up loop->bstate (and take the signals the backend needs). */
	int (*init)(sio_loop *loop);
	/* Release what init took; the fds are already disarmed. */
	void (*fini)(sio_loop *loop);
	/* The union of the events wanted on `fd` changes from `old` to `new`
	 * (either may be 0: first watcher, last watcher).  Returns 0 or -1
	 * with errno; on failure the fd is left as it was. */
	int (*arm)(sio_loop *loop, int fd, unsigned old, unsigned new_events);
	/* Turn what the kernel queued for the loop (signals) into reports,
	 * without blocking.  Returns 0 or -1 with errno.  NULL: the backend
	 * learns everything from its check (poll, select). */
	int (*drain)(sio_loop *loop);
	/* A record of one of the backend's own signals (SIGIO, SIGURG, the
	 * real-time signal) that reached the loop through the self-pipe or
	 * the drain: into reports, or a rescan.  NULL if it takes none. */
	void (*decode)(sio_loop *loop, const struct sio__sigrec *rec);
	/* Look at the fds the loop needs looked at (every watched fd for a
	 * level-triggered backend; else the fds polled directly, and the
	 * recheck set or, on loop->rescan, every fd) and at the self-pipe,
	 * reporting what is ready.  `timeout_ms` 0: do not block; else sleep
	 * up to that long (-1: no limit) if nothing is ready, with the
	 * runtime's signals unblocked.  `queue`: the loop did not drain this
	 * iteration, so the check looks at the kernel's queue too (polling it
	 * with the fds where it can, else draining it first).  Returns 1 if
	 * the self-pipe may hold records (readable, or a signal interrupted
	 * the sleep), 0, or -1 with errno. */
	int (*check)(sio_loop *loop, int timeout_ms, int queue);
	/* Called in sio_loop_run() before the first and after the last
	 * iteration (block / restore signal masks).  May be NULL. */
	int (*enter)(sio_loop *loop);
	void (*leave)(sio_loop *loop);
	/* Called by sio_loop_fork() in the child, after the new self-pipe is
	 * in place; `adopt` at the child's first iteration after it, to take
	 * over what the child still watches.  May be NULL. */
	int (*fork)(sio_loop *loop);
	void (*adopt)(sio_loop *loop);
	/* An fd of this loop armed on the open file description of `fd`
	 * (which need not be armed itself), or -1: for news told by one fd
	 * that concerns every fd of its description (sio_shutdown()).  NULL
	 * when the backend keeps no rings (sio__fdslot.alias). */
	int (*alias_of)(sio_loop *loop, int fd);
	/* sio_loop_fd(): an fd readable whenever the loop, not running, has
	 * something to do; -1 with errno (ENOSYS: the backend has none).
	 * NULL: none. */
	int (*embed_fd)(sio_loop *loop);
};

extern const struct sio__backend sio__backend_poll;
extern const struct sio__backend sio__backend_select;
#ifdef SIO_WITH_SIGIO
extern const struct sio__backend sio__backend_sigio;
#endif
#ifdef SIO_WITH_RTSIG
extern const struct sio__backend sio__backend_rtsig;
#endif

/* ---- watchers and the registry ------------------------------------------ */

enum sio__io_state {
	SIO__IO_ACTIVE,  /* in its fd's slot, may run */
	SIO__IO_DEAD,    /* its fd was closed under it: never runs again, but
	                    stays allocated until sio_io_stop() */
	SIO__IO_STOPPED  /* sio_io_stop() was called; memory freed at the end
	                    of the iteration (it may still sit in the pending
	                    list) */
};

struct sio_io {
	sio_loop *loop;
	int fd;
	unsigned events;         /* what the user asked for, SIO_EDGE included */
	unsigned revents;        /* ready events not yet dispatched */
	sio_io_cb cb;
	void *arg;
	struct sio_io *next;     /* watchers of the same fd, or the dead or
	                            zombie list */
	struct sio_io *prev;
	uint8_t state;           /* enum sio__io_state */
	uint8_t pending;         /* in loop->pending[] this iteration */
	uint8_t notify_dead;     /* DEAD, but owed one SIO_ERROR callback */
};

/* Per-fd state, indexed by fd number. */
struct sio__fdslot {
	struct sio_io *head;     /* watchers of this fd, most recent first */
	unsigned armed;          /* union of their events, as given to arm() */
	dev_t dev;               /* identity of the open file seen at the */
	ino_t ino;               /*   first start: tells a reused number apart */
	int bindex;              /* backend's own index (pollfd slot), or -1 */
	uint8_t fallback;        /* signal-driven backends: in the set polled
	                            at every wait, not told by signals */
	uint8_t nosig;           /* ... because it cannot signal at all */
	uint8_t pollout;         /* ... when it wants SIO_WRITE (AF_UNIX) */
	uint8_t in_recheck;      /* already in loop->recheck[] */
	uint8_t inherited;       /* armed by the parent before a fork: its
	                            owner and O_ASYNC are the parent's */
	uint8_t embed_out;       /* polled directly, but refused by the
	                            epoll set of sio_loop_fd() (embed.c) */
	uint8_t home;            /* this is the fd through which O_ASYNC was
	                            turned on: rtsig records name its
	                            description by this number */
	int alias;               /* signal-driven backends: the next armed fd
	                            of this loop on the same open file
	                            description (a ring; itself when alone),
	                            or -1 while not armed for signals */
	int hnext;               /* next fd in its bucket of the
	                            description index, or -1 */
};

/* ---- timers, signal watchers, async handles ------------------------------- */

enum sio__handle_state {
	SIO__H_ACTIVE,   /* counts in loop->active, may run */
	SIO__H_IDLE,     /* a one-shot timer that fired: inactive, allocated */
	SIO__H_STOPPED   /* stopped; freed at the end of the iteration */
};

struct sio_timer {
	sio_loop *loop;
	uint64_t deadline;       /* ns on CLOCK_MONOTONIC */
	uint64_t repeat;         /* ns, 0 for a one-shot */
	uint64_t seq;            /* order of (re)arming: FIFO for equal deadlines */
	size_t index;            /* position in the heap while active */
	struct sio_timer *next, *prev;   /* every timer of the loop */
	sio_timer_cb cb;
	void *arg;
	uint8_t state;           /* enum sio__handle_state */
	uint8_t at_free;         /* a deferred end: sio_loop_free() fires it */
};

struct sio_signal {
	sio_loop *loop;
	int signo;
	sio_signal_cb cb;
	void *arg;
	struct sio_signal *next, *prev;  /* watchers of signo in this loop */
	uint8_t state;
};

struct sio_async {
	sio_loop *loop;
	atomic_int pending;      /* set by sio_async_send(), any thread */
	sio_async_cb cb;
	void *arg;
	struct sio_async *next, *prev;
	uint8_t state;
};

struct sio_child {
	sio_loop *loop;
	pid_t pid;
	int status;              /* waitpid()'s, once reaped */
	sio_child_cb cb;
	void *arg;
	struct sio_child *next, *prev;   /* child watchers of the loop */
	struct sio_child *hnext;         /* the pid registry's bucket */
	uint8_t state;           /* enum sio__handle_state: IDLE once reaped */
	uint8_t registered;      /* in the pid registry (child.c) */
	uint8_t linked;          /* in loop->children */
};

/* The kinds of hooks, and the index of each one's list in the loop. */
enum sio__hook_kind { SIO__HOOK_PREPARE, SIO__HOOK_CHECK, SIO__HOOK_IDLE,
                      SIO__NHOOK_KINDS };

struct sio_hook {
	sio_loop *loop;
	sio_hook_cb cb;
	void *arg;
	struct sio_hook *next, *prev;    /* hooks of its kind, start order */
	uint64_t seq;            /* start order: a walk calls only those
	                            started before it began */
	uint8_t kind;            /* enum sio__hook_kind */
	uint8_t state;           /* enum sio__handle_state */
};

/* The hooks of one kind: a list appended to at its tail. */
struct sio__hooklist {
	struct sio_hook *head, *tail;
};

/* ---- the loop ------------------------------------------------------------ */

/* A growable array of ints or pointers. */
struct sio__ivec { int *v; size_t n, cap; };
struct sio__pvec { struct sio_io **v; size_t n, cap; };
struct sio__vvec { void **v; size_t n, cap; };

/* One record through the self-pipe: fixed size, below PIPE_BUF, so each
 * write(2) from the handler is atomic.  signo 0 is not a signal: with fd
 * -1 a plain wake-up (sio_loop_stop(), sio_async_send()), with fd >= 0 a
 * note that fd's readiness changed without a signal (sio_shutdown()). */
struct sio__sigrec {
	int32_t signo;           /* 0: a wake-up or a note, see above */
	int32_t fd;              /* si_fd where the kernel gives it, else -1 */
	int64_t band;            /* si_band, or 0 */
};

struct sio_loop {
	const struct sio__backend *backend;
	void *bstate;                   /* the backend's private state */

	struct sio__fdslot *slots;      /* registry: fd -> watchers */
	int nslots;
	size_t active;                  /* ACTIVE watchers with events != 0 */

	struct sio__pvec pending;       /* watchers ready this iteration */
	struct sio__ivec recheck;       /* fds to check without a signal */
	int recheck_new;                /* it holds newly wanted events */
	struct sio_io *dead;            /* DEAD watchers, until sio_io_stop() */
	struct sio__vvec graveyard;     /* handles stopped during a run: freed
	                                   at the end of the iteration */

	uint64_t now_ns;                /* cached CLOCK_MONOTONIC time */
	struct sio_timer **heap;        /* timers, a binary min-heap on
	                                   (deadline, seq) */
	size_t nheap, capheap;
	uint64_t timer_seq;
	struct sio_timer *timers;       /* all of them, fired ones included */

	struct sio_signal *sigw[SIO__NSIG];  /* signal watchers by signo */
	unsigned sig_count[SIO__NSIG];  /* arrivals not yet dispatched */
	int sig_pending;                /* some sig_count is not 0 */
	unsigned sig_holds[SIO__NSIG];  /* watchers (of any kind) holding the
	                                   loop's want of each signal */

	struct sio_child *children;     /* child watchers, reaped ones too */
	int child_pending;              /* a SIGCHLD came (or a watcher
	                                   started): try to reap them */

	struct sio__hooklist hooks[SIO__NHOOK_KINDS];  /* by kind */
	uint64_t hook_seq;              /* hooks started so far */
	size_t nidle;                   /* idle hooks started: no sleep */

	struct sio_async *asyncs;       /* async handles */
	atomic_int async_flag;          /* some handle was sent to */

	struct sio_work *works;         /* work items not yet done (the loop's
	                                   thread only) */
	struct sio_work *work_head;     /* ... those finished, in the order */
	struct sio_work *work_tail;     /* they did: under the pool's lock */
	atomic_int work_flag;           /* work_head was appended to */

	int pipe_rd, pipe_wr;           /* the self-pipe */
	int wake_slot;                  /* index in the signal handler's table */
	atomic_int stop_flag;           /* set by sio_loop_stop(), any thread */
	atomic_int notes_lost;          /* a note found the self-pipe full
	                                   (sio__selfpipe_post), any thread */
	int running;                    /* inside sio_loop_run() */
	int polite;                     /* chosen by "auto": take no signal the
	                                   application already handles */
	int rescan;                     /* examine every fd on the next check */
	int check_deferred;             /* the last iteration skipped its
	                                   check (see loop_defer_check()) */
	uint64_t signals_seen;          /* stats.signals when the iteration
	                                   began (see loop_skip_drain()) */
	unsigned drain_dry;             /* drains up front in a row that
	                                   found the queue empty */
	int forked;                     /* sio_loop_fork(): adopt inherited fds
	                                   at the next run */

	uint64_t wanted;                /* bit signo-1: signals the handler
	                                   reports to this loop */
	sigset_t runtime_sigs;          /* those the backend consumes (blocked
	                                   while running) */
	sigset_t run_blocked;           /* those this run blocked (the caller
	                                   had not): unblocked when it ends */
	pid_t pid;                      /* the process the loop is in: another
	                                   one is a child that inherited it */
	pid_t owner_tid;                /* thread that gets this loop's signals */
	uint64_t owner_serial;          /* ... and its sio__thread_serial() */

	size_t embed_out;               /* fds with embed_out set: the outer
	                                   loop of sio_loop_fd() must not sleep */

	struct sio_stats stats;
};

/* registry.c */
struct sio__fdslot *sio__slot(sio_loop *loop, int fd);       /* NULL if none */
int sio__slot_reserve(sio_loop *loop, int fd);               /* grow; -1/errno */
void sio__fd_ready(sio_loop *loop, int fd, unsigned revents);
void sio__slot_kill(sio_loop *loop, int fd, int notify);
void sio__recheck_add(sio_loop *loop, int fd);
void sio__recheck_new(sio_loop *loop, int fd);
/* The same for every fd of the loop on the open file description of `fd`
 * (its ring, sio__fdslot.alias): what the kernel or the application did
 * to a description, told by one of its fds. */
void sio__desc_ready(sio_loop *loop, int fd, unsigned revents);
void sio__desc_recheck_new(sio_loop *loop, int fd);
unsigned sio__slot_events(const struct sio__fdslot *slot);
void sio__registry_free(sio_loop *loop, int disarm);
unsigned sio__revents_from_poll(short pevents);
short sio__poll_from_events(unsigned events);

/* selfpipe.c */
int sio__selfpipe_open(int *rd, int *wr);
void sio__selfpipe_close(int *rd, int *wr);
int sio__selfpipe_write(int wr, const struct sio__sigrec *rec); /* AS-safe */
/* Up to `max` whole records; 0 when the pipe is empty. */
size_t sio__selfpipe_read(int rd, struct sio__sigrec *recs, size_t max);
/* AS-safe, any thread: a note that must not be lost (if the pipe is full,
 * the loop looks at every fd instead). */
void sio__selfpipe_post(sio_loop *loop, const struct sio__sigrec *rec);

/* signals.c */
int sio__signals_register(sio_loop *loop);     /* claim a handler slot */
void sio__signals_unregister(sio_loop *loop);
int sio__signals_want(sio_loop *loop, int signo, int fd_sig, int polite);
void sio__signals_unwant(sio_loop *loop, int signo);
/* Per-loop counted want (signal and child watchers share one signal);
 * `chain`: the application's prior handler is called as well. */
int sio__signals_hold(sio_loop *loop, int signo, int chain);
void sio__signals_release(sio_loop *loop, int signo, int chain);
int sio__signals_overflowed(sio_loop *loop);   /* pipe-full flag, cleared */
uint64_t sio__signals_caught(sio_loop *loop);  /* watched signals caught */
int sio__signals_block(sio_loop *loop);        /* at run start */
void sio__signals_restore(sio_loop *loop);     /* at run end */
int sio__signals_sleep_mask(const sio_loop *loop, sigset_t *mask,
                            const sigset_t *keep);
int sio__signals_siblings(const sio_loop *loop); /* loops share the thread */
void sio__signals_forward(sio_loop *loop, const struct sio__sigrec *rec);
uint64_t sio__thread_serial(void);             /* never reused, unlike tids */
pid_t sio__gettid(void);
void sio__signals_set_tid(sio_loop *loop, pid_t tid); /* loop moved thread */
/* sio_spawn()'s fork: every signal blocked around it in the parent; in
 * the child (async-signal-safe) every disposition default, then the mask
 * emptied just before exec. */
int sio__signals_block_all(sigset_t *old);
void sio__signals_set_mask(const sigset_t *mask);
void sio__signals_child_defaults(void);
void sio__signals_child_unblock(void);
int sio__rtsig_acquire(void);     /* the signal rtsig loops use; -1/errno */
void sio__rtsig_release(void);
/* pthread_create() of a detached thread with every signal blocked: no
 * signal meant for a loop can be delivered to it.  0 or an errno. */
int sio__thread_spawn(void *(*fn)(void *), void *arg);

/* pollset.c: an array of pollfds whose entry for an fd is found through
 * the fd's slot (sio__fdslot.bindex), for the backends that poll. */
struct sio__pollset {
	struct pollfd *v;
	size_t n, cap;
};
int sio__pollset_add(sio_loop *loop, struct sio__pollset *ps, int fd,
                     unsigned events);                      /* -1: ENOMEM */
void sio__pollset_del(sio_loop *loop, struct sio__pollset *ps, int fd);
void sio__pollset_set(sio_loop *loop, struct sio__pollset *ps, int fd,
                      unsigned events);
int sio__pollset_report(sio_loop *loop, struct pollfd *v, size_t n);

/* timer.c */
size_t sio__timers_run(sio_loop *loop);       /* callbacks run */
int sio__timers_timeout(const sio_loop *loop); /* ms to the next, or -1 */
int sio__timers_timeout_at(const sio_loop *loop, uint64_t now_ns);
void sio__timers_free(sio_loop *loop);
void sio__timers_settle(sio_loop *loop);      /* fire the at_free ones */
void sio__time_update(sio_loop *loop);

/* sigwatch.c: signal watchers */
void sio__sigwatch_note(sio_loop *loop, int signo);
void sio__sigwatch_collect(sio_loop *loop, int overflowed);
size_t sio__sigwatch_dispatch(sio_loop *loop);
void sio__sigwatch_free(sio_loop *loop);

/* signals.c */
int sio__signals_reserved(int signo);          /* the runtime uses it */
void sio__signals_fork(sio_loop *loop);        /* new pipe, new thread */

/* child.c: child watchers.  sio_spawn() (spawn.c) makes its watcher
 * before it forks, so that nothing can fail once the child exists and
 * SIGCHLD is the runtime's before the child can exit: new, then begin
 * with the pid (or discard when no child came of it). */
sio_child *sio__child_new(sio_loop *loop, sio_child_cb cb, void *arg);
int sio__child_begin(sio_child *c, pid_t pid);   /* -1/EBUSY */
void sio__child_discard(sio_child *c);
void sio__child_note(sio_loop *loop);           /* a SIGCHLD came */
size_t sio__child_dispatch(sio_loop *loop);
void sio__child_free_all(sio_loop *loop);

/* async.c */
size_t sio__async_dispatch(sio_loop *loop);
void sio__async_free_all(sio_loop *loop);

/* work.c: the worker pool.  The stream layer's lookups submit with
 * SIO__WORK_LOOKUP (bounded to a share of the pool) and a `drop` that
 * releases `arg` when `done` will never run (the loop was freed). */
#define SIO__WORK_LOOKUP 0x1
sio_work *sio__work_submit(sio_loop *loop, sio_work_fn fn, sio_work_cb done,
                           void *arg, unsigned flags, void (*drop)(void *arg));
/* An item finished without a thread: `done(w, 0, arg)` at the next
 * dispatch, as if a worker had run it. */
sio_work *sio__work_finished(sio_loop *loop, sio_work_cb done, void *arg,
                             void (*drop)(void *arg));
/* The item no longer keeps the loop running (its `done` still runs). */
void sio__work_detach(sio_work *w);
size_t sio__work_dispatch(sio_loop *loop);
void sio__work_free_all(sio_loop *loop);

/* hook.c: prepare, check and idle hooks */
size_t sio__hooks_run(sio_loop *loop, int kind);   /* callbacks run */
void sio__hooks_free(sio_loop *loop);

/* retire.c: handles stopped during a run are freed after the iteration */
void sio__retire(sio_loop *loop, void *handle);
void sio__reap(sio_loop *loop);
void sio__reap_free(sio_loop *loop);

#endif /* SIGIO_INTERNAL_H */
