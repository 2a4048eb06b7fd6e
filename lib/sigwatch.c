/*
 * sigwatch.c - signal watchers: the application's signals as events of
 * the loop.  The runtime's handler (signals.c) writes a record per signal
 * into the self-pipe of each loop that watches it; the loop counts them
 * (sio__sigwatch_note()) and the dispatch calls the watchers once per
 * iteration with the count.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>

#include "list.h"
#include "sigio-internal.h"

static uint64_t
sigbit(int signo)
{
	return (uint64_t)1 << (signo - 1);
}

sio_signal *
sio_signal_start(sio_loop *loop, int signo, sio_signal_cb cb, void *arg)
{
	if (loop == NULL || cb == NULL || signo <= 0 || signo >= SIO__NSIG ||
	    signo == SIGKILL || signo == SIGSTOP || sio__signals_reserved(signo)) {
		errno = EINVAL;
		return NULL;
	}
	struct sio_signal *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	if (loop->sigw[signo] == NULL && sio__signals_hold(loop, signo, 0) < 0) {
		int saved = errno;
		free(s);
		errno = saved == EBUSY ? EINVAL : saved;
		return NULL;
	}
	*s = (struct sio_signal){ .loop = loop, .signo = signo, .cb = cb,
	                          .arg = arg, .state = SIO__H_ACTIVE };
	SIO__LIST_PUSH(loop->sigw[signo], s);
	loop->active++;
	return s;
}

void
sio_signal_stop(sio_signal *s)
{
	if (s == NULL || s->state == SIO__H_STOPPED)
		return;
	sio_loop *loop = s->loop;
	SIO__LIST_UNLINK(loop->sigw[s->signo], s);  /* a dispatch may stand here */
	loop->active--;
	s->state = SIO__H_STOPPED;
	if (loop->sigw[s->signo] == NULL) {
		sio__signals_release(loop, s->signo, 0);
		loop->sig_count[s->signo] = 0;
	}
	sio__retire(loop, s);
}

/* A record of `signo` came through the self-pipe. */
void
sio__sigwatch_note(sio_loop *loop, int signo)
{
	if (signo <= 0 || signo >= SIO__NSIG || loop->sigw[signo] == NULL)
		return;
	if (loop->sig_count[signo] < UINT_MAX)
		loop->sig_count[signo]++;
	loop->sig_pending = 1;
}

/* After a drain that found the pipe had overflowed: a watched signal whose
 * record was lost still has its bit. */
void
sio__sigwatch_collect(sio_loop *loop, int overflowed)
{
	uint64_t caught = sio__signals_caught(loop);
	if (!overflowed)
		return;
	for (int s = 1; s < SIO__NSIG; s++)
		if ((caught & sigbit(s)) && loop->sigw[s] != NULL &&
		    loop->sig_count[s] == 0) {
			loop->sig_count[s] = 1;
			loop->sig_pending = 1;
		}
}

size_t
sio__sigwatch_dispatch(sio_loop *loop)
{
	size_t ran = 0;
	if (!loop->sig_pending)
		return 0;
	loop->sig_pending = 0;
	for (int signo = 1; signo < SIO__NSIG; signo++) {
		unsigned count = loop->sig_count[signo];
		if (count == 0)
			continue;
		loop->sig_count[signo] = 0;
		for (struct sio_signal *s = loop->sigw[signo], *next; s; s = next) {
			next = s->next;
			if (s->state != SIO__H_ACTIVE)
				continue;
			ran++;
			loop->stats.callbacks++;
			s->cb(s, signo, count, s->arg);
		}
	}
	return ran;
}

void
sio__sigwatch_free(sio_loop *loop)
{
	for (int signo = 1; signo < SIO__NSIG; signo++) {
		if (loop->sigw[signo] == NULL)
			continue;
		while (loop->sigw[signo] != NULL) {
			struct sio_signal *s = loop->sigw[signo];
			loop->sigw[signo] = s->next;
			free(s);
		}
		sio__signals_release(loop, signo, 0);
	}
}

