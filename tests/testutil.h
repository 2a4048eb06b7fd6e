/*
 * testutil.h - helpers shared by sigio's Criterion test programs.
 *
 * Backend parameters: every behavioural test runs once per backend the build
 * offers (sio_backends()).  Criterion runs each parameter in a worker process
 * and must be able to read the parameter there, so the array is allocated
 * with cr_calloc() (Criterion's shared arena) and holds names by value, never
 * pointers to string literals.  Declare such a test with
 *
 *     SIO_BACKEND_TEST(suite, name)
 *     {
 *             sio_loop *loop = t_loop_new(be->name);
 *             ...
 *     }
 *
 * where `be` is the `const struct sio_test_backend *` of this run.  Setting
 * SIO_TEST_BACKENDS (a comma-separated list, e.g. "poll,select") in the
 * environment restricts the runs to those backends, which is how one counts
 * results per backend.
 *
 * Fd helpers fail the test (cr_assert) when a system call fails, so a test
 * body reads as the scenario it checks.  They must only be called from the
 * test's own thread, never from a helper thread.
 */
#ifndef SIGIO_TESTUTIL_H
#define SIGIO_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "sigio.h"

/* Seconds after which Criterion kills a test: a hang fails, it does not
 * block CI. */
#define SIO_TEST_TIMEOUT 30

/* Safety net for loops that run SIO_RUN_ONCE until something happened: the
 * most iterations a test allows before it declares the event lost.  It is a
 * bound, never a wait: each SIO_RUN_ONCE blocks in the loop itself. */
#define SIO_TEST_MAX_ONCE 10000

/* One backend to run a test with.  A name by value (see above). */
struct sio_test_backend {
	char name[16];
};

/* The backends this build offers, in a cr_calloc()'d array (count in *n),
 * filtered by SIO_TEST_BACKENDS when set.  Used by SIO_BACKEND_TEST. */
struct sio_test_backend *t_backend_params(size_t *n);
/* Cleanup of the array above, for cr_make_param_array(). */
void t_backend_params_free(struct criterion_test_params *params);

/* A parameterised test run once per backend, named `be` inside, killed
 * after `Secs` seconds. */
#define SIO_BACKEND_TEST_TIMEOUT(Suite, Name, Secs)                           \
	ParameterizedTestParameters(Suite, Name)                              \
	{                                                                     \
		size_t n_;                                                    \
		struct sio_test_backend *b_ = t_backend_params(&n_);          \
		return cr_make_param_array(struct sio_test_backend, b_, n_,   \
		                           t_backend_params_free);            \
	}                                                                     \
	ParameterizedTest(const struct sio_test_backend *be, Suite, Name,     \
	                  .timeout = (Secs))

/* The same with the usual timeout. */
#define SIO_BACKEND_TEST(Suite, Name)                                         \
	SIO_BACKEND_TEST_TIMEOUT(Suite, Name, SIO_TEST_TIMEOUT)

/* True when sio_backends() lists `name`. */
bool t_have_backend(const char *name);
/* True when the backend of this test run is `name`. */
bool t_is(const struct sio_test_backend *be, const char *name);

/* True under `make check-valgrind` (SIO_TEST_VALGRIND=1): for the few
 * tests that valgrind cannot host (it keeps its own fd limit). */
bool t_under_valgrind(void);

/* True for the backends that learn readiness from signals and set O_ASYNC
 * on watched fds ("sigio", and "rtsig" where built). */
bool t_signal_driven(const struct sio_test_backend *be);

/* True for the backends that sleep in poll() on their signalfd with their
 * signals blocked ("rtsig", unless SIGIO_SLEEP=handler or
 * SIGIO_DRAIN=sigtimedwait is set), while their loop is the only sigio or rtsig
 * loop of the process: no handler runs and the self-pipe is not
 * written when a readiness signal ends the sleep.  The others (and
 * rtsig beside another such loop) sleep in ppoll() with the
 * signals unblocked, woken by the handler. */
bool t_sleeps_on_signalfd(const struct sio_test_backend *be);

/* Seconds after which the guard (below) stops a loop that hangs. */
#define SIO_TEST_GUARD 20

/*
 * sio_loop_new(backend), failing the test when it returns NULL.  The new
 * loop is put under the guard: if it is still running SIO_TEST_GUARD
 * seconds later, a SIGALRM calls sio_loop_stop() on it so that the test
 * fails with a message saying what was lost, rather than by Criterion's
 * timeout.  A safety net, never a wait.  Free it with t_loop_free().
 */
sio_loop *t_loop_new(const char *backend);
/* sio_loop_free(loop), disarming the guard if it watches this loop. */
void t_loop_free(sio_loop *loop);
/* Put `loop` under the guard for `seconds` from now (replacing any). */
void t_guard(sio_loop *loop, unsigned seconds);
/* True once the guard has fired. */
bool t_guard_fired(void);
/* sio_loop_run(loop, mode), failing the test (naming the caller's line)
 * if it fails or the guard had to stop it. */
#define t_run(loop, mode) t_run_at((loop), (mode), __FILE__, __LINE__)
void t_run_at(sio_loop *loop, int mode, const char *file, int line);
/* sio_loop_stats(), failing the test on error. */
struct sio_stats t_stats(const sio_loop *loop);

/*
 * Run SIO_RUN_ONCE until done(arg) is true, at most `max` times or until
 * the guard fires.  Returns whether done() became true.  Fails the test if
 * sio_loop_run() fails.
 */
bool t_run_until(sio_loop *loop, bool (*done)(void *arg), void *arg,
                 unsigned max);
/* Run SIO_RUN_NOWAIT `times` times, failing the test on error. */
void t_run_nowait(sio_loop *loop, int times);
/* done() for t_run_until: true when *(int *)arg is not 0. */
bool t_flag_set(void *arg);

/* ---- the usual fixture ------------------------------------------------ */

/*
 * What most per-backend tests start from: a loop of the backend under test
 * (t_loop_new(), so under the guard) and a nonblocking socketpair, sv[0]
 * for the code under test, sv[1] the test's own end; often a watcher on
 * sv[0].  Criterion's .init cannot make it (it runs without the test's
 * parameter), so a test opens and closes it itself:
 *
 *     struct t_fixture f;
 *     sio_loop *loop = t_fixture_open(&f, be);
 *     sio_io *io = t_fixture_watch(&f, SIO_READ, read_cb, &rec);
 *     ... the scenario ...
 *     t_fixture_close(&f);
 *
 * A test that stops the watcher itself sets f.io to NULL (a watcher stopped
 * outside a run is freed at once); one that closes an end itself sets it
 * to -1.
 */
struct t_fixture {
	sio_loop *loop;
	int sv[2];              /* sv[0]: watched; sv[1]: the test's end */
	sio_io *io;             /* the watcher on sv[0], or NULL */
};

/* t_loop_new(be->name), then t_socketpair(f->sv); returns f->loop. */
sio_loop *t_fixture_open(struct t_fixture *f,
                         const struct sio_test_backend *be);
/* sio_io_start(f->loop, f->sv[0], events, cb, arg), failing the test if it
 * fails; kept in f->io (and returned) for t_fixture_close(). */
sio_io *t_fixture_watch(struct t_fixture *f, unsigned events, sio_io_cb cb,
                        void *arg);
/* sio_io_stop(f->io), t_loop_free(f->loop), then close both ends. */
void t_fixture_close(struct t_fixture *f);

/* ---- fds -------------------------------------------------------------- */

/* A nonblocking, close-on-exec AF_UNIX stream socketpair. */
void t_socketpair(int sv[2]);
/* A blocking one (to see sio_io_start() set O_NONBLOCK). */
void t_socketpair_blocking(int sv[2]);
/* A nonblocking, close-on-exec pipe: p[0] reads, p[1] writes. */
void t_pipe(int p[2]);
/* A nonblocking TCP listener on 127.0.0.1, port 0; its port in *port. */
int t_tcp_listen(unsigned short *port);
/* A connected nonblocking TCP pair over 127.0.0.1: *client and *server
 * (the accepted end). */
void t_tcp_pair(int *client, int *server);
/* A port on 127.0.0.1 with nobody listening (bound, read back, closed). */
unsigned short t_closed_port(void);

/* Raise RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft
 * limit. */
rlim_t t_raise_nofile(void);

/* fcntl(F_GETFL), failing the test on error. */
int t_getfl(int fd);
/* True when fd is open. */
bool t_fd_open(int fd);

/*
 * Write all `len` bytes, retrying on EINTR and short counts and waiting with
 * poll() on EAGAIN (for the test's own set-up, never to wait for the loop).
 * Fails the test on error.
 */
void t_write_all(int fd, const void *buf, size_t len);
/* Read exactly `len` bytes, as above; fails the test on error or EOF. */
void t_read_all(int fd, void *buf, size_t len);
/* Write until EAGAIN; returns the bytes written. */
size_t t_fill(int fd);
/* Read until EAGAIN or EOF; returns the bytes read. */
size_t t_drain(int fd);
/* poll() fd once with a zero timeout for `events`; returns revents. */
short t_poll_now(int fd, short events);

/* A write watcher's one call: what it was told and what one send() of a
 * byte said then (the watcher stops itself).  For tests of what a write
 * watcher hears when the socket changes under it. */
struct t_send_probe {
	int calls;
	unsigned revents;
	ssize_t sent;
	int send_errno;
};
/* sio_io_cb with a struct t_send_probe as arg. */
void t_send_probe_cb(sio_io *io, int fd, unsigned revents, void *arg);
/* done() for t_run_until: the probe was called. */
bool t_send_probe_called(void *arg);

/* True for a name under the .invalid domain, which never resolves
 * (RFC 6761): the tests' stand-in resolvers fail it at once, so that no
 * test waits on a name server. */
bool t_name_is_invalid(const char *name);

/* xorshift64* with a fixed seed: reproducible "random" numbers. */
uint64_t t_rand(uint64_t *state);

#endif /* SIGIO_TESTUTIL_H */
