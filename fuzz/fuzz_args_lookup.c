/*
 * fuzz_args_lookup - lookup's command-line parser, parse_options() of
 * demo/lookup.c, on any argv (fuzz-argv.h).
 *
 * The demo's source is compiled in with its main renamed.  Checked beyond
 * "no crash": a successful parse is either one database (with a network
 * name only for --networks) or a non-empty HOST and at most a SERVICE.
 */
#include "config.h"

int lookup_main(int argc, char **argv);

#define main lookup_main
#include "../demo/lookup.c"
#undef main

#include "fuzz-argv.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[FUZZ_ARGV_MAX + 1];
	struct options o;
	int argc, rc;

	memset(&o, 0, sizeof o);
	argc = fuzz_argv(PROG, data, size, argv);
	rc = parse_options(&o, argc, argv);
	fuzz_check(rc == 0 || rc == -1 || rc == 2);
	if (rc == 0) {
		fuzz_check(o.nargs >= 0 && o.nargs <= 2);
		for (int i = 0; i < o.nargs; i++)
			fuzz_check(o.args[i] != NULL && o.args[i][0] != '\0');
		if (o.list != NULL)
			fuzz_check(!o.verbose &&
			           o.nargs <= (strcmp(o.list, "--networks") == 0));
		else
			fuzz_check(o.nargs >= 1);
	}
	fuzz_argv_free(argc, argv);
	return 0;
}
