/*
 * echo-common.h - what echo-server and echo-client share: option parsing
 * (HOST:PORT, numbers), peer addresses as text, the test pattern, and the
 * record-preserving I/O of SOCK_SEQPACKET connections.
 *
 * Only the plain sockets API and include/sigio.h are used here, as in the
 * demos themselves.
 */
#ifndef ECHO_COMMON_H
#define ECHO_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The port served when echo-server is given no endpoint: the echo port 7
 * needs privilege, 7007 does not. */
#define ECHO_DEFAULT_PORT "7007"

/* Longest host and service strings we accept (NI_MAXHOST, NI_MAXSERV). */
#define ECHO_HOST_MAX 1025
#define ECHO_SERV_MAX 32

/* Largest SOCK_SEQPACKET record received whole.  The kernel refuses to send
 * a record larger than the sender's SO_SNDBUF, which cannot exceed twice
 * net.core.wmem_max (212,992 by default): 512 KiB is more than any record
 * can be on a default system.  One buffer of this size per loop thread. */
#define ECHO_RECORD_MAX (512 * 1024)

/*
 * echo_split_hostport - split "HOST:PORT" into host and port.
 *
 * Accepted forms: "127.0.0.1:7", "localhost:echo", "[::1]:0" (brackets
 * around an IPv6 literal), "::1:0" (an unbracketed IPv6 literal: the last
 * colon separates the port, accepted only if what is left of it parses as
 * an IPv6 address), ":7" or "*:7" (every local address: *host becomes "").
 * PORT is a number from 0 to 65535 or a service name (letters, digits, '-',
 * '_' and '.'; getaddrinfo resolves it later).
 *
 * Returns 0, or -1 with *why set to a short static phrase naming the
 * problem ("missing port", "bad port", ...).
 */
int echo_split_hostport(const char *text, char *host, size_t hostlen,
                        char *port, size_t portlen, const char **why);

/*
 * echo_parse_uint - a decimal number from `min` to `max`, the whole string.
 * Returns 0 with the value in *out, or -1.
 */
/* "--name=value" -> "value" when `arg` is option `name` with a value, else
 * NULL (the demos' options all take that one form). */
const char *echo_option_value(const char *arg, const char *name);

int echo_parse_uint(const char *s, unsigned long long min, unsigned long long max,
                    unsigned long long *out);

/*
 * echo_peer_text - a peer's address as text: "127.0.0.1:PORT" or
 * "[::1]:PORT" from getnameinfo(NI_NUMERICHOST | NI_NUMERICSERV), the path
 * of a Unix socket ("@name" for an abstract one; bytes outside printable
 * ASCII, and '\\', written \xNN), or "unnamed" for an unbound Unix peer.
 * Returns `buf`.
 */
char *echo_peer_text(const struct sockaddr *sa, socklen_t len, char *buf,
                     size_t buflen);

/* The byte at offset `i` of the test stream: a pattern that no offset error
 * (a lost, repeated or reordered chunk) hides. */
static inline unsigned char
echo_pattern(uint64_t i)
{
	return (unsigned char)((i * 2654435761u) >> 13);
}

/*
 * echo_recv_record - recvmsg() one record (SOCK_SEQPACKET or a datagram)
 * into buf.  Returns its length (0 is the end of the stream on a
 * SOCK_SEQPACKET socket), or -1 with errno (EAGAIN: none waiting).  Sets
 * *truncated when the kernel cut it short (MSG_TRUNC in msg_flags).
 */
ssize_t echo_recv_record(int fd, void *buf, size_t len, int *truncated);

/*
 * echo_send_record - sendmsg() one whole record with MSG_NOSIGNAL: a peer
 * that went away gives EPIPE, never SIGPIPE.  Returns 0, or -1 with errno
 * (EAGAIN: the socket buffer has no room for it now; nothing was sent).
 */
int echo_send_record(int fd, const void *buf, size_t len);

#endif /* ECHO_COMMON_H */
