/*
 * fdflags.c - O_NONBLOCK and FD_CLOEXEC set after the fact (fdflags.h).
 *
 * Quirks: F_GETFL/F_SETFL and F_GETFD/F_SETFD are two separate sets of
 * flags, so each is read and written on its own; fcntl() is retried on
 * EINTR, which these commands should not return but which a caller must
 * never take for a failure of the fd.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>

#include "fdflags.h"

static int
fcntl_again(int fd, int cmd, int arg)
{
	int rc;
	do
		rc = fcntl(fd, cmd, arg);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/* Add `bit` to the flags that `get` reads and `set` writes, unless it is
 * there already. */
static int
flag_add(int fd, int get, int set, int bit)
{
	int fl = fcntl_again(fd, get, 0);
	if (fl < 0)
		return -1;
	if ((fl & bit) != 0)
		return 0;
	return fcntl_again(fd, set, fl | bit) < 0 ? -1 : 0;
}

int
sio__fd_nonblock(int fd)
{
	return flag_add(fd, F_GETFL, F_SETFL, O_NONBLOCK);
}

int
sio__fd_cloexec(int fd)
{
	return flag_add(fd, F_GETFD, F_SETFD, FD_CLOEXEC);
}

int
sio__fd_nonblock_cloexec(int fd)
{
	return sio__fd_nonblock(fd) < 0 ? -1 : sio__fd_cloexec(fd);
}
