#!/bin/sh
# tests/interop/memcached.sh - memcached, unmodified, from Debian's source
# package, built on sigio-event (libevent 2.1's core API on sigio) and run
# through its own test suite.  `make check-interop` runs it; .ci/run too.
#
#  1. Installs what it needs that is missing (apt-get install: gcc, make,
#     perl, dpkg-dev to unpack the source, libevent-dev for the comparison
#     build).  The machine's apt configuration is never changed: the
#     deb-src entry is a sources list of this test's own, used with
#     -o Dir::Etc::SourceList=... -o Dir::Etc::SourceParts=/dev/null
#     -o Dir::State::Lists=<own dir>, for `apt-get update` and
#     `apt-get source` alike.
#  2. Lays out a prefix (include/event.h, event2/..., lib/libevent.so ->
#     libsigio-event) and configures memcached --with-libevent=PREFIX;
#     checks with ldd that no real libevent is linked.
#  3. Runs memcached's whole `make test` with SIGIO_BACKEND=rtsig, and its
#     testapp plus t/getset.t t/binary.t t/lru.t t/noreply.t with
#     SIGIO_BACKEND=sigio, poll and select.
#  4. Builds the same source on Debian's libevent and runs the same, then
#     compares, file by file, what passed and what was skipped
#     (INTEROP_COMPARE=full, the default; quick: only the short set;
#     none: no comparison build).  That side does not depend on sigio: an
#     earlier run's build and results in INTEROP_DIR are reused, unless
#     INTEROP_FRESH=1.
#
# Exit status: 0 when everything passed and matched, 1 on a failure, 77
# (after saying why, loudly) when Debian's archive cannot be reached.
# Environment: top_srcdir, top_builddir (default .), INTEROP_DIR (default
# $top_builddir/interop: the work and the download cache),
# INTEROP_BUILD_ONLY (set: build both, run nothing: for make
# bench-memcached), INTEROP_SUITE (default bookworm), INTEROP_MIRROR (default
# http://deb.debian.org/debian), INTEROP_BACKENDS (default "sigio poll
# select"), INTEROP_FULL_BACKEND (default rtsig).  POSIX sh.
set -u
srcdir=$(cd "${top_srcdir:-.}" && pwd)
builddir=$(cd "${top_builddir:-.}" && pwd)
work=${INTEROP_DIR:-$builddir/interop}
suite=${INTEROP_SUITE:-bookworm}
mirror=${INTEROP_MIRROR:-http://deb.debian.org/debian}
backends=${INTEROP_BACKENDS:-sigio poll select}
full_backend=${INTEROP_FULL_BACKEND:-rtsig}
compare=${INTEROP_COMPARE:-full}
quick_tests="t/getset.t t/binary.t t/lru.t t/noreply.t"

say() { printf 'interop: %s\n' "$*"; }
t0=$(date +%s)
elapsed() { echo "$(( $(date +%s) - t0 )) s"; }
fail=0

mkdir -p "$work/apt/lists/partial" "$work/cache" || exit 1
work=$(cd "$work" && pwd)

# ---- 1. what the build and the tests need ---------------------------------------
sudo=
[ "$(id -u)" -ne 0 ] && sudo=sudo
need="gcc make perl dpkg-dev"
[ "$compare" != none ] && need="$need libevent-dev"
missing=
for p in $need; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	say "installing:$missing"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing >"$work/apt-install.log" 2>&1 ||
	{ $sudo apt-get update -q >/dev/null 2>&1 &&
	  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q $missing >"$work/apt-install.log" 2>&1; } ||
	{ tail -5 "$work/apt-install.log"; say "SKIP: cannot install$missing (is Debian's archive reachable?)"; exit 77; }
fi

# ---- 2. memcached's Debian source, with apt options of our own --------------------
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
signed=
[ -f "$keyring" ] && signed="[signed-by=$keyring] "
echo "deb-src ${signed}$mirror $suite main" >"$work/apt/sources.list"
APT_OPTS="-o Dir::Etc::SourceList=$work/apt/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/apt/lists"
src=$(ls -d "$work"/cache/memcached-*/ 2>/dev/null | head -1)
if [ -z "$src" ]; then
	say "fetching memcached's source from $mirror $suite"
	if ! apt-get $APT_OPTS update >"$work/apt-update.log" 2>&1 ||
	   grep -q '^\(W\|E\): Failed to fetch' "$work/apt-update.log"; then
		tail -5 "$work/apt-update.log"
		echo "interop: ############################################################"
		echo "interop: SKIP: Debian's archive ($mirror) cannot be reached:"
		echo "interop:       memcached was NOT built or tested on sigio-event."
		echo "interop: ############################################################"
		exit 77
	fi
	( cd "$work/cache" && apt-get $APT_OPTS source memcached ) >"$work/apt-source.log" 2>&1 ||
		{ tail -10 "$work/apt-source.log"; say "apt-get source memcached failed"; exit 1; }
	src=$(ls -d "$work"/cache/memcached-*/ | head -1)
fi
src=${src%/}
say "source: $src ($(elapsed))"

# ---- 3. the prefix: libevent's layout, sigio-event inside ---------------------------
prefix=$work/prefix
rm -rf "$prefix" && mkdir -p "$prefix/lib" || exit 1
cp -R "$srcdir/compat/libevent/include" "$prefix/include"
evlib=$builddir/compat/libevent/.libs
[ -f "$evlib/libsigio-event.so.0" ] || { say "build sigio first: no $evlib/libsigio-event.so.0"; exit 1; }
# Copies, not links into the build tree: a `make install` there relinks
# libsigio-event.so in place for a moment.
cp -L "$evlib/libsigio-event.so.0" "$prefix/lib/libsigio-event.so.0" &&
cp -L "$builddir/lib/.libs/libsigio.so.0" "$prefix/lib/libsigio.so.0" &&
ln -s libsigio-event.so.0 "$prefix/lib/libevent.so" || exit 1

# build NAME CONFIGURE-ARGS...: a fresh copy of the source in $work/NAME, built.
build() {
	name=$1
	shift
	rm -rf "${work:?}/$name" && cp -R "$src" "$work/$name" || return 1
	( cd "$work/$name" && ./configure "$@" && make -j2 ) >"$work/$name-build.log" 2>&1 ||
		{ tail -20 "$work/$name-build.log"; say "$name: the build FAILED"; return 1; }
	say "$name: built ($(elapsed))"
}
# DT_RPATH (not RUNPATH): libsigio.so.0, a dependency of libsigio-event,
# is found in the prefix too.
build mc-sigio --with-libevent="$prefix" LDFLAGS=-Wl,--disable-new-dtags || exit 1
mc=$work/mc-sigio

ldd "$mc/memcached" >"$work/ldd.txt" 2>&1
if grep -q 'libevent[-_.][^ ]*=> /\(usr/\)\?lib' "$work/ldd.txt" ||
   ! grep -q 'libsigio-event' "$work/ldd.txt"; then
	cat "$work/ldd.txt"
	say "not ok: memcached is not linked to sigio-event alone"
	exit 1
fi
say "ok: ldd memcached: $(grep -o 'libsigio[-a-z]*\.so\.[0-9]*' "$work/ldd.txt" | sort -u | tr '\n' ' ')and no real libevent"

# What the base reports, through libevent's EVENT_SHOW_METHOD.
show_method() {    # show_method BACKEND: the line the first base prints
	rm -f "$work/show.fifo" && mkfifo "$work/show.fifo" || return 1
	user=
	[ "$(id -u)" -eq 0 ] && user="-u root"   # memcached refuses root otherwise
	# shellcheck disable=SC2086
	SIGIO_BACKEND=$1 EVENT_SHOW_METHOD=1 "$mc/memcached" $user -U 0 -s "$work/show.sock" \
		2>"$work/show.fifo" >/dev/null &
	pid=$!
	IFS= read -r line <"$work/show.fifo"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$work/show.fifo" "$work/show.sock"
	echo "$line"
}

# results LOG: "FILE STATUS" lines from prove's output (ok, skipped, failed).
results() {
	sed -n 's/^\(t\/[^ ]*\.t\) \.*[ ]*\(.*\)$/\1 \2/p' "$1" | while read -r f rest; do
		case "$rest" in
		ok*) echo "$f ok" ;;
		skipped*) echo "$f skipped" ;;
		*) echo "$f failed" ;;
		esac
	done | LC_ALL=C sort
}
summary() {    # summary RESULTS: "P passed, S skipped, F failed"
	echo "$(grep -c ' ok$' "$1") passed, $(grep -c ' skipped$' "$1") skipped, $(grep -c ' failed$' "$1") failed"
}

# run_full DIR LOG [ENV...]: memcached's whole make test.
run_full() {
	dir=$1 log=$2
	shift 2
	s=$(date +%s)
	( cd "$dir" && env "$@" timeout 2400 make test ) >"$log" 2>&1
	rc=$?
	results "$log" >"$log.files"
	testapp=ok
	grep -q '^not ok' "$log" && testapp=FAILED
	echo "make test exit $rc, testapp $testapp, t/: $(summary "$log.files"), $(( $(date +%s) - s )) s"
	[ $rc -eq 0 ]
}
# run_quick DIR LOG [ENV...]: testapp and the short set of t/ files.
run_quick() {
	dir=$1 log=$2
	shift 2
	s=$(date +%s)
	( cd "$dir" && make memcached-debug testapp >/dev/null 2>&1 &&
	  env "$@" timeout 600 ./testapp && env "$@" timeout 900 prove $quick_tests ) >"$log" 2>&1
	rc=$?
	results "$log" >"$log.files"
	echo "exit $rc, testapp $(grep -c '^ok' "$log") ok / $(grep -c '^not ok' "$log") not ok, t/: $(summary "$log.files"), $(( $(date +%s) - s )) s"
	[ $rc -eq 0 ]
}

# INTEROP_BUILD_ONLY=1 (make bench-memcached, when the builds are missing):
# both builds, no tests.
if [ -n "${INTEROP_BUILD_ONLY:-}" ]; then
	[ -x "$work/mc-libevent/memcached" ] || build mc-libevent || exit 1
	say "built: $mc/memcached and $work/mc-libevent/memcached (no tests: INTEROP_BUILD_ONLY)"
	exit 0
fi

# ---- 4. memcached's tests on sigio-event ------------------------------------------------
line=$(show_method "$full_backend")
say "$line"
case "$line" in *"using: $full_backend"*) ;; *) say "not ok: SIGIO_BACKEND=$full_backend gave another backend"; fail=1 ;; esac
if out=$(run_full "$mc" "$work/full-$full_backend.log" SIGIO_BACKEND="$full_backend"); then
	say "ok: $full_backend: make test: $out"
else
	say "not ok: $full_backend: make test: $out"
	grep -v ' ok$' "$work/full-$full_backend.log.files" | grep -v ' skipped$' | sed 's/^/interop:   /'
	fail=1
fi
for b in $backends; do
	line=$(show_method "$b")
	case "$line" in *"using: $b"*) ;; *) say "not ok: SIGIO_BACKEND=$b: $line"; fail=1; continue ;; esac
	if out=$(run_quick "$mc" "$work/quick-$b.log" SIGIO_BACKEND="$b"); then
		say "ok: $b: testapp + $quick_tests: $out"
	else
		say "not ok: $b: testapp + $quick_tests: $out"
		fail=1
	fi
done

# ---- 5. the same source on Debian's libevent -----------------------------------------------
# The libevent side does not depend on sigio: an earlier run's results
# are reused when its build and logs are there (INTEROP_FRESH=1 redoes it).
reuse=
if [ -z "${INTEROP_FRESH:-}" ] && [ -x "$work/mc-libevent/memcached" ] &&
   [ -s "$work/quick-libevent.log.files" ] &&
   { [ "$compare" != full ] || [ -s "$work/full-libevent.log.files" ]; }; then
	reuse=1
fi
if [ "$compare" != none ] && [ -n "$reuse" ]; then
	say "libevent: reusing the results of $(date -u -r "$work/quick-libevent.log.files" '+%Y-%m-%d %H:%M UTC') (INTEROP_FRESH=1 to redo)"
	ldd "$work/mc-libevent/memcached" | grep -o 'libevent[^ ]*' | head -1 | sed 's/^/interop: mc-libevent links /'
	if [ "$compare" = full ]; then
		say "libevent: make test: t/: $(summary "$work/full-libevent.log.files")"
		if cmp -s "$work/full-libevent.log.files" "$work/full-$full_backend.log.files"; then
			say "ok: the same files passed and skipped on $full_backend as on libevent"
		else
			say "not ok: the files' results differ (< libevent, > $full_backend):"
			diff "$work/full-libevent.log.files" "$work/full-$full_backend.log.files" | grep '^[<>]' | sed 's/^/interop:   /'
			fail=1
		fi
	fi
	for b in $backends; do
		[ -f "$work/quick-$b.log.files" ] || continue
		if cmp -s "$work/quick-libevent.log.files" "$work/quick-$b.log.files"; then
			say "ok: $b: the same results as libevent on the short set"
		else
			say "not ok: $b: the short set differs from libevent"
			fail=1
		fi
	done
elif [ "$compare" != none ]; then
	if build mc-libevent; then
		ldd "$work/mc-libevent/memcached" | grep -o 'libevent[^ ]*' | head -1 | sed 's/^/interop: mc-libevent links /'
		if [ "$compare" = full ]; then
			out=$(run_full "$work/mc-libevent" "$work/full-libevent.log")
			say "libevent: make test: $out"
			if cmp -s "$work/full-libevent.log.files" "$work/full-$full_backend.log.files"; then
				say "ok: the same files passed and skipped on $full_backend as on libevent"
			else
				say "not ok: the files' results differ (< libevent, > $full_backend):"
				diff "$work/full-libevent.log.files" "$work/full-$full_backend.log.files" | grep '^[<>]' | sed 's/^/interop:   /'
				fail=1
			fi
		fi
		out=$(run_quick "$work/mc-libevent" "$work/quick-libevent.log")
		say "libevent: testapp + $quick_tests: $out"
		for b in $backends; do
			[ -f "$work/quick-$b.log.files" ] || continue
			if cmp -s "$work/quick-libevent.log.files" "$work/quick-$b.log.files"; then
				say "ok: $b: the same results as libevent on the short set"
			else
				say "not ok: $b: the short set differs from libevent"
				fail=1
			fi
		done
	else
		say "the comparison build on Debian's libevent failed: no comparison"
	fi
fi

say "done in $(elapsed), logs in $work"
[ $fail -eq 0 ] && say "PASS" || say "FAIL"
exit $fail
