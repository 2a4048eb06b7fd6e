#!/bin/sh
# Stress: tests/stress-client drives many concurrent connections through
# demo/echo-server on every backend this build has, every byte checked,
# with random message sizes (1 B .. 64 KiB), half-closes and resets, while
# a child of the client sends a signal storm to the server, which counts
# them and prints its counters for each callback: SIGUSR1 (which the
# kernel merges while one is pending) and, in a second run, SIGRTMIN+2
# (which it queues: the handler then runs back to back, and the self-pipe
# overflows).  Then the server must still echo (the client's final
# probe), answer one more signal with one more callback, and stop cleanly
# on SIGTERM.
#
# Short by default (make check): 200 connections per backend, 10,000
# signals.  `make stress` sets STRESS_CONNS=2000 STRESS_SIGNALS=100000.
# The select backend holds fds below FD_SETSIZE (1024) only: it gets at
# most 1000 connections.  STRESS_SEED fixes the PRNG seed (else printed).
b=${top_builddir:-.}
conns=${STRESS_CONNS:-200}
signals=${STRESS_SIGNALS:-10000}
rounds=${STRESS_ROUNDS:-16}
seed=${STRESS_SEED:+--seed=$STRESS_SEED}
n=0
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }

# start_server BACKEND SIGNAL: sets pid and port, or returns 1 (2: not in
# this build)
start_server() {
	# No file of the last server may be read as this one's: the
	# redirections below happen in the child, after this returns.
	rm -f "$out/srv.out" "$out/srv.err"
	"$b/demo/echo-server" --backend="$1" --tcp=127.0.0.1:0 --stats-signal="$2" \
	    > "$out/srv.out" 2> "$out/srv.err" &
	pid=$!
	port=
	i=0
	while [ -z "$port" ] && [ $i -lt 200 ] && kill -0 $pid 2>/dev/null; do
		port=$(sed -n 's/^listening tcp 127\.0\.0\.1://p' "$out/srv.out" 2>/dev/null)
		[ -n "$port" ] || sleep 0.05
		i=$((i + 1))
	done
	[ -n "$port" ] && return 0
	kill $pid 2>/dev/null
	wait $pid
	grep -q 'not implemented\|unknown backend' "$out/srv.err" && return 2
	return 1
}

# stats_lines: how many counter lines the server printed so far
stats_lines() { grep -c '^echo-server: stats:' "$out/srv.err"; }

for run in "rtsig USR1" "sigio USR1" "poll USR1" "select USR1" \
           "rtsig RTMIN+2" "sigio RTMIN+2" "poll RTMIN+2" "select RTMIN+2"; do
	backend=${run% *} sig=${run#* }
	c=$conns
	[ $backend = select ] && [ $c -gt 1000 ] && c=1000
	start_server $backend $sig
	case $? in
	2) ok "$backend $sig # SKIP backend not in this build"; continue ;;
	1) notok "$backend $sig: echo-server did not start: $(cat "$out/srv.err")"; continue ;;
	esac
	start=$(date +%s.%N)
	line=$("$b/tests/stress-client" --port="$port" --pid=$pid --connections=$c \
	    --rounds=$rounds --signals=$signals --signo=$sig $seed 2> "$out/cli.err")
	rc=$?
	end=$(date +%s.%N)
	# After the storm (and a self-pipe that overflowed), one more
	# signal still gets its callback: a bounded wait for its line.
	before=$(stats_lines)
	kill -s $sig $pid 2>/dev/null
	i=0
	while [ "$(stats_lines)" -le "$before" ] && [ $i -lt 100 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	late=$(( $(stats_lines) - before ))
	alive=1
	kill -0 $pid 2>/dev/null || alive=0
	kill -TERM $pid 2>/dev/null
	wait $pid
	src=$?
	echo "# $backend: $line"
	sed 's/^/# /' "$out/cli.err"
	grep -v '^echo-server: stats:' "$out/srv.err" | sed 's/^/# /'
	cb=$(stats_lines)
	counted=$(sed -n 's/^echo-server: [a-zA-Z0-9 ]*: \([0-9]*\) signals in \([0-9]*\) callbacks$/\1 \2/p' "$out/srv.err")
	echo "# $backend $sig: $(awk "BEGIN { printf \"%.1f\", $end - $start }") s; server counted ${counted% *} of $signals + 1 signals in $cb callbacks"
	if [ $rc -eq 0 ] && [ $alive = 1 ]; then
		ok "$backend $sig: $c connections at once, every byte verified, resets and half-closes, server still serving"
	else
		notok "$backend $sig: stress-client exit $rc, server alive=$alive"
	fi
	sent=$(echo "$line" | sed -n 's/.* signals=\([0-9]*\) .*/\1/p')
	after=$(echo "$line" | sed -n 's/.*signals_after_io=\([0-9]*\).*/\1/p')
	# Coalescing is allowed for signals (the kernel keeps one pending
	# SIGUSR1, the loop merges what arrives in one iteration): at least
	# one callback, never more signals counted than sent.
	if [ "${sent:-0}" = "$signals" ] && [ -n "$counted" ] && [ "$cb" -ge 2 ] &&
	   [ "${counted% *}" -le $((sent + 1)) ] && [ "${counted#* }" = "$cb" ] && [ $late -ge 1 ]; then
		ok "$backend $sig: $sent signals sent (${after:-?} after the I/O), $cb callbacks, one more signal answered"
	else
		notok "$backend $sig: signals sent=${sent:-?} counted='$counted' callbacks=$cb late=$late"
	fi
	if [ $src -eq 0 ]; then
		ok "$backend $sig: echo-server stopped cleanly on SIGTERM"
	else
		notok "$backend $sig: echo-server exit $src"
	fi
done
echo "1..$n"
