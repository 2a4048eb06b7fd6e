/*
 * fault.h - fault injection for tests: make the system calls libsigio makes
 * fail, or come up short, on demand.
 *
 * How: tests/fault.c defines read, write, writev, send, sendmsg, recv,
 * recvmsg, accept, accept4, poll, ppoll, select, fcntl, pipe, pipe2,
 * signalfd and sigtimedwait in the test program itself.  The dynamic
 * linker binds libsigio.so's calls (through its PLT) to the executable's
 * definitions first, and each wrapper calls the real function found with
 * dlsym(RTLD_NEXT).  Nothing of this is in the library: it is the library
 * exactly as shipped that is tested.  An LD_PRELOAD object would do the same
 * but needs a second build product and an environment variable that
 * Criterion's workers, valgrind and ASan must all pass on; linking the
 * wrappers into one test program needs neither.
 *
 * Which calls: only those made from libsigio's own code (the wrapper's
 * return address lies in libsigio.so's text), so the test's own set-up
 * I/O and Criterion's pipes to its runner never see a fault, even with a
 * rule for any fd.  Every call from the library is counted, faulted or not
 * (fault_calls()), which is how a test shows that the interposition
 * reaches the library at all.
 *
 * When: rules are armed explicitly by the test (there are none at start),
 * each for a set of calls, one fd or any, an errno or a short count, every
 * call or every n-th, a number of times.  The wrappers take no lock and
 * allocate nothing (the library calls write() from its signal handler):
 * rules live in a fixed table, counters are atomics.  Arm rules before
 * starting threads that make library calls.
 */
#ifndef SIGIO_TEST_FAULT_H
#define SIGIO_TEST_FAULT_H

#include <stdbool.h>
#include <stddef.h>

/* The calls, as bits: a rule may cover several. */
enum fault_call {
	FAULT_READ         = 1u << 0,
	FAULT_WRITE        = 1u << 1,
	FAULT_WRITEV       = 1u << 2,
	FAULT_RECV         = 1u << 3,
	FAULT_RECVMSG      = 1u << 4,
	FAULT_SEND         = 1u << 5,
	FAULT_SENDMSG      = 1u << 6,
	FAULT_ACCEPT       = 1u << 7,
	FAULT_ACCEPT4      = 1u << 8,
	FAULT_POLL         = 1u << 9,
	FAULT_PPOLL        = 1u << 10,
	FAULT_SELECT       = 1u << 11,
	FAULT_FCNTL        = 1u << 12,
	FAULT_PIPE         = 1u << 13,
	FAULT_PIPE2        = 1u << 14,
	FAULT_SIGNALFD     = 1u << 15,
	FAULT_SIGTIMEDWAIT = 1u << 16,
};
#define FAULT_NCALLS 17

/* Groups. */
#define FAULT_READS  (FAULT_READ | FAULT_RECV | FAULT_RECVMSG)
#define FAULT_WRITES (FAULT_WRITE | FAULT_WRITEV | FAULT_SEND | FAULT_SENDMSG)
#define FAULT_WAITS  (FAULT_POLL | FAULT_PPOLL | FAULT_SELECT)
#define FAULT_ACCEPTS (FAULT_ACCEPT | FAULT_ACCEPT4)

/* Any fd (for fault_rule.fd). */
#define FAULT_ANY_FD (-1)

struct fault_rule {
	unsigned calls;   /* FAULT_* bits the rule applies to */
	int fd;           /* the fd argument to match, or FAULT_ANY_FD (calls
	                     without one, pipe2 and signalfd(-1), match only
	                     FAULT_ANY_FD) */
	int err;          /* fail with this errno, doing nothing; 0: a short
	                     transfer instead (reads and writes), or, for
	                     fcntl, return 0 without doing anything (a file
	                     that accepts O_ASYNC and ignores it) */
	size_t max;       /* short transfer: at most this many bytes (>= 1) */
	int cmd;          /* FAULT_FCNTL: only this command (0: any) */
	long argbits;     /* FAULT_FCNTL: only when the argument has all these
	                     bits (F_SETFL with O_ASYNC), 0: any argument */
	unsigned period;  /* fault every period-th matching call (0, 1: every
	                     one); the others pass */
	unsigned count;   /* faults to inject, then the rule is spent; 0: no
	                     limit (until fault_reset()) */
	void (*before)(int fd, void *arg);
	                  /* called just before the call goes on, each time the
	                     rule fires: makes something happen at exactly that
	                     moment (the peer sends, a byte lands).  With err
	                     and max 0 the call itself is left as it is. */
	void *before_arg;
};

/* Arm a rule.  Returns its index, or -1 (the table is full, the rule makes
 * no sense, or libsigio.so is not loaded: then no fault could reach it). */
int fault_add(const struct fault_rule *r);
/* The common cases: fail the next `count` matching calls with `err`
 * (count 0: all of them), or let them move at most `max` bytes. */
int fault_arm(unsigned calls, int fd, int err, unsigned count);
int fault_arm_short(unsigned calls, int fd, size_t max, unsigned count);
/* fcntl(fd, cmd, ...) fails with `err`, `count` times; argbits as above;
 * err 0: it returns 0 and does nothing. */
int fault_arm_fcntl(int fd, int cmd, long argbits, int err, unsigned count);

/* Disarm every rule and zero every counter. */
void fault_reset(void);
/* Faults injected so far by rule `id` / over every rule for `calls`. */
unsigned fault_fired(int id);
unsigned fault_fired_calls(unsigned calls);
/* Calls of the library seen so far for any of `calls`, faulted or not. */
unsigned fault_calls(unsigned calls);

/* The fds the library's last successful pipe()/pipe2() gave (p[0] reads),
 * and its last signalfd(); -1 when there was none. */
void fault_last_pipe(int p[2]);
int fault_last_signalfd(void);

/* True when libsigio.so is loaded, as a shared object (the wrappers then
 * see its calls). */
bool fault_library_found(void);

#endif /* SIGIO_TEST_FAULT_H */
