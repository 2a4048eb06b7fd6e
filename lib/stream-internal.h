/*
 * stream-internal.h - what listener.c, stream.c and dgram.c share: making
 * nonblocking close-on-exec sockets, binding what getaddrinfo() gives, and
 * the per-thread text of the last getaddrinfo() failure.  Built on the
 * public API and the sockets API only; defined in listener.c.
 */
#ifndef SIGIO_STREAM_INTERNAL_H
#define SIGIO_STREAM_INTERNAL_H

#include <netdb.h>
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

/* Sockets bound for one (host, service). */
struct sio__bound {
	int *fds;       /* n sockets, in getaddrinfo()'s order */
	size_t n;
};

/* socket(family, type, proto), nonblocking and close-on-exec (with fcntl
 * where SOCK_NONBLOCK is missing), and SO_NOSIGPIPE where that exists.
 * Returns the fd, or -1 with errno. */
int sio__socket(int family, int type, int proto);

/* Make an fd from accept() or socket() nonblocking and close-on-exec. */
int sio__nonblock_cloexec(int fd);

/* SO_NOSIGPIPE on `fd` where the platform has it; a no-op elsewhere. */
void sio__nosigpipe(int fd);

/*
 * Bind a socket of `socktype` (SOCK_STREAM: also listen(SOMAXCONN);
 * SOCK_DGRAM) on every address getaddrinfo(host, service, AI_PASSIVE)
 * gives, as sio_listen_tcp() documents (V6ONLY, families the machine lacks
 * passed over, port 0 shared, SO_REUSEADDR when `reuseaddr`).  On success
 * fills *out (free out->fds with sio__bound_close()) and returns 0; on
 * failure nothing stays open and it returns -1 with errno.
 */
int sio__bind_service(const char *host, const char *service, int socktype,
                      int flags, int reuseaddr, struct sio__bound *out);

/* Close every socket of *b and free its array. */
void sio__bound_close(struct sio__bound *b);

/* Check a service as sio_listen_tcp() wants it: not NULL, not empty, a
 * port number not above 65535.  Returns 0, or -1 with errno EINVAL. */
int sio__check_service(const char *service);

/* Resolve (host, service) for `socktype`, with `flags` as ai_flags:
 * getaddrinfo() with its failure turned into errno (EADDRNOTAVAIL,
 * EAGAIN, ENOMEM or the system's) and its text kept for
 * sio_listener_error().  Returns 0 or -1. */
int sio__resolve(const char *host, const char *service, int socktype, int flags,
                 struct addrinfo **res);

/* Fill *sun and *len with `path`.  Returns 0, or -1 with errno EINVAL
 * (NULL or empty) or ENAMETOOLONG (it does not fit in sun_path). */
int sio__unix_address(const char *path, struct sockaddr_un *sun, socklen_t *len);

/* An fd's bound address as text (getsockname() and
 * sio_sockaddr_text()); NULL with errno. */
char *sio__fd_address(int fd, char *buf, size_t len);

#endif /* SIGIO_STREAM_INTERNAL_H */
