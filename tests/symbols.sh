#!/bin/sh
# What the library lets a program link against.  TAP on stdout.
#
#  1. libsigio.so exports (nm -D --defined-only) only functions that
#     include/sigio.h declares: the internal sio__ calls, and any helper
#     that forgot its "static", stay inside the library (Makefile.am's
#     -export-symbols-regex), so that they are no part of the ABI.
#  2. libsigio.so exports every function sigio.h declares (a declaration
#     without a definition would only fail at a user's link).
#  3. Every external symbol of libsigio.a (nm -g --defined-only) starts with
#     sio_ (public) or sio__ (internal): a static link brings no other name
#     into the user's namespace.
# Each part is skipped, saying why, when its library was not built
# (--disable-shared, --disable-static) or nm is missing.
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
CC=${CC:-cc}
la=$builddir/lib/libsigio.la
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigio-symbols.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

echo "1..3"
failed=0
# la_var NAME: a variable of libtool's .la file (the names it built).
la_var() { sed -n "s/^$1='\\(.*\\)'\$/\\1/p" "$la"; }
list() { sed 's/^/# /' "$1"; }

if ! command -v nm >/dev/null 2>&1; then
	for i in 1 2 3; do echo "ok $i # SKIP nm is not installed (binutils)"; done
	exit 0
fi

# The header's functions: preprocessed (no comments, no macros), every
# identifier sio_* directly followed by "(" -- callback typedefs read
# "(*sio_x_cb)(" and are not functions.
$CC -E -P -I"$srcdir/include" "$srcdir/include/sigio.h" >"$tmp/hdr.i" 2>"$tmp/err" || {
	list "$tmp/err"
	for i in 1 2 3; do echo "not ok $i - include/sigio.h does not preprocess"; done
	exit 1
}
grep -o 'sio_[A-Za-z0-9_]*[ 	]*(' "$tmp/hdr.i" | sed 's/[ 	(]*$//' | sort -u >"$tmp/api"
echo "# include/sigio.h declares $(wc -l <"$tmp/api") functions"

dlname=$(la_var dlname)
so=$builddir/lib/.libs/$dlname
if [ -z "$dlname" ] || [ ! -f "$so" ]; then
	echo "ok 1 # SKIP the shared library was not built (configure --disable-shared?)"
	echo "ok 2 # SKIP the shared library was not built (configure --disable-shared?)"
else
	nm -D --defined-only "$so" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/so"
	echo "# $dlname exports $(wc -l <"$tmp/so") symbols"
	comm -23 "$tmp/so" "$tmp/api" >"$tmp/extra"
	if [ -s "$tmp/extra" ]; then
		echo "# exported but not declared in sigio.h:"
		list "$tmp/extra"
		echo "not ok 1 - $dlname exports only sigio.h's functions ($(wc -l <"$tmp/extra") more)"
		failed=1
	else
		echo "ok 1 - $dlname exports only sigio.h's functions"
	fi
	comm -13 "$tmp/so" "$tmp/api" >"$tmp/missing"
	if [ -s "$tmp/missing" ]; then
		echo "# declared in sigio.h but not exported:"
		list "$tmp/missing"
		echo "not ok 2 - $dlname exports every function of sigio.h"
		failed=1
	else
		echo "ok 2 - $dlname exports every function of sigio.h"
	fi
fi

old=$(la_var old_library)
a=$builddir/lib/.libs/$old
if [ -z "$old" ] || [ ! -f "$a" ]; then
	echo "ok 3 # SKIP the static library was not built (configure --disable-static?)"
else
	nm -g --defined-only "$a" | awk 'NF >= 3 { print $3 }' | sort -u >"$tmp/a"
	# A sanitizer build adds its own markers of our globals
	# (__odr_asan.sio__backend_poll): the compiler's, not names of ours.
	grep -v '^sio_' "$tmp/a" | grep -v '^__odr_asan[._]' >"$tmp/foreign"
	n_int=$(grep -c '^sio__' "$tmp/a")
	echo "# $old: $(wc -l <"$tmp/a") external symbols, $n_int of them internal (sio__)"
	if [ -s "$tmp/foreign" ]; then
		echo "# external symbols of $old outside sio_ / sio__:"
		list "$tmp/foreign"
		echo "not ok 3 - every external symbol of $old is sio_ or sio__"
		failed=1
	else
		echo "ok 3 - every external symbol of $old is sio_ or sio__"
	fi
fi
exit $failed
