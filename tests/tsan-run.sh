#!/bin/sh
# tests/tsan-run.sh - `make check-tsan`: build the library and
# tests/tsan-threads.c with -fsanitize=thread (whatever sanitizers the
# configured build has: TSan excludes ASan, so this is a build of its own,
# in BUILDDIR/tsan), then run the program TSAN_RUNS times (3 by default).
# Any ThreadSanitizer report ends a run with exit status 66 and fails.
#
#   tests/tsan-run.sh SRCDIR BUILDDIR 'LIBRARY SOURCES'
# Environment: CC (the configured compiler: gcc and clang both have TSan),
# TSAN_RUNS, TSAN_OPTIONS (added to halt_on_error=1 exitcode=66),
# SIO_TEST_BACKENDS (as for make check).
set -u

srcdir=$1 builddir=$2 libsrc=$3
cc=${CC:-cc}
runs=${TSAN_RUNS:-3}
out=$builddir/tsan
say() { printf 'check-tsan: %s\n' "$*"; }

case $runs in ''|*[!0-9]*) say "TSAN_RUNS=$runs: wants a number"; exit 2 ;; esac
mkdir -p "$out" || exit 1
flags="-g -O1 -fno-omit-frame-pointer -fsanitize=thread -I$builddir -I$srcdir/include -I$srcdir/lib"
say "building the library and tests/tsan-threads with $cc -fsanitize=thread in $out"
objs=""
for f in $libsrc; do
	case $f in *.c) ;; *) continue ;; esac
	o=$out/$(basename "$f" .c).o
	$cc $flags -c "$srcdir/$f" -o "$o" || exit 1
	objs="$objs $o"
done
$cc $flags "$srcdir/tests/tsan-threads.c" $objs -lpthread -o "$out/tsan-threads" || {
	say "the build failed: does $cc have ThreadSanitizer (gcc: libtsan; apt-get install libtsan0 or a newer libtsanN)?"
	exit 1
}

failed=0
TSAN_OPTIONS="halt_on_error=1 exitcode=66${TSAN_OPTIONS:+ $TSAN_OPTIONS}"
export TSAN_OPTIONS
i=1
while [ $i -le "$runs" ]; do
	log=$out/run-$i.log
	"$out/tsan-threads" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		say "run $i: $(grep -c '^ok' "$log") tests passed, no ThreadSanitizer report"
	else
		failed=$((failed + 1))
		say "run $i: FAILED (exit $rc$([ $rc -eq 66 ] && echo ': a ThreadSanitizer report')); $log:"
		grep -E '^(not ok|# |WARNING: ThreadSanitizer|SUMMARY|FATAL)' "$log" | head -n 20
		grep -q 'unexpected memory mapping' "$log" &&
			say "TSan and this kernel's address-space randomisation disagree: try 'setarch -R make check-tsan'"
	fi
	i=$((i + 1))
done
say "$runs runs, $failed failed"
[ $failed -eq 0 ]
