#!/bin/sh
# Install into a temporary prefix (DESTDIR), build a program against the
# installed copy through pkg-config, link it shared and static, run both;
# check the installed programs' names, build the installed examples with
# their Makefile; then uninstall and check that nothing is left.  TAP
# output.
set -u
top_builddir=${top_builddir:-.}
top_srcdir=${top_srcdir:-.}
CC=${CC:-cc}
# The build's own link flags (--enable-sanitizers puts -fsanitize there).
CC="$CC ${SIO_LINK_FLAGS:-}"
MAKE=${MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigio-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -f "$tmp/out" ] && sed 's/^/# /' "$tmp/out"; }
check() { desc=$1; shift; if "$@" >"$tmp/out" 2>&1; then ok "$desc"; else not_ok "$desc"; fi; }

echo "1..11"

dest=$tmp/root
check "make install DESTDIR=..." $MAKE -C "$top_builddir" install DESTDIR="$dest"

# The prefix configure chose, read back from the installed .pc file.
pc=$(find "$dest" -name sigio.pc | head -n 1)
prefix=$(sed -n 's/^prefix=//p' "$pc" 2>/dev/null)
root=$dest$prefix
pcdir=$(dirname "$pc")
export PKG_CONFIG_PATH="$pcdir"
pkg() { pkg-config --define-variable=prefix="$root" "$@" sigio; }

cat >"$tmp/prog.c" <<'EOF'
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sigio.h>

static void on_read(sio_io *io, int fd, unsigned revents, void *arg)
{
	char buf[16];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n == 5 && memcmp(buf, "hello", 5) == 0)
		*(int *)arg = 1;
	sio_io_stop(io);
}

int main(void)
{
	int p[2], got = 0;
	sio_loop *loop = sio_loop_new(NULL);
	if (loop == NULL || pipe(p) < 0 || write(p[1], "hello", 5) != 5)
		return 1;
	if (sio_io_start(loop, p[0], SIO_READ, on_read, &got) == NULL)
		return 1;
	if (sio_loop_run(loop, SIO_RUN_DEFAULT) < 0)
		return 1;
	printf("sigio %s (%d) on %s: %s\n", sio_version(), sio_version_number(),
	       sio_loop_backend(loop), got ? "ok" : "lost");
	sio_loop_free(loop);
	return got && sio_version_number() == SIO_VERSION_NUMBER ? 0 : 1;
}
EOF

if [ -f "$pc" ] && [ -f "$root/include/sigio.h" ]; then
	ok "sigio.pc and sigio.h installed"
else
	not_ok "sigio.pc and sigio.h installed"
fi

libdir=$(pkg --variable=libdir)
# sigio.pc carries a run path to libdir unless that is a system directory
# or configure had --disable-pc-rpath: then, as the README says, the
# programs need LD_LIBRARY_PATH (or ldconfig).
case " $(pkg --libs) " in
*-rpath*) run_env= ;;
*) run_env="LD_LIBRARY_PATH=$libdir" ;;
esac

# Every installed program carries the project's name (no bare lookup or
# echo-server in $bindir).
bin=$root/bin
bad=
for p in sigio-demo sigio-echo-server sigio-echo-client sigio-echo-selfcheck \
	sigio-icmp-echo sigio-lookup; do
	[ -x "$bin/$p" ] || bad="$bad missing:$p"
done
for f in "$bin"/*; do
	case ${f##*/} in sigio-*) ;; *) bad="$bad unprefixed:${f##*/}" ;; esac
done
if [ -z "$bad" ]; then ok "installed programs are sigio-*"; else echo "#$bad"; not_ok "installed programs are sigio-*"; fi
# shellcheck disable=SC2046
check "build shared through pkg-config --cflags --libs" \
	$CC -o "$tmp/prog-shared" "$tmp/prog.c" $(pkg --cflags) $(pkg --libs)
check "run shared (against the installed libsigio.so${run_env:+, $run_env})" \
	env $run_env "$tmp/prog-shared"
if env $run_env ldd "$tmp/prog-shared" 2>/dev/null | grep -q "$libdir/libsigio.so"; then
	ok "shared program loads $libdir/libsigio.so"
else
	not_ok "shared program loads $libdir/libsigio.so"
fi

# Static: libsigio.a from the install, the rest (libc, Libs.private) shared.
if [ ! -f "$libdir/libsigio.a" ]; then
	n=$((n + 2))
	echo "ok $((n - 1)) # SKIP no libsigio.a installed (configure --disable-static)"
	echo "ok $n # SKIP no libsigio.a installed (configure --disable-static)"
else
	check "build static against the installed libsigio.a" \
		$CC -o "$tmp/prog-static" "$tmp/prog.c" $(pkg --cflags) \
		-L"$libdir" -Wl,-Bstatic -lsigio -Wl,-Bdynamic $(pkg --static --libs-only-l | sed 's/-lsigio//')
	if "$tmp/prog-static" >"$tmp/out" 2>&1 && ! ldd "$tmp/prog-static" 2>/dev/null | grep -q libsigio; then
		ok "run static (no libsigio.so needed)"
	else
		not_ok "run static (no libsigio.so needed)"
	fi
fi

# The examples as installed, with their own Makefile (POSIX make, pkg-config).
docex=$(find "$dest" -path '*/doc/*/examples/Makefile' | head -n 1)
if [ -n "$docex" ] && cp -R "$(dirname "$docex")" "$tmp/examples" &&
   $MAKE -C "$tmp/examples" CC="$CC" PKG_CONFIG="pkg-config --define-variable=prefix=$root" \
	>"$tmp/out" 2>&1; then
	ok "the installed examples build with their Makefile"
else
	not_ok "the installed examples build with their Makefile"
fi
if [ -x "$tmp/examples/watcher" ] &&
   printf 'hello\n' | env $run_env "$tmp/examples/watcher" >"$tmp/out" 2>&1 &&
   grep -q '^hello$' "$tmp/out"; then
	ok "an installed example runs"
else
	not_ok "an installed example runs"
fi

$MAKE -C "$top_builddir" uninstall DESTDIR="$dest" >"$tmp/out" 2>&1
left=$(find "$dest" -type f 2>/dev/null)
if [ -z "$left" ]; then ok "make uninstall removes every file"; else echo "$left" >"$tmp/out"; not_ok "make uninstall removes every file"; fi
exit $failed
