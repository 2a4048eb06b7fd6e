/*
 * fuzz_sockaddr_text - addresses from the kernel, as text: the library's
 * sio_sockaddr_text() (lib/sockets.c; what sio_listener_address and the
 * accept callbacks' users print) and the demos' echo_peer_text()
 * (demo/echo-common.c, every peer the echo server logs).  The bytes of an
 * address are partly the peer's: a Unix peer chooses its path, abstract
 * name and length; an IPv6 peer its scope.
 *
 * Input: byte 0 picks the output buffer size, byte 1 whether the address
 * is given at all; the rest is the sockaddr, in a buffer of exactly its
 * length (ASan sees any read past it), passed with that length.  Checked
 * beyond "no crash": the text is NUL-terminated within the buffer; with
 * SIO_ADDRSTRLEN bytes sio_sockaddr_text succeeds for every AF_INET,
 * AF_INET6 and AF_UNIX address long enough for its family, as its
 * documentation promises; echo_peer_text's text is printable ASCII (a
 * Unix peer's path or abstract name cannot put control bytes or terminal
 * escapes into the echo server's log).
 */
#include "config.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "sigio.h"
#include "../demo/echo-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

/* Whether sio_sockaddr_text must accept (sa, len). */
static int
well_formed(const struct sockaddr *sa, socklen_t len)
{
	if (sa == NULL || len < (socklen_t)sizeof(sa_family_t))
		return 0;
	switch (sa->sa_family) {
	case AF_INET:  return len >= (socklen_t)sizeof(struct sockaddr_in);
	case AF_INET6: return len >= (socklen_t)sizeof(struct sockaddr_in6);
	case AF_UNIX:  return 1;
	default:       return 0;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t sizes[] = { 1, 2, 8, 16, 22, 47, 64, SIO_ADDRSTRLEN, 200 };
	struct sockaddr *sa = NULL;
	socklen_t len;
	size_t bufsize;
	char *buf;

	if (size < 2 || size - 2 > 4096)
		return 0;
	bufsize = sizes[data[0] % (sizeof sizes / sizeof sizes[0])];
	len = (socklen_t)(size - 2);
	if ((data[1] & 1) == 0 && (sa = malloc(len > 0 ? len : 1)) == NULL)
		return 0;
	if (sa != NULL)
		memcpy(sa, data + 2, len);
	if ((buf = malloc(bufsize)) == NULL)
		goto out;

	char *t = sio_sockaddr_text(sa, len, buf, bufsize);
	if (t != NULL)
		check(t == buf && memchr(buf, '\0', bufsize) != NULL);
	if (bufsize == SIO_ADDRSTRLEN && well_formed(sa, len))
		check(t == buf);

	memset(buf, 'x', bufsize);
	t = echo_peer_text(sa, len, buf, bufsize);
	check(t == buf && memchr(buf, '\0', bufsize) != NULL);
	/* What a peer chose is escaped: the log line is printable ASCII. */
	for (const char *p = buf; *p != '\0'; p++)
		check(*p >= 0x20 && *p < 0x7f);
out:
	free(buf);
	free(sa);
	return 0;
}
