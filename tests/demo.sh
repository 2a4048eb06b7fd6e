#!/bin/sh
# The demos as tests: sigio-demo passes a message on every backend, and
# echo-selfcheck runs the echo services over every transport on every
# backend; both check every byte.
top=${top_builddir:-.}
echo "1..2"
out=$("$top/demo/sigio-demo" --all --bytes=262144 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
if [ $rc -eq 0 ]; then echo "ok 1 - sigio-demo --all"; else echo "not ok 1 - sigio-demo --all (exit $rc)"; fi
out=$("${top_srcdir:-.}/demo/echo-selfcheck" "$top/demo" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
if [ $rc -eq 0 ]; then echo "ok 2 - echo-selfcheck"; else echo "not ok 2 - echo-selfcheck (exit $rc)"; fi
