#!/bin/sh
# The man pages, checked against the header and the library.  TAP on
# stdout.  Run from anywhere, with $top_srcdir naming the source tree and
# $top_builddir the build tree (default: both .), as make check does.
# POSIX sh.
#
#  1. Every public function of include/sigio.h has man/man3/NAME.3; the page
#     it leads to (itself, or the family page named by its ".so man3/X.3"
#     line) lists NAME in its NAME section and declares it in its SYNOPSIS
#     exactly as the header does (whitespace aside).  So do the callback
#     typedefs, on the page that declares them.
#  2. man/man7/sigio.7 exists; every page under man/ is listed, in order,
#     in dist_man_MANS of Makefile.am (so that it is installed and
#     distributed).
#  3. Every page renders without a warning (groff -ww, .so followed).
#  4. Every C example (an .EX block of an EXAMPLES section that includes
#     <sigio.h>) compiles with $CC -Wall -O2 without a diagnostic, against
#     $top_srcdir/include and the library built in $top_builddir/lib/.libs,
#     and runs to exit status 0 with standard input from /dev/null, on
#     every backend the build has (SIGIO_BACKEND), or once on the backend
#     it names.
srcdir=${top_srcdir:-.}
builddir=${top_builddir:-.}
CC=${CC:-cc}
# The build's own link flags (--enable-sanitizers puts -fsanitize there).
CC="$CC ${SIO_LINK_FLAGS:-}"
header=$srcdir/include/sigio.h
mandir=$srcdir/man
man3=$mandir/man3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigio-man.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

t=0
failed=0
ok() { t=$((t + 1)); echo "ok $t - $1"; }
not_ok() {
	t=$((t + 1))
	failed=1
	echo "not ok $t - $1"
	if [ -n "${2:-}" ] && [ -s "$2" ]; then sed 's/^/# /' "$2"; fi
}
skip() { t=$((t + 1)); echo "ok $t - $1 # SKIP $2"; }

# ---- declarations ------------------------------------------------------------

# The header's declarations, comments and preprocessor lines removed, one
# per line as "NAME<TAB>TEXT": TEXT is the declaration up to its ";" with
# its whitespace normalised (see norm below), NAME the function's or the
# callback typedef's.
norm='
	function norm(s) {
		gsub(/[ \t\n]+/, " ", s)
		gsub(/ ?\( ?/, "(", s); gsub(/ ?\) ?/, ")", s)
		gsub(/ ?, ?/, ",", s); gsub(/ ?\* ?/, "*", s)
		sub(/^ /, "", s); sub(/ $/, "", s)
		return s
	}
	# One declaration: a function, or a typedef of a function pointer.
	function emit(s,    name) {
		s = norm(s)
		if (match(s, /\(\*sio_[a-z0-9_]+\)/))
			name = substr(s, RSTART + 2, RLENGTH - 3)
		else if (s !~ /^typedef/ && match(s, /sio_[a-z0-9_]+\(/))
			name = substr(s, RSTART, RLENGTH - 1)
		else
			return
		print name "\t" s
	}'
awk "$norm"'
	{
		line = $0
		out = ""
		while (line != "") {
			if (incomment) {
				end = index(line, "*/")
				if (end == 0) { line = ""; break }
				line = substr(line, end + 2)
				incomment = 0
			} else {
				start = index(line, "/*")
				if (start == 0) { out = out line; line = ""; break }
				out = out substr(line, 1, start - 1)
				line = substr(line, start + 2)
				incomment = 1
			}
		}
		# Preprocessor lines, with their continuations.
		if (incpp || out ~ /^[ \t]*#/) {
			incpp = (out ~ /\\[ \t]*$/)
			next
		}
		stmt = stmt " " out
		# Braces end what came before them (enums, structs, extern "C").
		while (match(stmt, /[;{}]/)) {
			k = RSTART      # emit() calls match() too
			if (substr(stmt, k, 1) == ";")
				emit(substr(stmt, 1, k - 1))
			stmt = substr(stmt, k + 1)
		}
	}' "$header" >"$tmp/header.decls" 2>/dev/null

# The declarations of a page's SYNOPSIS, in the same form.  The text of a
# .B or .I line is its arguments joined by spaces, of .BI, .BR, .IR, .RB
# and the like its arguments joined without (alternating fonts).
synopsis_decls() {
	awk "$norm"'
		function unquote_args(s, joiner,    r, i, c, inq, n, w) {
			r = ""; w = ""; n = 0; inq = 0
			for (i = 1; i <= length(s); i++) {
				c = substr(s, i, 1)
				if (c == "\"") { inq = !inq; continue }
				if (!inq && (c == " " || c == "\t")) {
					if (w != "") { r = r (n++ ? joiner : "") w; w = "" }
					continue
				}
				w = w c
			}
			if (w != "") r = r (n++ ? joiner : "") w
			return r
		}
		/^\.SH[ \t]/ { on = ($0 ~ /^\.SH[ \t]+"?SYNOPSIS"?[ \t]*$/); next }
		!on { next }
		{
			line = $0
			if (line ~ /^\.(B|I)[ \t]/)
				text = unquote_args(substr(line, 3), " ")
			else if (line ~ /^\.(BI|BR|IB|IR|RB|RI)[ \t]/)
				text = unquote_args(substr(line, 4), "")
			else if (line ~ /^\./)
				text = ";"      # another request ends a declaration
			else
				text = line
			gsub(/\\-/, "-", text)
			gsub(/\\&/, "", text)
			if (text ~ /^#/) text = ";"
			stmt = stmt " " text
			while ((k = index(stmt, ";")) > 0) {
				emit(substr(stmt, 1, k - 1))
				stmt = substr(stmt, k + 1)
			}
		}' "$1"
}

# The names a page lists in its NAME section: the words before "\-".
page_names() {
	awk '
		/^\.SH[ \t]/ {
			if (on) exit
			if ($0 ~ /^\.SH[ \t]+"?NAME"?[ \t]*$/) { on = 1; next }
		}
		on {
			text = $0
			dash = index(text, "\\-")
			if (dash > 0)
				text = substr(text, 1, dash - 1)
			gsub(/\\&/, "", text)
			gsub(/,/, " ", text)
			n = split(text, w, /[ \t]+/)
			for (i = 1; i <= n; i++)
				if (w[i] != "")
					print w[i]
			if (dash > 0)
				exit
		}' "$1"
}

# The page a man3 page leads to: its .so target, or itself.
page_target() {
	so=$(sed -n 's/^\.so[ \t][ \t]*//p' "$1" | sed -n 1p)
	if [ -n "$so" ]; then echo "$mandir/$so"; else echo "$1"; fi
}

count=$(grep -c . "$tmp/header.decls")
functions=$(awk -F '\t' '$2 !~ /^typedef/ { print $1 }' "$tmp/header.decls")
nfunctions=$(printf '%s\n' "$functions" | grep -c .)
if [ "$nfunctions" -gt 0 ]; then
	ok "$header declares $nfunctions public functions ($count declarations)"
else
	not_ok "no public function found in $header"
fi

for name in $functions; do
	page=$man3/$name.3
	if [ ! -f "$page" ]; then
		not_ok "$name: no $page"
		continue
	fi
	target=$(page_target "$page")
	rel=${target#"$srcdir"/}
	if [ ! -f "$target" ]; then
		not_ok "$name: $page leads to $rel, which does not exist"
		continue
	fi
	if ! page_names "$target" | grep -qx "$name"; then
		not_ok "$name: not in the NAME section of $rel"
		continue
	fi
	want=$(awk -F '\t' -v n="$name" '$1 == n { print $2; exit }' "$tmp/header.decls")
	synopsis_decls "$target" >"$tmp/page.decls"
	have=$(awk -F '\t' -v n="$name" '$1 == n { print $2; exit }' "$tmp/page.decls")
	if [ "$have" = "$want" ]; then
		ok "$name: $rel"
	else
		printf 'sigio.h:  %s\npage:     %s\n' "$want" "${have:-(not in the SYNOPSIS)}" >"$tmp/out"
		not_ok "$name: the SYNOPSIS of $rel differs from sigio.h" "$tmp/out"
	fi
done

# Callback typedefs: declared, as in the header, on some page.
for page in "$man3"/*.3; do
	[ -n "$(sed -n '/^\.so[ \t]/p' "$page")" ] || synopsis_decls "$page"
done >"$tmp/all.decls"
for name in $(awk -F '\t' '$2 ~ /^typedef/ { print $1 }' "$tmp/header.decls"); do
	want=$(awk -F '\t' -v n="$name" '$1 == n { print $2; exit }' "$tmp/header.decls")
	have=$(awk -F '\t' -v n="$name" '$1 == n { print $2; exit }' "$tmp/all.decls")
	if [ "$have" = "$want" ]; then
		ok "typedef $name is in a SYNOPSIS as in sigio.h"
	else
		printf 'sigio.h:  %s\npages:    %s\n' "$want" "${have:-(in no SYNOPSIS)}" >"$tmp/out"
		not_ok "typedef $name: no SYNOPSIS declares it as sigio.h does" "$tmp/out"
	fi
done

# ---- the set of pages ------------------------------------------------------------

if [ -f "$mandir/man7/sigio.7" ]; then
	ok "man/man7/sigio.7 exists"
else
	not_ok "no $mandir/man7/sigio.7"
fi

(cd "$srcdir" && ls man/man1/*.1 man/man3/*.3 man/man7/*.7) | LC_ALL=C sort >"$tmp/pages"
awk '
	/^dist_man_MANS[ \t]*=/ { on = 1; sub(/^[^=]*=/, "") }
	on {
		more = sub(/\\[ \t]*$/, "")
		n = split($0, w, /[ \t]+/)
		for (i = 1; i <= n; i++)
			if (w[i] != "")
				print w[i]
		if (!more)
			on = 0
	}' "$srcdir/Makefile.am" >"$tmp/listed"
if LC_ALL=C sort -c "$tmp/listed" 2>/dev/null; then
	if cmp -s "$tmp/pages" "$tmp/listed"; then
		ok "dist_man_MANS lists the $(grep -c . "$tmp/pages") pages of man/, sorted"
	else
		diff "$tmp/listed" "$tmp/pages" >"$tmp/out"
		not_ok "dist_man_MANS (<) and the pages of man/ (>) differ" "$tmp/out"
	fi
else
	LC_ALL=C sort -c "$tmp/listed" >"$tmp/out" 2>&1
	not_ok "dist_man_MANS is not sorted" "$tmp/out"
fi

# ---- rendering -----------------------------------------------------------------------

if command -v groff >/dev/null 2>&1; then
	while read -r page; do
		# -s follows .so requests, found relative to -I (as man(1) does
		# from the top of a manual tree).
		if groff -ww -man -z -s -I "$mandir" "$srcdir/$page" >"$tmp/out" 2>&1 &&
		   [ ! -s "$tmp/out" ]; then
			ok "$page renders without a warning"
		else
			not_ok "$page: groff -ww -man warns" "$tmp/out"
		fi
	done <"$tmp/pages"
else
	skip "rendering" "groff not found"
fi

# ---- the examples -------------------------------------------------------------------

# Write each C example of page $1 to $tmp/ex/PAGE-N.c and print the file
# names.  Inside .EX the text is roff: \e is a backslash, \- a minus, \&
# nothing, \(aq a quote, and so on.
extract_examples() {
	awk -v out="$tmp/ex/$(basename "$1")" '
		function unescape(s,    r, i, c, d, name) {
			r = ""
			for (i = 1; i <= length(s); i++) {
				c = substr(s, i, 1)
				if (c != "\\") { r = r c; continue }
				d = substr(s, ++i, 1)
				if (d == "e" || d == "\\") r = r "\\"
				else if (d == "-") r = r "-"
				else if (d == "&") r = r
				else if (d == "(") {
					name = substr(s, i + 1, 2)
					i += 2
					if (name == "aq") r = r "\047"
					else if (name == "dq") r = r "\""
					else if (name == "rs") r = r "\\"
					else if (name == "ga") r = r "`"
					else if (name == "ti") r = r "~"
					else if (name == "ha") r = r "^"
					else r = r "\\(" name
				} else r = r "\\" d
			}
			return r
		}
		/^\.SH[ \t]/ { inex = ($0 ~ /^\.SH[ \t]+"?EXAMPLES?"?[ \t]*$/); next }
		inex && /^\.EX/ { n++; on = 1; buf = ""; next }
		on && /^\.EE/ {
			on = 0
			if (buf ~ /#include <sigio\.h>/) {
				file = out "-" n ".c"
				printf "%s", buf > file
				close(file)
				print file
			}
			next
		}
		on { buf = buf unescape($0) "\n" }' "$1"
}

libdir=$(cd "$builddir/lib/.libs" 2>/dev/null && pwd)
mkdir "$tmp/ex"
cat >"$tmp/ex/backends.c" <<'EOF'
#include <stdio.h>
#include <sigio.h>

int
main(void)
{
    const char *names[16];
    size_t n = sio_backends(names, 16);

    for (size_t i = 0; i < n && i < 16; i++)
        puts(names[i]);
    return 0;
}
EOF
build() {   # build SOURCE PROGRAM: diagnostics in $tmp/out
	$CC -Wall -O2 -I"$srcdir/include" -o "$2" "$1" -L"$libdir" -lsigio -lpthread \
		-Wl,-rpath,"$libdir" >"$tmp/out" 2>&1 && [ ! -s "$tmp/out" ]
}
backends=
if [ -z "$libdir" ]; then
	skip "the examples" "no library built in $builddir/lib/.libs"
elif ! build "$tmp/ex/backends.c" "$tmp/ex/backends" ||
     ! backends=$("$tmp/ex/backends"); then
	not_ok "a program that lists the backends builds and runs against $libdir" "$tmp/out"
	backends=
fi
LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export LD_LIBRARY_PATH
runner=
command -v timeout >/dev/null 2>&1 && runner="timeout 60"

for page in $(grep -l '^\.EX' "$man3"/*.3 2>/dev/null); do
	[ -n "$backends" ] || break
	for src in $(extract_examples "$page"); do
		ex=$(basename "$src" .c)
		prog=$tmp/ex/$ex
		if build "$src" "$prog"; then
			ok "$ex: the example compiles with -Wall -O2, without a diagnostic"
		else
			not_ok "$ex: the example does not compile cleanly" "$tmp/out"
			continue
		fi
		# An example that names its backend runs once, if the build has it.
		named=$(sed -n 's/.*sio_loop_new("\([a-z]*\)").*/\1/p' "$src" | sed -n 1p)
		if [ -n "$named" ]; then
			if ! printf '%s\n' $backends | grep -qx "$named"; then
				skip "$ex: runs on $named" "this build has no $named backend"
				continue
			fi
			list=$named
		else
			list=$backends
		fi
		for b in $list; do
			if (cd "$tmp/ex" && SIGIO_BACKEND=$b $runner "$prog" </dev/null >"$tmp/out" 2>&1); then
				ok "$ex: runs on $b"
			else
				echo "(exit status $?)" >>"$tmp/out"
				not_ok "$ex: fails on $b" "$tmp/out"
			fi
		done
	done
done

echo "1..$t"
exit $failed
