/*
 * urgent.c - reading TCP urgent (out-of-band) data.  The SIO_URGENT event
 * itself comes from the backends: POLLPRI on poll, the except set on
 * select, SIGURG (and a POLL_PRI record on rtsig) on the signal-driven ones,
 * which F_SETOWN routes to the fd's owner like SIGIO.
 */
#include "config.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sigio-internal.h"

int
sio_urgent_read(int fd, unsigned char *byte)
{
	if (byte == NULL) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		ssize_t n = recv(fd, byte, 1, MSG_OOB);
		if (n >= 0)
			return (int)n;
		if (errno != EINTR)
			return -1;
	}
}

int
sio_at_mark(int fd)
{
#ifdef SIOCATMARK
	/* What sockatmark() does, with the answer initialised: valgrind takes
	 * SIOCATMARK's argument for an input and glibc leaves it unset. */
	int at = 0;
	if (ioctl(fd, SIOCATMARK, &at) < 0)
		return -1;
	return at != 0;
#else
	return sockatmark(fd);
#endif
}
