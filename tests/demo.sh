#!/bin/sh
# The demo as a test: every backend passes a message and checks every byte.
out=$("${top_builddir:-.}/demo/sigio-demo" --all --bytes=262144 2>&1)
rc=$?
echo "1..1"
echo "$out" | sed 's/^/# /'
if [ $rc -eq 0 ]; then echo "ok 1 - sigio-demo --all"; else echo "not ok 1 - sigio-demo --all (exit $rc)"; fi
