#!/bin/sh
# examples/supervise, as a user would run it: each line of a child's
# stdout and stderr prefixed with its name, a failing command restarted
# N times, and SIGTERM stopping every child (SIGKILL for one that ignores
# SIGTERM, after the grace time) with a summary.  TAP on stdout.  The
# test waits for supervise's output through a FIFO, never with sleep.
top=${top_builddir:-.}
sup=$top/examples/supervise
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigio-supervise.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
echo "1..4"

"$sup" --restarts=2 'a=echo hello; echo oops >&2' 'b=echo try; exit 3' \
	> "$tmp/out" 2> "$tmp/err"
rc=$?
if grep -qx '\[a\] hello' "$tmp/out" && grep -qx '\[a\] oops' "$tmp/err"; then
	echo "ok 1 - stdout and stderr lines prefixed with the name"
else
	sed 's/^/# out: /' "$tmp/out"; sed 's/^/# err: /' "$tmp/err"
	echo "not ok 1 - stdout and stderr lines prefixed with the name"
fi
tries=$(grep -cx '\[b\] try' "$tmp/out")
if [ "$tries" = 3 ] && [ $rc = 1 ] &&
	grep -q 'summary: b: 3 run(s), last exit 3' "$tmp/err"; then
	echo "ok 2 - a failing command restarted twice, exit status 1"
else
	sed 's/^/# err: /' "$tmp/err"
	echo "not ok 2 - a failing command restarted twice (runs $tries, exit $rc)"
fi

# Stopping: c dies of SIGTERM, d ignores it and is killed after 200 ms.
mkfifo "$tmp/fifo" || exit 1
"$sup" --grace=200 'c=echo up; exec sleep 60' \
	'd=trap "" TERM; echo up; exec sleep 60' > "$tmp/fifo" 2> "$tmp/err2" &
pid=$!
exec 3< "$tmp/fifo"
read -r l1 <&3
read -r l2 <&3
kill -TERM "$pid"
cat <&3 > /dev/null
wait "$pid"
rc=$?
pid=
if [ $rc = 1 ] && grep -q 'summary: c: 1 run(s), last signal 15' "$tmp/err2" &&
	grep -q 'summary: d: 1 run(s), last signal 9' "$tmp/err2"; then
	echo "ok 3 - SIGTERM stops every child, SIGKILL after the grace time"
else
	echo "# $l1 / $l2, exit $rc"; sed 's/^/# err: /' "$tmp/err2"
	echo "not ok 3 - SIGTERM stops every child, SIGKILL after the grace time"
fi
if grep -q 'd: SIGKILL' "$tmp/err2" && ! grep -q 'c: restart' "$tmp/err2"; then
	echo "ok 4 - no restart while stopping"
else
	sed 's/^/# err: /' "$tmp/err2"
	echo "not ok 4 - no restart while stopping"
fi
