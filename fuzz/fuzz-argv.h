/*
 * fuzz-argv.h - turn a fuzz input into a command line for the
 * fuzz_args_* targets: the bytes split at each NUL into arguments, after
 * an argv[0] of `prog`.  The strings are copies the caller frees with
 * fuzz_argv_free(), so AddressSanitizer sees a read past any of them.
 */
#ifndef FUZZ_ARGV_H
#define FUZZ_ARGV_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ARGV_MAX 64        /* more arguments add nothing but time */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A property of a successful parse that does not hold: a finding, which
 * libFuzzer reports (and replay.c fails on) like a crash. */
static inline void
fuzz_check(int ok)
{
	if (!ok)
		abort();
}

/* Returns argc (argv[argc] is NULL), or -1 if memory ran out. */
static inline int
fuzz_argv(const char *prog, const uint8_t *data, size_t size, char **argv)
{
	int argc = 0;
	size_t i = 0;

	argv[argc++] = strdup(prog);
	while (i < size && argc < FUZZ_ARGV_MAX) {
		const uint8_t *nul = memchr(data + i, '\0', size - i);
		size_t n = nul != NULL ? (size_t)(nul - (data + i)) : size - i;
		char *a = malloc(n + 1);
		if (a == NULL)
			break;
		memcpy(a, data + i, n);
		a[n] = '\0';
		argv[argc++] = a;
		i += n + 1;
	}
	argv[argc] = NULL;
	return argc;
}

static inline void
fuzz_argv_free(int argc, char **argv)
{
	for (int i = 0; i < argc; i++)
		free(argv[i]);
}

#endif /* FUZZ_ARGV_H */
