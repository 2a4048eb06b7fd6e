/*
 * sockets.h - the socket helpers of the stream layer, in one room so that
 * listener.c, stream.c and dgram.c stand side by side over sockets.c and
 * none of them reaches into another: making nonblocking close-on-exec
 * sockets, resolving (host, service), binding every address of one, Unix
 * addresses, and the set of bound fds that listeners and datagram objects
 * hold, with the accessors both publish.
 *
 * Built on the public API and the sockets API only, as an application
 * could (DESIGN.md: the stream layer uses only the public API).  The
 * public sio_sockaddr_text() and sio_listener_error() are defined in
 * sockets.c, beside the resolution and the addresses they speak of.
 */
#ifndef SIGIO_SOCKETS_H
#define SIGIO_SOCKETS_H

#include <netdb.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sigio.h"

/* send() flags that keep a vanished peer from raising SIGPIPE. */
#if HAVE_DECL_MSG_NOSIGNAL
#define SIO__SEND_FLAGS MSG_NOSIGNAL
#else
#define SIO__SEND_FLAGS 0
#endif

/* The sockets of one listener or datagram object, in getaddrinfo()'s
 * order: what its fd and address accessors count from. */
struct sio__fdset {
	int *fds;       /* n fds, malloc()ed */
	size_t n;
};

/* socket(family, type, proto), nonblocking and close-on-exec (with fcntl
 * where SOCK_NONBLOCK is missing), and SO_NOSIGPIPE where that exists.
 * Returns the fd, or -1 with errno. */
int sio__socket(int family, int type, int proto);

/* SO_NOSIGPIPE on `fd` where the platform has it; a no-op elsewhere. */
void sio__nosigpipe(int fd);

/* Resolve (host, service) for `socktype`, with `flags` as ai_flags.  The
 * service is checked first as sio_listen_tcp() wants it (not NULL, not
 * empty, a port number not above 65535: EINVAL, and the last failure's
 * text left as it was).  Then getaddrinfo(), its failure turned into
 * errno (EADDRNOTAVAIL, EAGAIN, ENOMEM or the system's) and its text kept
 * for sio_listener_error().  Returns 0 (free *res with freeaddrinfo()) or
 * -1 with *res NULL. */
int sio__resolve(const char *host, const char *service, int socktype, int flags,
                 struct addrinfo **res);

/* The service check of sio__resolve(): 0, or -1 with errno EINVAL. */
int sio__check_service(const char *service);

/* getaddrinfo()'s failure `rc` as errno (`err`: errno after the call, for
 * EAI_SYSTEM): EAGAIN, ENOMEM, `err`, else EADDRNOTAVAIL. */
int sio__resolve_errno(int rc, int err);

/* The calling thread's text for sio_listener_error() (a static string):
 * for the asynchronous connect, whose lookup failed on a worker. */
void sio__resolve_error_set(const char *text);

/*
 * Bind a socket of `socktype` (SOCK_STREAM: also listen(SOMAXCONN);
 * SOCK_DGRAM) on every address getaddrinfo(host, service, AI_PASSIVE)
 * gives, as sio_listen_tcp() documents (V6ONLY, families the machine lacks
 * passed over, port 0 shared, SO_REUSEADDR when `reuseaddr`).  On success
 * fills *out and returns 0; on failure nothing stays open and it returns
 * -1 with errno.
 */
int sio__bind_service(const char *host, const char *service, int socktype,
                      int flags, int reuseaddr, struct sio__fdset *out);

/* Fill *sun and *len with `path`.  Returns 0, or -1 with errno EINVAL
 * (NULL or empty) or ENAMETOOLONG (it does not fit in sun_path). */
int sio__unix_address(const char *path, struct sockaddr_un *sun, socklen_t *len);

/* A set holding `fd` alone (the fd is not touched).  Returns 0, or -1 with
 * errno ENOMEM. */
int sio__fdset_one(struct sio__fdset *set, int fd);

/* Close every fd of *set and free its array; *set is then empty.  errno
 * is kept, for error paths. */
void sio__fdset_close(struct sio__fdset *set);

/* The accessors of listeners and datagram objects (sigio.h), with `set`
 * NULL when the object is: the count (0 for NULL); the i-th fd, or -1
 * with errno EINVAL; the i-th bound address as sio_sockaddr_text() writes
 * it, or NULL with errno (EINVAL, ENOSPC or getsockname()'s). */
size_t sio__fdset_count(const struct sio__fdset *set);
int sio__fdset_fd(const struct sio__fdset *set, size_t i);
char *sio__fdset_address(const struct sio__fdset *set, size_t i, char *buf,
                         size_t len);

/* Around a write to a pipe: SIGPIPE held back in the calling thread, and
 * the one the write raised taken back (`epipe`), so that the writer gets
 * EPIPE and nothing else; a SIGPIPE the program had pending is kept.
 * hold() returns 1 if one was pending. */
int sio__sigpipe_hold(sigset_t *old);
void sio__sigpipe_release(const sigset_t *old, int was_pending, int epipe);

#endif /* SIGIO_SOCKETS_H */
