#!/bin/sh
# The README's tour program, as a reader would use it: installed sigio
# (make install into a DESTDIR: the library, sigio.h and sigio.pc), the
# program cut out of README and built with README's own build line run
# word for word -- `cc tour.c $(pkg-config --cflags --libs sigio)` -- where
# cc adds -Wall -Wextra -Werror and pkg-config reads the installed
# sigio.pc, relocated to the DESTDIR.  Then run as built (without
# LD_LIBRARY_PATH when sigio.pc carries a run path, as the README says),
# served one TCP and one UDP echo through demo/echo-client, and stopped
# with SIGTERM, which must make it exit 0.  The README's client example is
# cut out and built the same way, run against the tour by address and by
# name (the asynchronous connect), and once more after the tour stopped
# (refused).
top=${top_builddir:-.}
src=${top_srcdir:-.}
CC="${CC:-cc} ${SIO_LINK_FLAGS:-}"
MAKE=${MAKE:-make}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigio-readme.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "1..6"
not_ok_all() {    # not_ok_all N: "not ok" from test N to the last
	i=$1
	while [ "$i" -le 6 ]; do echo "not ok $i - (not reached)"; i=$((i + 1)); done
	exit 0
}
# The program: from its first #include to the closing brace of main().
awk '/^    #include <signal.h>$/ { on = 1 }
     on { sub(/^    /, ""); print }
     on && /^int main/ { in_main = 1 }
     in_main && /^}$/ { exit }' "$src/README" > "$tmp/tour.c"
grep -q '^int main' "$tmp/tour.c" || { echo "# no tour program found in README"; not_ok_all 1; }
# The build line: the first `cc tour.c ...` in backquotes.
line=$(sed -n 's/.*`\(cc tour\.c [^`]*\)`.*/\1/p' "$src/README" | head -n 1)
[ -n "$line" ] || { echo "# no \`cc tour.c ...\` build line found in README"; not_ok_all 1; }

dest=$tmp/root
$MAKE -C "$top" install-libLTLIBRARIES install-includeHEADERS install-pkgconfigDATA \
	DESTDIR="$dest" >"$tmp/install" 2>&1 || {
	sed 's/^/# /' "$tmp/install"; echo "# make install DESTDIR=... failed"; not_ok_all 1; }
pc=$(find "$dest" -name sigio.pc | head -n 1)
root=$dest$(sed -n 's/^prefix=//p' "$pc")
mkdir "$tmp/bin"
real_pkg_config=$(command -v pkg-config)
# The wrappers name the real programs by path: $tmp/bin comes first in PATH.
set -- $CC
real_cc=$(command -v "$1") || real_cc=$1
shift
printf '#!/bin/sh\nexec %s %s -Wall -Wextra -Wno-unused-parameter -Werror "$@"\n' "$real_cc" "$*" >"$tmp/bin/cc"
printf '#!/bin/sh\nexec %s --define-variable=prefix=%s "$@"\n' "$real_pkg_config" "$root" >"$tmp/bin/pkg-config"
chmod +x "$tmp/bin/cc" "$tmp/bin/pkg-config"
libdir=$(PKG_CONFIG_PATH=$(dirname "$pc") "$tmp/bin/pkg-config" --variable=libdir sigio)
if (cd "$tmp" && PATH=$tmp/bin:$PATH PKG_CONFIG_PATH=$(dirname "$pc") sh -c "$line") 2> "$tmp/cc"; then
	echo "ok 1 - the README's tour builds with \`$line\` against the installed sigio, without a diagnostic"
else
	sed 's/^/# /' "$tmp/cc"
	echo "not ok 1 - the README's tour builds with \`$line\` against the installed sigio"
	not_ok_all 2
fi
# A run path in sigio.pc: the program runs as built.  Without one (a
# system libdir, or --disable-pc-rpath) the README says LD_LIBRARY_PATH.
case " $(PKG_CONFIG_PATH=$(dirname "$pc") "$tmp/bin/pkg-config" --libs sigio) " in
*-rpath*) run_env= ;;
*) run_env="LD_LIBRARY_PATH=$libdir" ;;
esac
if env $run_env ldd "$tmp/a.out" 2>/dev/null | grep -q "$libdir/libsigio.so"; then
	echo "ok 2 - it loads the installed libsigio.so${run_env:+ (with $run_env)}"
else
	env $run_env ldd "$tmp/a.out" 2>&1 | sed 's/^/# /'
	echo "not ok 2 - it loads the installed libsigio.so${run_env:+ (with $run_env)}"
fi
# The tour's port is fixed: suites run side by side (two checkouts, CI and
# a developer's make check) take turns, else one would talk to the other's
# tour.
if command -v flock >/dev/null 2>&1; then
	exec 9> "${TMPDIR:-/tmp}/sigio-readme-port-7000.lock"
	flock -w 120 9 || echo "# another suite held port 7000 for 120 s"
fi
env $run_env "$tmp/a.out" > "$tmp/out" 2> "$tmp/err" &
pid=$!
# It listens on 127.0.0.1:7000; wait for the port (or the program's end).
i=0
until timeout 10 "$top/demo/echo-client" --tcp=127.0.0.1:7000 < /dev/null > /dev/null 2>&1; do
	i=$((i + 1))
	if ! kill -0 "$pid" 2>/dev/null || [ $i -gt 100 ]; then
		if grep -q "in use" "$tmp/err"; then
			echo "ok 3 # SKIP port 7000 is in use here"
			echo "ok 4 # SKIP port 7000 is in use here"
			echo "ok 5 # SKIP port 7000 is in use here"
			echo "ok 6 # SKIP port 7000 is in use here"
			exit 0
		fi
		sed 's/^/# /' "$tmp/err"
		echo "not ok 3 - the tour serves 127.0.0.1:7000"
		echo "not ok 4 - the README's client (no tour to connect to)"
		echo "not ok 5 - SIGTERM stops it"
		echo "not ok 6 - the README's client (no tour to connect to)"
		exit 0
	fi
	sleep 0.05
done
t=$(printf 'over tcp' | timeout 30 "$top/demo/echo-client" --tcp=127.0.0.1:7000 2>&1)
u=$(printf 'over udp' | timeout 30 "$top/demo/echo-client" --udp=127.0.0.1:7000 2>&1)
if [ "$t" = "over tcp" ] && [ "$u" = "over udp" ]; then
	echo "ok 3 - the tour echoes over TCP and UDP"
else
	echo "# tcp: '$t' udp: '$u'"
	echo "not ok 3 - the tour echoes over TCP and UDP"
fi
# The client example (README, "A client connects..."), built with the
# same line and run against the tour.
awk '/^    \/\* client.c \*\/$/ { on = 1; next }
     on { sub(/^    /, ""); print }
     on && /^int main/ { in_main = 1 }
     in_main && /^}$/ { exit }' "$src/README" > "$tmp/client.c"
cline=$(printf '%s\n' "$line" | sed 's/tour\.c/client.c -o client/')
if (cd "$tmp" && PATH=$tmp/bin:$PATH PKG_CONFIG_PATH=$(dirname "$pc") sh -c "$cline") 2> "$tmp/cc"; then
	c=$(env $run_env timeout 30 "$tmp/client" 127.0.0.1 2>&1)
	n=$(env $run_env timeout 30 "$tmp/client" localhost 2>&1)
	if [ "$c" = "hello" ] && [ "$n" = "hello" ]; then
		echo "ok 4 - the README's client connects to the tour (by address and by name) and reads the echo"
	else
		echo "# 127.0.0.1: '$c' localhost: '$n'"
		echo "not ok 4 - the README's client connects to the tour and reads the echo"
	fi
else
	sed 's/^/# /' "$tmp/cc"
	echo "not ok 4 - the README's client builds with \`$cline\`"
fi
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
if [ $rc -eq 0 ]; then echo "ok 5 - SIGTERM stops it, exit 0"; else echo "not ok 5 - SIGTERM stops it (exit $rc)"; fi
if [ -x "$tmp/client" ]; then
	env $run_env timeout 30 "$tmp/client" 127.0.0.1 > /dev/null 2> "$tmp/refused"
	rc=$?
	if [ $rc -ne 0 ] && grep -q "refused" "$tmp/refused"; then
		echo "ok 6 - the client reports a refused connect, exit $rc"
	else
		echo "# exit $rc: $(cat "$tmp/refused")"
		echo "not ok 6 - the client reports a refused connect"
	fi
else
	echo "ok 6 # SKIP the client did not build"
fi
