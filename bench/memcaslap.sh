#!/bin/sh
# bench/memcaslap.sh - memcached on sigio-event (each backend) against the
# same memcached source on Debian's libevent, driven by memcaslap
# (libmemcached-tools).  Uses the two builds `make check-interop` leaves in
# interop/ (mc-sigio: --with-libevent pointing at sigio-event; mc-libevent:
# Debian's libevent).  `make bench-memcached` runs it.
#
# Each measurement starts one memcached (-t 1: one worker thread) pinned to
# CPU 0, runs `memcaslap -s 127.0.0.1:PORT -t 10s -T 1 -c N` pinned to
# CPU 1, and stops the server.  The servers run in interleaved rounds
# (the order rotated each round); the table holds the median of the
# rounds: memcaslap's TPS, the server's CPU time per operation (utime +
# stime from /proc/PID/stat over the run, divided by memcaslap's Ops), and
# both as ratios to libevent's.  Other work on the machine disturbs the
# figures: they are indicative.
#
# Usage: bench/memcaslap.sh [--rounds=N] [--time=10s] [--conns="16 256"]
#                           [--servers="rtsig sigio poll select libevent"]
#                           [--interop=DIR] [--out=DIR]
# Writes DIR/memcached.txt (the table), DIR/memcached-raw.txt and, with
# gnuplot, DIR/memcached.svg and .png (bench/plot.gp: ratios to libevent).
set -u
here=$(cd "$(dirname "$0")" && pwd)
interop=${INTEROP_DIR:-$here/../interop}
out=$here/results
rounds=3
runtime=10s
conns="16 256"
servers="rtsig sigio poll select libevent"
for a in "$@"; do
	case "$a" in
	--rounds=*) rounds=${a#*=} ;;
	--time=*) runtime=${a#*=} ;;
	--conns=*) conns=${a#*=} ;;
	--servers=*) servers=$(echo "${a#*=}" | tr ',' ' ') ;;
	--interop=*) interop=${a#*=} ;;
	--out=*) out=${a#*=} ;;
	*) echo "usage: bench/memcaslap.sh [--rounds=N] [--time=10s] [--conns=\"16 256\"] [--servers=...] [--interop=DIR] [--out=DIR]" >&2; exit 2 ;;
	esac
done
command -v memcaslap >/dev/null 2>&1 || { echo "memcaslap: not installed (apt-get install libmemcached-tools)" >&2; exit 1; }
for d in mc-sigio mc-libevent; do
	[ -x "$interop/$d/memcached" ] || { echo "no $interop/$d/memcached: run make check-interop first" >&2; exit 1; }
done
mkdir -p "$out" || exit 1
raw=$out/memcached-raw.txt
: >"$raw"
tck=$(getconf CLK_TCK)
ncpu=$(getconf _NPROCESSORS_ONLN)
srv_cpu=0 load_cpu=1
[ "$ncpu" -lt 2 ] && load_cpu=0
user=
[ "$(id -u)" -eq 0 ] && user="-u root"
port=$((21000 + $$ % 4000))
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT INT TERM

cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }

# start SERVER: memcached on $port, pinned; sets $pid.  Waits (bounded) for
# the port to answer.
start() {
	case "$1" in
	libevent) exe=$interop/mc-libevent/memcached; env= ;;
	*) exe=$interop/mc-sigio/memcached; env="SIGIO_BACKEND=$1" ;;
	esac
	for try in 1 2 3 4 5; do
		port=$((port + 1))
		# shellcheck disable=SC2086
		env $env taskset -c $srv_cpu "$exe" $user -t 1 -c 4096 -p $port -U 0 -l 127.0.0.1 \
			2>>"$out/.memcached-stderr" &
		pid=$!
		i=0
		while [ $i -lt 200 ]; do
			kill -0 "$pid" 2>/dev/null || break
			memcping --servers=127.0.0.1:$port >/dev/null 2>&1 && return 0
			i=$((i + 1))
			sleep 0.02
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	echo "memcached ($1) did not start" >&2
	return 1
}
stop() {
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid=
}

# One measurement: "SERVER CONNS TPS US_PER_OP" on stdout.
measure() {
	s=$1 c=$2
	start "$s" || return 1
	t0=$(cputicks "$pid")
	taskset -c $load_cpu memcaslap -s 127.0.0.1:$port -t "$runtime" -T 1 -c "$c" >"$out/.slap" 2>&1
	t1=$(cputicks "$pid")
	stop
	cat "$out/.slap" >>"$raw"
	line=$(grep '^Run time:' "$out/.slap" | tail -1)
	ops=$(echo "$line" | sed -n 's/.*Ops: *\([0-9]*\).*/\1/p')
	tps=$(echo "$line" | sed -n 's/.*TPS: *\([0-9]*\).*/\1/p')
	[ -n "$ops" ] && [ "$ops" -gt 0 ] || { echo "$s c$c: no result" >&2; return 1; }
	us=$(awk -v d=$((t1 - t0)) -v t="$tck" -v o="$ops" 'BEGIN { printf "%.2f", d * 1e6 / t / o }')
	echo "$s $c $tps $us"
}

echo "# memcaslap -t $runtime -T 1 -c N; memcached -t 1 on CPU $srv_cpu, load on CPU $load_cpu; $rounds rounds, interleaved" >>"$raw"
results=$out/.memcaslap-results
: >"$results"
order=$servers
r=1
while [ "$r" -le "$rounds" ]; do
	for c in $conns; do
		for s in $order; do
			m=$(measure "$s" "$c") && echo "$m" | tee -a "$results" | sed "s/^/round $r: /" >&2
		done
	done
	# Rotate the order by one for the next round.
	first=${order%% *}
	order="${order#* } $first"
	r=$((r + 1))
done

{
	echo "memcached 1.6.18 (Debian's source) under memcaslap -t $runtime -T 1 -c N"
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $ncpu CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "server: memcached -t 1 pinned to CPU $srv_cpu; memcaslap pinned to CPU $load_cpu; median of $rounds interleaved rounds"
	echo "Indicative: other work shares this machine's CPUs during the run."
	echo
	printf '%-9s %5s %10s %8s %12s %8s\n' server conns TPS ratio "us CPU/op" ratio
	for c in $conns; do
		base_tps=$(awk -v c="$c" '$1 == "libevent" && $2 == c { print $3 }' "$results" | sort -n |
			awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		base_us=$(awk -v c="$c" '$1 == "libevent" && $2 == c { print $4 }' "$results" | sort -n |
			awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
		for s in $servers; do
			tps=$(awk -v s="$s" -v c="$c" '$1 == s && $2 == c { print $3 }' "$results" | sort -n |
				awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
			us=$(awk -v s="$s" -v c="$c" '$1 == s && $2 == c { print $4 }' "$results" | sort -n |
				awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
			[ -n "$tps" ] || continue
			awk -v s="$s" -v c="$c" -v t="$tps" -v u="$us" -v bt="${base_tps:-0}" -v bu="${base_us:-0}" 'BEGIN {
				rt = 0; ru = 0
				if (bt > 0) rt = t / bt
				if (bu > 0) ru = u / bu
				printf "%-9s %5s %10d %7.2fx %12.2f %7.2fx\n", s, c, t, rt, u, ru }'
		done
	done
	echo
	echo "every measurement (server conns TPS us/op):"
	cat "$results"
} >"$out/memcached.txt"

# The plot (bench/plot.gp, as bench/run's): per point, one bar per server,
# its TPS and its CPU per operation over libevent's.
if command -v gnuplot >/dev/null 2>&1; then
	dat=$out/.memcached-dat cdat=$out/.memcached-cdat
	for f in "$dat" "$cdat"; do
		{ printf 'point'; for s in $servers; do printf ' %s' "$s"; done; echo; } >"$f"
	done
	for c in $conns; do
		printf 'c%s' "$c" >>"$dat"
		printf 'c%s' "$c" >>"$cdat"
		for s in $servers; do
			awk -v s="$s" -v c="$c" '$1 == s && $2 == c' "$out/memcached.txt" |
				awk 'NR == 1 { tr = $4; cr = $6; sub("x", "", tr); sub("x", "", cr) }
				     END { if (tr == "") tr = cr = "NaN"; printf " %s", tr >> "'"$dat"'"; printf " %s", cr >> "'"$cdat"'" }'
		done
		echo >>"$dat"
		echo >>"$cdat"
	done
	for fmt in svg png; do
		gnuplot -e "datafile='$dat'; cpufile='$cdat'; outfile='$out/memcached.$fmt'; fmt='$fmt'; baseline='libevent'; xlabeltext='memcaslap -T 1 -c N against memcached -t 1'; plottitle='memcached on sigio-event vs Debian libevent (TPS and server CPU/op ratios)'" \
			"$here/plot.gp" 2>"$out/.gp" || { echo "memcaslap.sh: gnuplot ($fmt) failed:" >&2; cat "$out/.gp" >&2; }
	done
	rm -f "$dat" "$cdat" "$out/.gp"
	echo "# plot: $out/memcached.svg, $out/memcached.png" >>"$out/memcached.txt"
fi
rm -f "$out/.slap" "$out/.memcached-stderr" "$results"
cat "$out/memcached.txt"
