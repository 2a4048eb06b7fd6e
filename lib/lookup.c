/*
 * lookup.c - getaddrinfo() and getnameinfo() on the worker pool
 * (sio_getaddrinfo(), sio_getnameinfo()), their results handed to the
 * loop's thread, and a cancel that holds even while the resolver blocks.
 *
 * A lookup is one work item whose arg is the lookup itself.  The worker
 * writes only the result fields; everything else is the loop's.  Cancel
 * marks the lookup and detaches its item from the loop's active count:
 * the result still travels to the loop (or, if the loop is freed first,
 * to the item's drop) and is freed there, without the callback.  So a
 * cancelled lookup neither runs its callback, nor keeps the loop
 * running, nor leaks, however long the name server takes.
 *
 * What needs no name server (a literal host, a numeric service) is
 * answered on the loop's thread at once and delivered through the same
 * path, by the next dispatch: the callback never runs inside the call.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include "sigio-internal.h"

enum { LOOKUP_ADDR, LOOKUP_NAME };

struct sio_lookup {
	sio_loop *loop;
	sio_work *work;
	int kind;                /* LOOKUP_ADDR or LOOKUP_NAME */
	int cancelled;
	int in_callback;
	sio_addrinfo_cb acb;
	sio_nameinfo_cb ncb;
	void *arg;
	/* the question (the loop's thread before the worker's) */
	char *host, *service;
	struct addrinfo hints;
	int have_hints;
	struct sockaddr_storage sa;
	socklen_t salen;
	int flags;
	/* the answer (the worker's, then the loop's) */
	int status;
	struct addrinfo *res;
	char hbuf[NI_MAXHOST], sbuf[NI_MAXSERV];
};

static void
lookup_free(void *arg)
{
	struct sio_lookup *q = arg;
	if (q->res != NULL)
		freeaddrinfo(q->res);
	free(q->host);
	free(q->service);
	free(q);
}

/* On whichever thread asks it: a worker, or the loop for numeric ones. */
static void
lookup_run(void *arg)
{
	struct sio_lookup *q = arg;
	if (q->kind == LOOKUP_ADDR) {
		q->status = getaddrinfo(q->host, q->service,
		                        q->have_hints ? &q->hints : NULL, &q->res);
		if (q->status != 0)
			q->res = NULL;
	} else {
		q->status = getnameinfo((struct sockaddr *)&q->sa, q->salen,
		                        q->hbuf, sizeof q->hbuf, q->sbuf,
		                        sizeof q->sbuf, q->flags);
		if (q->status != 0)
			q->hbuf[0] = q->sbuf[0] = '\0';
	}
}

/* On the loop's thread.  ECANCELED without a cancel: a forked child's copy
 * of a lookup its parent runs; the child is told to try again. */
static void
lookup_done(sio_work *w, int status, void *arg)
{
	(void)w;
	struct sio_lookup *q = arg;
	if (!q->cancelled) {
		int rc = status == ECANCELED ? EAI_AGAIN : q->status;
		q->in_callback = 1;
		if (q->kind == LOOKUP_ADDR)
			q->acb(q, rc, rc == 0 ? q->res : NULL, q->arg);
		else
			q->ncb(q, rc, rc == 0 ? q->hbuf : "", rc == 0 ? q->sbuf : "",
			       q->arg);
	}
	lookup_free(q);
}

/* Hand the lookup to a worker, or answer it now if `numeric`. */
static sio_lookup *
lookup_start(struct sio_lookup *q, int numeric)
{
	if (numeric) {
		lookup_run(q);
		q->work = sio__work_finished(q->loop, lookup_done, q, lookup_free);
	} else {
		q->work = sio__work_submit(q->loop, lookup_run, lookup_done, q,
		                           SIO__WORK_LOOKUP, lookup_free);
	}
	if (q->work == NULL) {
		int saved = errno;
		lookup_free(q);
		errno = saved;
		return NULL;
	}
	return q;
}

static int
all_digits(const char *s)
{
	return *s != '\0' && strspn(s, "0123456789") == strlen(s);
}

/* A host no name server is asked about: an IPv4 or IPv6 literal (with a
 * %scope, which names a local interface), or none at all. */
static int
literal_host(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	char tmp[INET6_ADDRSTRLEN];
	if (host == NULL || inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1)
		return 1;
	const char *pct = strchr(host, '%');
	if (pct == NULL || (size_t)(pct - host) >= sizeof tmp)
		return 0;
	memcpy(tmp, host, (size_t)(pct - host));
	tmp[pct - host] = '\0';
	return inet_pton(AF_INET6, tmp, buf) == 1;
}

static int
numeric_question(const char *host, const char *service,
                 const struct addrinfo *hints)
{
	int flags = hints != NULL ? hints->ai_flags : 0;
	int host_ok = (flags & AI_NUMERICHOST) || literal_host(host);
	int serv_ok = service == NULL || (flags & AI_NUMERICSERV) ||
	              all_digits(service);
	return host_ok && serv_ok;
}

static char *
dup_or_null(const char *s, int *failed)
{
	if (s == NULL)
		return NULL;
	char *d = strdup(s);
	if (d == NULL)
		*failed = 1;
	return d;
}

sio_lookup *
sio_getaddrinfo(sio_loop *loop, const char *host, const char *service,
                const struct addrinfo *hints, sio_addrinfo_cb cb, void *arg)
{
	if (loop == NULL || cb == NULL || (host == NULL && service == NULL)) {
		errno = EINVAL;
		return NULL;
	}
	struct sio_lookup *q = calloc(1, sizeof *q);
	if (q == NULL)
		return NULL;
	int failed = 0;
	q->loop = loop;
	q->kind = LOOKUP_ADDR;
	q->acb = cb;
	q->arg = arg;
	q->host = dup_or_null(host, &failed);
	q->service = dup_or_null(service, &failed);
	if (failed) {
		lookup_free(q);
		errno = ENOMEM;
		return NULL;
	}
	if (hints != NULL) {
		/* What getaddrinfo() reads of hints; the rest must be 0. */
		q->hints.ai_flags = hints->ai_flags;
		q->hints.ai_family = hints->ai_family;
		q->hints.ai_socktype = hints->ai_socktype;
		q->hints.ai_protocol = hints->ai_protocol;
		q->have_hints = 1;
	}
	return lookup_start(q, numeric_question(host, service, hints));
}

sio_lookup *
sio_getnameinfo(sio_loop *loop, const struct sockaddr *sa, socklen_t salen,
                int flags, sio_nameinfo_cb cb, void *arg)
{
	if (loop == NULL || sa == NULL || cb == NULL || salen == 0 ||
	    salen > sizeof(struct sockaddr_storage)) {
		errno = EINVAL;
		return NULL;
	}
	struct sio_lookup *q = calloc(1, sizeof *q);
	if (q == NULL)
		return NULL;
	q->loop = loop;
	q->kind = LOOKUP_NAME;
	q->ncb = cb;
	q->arg = arg;
	memcpy(&q->sa, sa, salen);
	q->salen = salen;
	q->flags = flags;
	int numeric = (flags & NI_NUMERICHOST) && (flags & NI_NUMERICSERV);
	return lookup_start(q, numeric);
}

void
sio_lookup_cancel(sio_lookup *q)
{
	if (q == NULL || q->cancelled || q->in_callback)
		return;
	q->cancelled = 1;
	/* Queued: it never starts.  Running: its result comes back and is
	 * freed by lookup_done() or, the loop gone, by lookup_free(). */
	(void)sio_work_cancel(q->work);
	sio__work_detach(q->work);
}
