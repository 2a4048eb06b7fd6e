#!/bin/sh
# Every public function of include/sigio.h has a man page: man/man3/NAME.3
# exists, and the page it leads to (itself, or the family page named by its
# ".so man3/FAMILY.3" line) lists NAME in its NAME section; and sigio(7)
# exists.  TAP on stdout.  Run from anywhere, with $top_srcdir naming the
# source tree (default: .).  POSIX sh.
srcdir=${top_srcdir:-.}
header=$srcdir/include/sigio.h
man3=$srcdir/man/man3

# The public functions: at the start of a line outside comments, an
# identifier sio_... right before the line's first "(" (so that a
# prototype's return type may share its line, a multi-line prototype is
# found by its first line, and a return type on a line of its own does not
# matter); typedefs and preprocessor lines are not functions.
functions=$(awk '
	{
		line = $0
		out = ""
		# Drop comments, including those spanning lines.
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
		if (out !~ /^[a-z]/ || out ~ /^typedef[ \t]/)
			next
		paren = index(out, "(")
		if (paren == 0)
			next
		before = substr(out, 1, paren - 1)
		if (match(before, /[A-Za-z0-9_]+$/)) {
			name = substr(before, RSTART, RLENGTH)
			if (name ~ /^sio_[a-z0-9_]+$/ && !(name in seen)) {
				seen[name] = 1
				print name
			}
		}
	}' "$header" 2>/dev/null)

count=$(printf '%s\n' "$functions" | grep -c .)

# The names listed in a page's NAME section: the words before "\-".
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

echo "1..$((count + 2))"
failed=0
t=1
if [ "$count" -gt 0 ]; then
	echo "ok $t - $header declares $count public functions"
else
	echo "not ok $t - no public function found in $header"
	failed=1
fi

for name in $functions; do
	t=$((t + 1))
	page=$man3/$name.3
	if [ ! -f "$page" ]; then
		echo "not ok $t - $name: no $page"
		failed=1
		continue
	fi
	target=$page
	so=$(sed -n 's/^\.so[ \t][ \t]*//p' "$page" | sed -n 1p)
	if [ -n "$so" ]; then
		target=$srcdir/man/$so
		if [ ! -f "$target" ]; then
			echo "not ok $t - $name: $page leads to $so, which does not exist"
			failed=1
			continue
		fi
	fi
	if page_names "$target" | grep -qx "$name"; then
		echo "ok $t - $name: ${target#"$srcdir"/}"
	else
		echo "not ok $t - $name: not in the NAME section of $target"
		failed=1
	fi
done

t=$((t + 1))
if [ -f "$srcdir/man/man7/sigio.7" ]; then
	echo "ok $t - man/man7/sigio.7 exists"
else
	echo "not ok $t - no $srcdir/man/man7/sigio.7"
	failed=1
fi
exit $failed
