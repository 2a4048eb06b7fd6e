/*
 * fdflags.h - O_NONBLOCK and FD_CLOEXEC on an fd the kernel could not make
 * so at creation (no SOCK_NONBLOCK, accept4 or pipe2): written once, for
 * the stream layer's sockets, the loop's watched fds and the self-pipe.
 *
 * A leaf on purpose: it needs no sigio type and includes nothing of
 * sigio, so that the loop core and the stream layer (which sees only the
 * public API) can both use it.  Each call is fcntl() alone: async-signal-
 * safe, and it writes a flag only where it is missing, so that an fd
 * already right costs one F_GETFL (or F_GETFD) and no more.
 */
#ifndef SIGIO_FDFLAGS_H
#define SIGIO_FDFLAGS_H

/* Set O_NONBLOCK on `fd`.  Returns 0, or -1 with fcntl()'s errno. */
int sio__fd_nonblock(int fd);

/* Set FD_CLOEXEC on `fd`.  Returns 0, or -1 with fcntl()'s errno. */
int sio__fd_cloexec(int fd);

/* Both, for a socket or pipe made where the platform could not set them
 * at once.  Returns 0, or -1 with errno (either may be set already). */
int sio__fd_nonblock_cloexec(int fd);

#endif /* SIGIO_FDFLAGS_H */
