#!/bin/sh
# The shared library's ABI against the one recorded for the last release
# (README, "Versioning").  libabigail's abidw and abidiff (Debian:
# abigail-tools, formerly libabigail-tools).
#
#   tools/abi.sh dump  SRCDIR LIBSIGIO.LA VERSION-INFO PACKAGE-VERSION
#       record the built library's ABI as the baseline: SRCDIR/abi/libsigio.abi
#       and, beside it, the version-info and package version it was built
#       with (SRCDIR/abi/version).  make abi-dump, at a release.
#   tools/abi.sh check SRCDIR LIBSIGIO.LA VERSION-INFO
#       compare the built library with the baseline (make abi-check, and
#       .ci/run).  Exit 0: the same ABI, or only additions, or changes that
#       the version-info was bumped for; 1: a change to an existing
#       interface without the bump; 77: could not check (no abidw, no
#       shared library, no debug information), said on stderr.
#
# The ABI is that of the functions sigio.h declares and the types they
# reach (abidw --headers-dir include): the library exports nothing else
# (tests/symbols.sh).  abidiff's own verdict marks only removed or changed
# symbols as incompatible; a changed struct or enum it reports as a change
# it cannot judge.  sigio's public structs (struct sio_stats) are
# allocated by the caller, so any change to an existing function or type
# counts as incompatible here; only added functions are compatible.
set -u
mode=${1:-} srcdir=${2:-} la=${3:-} vi=${4:-}
case $mode in dump) pkgver=${5:-} ;; check) ;; *)
	echo "usage: $0 dump|check SRCDIR LIBSIGIO.LA VERSION-INFO [PACKAGE-VERSION]" >&2; exit 2 ;;
esac
baseline=$srcdir/abi/libsigio.abi
verfile=$srcdir/abi/version
skip() { echo "abi: SKIPPED: $1" >&2; exit 77; }

for tool in abidw abidiff; do
	command -v $tool >/dev/null 2>&1 ||
		skip "$tool is not installed (apt-get install abigail-tools; libabigail-tools before Debian 12)"
done
dlname=$(sed -n "s/^dlname='\\(.*\\)'\$/\\1/p" "$la" 2>/dev/null)
so=$(dirname "$la")/.libs/$dlname
[ -n "$dlname" ] && [ -f "$so" ] || skip "no shared library in $la (configure --disable-shared?)"
# Without DWARF, abidw sees only symbol names: types would go unchecked.
readelf -S "$so" 2>/dev/null | grep -q '\.debug_info' ||
	skip "$so has no debug information (build with -g, as configure's default CFLAGS do)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigio-abi.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT
trap 'exit 2' INT TERM

# Paths and type numbering left out, so that the baseline does not depend
# on where or in which order it was built.
abidw --headers-dir "$srcdir/include" --drop-private-types --drop-undefined-syms \
	--no-corpus-path --no-comp-dir-path --short-locs --type-id-style hash \
	--out-file "$tmp/new.abi" "$so" || { echo "abi: abidw failed on $so" >&2; exit 2; }

if [ "$mode" = dump ]; then
	mkdir -p "$srcdir/abi" && cp "$tmp/new.abi" "$baseline" &&
	printf 'package %s\nversion-info %s\n' "$pkgver" "$vi" >"$verfile" || exit 2
	echo "abi: recorded $(grep -c '<elf-symbol ' "$baseline") functions of $dlname" \
		"(sigio $pkgver, version-info $vi) in $baseline"
	exit 0
fi

[ -f "$baseline" ] && [ -f "$verfile" ] || { echo "abi: no baseline ($baseline, $verfile): make abi-dump" >&2; exit 2; }
base_vi=$(sed -n 's/^version-info //p' "$verfile")
base_pkg=$(sed -n 's/^package //p' "$verfile")
# current:revision:age, of the baseline (c0 r0 a0) and of this build.
IFS=: read -r c0 r0 a0 <<EOF
$base_vi
EOF
IFS=: read -r c1 r1 a1 <<EOF
$vi
EOF
echo "abi: $dlname (version-info $vi) against sigio $base_pkg (version-info $base_vi)"

abidiff "$baseline" "$tmp/new.abi" >"$tmp/all"
all=$?
[ $((all & 3)) -eq 0 ] || { cat "$tmp/all"; echo "abi: abidiff failed (exit $all)" >&2; exit 2; }
if [ $all -eq 0 ]; then
	echo "abi: ok, no change"
	exit 0
fi
abidiff --no-added-syms "$baseline" "$tmp/new.abi" >"$tmp/changed"
changed=$?
cat "$tmp/all"
if [ $changed -eq 0 ]; then
	echo "abi: ok, functions added only (compatible): at the release, increment"
	echo "abi: current and age of SIO_LT_VERSION and set revision to 0, then make abi-dump"
	exit 0
fi
# libtool's rule for a removed or changed interface: current + 1,
# revision 0, age 0 (which changes the soname).
if [ "$c1" -gt "$c0" ] && [ "$r1" -eq 0 ] && [ "$a1" -eq 0 ]; then
	echo "abi: ok, incompatible change, and SIO_LT_VERSION was bumped ($base_vi -> $vi):"
	echo "abi: make abi-dump at the release records the new baseline"
	exit 0
fi
echo "abi: FAILED: an existing function or type changed (abidiff exit $changed) but"
echo "abi: SIO_LT_VERSION is $vi: an incompatible change needs current > $c0,"
echo "abi: revision 0 and age 0 (README, \"Versioning\"), or undo the change"
exit 1
