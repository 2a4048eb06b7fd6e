/*
 * fuzz_endpoint - echo-common.c's parsers of command-line text:
 * echo_split_hostport (HOST:PORT, [v6]:PORT, ::1:PORT, *:PORT),
 * echo_parse_uint and echo_option_value.
 *
 * Input: the first byte picks the host buffer size (so "does not fit" is
 * reached), the rest is the text.  Checked beyond "no crash": on success
 * host and port are NUL-terminated within their buffers, the port is a
 * number up to 65535 or service-name characters, and a host with a colon
 * parses as IPv6.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../demo/echo-common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
split(const char *text, size_t hostlen)
{
	char *host = malloc(hostlen), *port = malloc(ECHO_SERV_MAX);
	const char *why = NULL;

	if (host == NULL || port == NULL)
		goto out;
	if (echo_split_hostport(text, host, hostlen, port, ECHO_SERV_MAX, &why) < 0) {
		check(why != NULL && why[0] != '\0');
		goto out;
	}
	check(memchr(host, '\0', hostlen) != NULL);
	check(memchr(port, '\0', ECHO_SERV_MAX) != NULL);
	check(port[0] != '\0');
	for (const char *p = port; *p; p++)
		check(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.');
	if (strspn(port, "0123456789") == strlen(port))
		check(strtoul(port, NULL, 10) <= 65535);
	if (strchr(host, ':') != NULL) {
		struct in6_addr a6;
		check(inet_pton(AF_INET6, host, &a6) == 1);
	}
out:
	free(host);
	free(port);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t hostlens[] = { 1, 2, 8, 40, ECHO_HOST_MAX };
	unsigned long long v;
	char *text;

	if (size < 1)
		return 0;
	text = malloc(size);            /* the text, NUL-terminated, exact size */
	if (text == NULL)
		return 0;
	memcpy(text, data + 1, size - 1);
	text[size - 1] = '\0';

	split(text, hostlens[data[0] % 5]);

	if (echo_parse_uint(text, 0, 65535, &v) == 0)
		check(v <= 65535);
	if (echo_parse_uint(text, 1, ~0ULL, &v) == 0)
		check(v >= 1 && isdigit((unsigned char)text[0]));
	const char *val = echo_option_value(text, "--tcp");
	if (val != NULL)
		check(val == text + 6 && strncmp(text, "--tcp=", 6) == 0);
	free(text);
	return 0;
}
