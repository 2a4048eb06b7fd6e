/*
 * test_lookup.c - asynchronous lookups: localhost, a numeric host (no
 * thread used), a name that does not exist, getnameinfo(), a cancel while
 * the resolver is stalled (nothing runs, nothing leaks, the loop is not
 * held), sio_loop_free() with a stalled lookup, and stalled lookups that
 * leave the rest of the pool to other work.
 *
 * getaddrinfo() and freeaddrinfo() are defined here: the library's calls
 * bind to them (as tests/fault.c does for its calls) and they call the
 * real ones through dlsym(RTLD_NEXT).  They record the calling thread,
 * count the results made and freed, and hold a lookup of "stall.test"
 * until the test releases it (then resolve 127.0.0.1): a name server
 * that does not answer, on demand.  Names under .invalid fail at once
 * with EAI_NONAME: no test asks a real name server.  The counts, with valgrind and ASan,
 * are how the tests see that nothing leaks.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "testutil.h"

/* ---- the stand-in resolver -------------------------------------------------- */

static sem_t stall_entered, stall_release, stall_left;
static atomic_int stall_ready;
static atomic_long made, freed;
static pthread_t last_caller;
static atomic_int callers_lock;

static void
stall_init(void)
{
	sem_init(&stall_entered, 0, 0);
	sem_init(&stall_release, 0, 0);
	sem_init(&stall_left, 0, 0);
	atomic_store(&stall_ready, 1);
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
            struct addrinfo **res)
{
	static int (*real)(const char *, const char *, const struct addrinfo *,
	                   struct addrinfo **);
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "getaddrinfo");
	while (atomic_exchange(&callers_lock, 1))
		;
	last_caller = pthread_self();
	atomic_store(&callers_lock, 0);
	if (t_name_is_invalid(node))
		return EAI_NONAME;
	int stalled = node != NULL && strcmp(node, "stall.test") == 0 &&
	              atomic_load(&stall_ready);
	if (stalled) {
		sem_post(&stall_entered);
		while (sem_wait(&stall_release) != 0 && errno == EINTR)
			;
		node = "127.0.0.1";
	}
	int rc = real(node, service, hints, res);
	if (rc == 0)
		atomic_fetch_add(&made, 1);
	if (stalled)
		sem_post(&stall_left);
	return rc;
}

void
freeaddrinfo(struct addrinfo *res)
{
	static void (*real)(struct addrinfo *);
	if (real == NULL)
		*(void **)&real = dlsym(RTLD_NEXT, "freeaddrinfo");
	atomic_fetch_add(&freed, 1);
	real(res);
}

static pthread_t
caller(void)
{
	while (atomic_exchange(&callers_lock, 1))
		;
	pthread_t t = last_caller;
	atomic_store(&callers_lock, 0);
	return t;
}

static void
sem_wait_intr(sem_t *s)
{
	while (sem_wait(s) != 0 && errno == EINTR)
		;
}

/* ---- what a callback saw ------------------------------------------------------- */

struct answer {
	int calls;
	int status;
	int families;            /* bit 0: AF_INET seen, bit 1: AF_INET6 */
	char text[SIO_ADDRSTRLEN];   /* the first address */
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	pthread_t thread;
};

static void
addr_cb(sio_lookup *q, int status, const struct addrinfo *res, void *arg)
{
	(void)q;
	struct answer *a = arg;
	a->calls++;
	a->status = status;
	a->thread = pthread_self();
	for (const struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai == res)
			sio_sockaddr_text(ai->ai_addr, ai->ai_addrlen, a->text, sizeof a->text);
		a->families |= ai->ai_family == AF_INET ? 1 : ai->ai_family == AF_INET6 ? 2 : 0;
	}
}

static void
name_cb(sio_lookup *q, int status, const char *host, const char *serv, void *arg)
{
	(void)q;
	struct answer *a = arg;
	a->calls++;
	a->status = status;
	a->thread = pthread_self();
	snprintf(a->host, sizeof a->host, "%s", host);
	snprintf(a->serv, sizeof a->serv, "%s", serv);
}

static const struct addrinfo stream_hints = { .ai_socktype = SOCK_STREAM };

/* ---- tests ------------------------------------------------------------------ */

SIO_BACKEND_TEST(lookup, localhost_on_a_worker)
{
	sio_loop *loop = t_loop_new(be->name);
	struct answer a = { 0 };
	cr_assert_not_null(sio_getaddrinfo(loop, "localhost", "80", &stream_hints,
	                                   addr_cb, &a));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(a.calls, 1);
	cr_assert_eq(a.status, 0, "localhost: %s", gai_strerror(a.status));
	cr_assert_neq(a.families, 0);
	cr_assert(pthread_equal(a.thread, pthread_self()));
	cr_assert(!pthread_equal(caller(), pthread_self()),
	          "getaddrinfo ran on the loop's thread");
	cr_assert_eq(atomic_load(&made), atomic_load(&freed));
	t_loop_free(loop);
}

SIO_BACKEND_TEST(lookup, numeric_host_without_a_thread)
{
	sio_loop *loop = t_loop_new(be->name);
	struct answer a4 = { 0 }, a6 = { 0 }, bad = { 0 };
	struct addrinfo numeric = { .ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM };
	cr_assert_not_null(sio_getaddrinfo(loop, "127.0.0.1", "8080", &stream_hints,
	                                   addr_cb, &a4));
	cr_assert(pthread_equal(caller(), pthread_self()), "a thread was asked");
	cr_assert_not_null(sio_getaddrinfo(loop, "::1", "8080", &stream_hints,
	                                   addr_cb, &a6));
	cr_assert_not_null(sio_getaddrinfo(loop, "not-numeric", "8080", &numeric,
	                                   addr_cb, &bad));
	cr_assert(pthread_equal(caller(), pthread_self()), "a thread was asked");
	cr_assert_eq(a4.calls + a6.calls + bad.calls, 0, "answered inside the call");
	t_run(loop, SIO_RUN_ONCE);      /* all three in the next iteration */
	cr_assert_eq(a4.calls, 1);
	cr_assert_eq(a4.status, 0);
	cr_assert_str_eq(a4.text, "127.0.0.1:8080");
	cr_assert_eq(a6.calls, 1);
	cr_assert_eq(a6.status, 0);
	cr_assert_str_eq(a6.text, "[::1]:8080");
	cr_assert_eq(bad.calls, 1);
	cr_assert_eq(bad.status, EAI_NONAME, "%s", gai_strerror(bad.status));
	cr_assert_eq(atomic_load(&made), atomic_load(&freed));
	t_loop_free(loop);
}

SIO_BACKEND_TEST(lookup, name_that_does_not_exist)
{
	sio_loop *loop = t_loop_new(be->name);
	struct answer a = { 0 };
	/* .invalid never resolves (RFC 6761): the stand-in resolver says so
	 * at once, as RFC 6761 asks resolvers to, so that the test does not
	 * depend on a name server (one that does not answer takes longer
	 * than the guard). */
	cr_assert_not_null(sio_getaddrinfo(loop, "no-such-host.invalid", "80",
	                                   &stream_hints, addr_cb, &a));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(a.calls, 1);
	cr_assert_neq(a.status, 0);
	cr_assert_eq(a.families, 0);
	cr_assert_str_neq(gai_strerror(a.status), "");
	t_loop_free(loop);
}

SIO_BACKEND_TEST(lookup, getnameinfo_numeric_and_not)
{
	sio_loop *loop = t_loop_new(be->name);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(80) };
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	struct answer num = { 0 }, named = { 0 };
	cr_assert_not_null(sio_getnameinfo(loop, (struct sockaddr *)&sin, sizeof sin,
	                                   NI_NUMERICHOST | NI_NUMERICSERV, name_cb, &num));
	cr_assert_eq(num.calls, 0, "answered inside the call");
	cr_assert_not_null(sio_getnameinfo(loop, (struct sockaddr *)&sin, sizeof sin,
	                                   0, name_cb, &named));
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(num.status, 0);
	cr_assert_str_eq(num.host, "127.0.0.1");
	cr_assert_str_eq(num.serv, "80");
	cr_assert_eq(named.calls, 1);
	cr_assert_eq(named.status, 0, "%s", gai_strerror(named.status));
	cr_assert_str_neq(named.host, "");
	cr_assert(pthread_equal(named.thread, pthread_self()));
	errno = 0;
	cr_assert_null(sio_getnameinfo(loop, NULL, sizeof sin, 0, name_cb, &num));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(sio_getnameinfo(loop, (struct sockaddr *)&sin, 0, 0, name_cb, &num));
	cr_assert_null(sio_getaddrinfo(loop, NULL, NULL, NULL, addr_cb, &num));
	cr_assert_null(sio_getaddrinfo(NULL, "localhost", "80", NULL, addr_cb, &num));
	cr_assert_null(sio_getaddrinfo(loop, "localhost", "80", NULL, NULL, &num));
	t_loop_free(loop);
}

static bool
result_made_and_freed(void *arg)
{
	(void)arg;
	return atomic_load(&made) > 0 && atomic_load(&made) == atomic_load(&freed);
}

SIO_BACKEND_TEST(lookup, cancel_while_the_resolver_is_stalled)
{
	stall_init();
	sio_loop *loop = t_loop_new(be->name);
	struct answer a = { 0 };
	sio_lookup *q = sio_getaddrinfo(loop, "stall.test", "80", &stream_hints,
	                                addr_cb, &a);
	cr_assert_not_null(q);
	sem_wait_intr(&stall_entered);          /* the worker is in the resolver */
	sio_lookup_cancel(q);
	/* Nothing else is active: a run that returns shows the cancelled
	 * lookup no longer holds the loop. */
	t_run(loop, SIO_RUN_DEFAULT);
	cr_assert_eq(a.calls, 0);

	/* Let the resolver answer and wait until it has: the result then
	 * travels to the loop and is freed there.  A cancelled lookup runs no
	 * callback, so no SIO_RUN_ONCE would return for it: nonblocking runs
	 * look until it is freed (the guard bounds them). */
	sem_post(&stall_release);
	sem_wait_intr(&stall_left);
	cr_assert_eq(atomic_load(&made), 1);
	while (!result_made_and_freed(NULL) && !t_guard_fired())
		t_run(loop, SIO_RUN_NOWAIT);
	cr_assert(result_made_and_freed(NULL), "made %ld, freed %ld",
	          atomic_load(&made), atomic_load(&freed));
	cr_assert_eq(a.calls, 0, "the callback of a cancelled lookup ran");
	t_loop_free(loop);
}

SIO_BACKEND_TEST(lookup, loop_free_with_the_resolver_stalled)
{
	setenv("SIGIO_WORKERS", "1", 1);
	stall_init();
	sio_loop *loop = t_loop_new(be->name);
	struct answer a = { 0 }, b = { 0 };
	cr_assert_not_null(sio_getaddrinfo(loop, "stall.test", "80", &stream_hints,
	                                   addr_cb, &a));
	sem_wait_intr(&stall_entered);
	cr_assert_not_null(sio_getaddrinfo(loop, "localhost", "80", &stream_hints,
	                                   addr_cb, &b));       /* queued */
	t_loop_free(loop);
	sem_post(&stall_release);
	/* One worker, in order: once a new lookup is answered, the orphaned
	 * one before it has returned and been freed. */
	sio_loop *next = t_loop_new(be->name);
	struct answer c = { 0 };
	cr_assert_not_null(sio_getaddrinfo(next, "localhost", "80", &stream_hints,
	                                   addr_cb, &c));
	t_run(next, SIO_RUN_DEFAULT);
	cr_assert_eq(c.status, 0);
	cr_assert_eq(a.calls + b.calls, 0);
	cr_assert_eq(atomic_load(&made), atomic_load(&freed));
	t_loop_free(next);
}

struct flag_work {
	int done;
};

static void
nop_fn(void *arg)
{
	(void)arg;
}

static void
flag_done(sio_work *w, int status, void *arg)
{
	(void)w;
	((struct flag_work *)arg)->done = status == 0 ? 1 : -1;
}

SIO_BACKEND_TEST(lookup, stalled_lookups_leave_workers_for_other_work)
{
	setenv("SIGIO_WORKERS", "4", 1);     /* lookups: at most 2 at once */
	stall_init();
	sio_loop *loop = t_loop_new(be->name);
	struct answer a[3] = { { 0 } };
	for (int i = 0; i < 3; i++)
		cr_assert_not_null(sio_getaddrinfo(loop, "stall.test", "80",
		                                   &stream_hints, addr_cb, &a[i]));
	sem_wait_intr(&stall_entered);
	sem_wait_intr(&stall_entered);
	struct flag_work fw = { 0 };
	cr_assert_not_null(sio_work_submit(loop, nop_fn, flag_done, &fw));
	cr_assert(t_run_until(loop, t_flag_set, &fw.done, SIO_TEST_MAX_ONCE));
	cr_assert_eq(fw.done, 1);
	cr_assert_eq(sem_trywait(&stall_entered), -1,
	             "a third lookup ran while two were stalled");
	for (int i = 0; i < 3; i++)
		sem_post(&stall_release);
	t_run(loop, SIO_RUN_DEFAULT);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(a[i].calls, 1);
		cr_assert_eq(a[i].status, 0);
		cr_assert_str_eq(a[i].text, "127.0.0.1:80");
	}
	t_loop_free(loop);
}
