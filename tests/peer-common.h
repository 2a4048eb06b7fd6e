/*
 * peer-common.h - what tests/stress-client and tests/hostile-peer share:
 * the clock, and what they read of the server they attack from /proc/PID.
 */
#ifndef SIGIO_TEST_PEER_COMMON_H
#define SIGIO_TEST_PEER_COMMON_H

#include <stdio.h>
#include <string.h>
#include <time.h>

/* CLOCK_MONOTONIC, in seconds. */
static inline double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* 1 while process `pid` runs (a zombie has stopped), 0 once it is gone. */
static inline int
proc_alive(long pid)
{
	char path[64], buf[512];
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the state follows ") ", after the command's name */
	char *p = strrchr(buf, ')');
	return p != NULL && p[1] != '\0' && p[2] != 'Z' && p[2] != 'X';
}

#endif /* SIGIO_TEST_PEER_COMMON_H */
