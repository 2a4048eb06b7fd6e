/*
 * fault.c - the system call wrappers of fault.h, linked into a test program.
 *
 * Each wrapper asks match() whether a rule wants this call to fail (or come
 * up short), and otherwise calls the real function (dlsym(RTLD_NEXT):
 * libc's, or the sanitizer's interceptor in front of it).  Only calls made
 * from libsigio.so's text are considered: the caller's return address is
 * compared with the library's executable segments, found once with
 * dl_iterate_phdr().  Everything here is async-signal-safe once armed (the
 * library writes to its self-pipe from a signal handler): no locks, no
 * allocation, atomics only.
 */
#include "config.h"

/* The wrappers replace functions that fortified headers would turn into
 * inline ones. */
#undef _FORTIFY_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(HAVE_SIGNALFD) && defined(HAVE_SYS_SIGNALFD_H)
#include <sys/signalfd.h>
#define FAULT_HAVE_SIGNALFD 1
#endif

#include "fault.h"

#define MAX_RULES 16
/* Most iovec entries a short writev()/sendmsg() rewrites (the library
 * sends at most 64 at a time). */
#define MAX_IOV 256

struct slot {
	struct fault_rule r;
	atomic_int on;           /* armed */
	atomic_uint matched;     /* matching calls seen */
	atomic_uint fired;       /* faults injected */
};

static struct slot rules[MAX_RULES];
static atomic_uint seen[FAULT_NCALLS];
static atomic_int last_pipe[2] = { -1, -1 };
static atomic_int last_sfd = -1;

/* libsigio.so's executable segments: [lib_lo, lib_hi). */
static uintptr_t lib_lo, lib_hi;
static int lib_looked;

/* ---- the real functions -------------------------------------------------- */

static __typeof__(read) *real_read;
static __typeof__(write) *real_write;
static __typeof__(writev) *real_writev;
static __typeof__(recv) *real_recv;
static __typeof__(recvmsg) *real_recvmsg;
static __typeof__(send) *real_send;
static __typeof__(sendmsg) *real_sendmsg;
static __typeof__(accept) *real_accept;
static __typeof__(accept4) *real_accept4;
static __typeof__(poll) *real_poll;
static __typeof__(ppoll) *real_ppoll;
static __typeof__(select) *real_select;
static __typeof__(fcntl) *real_fcntl;
static __typeof__(pipe) *real_pipe;
static __typeof__(pipe2) *real_pipe2;
#ifdef FAULT_HAVE_SIGNALFD
static __typeof__(signalfd) *real_signalfd;
#endif
static __typeof__(sigtimedwait) *real_sigtimedwait;

/* Resolved before main() (dlsym is not async-signal-safe); REAL() also
 * resolves on first use, for calls made by other constructors. */
#define RESOLVE(name) \
	(real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name))
#define REAL(name) \
	(__extension__({ if (real_##name == NULL) RESOLVE(name); real_##name; }))

__attribute__((constructor)) static void
fault_init(void)
{
	RESOLVE(read);
	RESOLVE(write);
	RESOLVE(writev);
	RESOLVE(recv);
	RESOLVE(recvmsg);
	RESOLVE(send);
	RESOLVE(sendmsg);
	RESOLVE(accept);
	RESOLVE(accept4);
	RESOLVE(poll);
	RESOLVE(ppoll);
	RESOLVE(select);
	RESOLVE(fcntl);
	RESOLVE(pipe);
	RESOLVE(pipe2);
#ifdef FAULT_HAVE_SIGNALFD
	RESOLVE(signalfd);
#endif
	RESOLVE(sigtimedwait);
}

/* ---- where the library is ------------------------------------------------- */

static int
find_lib(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	if (info->dlpi_name == NULL || strstr(info->dlpi_name, "libsigio.so") == NULL)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		uintptr_t hi = lo + ph->p_memsz;
		if (lib_lo == 0 || lo < lib_lo)
			lib_lo = lo;
		if (hi > lib_hi)
			lib_hi = hi;
	}
	return 1;
}

bool
fault_library_found(void)
{
	if (!lib_looked) {
		dl_iterate_phdr(find_lib, NULL);
		lib_looked = 1;
	}
	return lib_lo != 0;
}

static int
from_lib(const void *ret)
{
	uintptr_t a = (uintptr_t)ret;
	return lib_lo != 0 && a >= lib_lo && a < lib_hi;
}

/* ---- rules ------------------------------------------------------------------ */

static int
call_index(unsigned call)
{
	return __builtin_ctz(call);
}

int
fault_add(const struct fault_rule *r)
{
	if (r == NULL || r->calls == 0 ||
	    (r->err == 0 && r->max == 0 && r->calls != FAULT_FCNTL &&
	     r->before == NULL) ||
	    !fault_library_found())
		return -1;
	for (int i = 0; i < MAX_RULES; i++) {
		struct slot *s = &rules[i];
		if (atomic_load(&s->on))
			continue;
		s->r = *r;
		atomic_store(&s->matched, 0);
		atomic_store(&s->fired, 0);
		atomic_store(&s->on, 1);
		return i;
	}
	return -1;
}

int
fault_arm(unsigned calls, int fd, int err, unsigned count)
{
	struct fault_rule r = { .calls = calls, .fd = fd, .err = err, .count = count };
	return fault_add(&r);
}

int
fault_arm_short(unsigned calls, int fd, size_t max, unsigned count)
{
	struct fault_rule r = { .calls = calls, .fd = fd, .max = max, .count = count };
	return fault_add(&r);
}

int
fault_arm_fcntl(int fd, int cmd, long argbits, int err, unsigned count)
{
	struct fault_rule r = { .calls = FAULT_FCNTL, .fd = fd, .err = err,
	                        .cmd = cmd, .argbits = argbits, .count = count };
	return fault_add(&r);
}

void
fault_reset(void)
{
	for (int i = 0; i < MAX_RULES; i++) {
		atomic_store(&rules[i].on, 0);
		atomic_store(&rules[i].matched, 0);
		atomic_store(&rules[i].fired, 0);
	}
	for (int i = 0; i < FAULT_NCALLS; i++)
		atomic_store(&seen[i], 0);
}

unsigned
fault_fired(int id)
{
	return id >= 0 && id < MAX_RULES ? atomic_load(&rules[id].fired) : 0;
}

unsigned
fault_fired_calls(unsigned calls)
{
	unsigned n = 0;
	for (int i = 0; i < MAX_RULES; i++)
		if (rules[i].r.calls & calls)
			n += atomic_load(&rules[i].fired);
	return n;
}

unsigned
fault_calls(unsigned calls)
{
	unsigned n = 0;
	for (int i = 0; i < FAULT_NCALLS; i++)
		if (calls & (1u << i))
			n += atomic_load(&seen[i]);
	return n;
}

void
fault_last_pipe(int p[2])
{
	p[0] = atomic_load(&last_pipe[0]);
	p[1] = atomic_load(&last_pipe[1]);
}

int
fault_last_signalfd(void)
{
	return atomic_load(&last_sfd);
}

/* Take one fault from rule s, unless it is spent. */
static int
take(struct slot *s)
{
	unsigned f = atomic_load(&s->fired);
	do {
		if (s->r.count != 0 && f >= s->r.count)
			return 0;
	} while (!atomic_compare_exchange_weak(&s->fired, &f, f + 1));
	return 1;
}

/* The rule that faults this call of the library, or NULL.  `cmd` and
 * `arg` are fcntl's.  Counts the call. */
static const struct fault_rule *
match(unsigned call, int fd, const void *ret, int cmd, long arg)
{
	if (!from_lib(ret))
		return NULL;
	atomic_fetch_add(&seen[call_index(call)], 1);
	for (int i = 0; i < MAX_RULES; i++) {
		struct slot *s = &rules[i];
		if (!atomic_load(&s->on) || !(s->r.calls & call))
			continue;
		if (s->r.fd != FAULT_ANY_FD && s->r.fd != fd)
			continue;
		if (call == FAULT_FCNTL && ((s->r.cmd != 0 && s->r.cmd != cmd) ||
		                            (arg & s->r.argbits) != s->r.argbits))
			continue;
		int hook_only = s->r.before != NULL && s->r.err == 0 && s->r.max == 0;
		if (s->r.err == 0 && !hook_only &&
		    !(call & (FAULT_READS | FAULT_WRITES | FAULT_FCNTL)))
			continue;       /* "short" means nothing here */
		unsigned n = atomic_fetch_add(&s->matched, 1) + 1;
		if (s->r.period > 1 && n % s->r.period != 0)
			continue;
		if (!take(s))
			continue;
		if (s->r.before != NULL)
			s->r.before(fd, s->r.before_arg);
		if (!hook_only)
			return &s->r;
	}
	return NULL;
}

#define RET() __builtin_return_address(0)

/* Fail: errno, -1. */
static int
fail(const struct fault_rule *r)
{
	errno = r->err;
	return -1;
}

static size_t
cut(const struct fault_rule *r, size_t len)
{
	return len > r->max ? r->max : len;
}

/* A copy of iov[0..cnt) holding at most `max` bytes; its count in *out. */
static int
cut_iov(const struct iovec *iov, int cnt, size_t max, struct iovec *dst)
{
	int n = 0;
	for (; n < cnt && max > 0; n++) {
		dst[n] = iov[n];
		if (dst[n].iov_len > max)
			dst[n].iov_len = max;
		max -= dst[n].iov_len;
	}
	return n;
}

/* ---- the wrappers --------------------------------------------------------- */

ssize_t
read(int fd, void *buf, size_t len)
{
	const struct fault_rule *r = match(FAULT_READ, fd, RET(), 0, 0);
	if (r != NULL && r->err != 0)
		return fail(r);
	return REAL(read)(fd, buf, r != NULL ? cut(r, len) : len);
}

ssize_t
write(int fd, const void *buf, size_t len)
{
	const struct fault_rule *r = match(FAULT_WRITE, fd, RET(), 0, 0);
	if (r != NULL && r->err != 0)
		return fail(r);
	return REAL(write)(fd, buf, r != NULL ? cut(r, len) : len);
}

ssize_t
writev(int fd, const struct iovec *iov, int cnt)
{
	const struct fault_rule *r = match(FAULT_WRITEV, fd, RET(), 0, 0);
	if (r != NULL && r->err != 0)
		return fail(r);
	if (r != NULL && cnt > 0 && cnt <= MAX_IOV) {
		struct iovec v[MAX_IOV];
		return REAL(writev)(fd, v, cut_iov(iov, cnt, r->max, v));
	}
	return REAL(writev)(fd, iov, cnt);
}

ssize_t
recv(int fd, void *buf, size_t len, int flags)
{
	const struct fault_rule *r = match(FAULT_RECV, fd, RET(), 0, 0);
	if (r != NULL && r->err != 0)
		return fail(r);
	return REAL(recv)(fd, buf, r != NULL ? cut(r, len) : len, flags);
}

ssize_t
recvmsg(int fd, struct msghdr *m, int flags)
{
	const struct fault_rule *r = match(FAULT_RECVMSG, fd, RET(), 0, 0);
	if (r != NULL && r->err != 0)
		return fail(r);
	if (r != NULL && m->msg_iovlen > 0 && m->msg_iovlen <= MAX_IOV) {
		struct iovec v[MAX_IOV];
		struct iovec *orig = m->msg_iov;
		size_t olen = m->msg_iovlen;
		m->msg_iovlen = (size_t)cut_iov(orig, (int)olen, r->max, v);
		m->msg_iov = v;
		ssize_t n = REAL(recvmsg)(fd, m, flags);
		m->msg_iov = orig;
		m->msg_iovlen = olen;
		return n;
	}
	return REAL(recvmsg)(fd, m, flags);
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	const struct fault_rule *r = match(FAULT_SEND, fd, RET(), 0, 0);
	if (r != NULL && r->err != 0)
		return fail(r);
	return REAL(send)(fd, buf, r != NULL ? cut(r, len) : len, flags);
}

ssize_t
sendmsg(int fd, const struct msghdr *m, int flags)
{
	const struct fault_rule *r = match(FAULT_SENDMSG, fd, RET(), 0, 0);
	if (r != NULL && r->err != 0)
		return fail(r);
	if (r != NULL && m->msg_iovlen > 0 && m->msg_iovlen <= MAX_IOV) {
		struct iovec v[MAX_IOV];
		struct msghdr copy = *m;
		copy.msg_iovlen = (size_t)cut_iov(m->msg_iov, (int)m->msg_iovlen,
		                                  r->max, v);
		copy.msg_iov = v;
		return REAL(sendmsg)(fd, &copy, flags);
	}
	return REAL(sendmsg)(fd, m, flags);
}

int
accept(int fd, __SOCKADDR_ARG sa, socklen_t *restrict len)
{
	const struct fault_rule *r = match(FAULT_ACCEPT, fd, RET(), 0, 0);
	if (r != NULL)
		return fail(r);
	return REAL(accept)(fd, sa, len);
}

int
accept4(int fd, __SOCKADDR_ARG sa, socklen_t *restrict len, int flags)
{
	const struct fault_rule *r = match(FAULT_ACCEPT4, fd, RET(), 0, 0);
	if (r != NULL)
		return fail(r);
	return REAL(accept4)(fd, sa, len, flags);
}

/* The waits fail at once, without waiting: EINTR as if a signal had come
 * the moment they began. */
int
poll(struct pollfd *fds, nfds_t n, int timeout)
{
	const struct fault_rule *r = match(FAULT_POLL, FAULT_ANY_FD, RET(), 0, 0);
	if (r != NULL)
		return fail(r);
	return REAL(poll)(fds, n, timeout);
}

int
ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
      const sigset_t *mask)
{
	const struct fault_rule *r = match(FAULT_PPOLL, FAULT_ANY_FD, RET(), 0, 0);
	if (r != NULL)
		return fail(r);
	return REAL(ppoll)(fds, n, tmo, mask);
}

int
select(int nfds, fd_set *restrict rd, fd_set *restrict wr, fd_set *restrict ex,
       struct timeval *restrict tv)
{
	const struct fault_rule *r = match(FAULT_SELECT, FAULT_ANY_FD, RET(), 0, 0);
	if (r != NULL)
		return fail(r);
	return REAL(select)(nfds, rd, wr, ex, tv);
}

/* Every fcntl command takes an int, a pointer or nothing: passing one
 * pointer-sized word on is what libc's own wrappers do. */
int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	const struct fault_rule *r = match(FAULT_FCNTL, fd, RET(), cmd,
	                                   (long)(intptr_t)arg);
	if (r != NULL && r->err == 0)
		return 0;       /* "done", and nothing done */
	if (r != NULL)
		return fail(r);
	return REAL(fcntl)(fd, cmd, arg);
}

int
pipe(int p[2])
{
	const struct fault_rule *r = match(FAULT_PIPE, FAULT_ANY_FD, RET(), 0, 0);
	if (r != NULL)
		return fail(r);
	int rc = REAL(pipe)(p);
	if (rc == 0 && from_lib(RET())) {
		atomic_store(&last_pipe[0], p[0]);
		atomic_store(&last_pipe[1], p[1]);
	}
	return rc;
}

int
pipe2(int p[2], int flags)
{
	const struct fault_rule *r = match(FAULT_PIPE2, FAULT_ANY_FD, RET(), 0, 0);
	if (r != NULL)
		return fail(r);
	int rc = REAL(pipe2)(p, flags);
	if (rc == 0 && from_lib(RET())) {
		atomic_store(&last_pipe[0], p[0]);
		atomic_store(&last_pipe[1], p[1]);
	}
	return rc;
}

#ifdef FAULT_HAVE_SIGNALFD
int
signalfd(int fd, const sigset_t *mask, int flags)
{
	const struct fault_rule *r = match(FAULT_SIGNALFD, fd, RET(), 0, 0);
	if (r != NULL)
		return fail(r);
	int sfd = REAL(signalfd)(fd, mask, flags);
	if (sfd >= 0 && from_lib(RET()))
		atomic_store(&last_sfd, sfd);
	return sfd;
}
#endif

int
sigtimedwait(const sigset_t *restrict set, siginfo_t *restrict info,
             const struct timespec *restrict tmo)
{
	const struct fault_rule *r = match(FAULT_SIGTIMEDWAIT, FAULT_ANY_FD, RET(),
	                                   0, 0);
	if (r != NULL)
		return fail(r);
	return REAL(sigtimedwait)(set, info, tmo);
}
