#!/bin/sh
# demo/icmp-echo and demo/lookup as tests.  TAP on stdout.  POSIX sh.
#
#  - icmp-echo gets every reply from 127.0.0.1 and ::1 (when lo has it) on
#    every backend, over a raw socket: only as root (CAP_NET_RAW), else
#    skipped with the reason.
#  - As root with unshare(1) and setpriv(1), in a network namespace of its
#    own (whose sysctls are its own, the machine's are left alone): the
#    unprivileged datagram socket as user nobody when ping_group_range
#    allows it, the plain "raw sockets need privilege" (exit 1) when it
#    does not, and requests nobody answers (icmp_echo_ignore_all) counted
#    lost, exit 1.
#  - SIGINT ends a run without --count with the summary, exit 0.
#  - lookup resolves localhost, finds echo as port 7/tcp and udp as
#    protocol 17, walks the databases, shows byte orders.
#  - Bad input: one line on stderr, nothing on stdout, exit 2.
top=${top_builddir:-.}
icmp=$top/demo/icmp-echo
lookup=$top/demo/lookup
runner=
command -v timeout >/dev/null 2>&1 && runner="timeout 60"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sigio-icmp.XXXXXX") || exit 1
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM
chmod 755 "$tmp"                # user nobody runs from here too

t=0
failed=0
ok() { t=$((t + 1)); echo "ok $t - $1"; }
not_ok() {
	t=$((t + 1))
	failed=1
	echo "not ok $t - $1"
	for f in "$tmp/out" "$tmp/err"; do
		[ -s "$f" ] && sed 's/^/# /' "$f"
	done
}
skip() { t=$((t + 1)); echo "ok $t - $1 # SKIP $2"; }

# run CMD...: its stdout in $tmp/out, stderr in $tmp/err, status in $rc.
run() {
	$runner "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
}

backends=$("$top/demo/sigio-demo" --list)
addrs=127.0.0.1
# ::1 only where the loopback interface has it (IPv6 may be disabled).
grep -q '^0\{31\}1 .* lo$' /proc/net/if_inet6 2>/dev/null && addrs="$addrs ::1"
root=no
[ "$(id -u)" -eq 0 ] && root=yes

# ---- icmp-echo over a raw socket, every backend -----------------------------------

for b in $backends; do
	for a in $addrs; do
		what="icmp-echo --backend=$b $a: 3 requests, 3 replies, raw socket"
		if [ $root = no ]; then
			skip "$what" "not root: a raw socket needs CAP_NET_RAW"
			continue
		fi
		run "$icmp" --backend=$b --count=3 --interval=10 --timeout=5000 "$a"
		if [ $rc -eq 0 ] && grep -q "raw socket, backend $b\$" "$tmp/out" &&
		   [ "$(grep -c "^64 bytes from $a: icmp_seq=[123] " "$tmp/out")" -eq 3 ] &&
		   grep -q '^3 packets transmitted, 3 received, 0% packet loss$' "$tmp/out"; then
			ok "$what"
		else
			not_ok "$what (exit $rc)"
		fi
	done
done

# ---- as this user, when not root -----------------------------------------------------

what="icmp-echo 127.0.0.1 as uid $(id -u): the datagram socket, or says raw sockets need privilege"
if [ $root = yes ]; then
	skip "$what" "root: see the tests as nobody below"
else
	run "$icmp" --count=2 --interval=10 --timeout=5000 127.0.0.1
	if [ $rc -eq 0 ] && grep -q 'datagram socket, backend' "$tmp/out" &&
	   grep -q '^2 packets transmitted, 2 received, 0% packet loss$' "$tmp/out"; then
		ok "$what: the datagram socket"
	elif [ $rc -eq 1 ] && [ ! -s "$tmp/out" ] &&
	     grep -q '^icmp-echo: raw sockets need privilege' "$tmp/err"; then
		ok "$what: no privilege, said so"
	else
		not_ok "$what (exit $rc)"
	fi
fi

# ---- in a network namespace of our own: no privilege, timeouts --------------------

netns=no
if [ $root = yes ] && command -v unshare >/dev/null 2>&1 &&
   command -v setpriv >/dev/null 2>&1 &&
   unshare -n sh -c '{ ip link set lo up || ifconfig lo up; } &&
                     echo 1 0 >/proc/sys/net/ipv4/ping_group_range' >/dev/null 2>&1; then
	netns=yes
fi
why_no_netns="needs root, unshare(1), setpriv(1), ip(8) and a network namespace"
# in_netns SCRIPT ARGS...: SCRIPT runs in a fresh network namespace, lo up,
# with $0 the shell and ARGS as $1...
in_netns() {
	s=$1
	shift
	run unshare -n sh -c "{ ip link set lo up || ifconfig lo up; } 2>/dev/null; $s" sh "$@"
}
as_nobody='setpriv --reuid=65534 --regid=65534 --clear-groups'

for b in $backends; do
	for a in $addrs; do
		what="icmp-echo --backend=$b $a as nobody: the unprivileged datagram socket"
		if [ $netns = no ]; then
			skip "$what" "$why_no_netns"
			continue
		fi
		in_netns "echo 0 2147483647 >/proc/sys/net/ipv4/ping_group_range && $as_nobody \"\$@\"" \
			"$icmp" --backend=$b --count=3 --interval=10 --timeout=5000 "$a"
		if [ $rc -eq 0 ] && grep -q "datagram socket, backend $b\$" "$tmp/out" &&
		   grep -q '^3 packets transmitted, 3 received, 0% packet loss$' "$tmp/out"; then
			ok "$what"
		else
			not_ok "$what (exit $rc)"
		fi
	done
done

what="icmp-echo as nobody, no ICMP socket allowed: says raw sockets need privilege, exit 1"
if [ $netns = no ]; then
	skip "$what" "$why_no_netns"
else
	in_netns "echo 1 0 >/proc/sys/net/ipv4/ping_group_range && $as_nobody \"\$@\"" \
		"$icmp" --count=1 127.0.0.1
	if [ $rc -eq 1 ] && [ ! -s "$tmp/out" ] && [ "$(grep -c . "$tmp/err")" -eq 1 ] &&
	   grep -q '^icmp-echo: raw sockets need privilege' "$tmp/err"; then
		ok "$what"
	else
		not_ok "$what (exit $rc)"
	fi
fi

for a in $addrs; do
	what="icmp-echo $a, nobody answers: both requests lost after --timeout, exit 1"
	if [ $netns = no ]; then
		skip "$what" "$why_no_netns"
		continue
	fi
	if [ $a = ::1 ] && [ ! -f /proc/sys/net/ipv6/icmp/echo_ignore_all ]; then
		skip "$what" "this kernel has no net.ipv6.icmp.echo_ignore_all"
		continue
	fi
	in_netns "echo 1 >/proc/sys/net/ipv4/icmp_echo_ignore_all &&
	          { [ ! -f /proc/sys/net/ipv6/icmp/echo_ignore_all ] ||
	            echo 1 >/proc/sys/net/ipv6/icmp/echo_ignore_all; } && \"\$@\"" \
		"$icmp" --count=2 --interval=10 --timeout=200 "$a"
	if [ $rc -eq 1 ] &&
	   grep -q '^2 packets transmitted, 0 received, 100% packet loss$' "$tmp/out"; then
		ok "$what"
	else
		not_ok "$what (exit $rc)"
	fi
done

# ---- SIGINT -------------------------------------------------------------------------

what="icmp-echo without --count: SIGINT after the first reply prints the summary, exit 0"
if [ $root = no ]; then
	skip "$what" "not root: a raw socket needs CAP_NET_RAW"
else
	# Its output comes through a FIFO: the test reads the first reply
	# line as it is written, rather than sleeping until it may be there.
	mkfifo "$tmp/fifo"
	# --count bounds the run should SIGINT be lost (30 s, then "3000
	# transmitted" fails the test instead of hanging it).
	"$icmp" --count=3000 --interval=10 127.0.0.1 >"$tmp/fifo" 2>"$tmp/err" &
	pid=$!
	exec 3<"$tmp/fifo"
	read -r header <&3
	read -r first <&3
	kill -INT "$pid"
	cat <&3 >"$tmp/out"
	exec 3<&-
	wait "$pid"
	rc=$?
	pid=
	if [ $rc -eq 0 ] && expr "$first" : '64 bytes from 127.0.0.1: icmp_seq=1 ' >/dev/null &&
	   grep -q '^--- 127.0.0.1 icmp-echo statistics ---$' "$tmp/out" &&
	   grep -q '^rtt min/avg/max = ' "$tmp/out" &&
	   ! grep -q '^3000 packets transmitted' "$tmp/out"; then
		ok "$what"
	else
		echo "# header: $header" >>"$tmp/err"
		echo "# first: $first" >>"$tmp/err"
		not_ok "$what (exit $rc)"
	fi
fi

# ---- lookup --------------------------------------------------------------------------

what="lookup localhost echo: an address of localhost, echo as port 7/tcp"
run "$lookup" localhost echo
if [ $rc -eq 0 ] && grep -Eq '^inet6? +stream tcp +(127\.0\.0\.1|::1) port 7$' "$tmp/out" &&
   grep -q '^service echo/tcp: echo, port 7/tcp' "$tmp/out" &&
   grep -q 'getnameinfo: host .*, service echo$' "$tmp/out"; then
	ok "$what"
else
	not_ok "$what (exit $rc)"
fi

what="lookup 127.0.0.1 7: getservbyport finds echo"
run "$lookup" 127.0.0.1 7
if [ $rc -eq 0 ] && grep -q '^service 7/tcp: echo, port 7/tcp' "$tmp/out"; then
	ok "$what"
else
	not_ok "$what (exit $rc)"
fi

what="lookup --services lists echo 7/tcp"
run "$lookup" --services
if [ $rc -eq 0 ] && grep -Eq '^echo +7/tcp' "$tmp/out"; then
	ok "$what"
else
	not_ok "$what (exit $rc)"
fi

what="lookup --protocols lists udp as protocol 17"
if [ ! -s /etc/protocols ]; then
	skip "$what" "no /etc/protocols on this machine (install netbase)"
else
	run "$lookup" --protocols
	if [ $rc -eq 0 ] && grep -Eq '^udp +17( |$)' "$tmp/out"; then
		ok "$what"
	else
		not_ok "$what (exit $rc)"
	fi
fi

what="lookup --verbose 127.0.0.1 7: byte orders and the inet_pton round trip"
run "$lookup" --verbose 127.0.0.1 7
if [ $rc -eq 0 ] && grep -q 'address bytes, network order: 7f 00 00 01$' "$tmp/out" &&
   grep -q 'ntohl 0x7f000001' "$tmp/out" && grep -q 'port bytes, network order: 00 07$' "$tmp/out" &&
   grep -q 'ntohs 7,' "$tmp/out" && grep -q 'inet_pton("127.0.0.1"): the same 4 bytes$' "$tmp/out"; then
	ok "$what"
else
	not_ok "$what (exit $rc)"
fi

what="lookup --hosts lists localhost"
run "$lookup" --hosts
if [ $rc -eq 0 ] && grep -Eq '^[0-9a-f.:]+ +(.* )?localhost( |$)' "$tmp/out"; then
	ok "$what"
else
	not_ok "$what (exit $rc)"
fi

what="lookup --networks walks the networks database (which may be empty)"
run "$lookup" --networks
n=$(grep -c '^[a-zA-Z0-9]' /etc/networks 2>/dev/null) || n=0
if [ $rc -eq 0 ] && [ ! -s "$tmp/err" ] && [ "$(grep -c . "$tmp/out")" -eq "$n" ]; then
	ok "$what: $n networks"
else
	not_ok "$what (exit $rc, expected $n lines)"
fi

what="lookup --networks loopback: getnetbyname gives 127.0.0.0"
if ! grep -q '^loopback[[:space:]]' /etc/networks 2>/dev/null; then
	skip "$what" "/etc/networks has no loopback here"
else
	run "$lookup" --networks loopback
	if [ $rc -eq 0 ] && grep -Eq '^loopback +127\.0\.0\.0' "$tmp/out"; then
		ok "$what"
	else
		not_ok "$what (exit $rc)"
	fi
fi

# ---- bad input: one line on stderr, nothing on stdout, exit 2 ----------------------------

# A name with an empty label: refused by the resolver itself, with no
# name server asked.
badhost=no..such.host.invalid
bad() {     # bad DESCRIPTION PATTERN CMD...
	d=$1
	p=$2
	shift 2
	run "$@"
	if [ $rc -eq 2 ] && [ ! -s "$tmp/out" ] && [ "$(grep -c . "$tmp/err")" -eq 1 ] &&
	   grep -q "$p" "$tmp/err"; then
		ok "$d: exit 2, one line"
	else
		not_ok "$d (exit $rc)"
	fi
}
bad "icmp-echo $badhost" "^icmp-echo: $badhost: ." "$icmp" --count=1 "$badhost"
bad "lookup $badhost" "^lookup: $badhost: ." "$lookup" "$badhost"
bad "lookup localhost nosuchservice" "^lookup: localhost nosuchservice: ." \
	"$lookup" localhost nosuchservice
bad "lookup --networks nosuchnet" "not in the networks database" "$lookup" --networks nosuchnet
for o in --count=0 --count=x --count=-1 --interval=0 --interval=1e3 --timeout=0 \
         --timeout=60001 --size=65508 --size=; do
	bad "icmp-echo $o" "^icmp-echo: $o: wants a number" "$icmp" "$o" 127.0.0.1
done
bad "icmp-echo with no host" "^icmp-echo: which host" "$icmp" --count=1
bad "icmp-echo with two hosts" "one host at a time" "$icmp" 127.0.0.1 ::1
bad "icmp-echo --bogus" "unknown option" "$icmp" --bogus 127.0.0.1
bad "icmp-echo --backend=nosuch" "unknown backend" "$icmp" --backend=nosuch 127.0.0.1
bad "lookup with no host" "^lookup: which host" "$lookup"
bad "lookup --hosts --services" "one database at a time" "$lookup" --hosts --services
bad "lookup --protocols tcp" "takes no argument" "$lookup" --protocols tcp

echo "1..$t"
exit $failed
