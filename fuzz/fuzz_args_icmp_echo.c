/*
 * fuzz_args_icmp_echo - icmp-echo's command-line parser, parse_options()
 * of demo/icmp-echo.c, on any argv (fuzz-argv.h).
 *
 * The demo's source is compiled in with its main renamed.  Checked beyond
 * "no crash": a successful parse has one non-empty host and every number
 * within the range the program's buffers and timers assume.
 */
#include "config.h"

int icmp_echo_main(int argc, char **argv);

#define main icmp_echo_main
#include "../demo/icmp-echo.c"
#undef main

#include "fuzz-argv.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[FUZZ_ARGV_MAX + 1];
	const char *backend = NULL;
	struct ping p;
	int argc, rc;

	memset(&p, 0, sizeof p);
	argc = fuzz_argv(PROG, data, size, argv);
	rc = parse_options(&p, argc, argv, &backend);
	fuzz_check(rc == 0 || rc == -1 || rc == 2);
	if (rc == 0) {
		fuzz_check(p.host != NULL && p.host[0] != '\0');
		fuzz_check(p.size <= MAX_SIZE);      /* p->out holds ICMP_HDR + MAX_SIZE */
		fuzz_check(p.interval_ms >= 1 && p.interval_ms <= MAX_INTERVAL_MS);
		fuzz_check(p.timeout_ms >= 1 && p.timeout_ms <= MAX_TIMEOUT_MS);
		fuzz_check(p.count <= 1ULL << 40);
	}
	fuzz_argv_free(argc, argv);
	return 0;
}
