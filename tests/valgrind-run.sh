#!/bin/sh
# LOG_COMPILER of `make check-valgrind`: run one Criterion suite under
# valgrind memcheck, its re-executed workers included, and fail (exit 1,
# an ERROR for the test driver) if valgrind reported anything in any of
# them.  Criterion itself would pass a test whose worker valgrind flagged,
# since the report comes after the result.  What the tests spawn (shells,
# demos) runs natively.
#   tests/valgrind-run.sh LIBTOOL TEST [ARGS...]
libtool=$1
shift
logs=$(mktemp -d "${TMPDIR:-/tmp}/sigio-valgrind.XXXXXX") || exit 1
supp=${top_srcdir:-.}/tests/valgrind.supp
run=
[ -n "$libtool" ] && run="$libtool --mode=execute"
$run valgrind -q --trace-children=yes \
	--trace-children-skip='*/sh,*/bash,*/dash,*/demo/*,*/env,*/cc,*/gcc' \
	--leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite \
	--suppressions="$supp" --log-file="$logs/vg.%p" "$@"
rc=$?
bad=0
for f in "$logs"/vg.*; do
	[ -s "$f" ] || continue
	bad=$((bad + 1))
	sed 's/^/# /' "$f"
done
rm -rf "$logs"
if [ $bad -gt 0 ]; then
	echo "# valgrind: reports from $bad process(es), above" >&2
	exit 1
fi
exit $rc
