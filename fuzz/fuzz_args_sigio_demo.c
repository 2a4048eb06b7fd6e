/*
 * fuzz_args_sigio_demo - sigio-demo's command-line parser, parse_options()
 * of demo/sigio-demo.c, on any argv (fuzz-argv.h).
 *
 * The demo's source is compiled in with its main renamed.  Checked beyond
 * "no crash": a successful parse has --bytes within 1..2^32 and never both
 * --all and --backend (unless --list ended the parse).
 */
#include "config.h"

int sigio_demo_main(int argc, char **argv);

#define main sigio_demo_main
#include "../demo/sigio-demo.c"
#undef main

#include "fuzz-argv.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[FUZZ_ARGV_MAX + 1];
	struct options o;
	int argc, rc;

	memset(&o, 0, sizeof o);
	argc = fuzz_argv("sigio-demo", data, size, argv);
	rc = parse_options(&o, argc, argv);
	fuzz_check(rc == 0 || rc == -1 || rc == 2);
	if (rc == 0) {
		fuzz_check(o.total >= 1 && (unsigned long long)o.total <= 1ULL << 32);
		fuzz_check(o.list || !(o.all && o.backend != NULL));
	}
	fuzz_argv_free(argc, argv);
	return 0;
}
