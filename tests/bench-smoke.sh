#!/bin/sh
# The benchmark's harness as a test, not its timings: bench/echo_sigio (raw
# watchers) and bench/echo_stream (the stream layer) on every backend this
# build has serve bench/loadgen, which checks every
# byte, for a fraction of a second each: 64-byte ping-pong on 8
# connections, and 64 KiB messages 8 deep on 2 connections (the server's
# writes come up short, so its SIO_WRITE path runs too).  Nothing about
# speed is asserted.  About 6 s.
b=${top_builddir:-.}/bench
n=0
plan=
for server in echo_sigio echo_stream; do
for backend in rtsig sigio poll select; do
	for load in "--connections=8 --size=64 --depth=1" \
	            "--connections=2 --size=65536 --depth=8"; do
		n=$((n + 1))
		out=$(mktemp)
		"$b/$server" --backend=$backend --port=0 > "$out" 2> "$out.err" &
		pid=$!
		port=
		i=0
		while [ -z "$port" ] && [ $i -lt 100 ] && kill -0 $pid 2>/dev/null; do
			port=$(sed -n 's/^port=//p' "$out")
			[ -n "$port" ] || sleep 0.05
			i=$((i + 1))
		done
		if [ -z "$port" ]; then
			wait $pid
			if grep -q 'not implemented\|Function not implemented' "$out.err"; then
				plan="$plan
ok $n - $server $backend $load # SKIP backend not in this build"
			else
				plan="$plan
not ok $n - $server $backend: server did not start: $(cat "$out.err")"
			fi
			rm -f "$out" "$out.err"
			continue
		fi
		line=$("$b/loadgen" --port="$port" $load --warmup=0 --duration=0.25 --pid=$pid 2>&1)
		rc=$?
		kill -TERM $pid
		wait $pid
		src=$?
		plan="$plan
# $line
# $(cat "$out.err")"
		case $line in
		*errors=0*requests=*|*requests=*errors=0*) ok=1 ;;
		*) ok=0 ;;
		esac
		req=$(echo "$line" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
		if [ $rc -eq 0 ] && [ $ok = 1 ] && [ "${req:-0}" -gt 0 ] && [ $src -eq 0 ]; then
			plan="$plan
ok $n - $server $backend $load: every byte echoed"
		else
			plan="$plan
not ok $n - $server $backend $load (loadgen exit $rc, server exit $src)"
		fi
		rm -f "$out" "$out.err"
	done
done
done
echo "1..$n"
echo "$plan" | sed '/^$/d'
