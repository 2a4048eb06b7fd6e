/*
 * fuzz_args_echo_client - echo-client's command-line parser,
 * parse_options() of demo/echo-client.c, on any argv (fuzz-argv.h).
 *
 * The demo's source is compiled in with its main renamed: the parser is the
 * program's own.  Checked beyond "no crash": a successful parse names one
 * server of a known kind, with a NUL-terminated host and port or a path
 * that fits a sockaddr_un, --urgent only with TCP, and count * size that
 * does not overflow.
 */
#include "config.h"

int echo_client_main(int argc, char **argv);

#define main echo_client_main
#include "../demo/echo-client.c"
#undef main

#include "fuzz-argv.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[FUZZ_ARGV_MAX + 1];
	const char *backend = NULL;
	struct client c;
	int argc, rc;

	memset(&c, 0, sizeof c);
	argc = fuzz_argv(PROG, data, size, argv);
	rc = parse_options(&c, argc, argv, &backend);
	fuzz_check(rc == 0 || rc == -1 || rc == 2);
	if (rc == 0) {
		fuzz_check(c.kind >= K_TCP && c.kind <= K_SEQPACKET && c.target != NULL);
		if (c.kind == K_TCP || c.kind == K_UDP) {
			fuzz_check(memchr(c.host, '\0', sizeof c.host) != NULL);
			fuzz_check(c.port[0] != '\0' && memchr(c.port, '\0', sizeof c.port) != NULL);
		} else {
			struct sockaddr_un sun;
			fuzz_check(c.path != NULL && c.path[0] != '\0' &&
			           strlen(c.path) < sizeof sun.sun_path);
		}
		fuzz_check(!c.urgent || c.kind == K_TCP);
		fuzz_check(c.count >= 1 && c.size >= 1 && c.size <= MAX_SIZE);
		fuzz_check(c.count <= ~0ULL / c.size);
	}
	fuzz_argv_free(argc, argv);
	return 0;
}
