/*
 * fuzz_args_echo_server - echo-server's command-line parser,
 * parse_options() of demo/echo-server.c, on any argv (fuzz-argv.h).
 *
 * The demo's source is compiled into this target with its main renamed,
 * so the static parser is the very one the program runs.  Checked beyond
 * "no crash, no leak": a parse that succeeds leaves at least one endpoint,
 * each of a known kind with a NUL-terminated host and port or a path that
 * fits a sockaddr_un, and --threads within 1..MAX_THREADS.
 */
#include "config.h"

int echo_server_main(int argc, char **argv);

#define main echo_server_main
#include "../demo/echo-server.c"
#undef main

#include "fuzz-argv.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct options initial;
	static int saved;
	char *argv[FUZZ_ARGV_MAX + 1];
	int argc, rc;

	if (!saved) {                   /* parse_options() fills the global opt */
		initial = opt;
		saved = 1;
	}
	opt = initial;
	argc = fuzz_argv(PROG, data, size, argv);
	rc = parse_options(argc, argv);
	fuzz_check(rc == 0 || rc == -1 || rc == 1 || rc == 2);
	if (rc == 0) {
		fuzz_check(opt.neps >= 1 && opt.neps <= (size_t)argc + 1);
		fuzz_check(opt.threads >= 1 && opt.threads <= MAX_THREADS);
		fuzz_check(opt.max_conns >= 1);
		for (size_t i = 0; i < opt.neps; i++) {
			const struct endpoint *ep = &opt.eps[i];
			fuzz_check(ep->kind >= EP_TCP && ep->kind <= EP_SEQPACKET);
			if (ep->kind == EP_TCP || ep->kind == EP_UDP) {
				fuzz_check(memchr(ep->host, '\0', sizeof ep->host) != NULL);
				fuzz_check(ep->port[0] != '\0' &&
				           memchr(ep->port, '\0', sizeof ep->port) != NULL);
			} else {
				struct sockaddr_un sun;
				fuzz_check(ep->path != NULL && ep->path[0] != '\0' &&
				           strlen(ep->path) < sizeof sun.sun_path);
			}
		}
	}
	free(opt.eps);
	fuzz_argv_free(argc, argv);
	return 0;
}
