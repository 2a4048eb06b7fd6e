#!/bin/sh
# The README's tour program, as a reader would use it: cut out of README,
# compiled with -Wall -Wextra against this tree's sigio.h and libsigio, run,
# served one TCP and one UDP echo through demo/echo-client, and stopped with
# SIGTERM, which must make it exit 0.  The README's client example is cut
# out the same way, run against the tour by address and by name (the
# asynchronous connect), and once more after the tour stopped (refused).
top=${top_builddir:-.}
src=${top_srcdir:-.}
CC="${CC:-cc} ${SIO_LINK_FLAGS:-}"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigio-readme.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "1..5"
# The program: from its first #include to the closing brace of main().
awk '/^    #include <signal.h>$/ { on = 1 }
     on { sub(/^    /, ""); print }
     on && /^int main/ { in_main = 1 }
     in_main && /^}$/ { exit }' "$src/README" > "$tmp/tour.c"
grep -q '^int main' "$tmp/tour.c" || { echo "not ok 1 - no tour program found in README"; exit 0; }
if $CC -Wall -Wextra -Wno-unused-parameter -Werror -I"$src/include" -o "$tmp/tour" \
	"$tmp/tour.c" "$top/lib/.libs/libsigio.a" -lpthread 2> "$tmp/cc"; then
	echo "ok 1 - the README's tour compiles without a diagnostic"
else
	sed 's/^/# /' "$tmp/cc"
	echo "not ok 1 - the README's tour compiles without a diagnostic"
	echo "not ok 2 - (no tour)"; echo "not ok 3 - (no tour)"
	echo "not ok 4 - (no tour)"; echo "not ok 5 - (no tour)"
	exit 0
fi
"$tmp/tour" > "$tmp/out" 2> "$tmp/err" &
pid=$!
# It listens on 127.0.0.1:7000; wait for the port (or the program's end).
i=0
until "$top/demo/echo-client" --tcp=127.0.0.1:7000 < /dev/null > /dev/null 2>&1; do
	i=$((i + 1))
	if ! kill -0 "$pid" 2>/dev/null || [ $i -gt 100 ]; then
		if grep -q "in use" "$tmp/err"; then
			echo "ok 2 # SKIP port 7000 is in use here"
			echo "ok 3 # SKIP port 7000 is in use here"
			echo "ok 4 # SKIP port 7000 is in use here"
			echo "ok 5 # SKIP port 7000 is in use here"
			exit 0
		fi
		sed 's/^/# /' "$tmp/err"
		echo "not ok 2 - the tour serves 127.0.0.1:7000"
		echo "not ok 3 - the README's client (no tour to connect to)"
		echo "not ok 4 - SIGTERM stops it"
		echo "not ok 5 - the README's client (no tour to connect to)"
		exit 0
	fi
	sleep 0.05
done
t=$(printf 'over tcp' | "$top/demo/echo-client" --tcp=127.0.0.1:7000 2>&1)
u=$(printf 'over udp' | "$top/demo/echo-client" --udp=127.0.0.1:7000 2>&1)
if [ "$t" = "over tcp" ] && [ "$u" = "over udp" ]; then
	echo "ok 2 - the tour echoes over TCP and UDP"
else
	echo "# tcp: '$t' udp: '$u'"
	echo "not ok 2 - the tour echoes over TCP and UDP"
fi
# The client example (README, "A client connects..."), run against the tour.
awk '/^    \/\* client.c \*\/$/ { on = 1; next }
     on { sub(/^    /, ""); print }
     on && /^int main/ { in_main = 1 }
     in_main && /^}$/ { exit }' "$src/README" > "$tmp/client.c"
if $CC -Wall -Wextra -Wno-unused-parameter -Werror -I"$src/include" -o "$tmp/client" \
	"$tmp/client.c" "$top/lib/.libs/libsigio.a" -lpthread 2> "$tmp/cc"; then
	c=$("$tmp/client" 127.0.0.1 2>&1)
	n=$("$tmp/client" localhost 2>&1)
	if [ "$c" = "hello" ] && [ "$n" = "hello" ]; then
		echo "ok 3 - the README's client connects to the tour (by address and by name) and reads the echo"
	else
		echo "# 127.0.0.1: '$c' localhost: '$n'"
		echo "not ok 3 - the README's client connects to the tour and reads the echo"
	fi
else
	sed 's/^/# /' "$tmp/cc"
	echo "not ok 3 - the README's client compiles without a diagnostic"
fi
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
if [ $rc -eq 0 ]; then echo "ok 4 - SIGTERM stops it, exit 0"; else echo "not ok 4 - SIGTERM stops it (exit $rc)"; fi
if [ -x "$tmp/client" ]; then
	"$tmp/client" 127.0.0.1 > /dev/null 2> "$tmp/refused"
	rc=$?
	if [ $rc -ne 0 ] && grep -q "refused" "$tmp/refused"; then
		echo "ok 5 - the client reports a refused connect, exit $rc"
	else
		echo "# exit $rc: $(cat "$tmp/refused")"
		echo "not ok 5 - the client reports a refused connect"
	fi
else
	echo "ok 5 # SKIP the client did not build"
fi
