#!/bin/sh
# examples/glib-embed on every backend: a sigio echo service driven from a
# GLib main loop through sio_loop_fd() and sio_loop_timeout().  On each
# backend that gives an fd: the idle process sleeps (its CPU time over 2 s
# of nothing stays near zero), 100 connections x 1 MiB go through it with
# every byte checked (tests/embed-client), and the GLib timer kept ticking
# meanwhile.  A backend without an fd (poll, select: ENOSYS, exit 77) is a
# SKIP, and so is the whole script where GLib was not found.  TAP.
top=${top_builddir:-.}
prog=$top/examples/glib-embed
client=$top/tests/embed-client
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigio-glib.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
backends="rtsig sigio poll select"
echo "1..4"
if [ ! -x "$prog" ] || [ ! -x "$client" ]; then
	n=0
	for b in $backends; do
		n=$((n + 1))
		echo "ok $n - $b # SKIP GLib not found by configure"
	done
	exit 0
fi
# CPU ticks (utime + stime) of a process.
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
n=0
for b in $backends; do
	n=$((n + 1))
	# A file of its own per run: the previous run's port must not be read
	# before the new process has truncated the file.
	out=$tmp/$b.out err=$tmp/$b.err
	SIGIO_BACKEND=$b "$prog" > "$out" 2> "$err" &
	pid=$!
	port=
	i=0
	while [ -z "$port" ] && [ $i -lt 200 ] && kill -0 $pid 2>/dev/null; do
		port=$(sed -n 's/^listening tcp 127\.0\.0\.1://p' "$out")
		[ -n "$port" ] || sleep 0.05
		i=$((i + 1))
	done
	if [ -z "$port" ]; then
		wait $pid
		rc=$?
		pid=
		if [ $rc -eq 77 ]; then
			echo "ok $n - $b # SKIP $(cat "$err")"
		elif grep -q 'not implemented\|unknown backend\|not supported' "$err"; then
			echo "ok $n - $b # SKIP backend not in this build"
		else
			sed 's/^/# /' "$err"
			echo "not ok $n - $b: glib-embed did not start (exit $rc)"
		fi
		continue
	fi
	# Idle: 2 s of nothing but the GLib timer.  Busy-looping would cost
	# about 200 ticks; a sleeping loop a few.
	c0=$(cpu $pid)
	sleep 2
	c1=$(cpu $pid)
	idle=$((c1 - c0))
	line=$("$client" "$port" 100 1048576 2> "$tmp/cli.err")
	crc=$?
	kill -TERM $pid
	wait $pid
	src=$?
	pid=
	summary=$(cat "$err")
	echo "# $b: idle cpu ticks over 2 s: $idle; $line; $summary"
	sed 's/^/# /' "$tmp/cli.err"
	ticks=$(echo "$summary" | sed -n 's/.* ticks=\([0-9]*\) .*/\1/p')
	ms=$(echo "$summary" | sed -n 's/.* ms=\([0-9]*\) .*/\1/p')
	# The 10 ms GLib timer kept at least half its rate through it all.
	rate_ok=$(awk "BEGIN { print (${ticks:-0} * 20 >= ${ms:-1}) ? 1 : 0 }")
	if [ $crc -eq 0 ] && [ $src -eq 0 ] && [ "$idle" -le 20 ] && [ "$rate_ok" = 1 ] &&
	   echo "$line" | grep -q 'bytes_verified=104857600$'; then
		echo "ok $n - $b: 100 connections x 1 MiB echoed and checked; GLib timer ${ticks} ticks in ${ms} ms; idle CPU $idle ticks in 2 s"
	else
		echo "not ok $n - $b: client exit $crc, server exit $src, idle CPU $idle ticks, timer ${ticks:-?} ticks in ${ms:-?} ms"
	fi
done
