#!/bin/sh
# fuzz-corpus.sh - replay every fuzz target's seed corpus (fuzz/corpus/T)
# through fuzz/replay_T: the target's LLVMFuzzerTestOneInput built with the
# configured compiler (and its sanitizers, if configured), no libFuzzer.  A
# seed that crashes or fails the target's own checks fails its test line;
# it keeps the corpus, and the regression inputs in it, valid without clang.
# TAP output.
set -u
: "${top_builddir:=.}" "${top_srcdir:=.}"
corpus=$top_srcdir/fuzz/corpus
n=0
for d in "$corpus"/*/; do
	n=$((n + 1))
done
echo "1..$n"
i=0
for d in "$corpus"/*/; do
	t=$(basename "$d")
	i=$((i + 1))
	replay=$top_builddir/fuzz/replay_$t
	if [ ! -x "$replay" ]; then
		echo "not ok $i - $t: $replay is not built"
		continue
	fi
	log=$top_builddir/fuzz/replay_$t.log
	if "$replay" "$d" >/dev/null 2>"$log"; then
		echo "ok $i - $t: $(tail -n 1 "$log" | sed 's/^replay: //') replayed"
	else
		echo "not ok $i - $t (exit $?):"
		tail -n 20 "$log" | sed 's/^/# /'
	fi
done
