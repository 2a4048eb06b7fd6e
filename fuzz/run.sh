#!/bin/sh
# fuzz/run.sh - `make fuzz`: build every fuzz/fuzz_*.c target with clang's
# libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer (whatever CC
# configure chose), run each for FUZZ_SECONDS on its seed corpus, print the
# executions of each, and fail if any target found a crash, a leak, an
# abort of its own checks or a time-out.
#
#   fuzz/run.sh SRCDIR BUILDDIR 'LIBRARY SOURCES'
# Environment: FUZZ_SECONDS (60 per target), FUZZ_TARGETS (names, e.g.
# "endpoint icmp_packet"; all by default), FUZZ_CC (clang), FUZZ_ARGS (more
# libFuzzer options).  BUILDDIR/fuzz/bin holds the programs,
# BUILDDIR/fuzz/work/TARGET the corpus grown (seeds stay untouched),
# BUILDDIR/fuzz/artifacts/TARGET/ what failed (crash-*, leak-*, timeout-*).
set -u

srcdir=$1 builddir=$2 libsrc=$3
seconds=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
bin=$builddir/fuzz/bin
say() { printf 'fuzz: %s\n' "$*"; }

case $seconds in ''|*[!0-9]*) say "FUZZ_SECONDS=$seconds: wants a number of seconds"; exit 2 ;; esac

# ---- clang, installed the way ./quickstart installs its packages ------------
find_clang() {
	command -v "$cc" >/dev/null 2>&1 && return 0
	for v in 18 17 16 15 14; do
		command -v "clang-$v" >/dev/null 2>&1 && { cc=clang-$v; return 0; }
	done
	return 1
}
if ! find_clang; then
	if command -v apt-get >/dev/null 2>&1; then
		sudo=""
		[ "$(id -u)" -ne 0 ] && sudo="sudo"
		say "installing clang (apt-get)"
		export DEBIAN_FRONTEND=noninteractive
		$sudo apt-get install -y -q --no-install-recommends clang >/dev/null 2>&1 || {
			$sudo apt-get update -q >/dev/null 2>&1
			$sudo apt-get install -y -q --no-install-recommends clang >/dev/null 2>&1
		}
	fi
	find_clang || {
		say "clang is needed (libFuzzer comes with it): apt-get install clang, or set FUZZ_CC"
		exit 1
	}
fi

# ---- build -----------------------------------------------------------------------
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
inc="-I$builddir -I$srcdir/include -I$srcdir/lib"
mkdir -p "$bin" || exit 1
say "building with $cc into $bin"
objs=""
for f in $libsrc demo/echo-common.c; do
	case $f in *.c) ;; *) continue ;; esac
	o=$bin/$(echo "$f" | tr / _ | sed 's/\.c$/.o/')
	$cc $flags -fsanitize=fuzzer-no-link $inc -c "$srcdir/$f" -o "$o" || exit 1
	objs="$objs $o"
done
targets=${FUZZ_TARGETS:-$(cd "$srcdir/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')}
for t in $targets; do
	[ -f "$srcdir/fuzz/fuzz_$t.c" ] || { say "$t: no fuzz/fuzz_$t.c"; exit 2; }
	$cc $flags -fsanitize=fuzzer $inc "$srcdir/fuzz/fuzz_$t.c" $objs -lpthread \
	    -o "$bin/fuzz_$t" || { say "$t: the build failed (does $cc have libFuzzer?)"; exit 1; }
done

# ---- run ---------------------------------------------------------------------------
failed="" total=0
for t in $targets; do
	work=$builddir/fuzz/work/$t
	log=$builddir/fuzz/$t.log
	art=$builddir/fuzz/artifacts/$t
	mkdir -p "$work" "$art"
	rm -f "$art/"*
	# close_fd_mask=3: the demos' messages would flood the log (libFuzzer
	# keeps its own and the sanitizers' output); the crash is replayed
	# below with them.
	"$bin/fuzz_$t" -max_total_time="$seconds" -timeout=10 -close_fd_mask=3 \
	    -print_final_stats=1 -artifact_prefix="$art/" \
	    ${FUZZ_ARGS:-} "$work" "$srcdir/fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	total=$((total + ${runs:-0}))
	if [ $rc -ne 0 ] || [ -n "$(ls "$art")" ]; then
		failed="$failed $t"
		say "$t: FAILED after ${runs:-?} executions (exit $rc); log $log"
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 5
		for c in "$art/"*; do
			[ -f "$c" ] || continue
			say "replaying $c:"
			"$bin/fuzz_$t" "$c" 2>&1 | grep -v '^INFO:' | head -n 40
		done
	else
		say "$t: ${runs:-?} executions in ${secs:-?} s, no crash ($(ls "$work" | wc -l) inputs in $work)"
	fi
done
say "total: $total executions"
[ -z "$failed" ] || { say "crashes in:$failed"; exit 1; }
