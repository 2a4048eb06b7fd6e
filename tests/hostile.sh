#!/bin/sh
# Hostile peers: tests/hostile-peer attacks demo/echo-server on every
# backend this build has, one fresh server per case, and after each case
# checks that the server is alive and still echoes exactly (a fresh
# connection, 64 KiB, half-close, EOF), then that it stops cleanly.
#   reset    connections reset (RST) while the server holds data for them;
#            its fd count must come back to what it was
#   noread   clients that send without reading: the server's peak RSS
#            (VmHWM) must stay under 64 MiB; then every byte is read back
#   idle     500 idle connections while one client times 64-byte echoes
#            (p50/p99 reported, nothing asserted about them)
#   fdflood  the server under `prlimit --nofile=256:256`, thousands of
#            connections at once: existing clients keep being served, new
#            ones after, and its CPU time while at the limit stays under
#            a quarter of the wall time (it does not spin; healthy: 1-2 %)
#   oob      garbage with urgent (MSG_OOB) bytes: in-band bytes exact; and
#            1,000 urgent bytes one by one at a server whose stderr is a
#            pipe nobody reads (each urgent byte was logged, unthrottled:
#            after about 700 the server blocked in write(2) for good)
#   udp      0 and 65,507-byte datagrams exact; a flood, then exact echoes
# reset, noread and idle run over a Unix stream socket too.
# HOSTILE_FULL=1 (make stress): bigger floods.  Short: about 20 s.
b=${top_builddir:-.}
n=0
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if [ -n "$HOSTILE_FULL" ]; then
	reset="--conns=100" noread="--conns=100 --bytes=1073741824"
	idle="--conns=500 --count=10000" flood="--conns=5000 --hold-ms=2000"
	oob="--count=2000 --waited=5000" udp="--count=100000"
else
	reset="--conns=20" noread="--conns=20 --bytes=268435456"
	idle="--conns=500 --count=2000" flood="--conns=2000 --hold-ms=1000"
	oob="--count=200 --waited=500" udp="--count=20000"
fi
low_fds=
if command -v prlimit >/dev/null 2>&1; then
	low_fds="prlimit --nofile=256:256"
fi

ok() { n=$((n + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); echo "not ok $n - $*"; }

# start_server BACKEND [PREFIX...]: sets pid, port, uport; returns 1 if it
# did not start, 2 if the backend is not in this build.
start_server() {
	be=$1
	shift
	# No file of the last server may be read as this one's: the
	# redirections below happen in the child, after this returns.
	rm -f "$dir/sock" "$dir/srv.out" "$dir/srv.err"
	"$@" "$b/demo/echo-server" --backend="$be" --tcp=127.0.0.1:0 --udp=127.0.0.1:0 \
	    --unix="$dir/sock" > "$dir/srv.out" 2> "$dir/srv.err" &
	pid=$!
	port=
	i=0
	while [ -z "$port" ] && [ $i -lt 200 ] && kill -0 $pid 2>/dev/null; do
		grep -q '^listening unix' "$dir/srv.out" 2>/dev/null &&
		    port=$(sed -n 's/^listening tcp 127\.0\.0\.1://p' "$dir/srv.out")
		[ -n "$port" ] || sleep 0.05
		i=$((i + 1))
	done
	uport=$(sed -n 's/^listening udp 127\.0\.0\.1://p' "$dir/srv.out")
	[ -n "$port" ] && [ -n "$uport" ] && return 0
	if kill -0 $pid 2>/dev/null; then       # alive but silent: say where
		echo "# echo-server $pid has not bound in 10 s: state" \
		    "$(grep State /proc/$pid/status 2>/dev/null), wchan $(cat /proc/$pid/wchan 2>/dev/null)," \
		    "stdout '$(cat "$dir/srv.out" 2>/dev/null)'"
	fi
	kill $pid 2>/dev/null
	wait $pid
	grep -q 'not implemented\|unknown backend' "$dir/srv.err" && return 2
	return 1
}

# attack BACKEND CASE TRANSPORT ARGS...: one case on a fresh server.
attack() {
	be=$1 what=$2 via=$3
	shift 3
	if [ "$what" = fdflood ]; then
		start_server $be $low_fds
	else
		start_server $be
	fi
	case $? in
	2) ok "$be $what $via # SKIP backend not in this build"; return ;;
	1) notok "$be $what $via: echo-server did not start: $(cat "$dir/srv.err")"; return ;;
	esac
	if [ $via = unix ]; then
		target="--unix=$dir/sock"
	else
		target="--port=$port --udp-port=$uport"
	fi
	line=$("$b/tests/hostile-peer" $what $target --pid=$pid "$@" 2> "$dir/peer.err")
	rc=$?
	alive=1
	kill -0 $pid 2>/dev/null || alive=0
	kill -TERM $pid 2>/dev/null
	wait $pid
	src=$?
	echo "# $be $via: $line"
	sed 's/^/# /' "$dir/peer.err"
	grep -v 'urgent byte' "$dir/srv.err" | sed 's/^/# /'
	if [ $rc -eq 0 ] && [ $alive = 1 ] && [ $src -eq 0 ]; then
		ok "$be $what $via: survived, still echoes exactly, stopped cleanly"
	else
		notok "$be $what $via: hostile-peer exit $rc, server alive=$alive, server exit $src"
	fi
}

# oob_stuck_stderr BACKEND: the server's stderr is a FIFO that the shell
# holds open (fd 3, so that the server can open it to write) and does not
# read until the end; no child inherits fd 3, or the reader would never
# see the end of the FIFO.
oob_stuck_stderr() {
	be=$1
	rm -f "$dir/sock" "$dir/srv.out" "$dir/fifo"
	mkfifo "$dir/fifo" || { notok "$be oob, stderr unread: mkfifo"; return; }
	exec 3<> "$dir/fifo"
	"$b/demo/echo-server" --backend="$be" --tcp=127.0.0.1:0 > "$dir/srv.out" \
	    2> "$dir/fifo" 3>&- &
	pid=$!
	port=
	i=0
	while [ -z "$port" ] && [ $i -lt 200 ] && kill -0 $pid 2>/dev/null; do
		port=$(sed -n 's/^listening tcp 127\.0\.0\.1://p' "$dir/srv.out" 2>/dev/null)
		[ -n "$port" ] || sleep 0.05
		i=$((i + 1))
	done
	rc=1
	[ -n "$port" ] &&
	    line=$("$b/tests/hostile-peer" oob --port=$port --pid=$pid --waited=1000 \
	        2> "$dir/peer.err" 3>&-) &&
	    rc=0
	# Now read it all, and let the server stop.  The read end is opened
	# here, while fd 3 keeps a writer (no blocking open, no race with
	# the server's exit); the reader then holds the only read end.
	exec 4< "$dir/fifo"
	cat <&4 > "$dir/srv.err" 3>&- &
	reader=$!
	exec 3>&- 4<&-
	kill -TERM $pid 2>/dev/null
	wait $pid
	src=$?
	wait $reader
	if [ -z "$port" ] && grep -q 'not implemented\|unknown backend' "$dir/srv.err"; then
		ok "$be oob, stderr unread # SKIP backend not in this build"
		return
	fi
	echo "# $be: $line"
	sed 's/^/# /' "$dir/peer.err"
	echo "# $be: the server logged $(grep -c 'urgent byte' "$dir/srv.err") urgent lines"
	grep -v 'urgent byte' "$dir/srv.err" | sed 's/^/# /'
	if [ $rc -eq 0 ] && [ $src -eq 0 ]; then
		ok "$be oob, stderr a pipe nobody reads: 1,000 urgent bytes, still serving"
	else
		notok "$be oob, stderr a pipe nobody reads: hostile-peer exit $rc, server exit $src"
	fi
}

for be in rtsig sigio poll select; do
	attack $be reset tcp $reset
	attack $be noread tcp $noread --max-rss-kb=65536
	attack $be idle tcp $idle
	if [ -n "$low_fds" ]; then
		attack $be fdflood tcp $flood
	else
		ok "$be fdflood # SKIP no prlimit(1) to start the server with 256 fds"
	fi
	attack $be oob tcp $oob
	oob_stuck_stderr $be
	attack $be udp tcp $udp
	attack $be reset unix $reset
	attack $be noread unix $noread --max-rss-kb=65536
	attack $be idle unix $idle
done
echo "1..$n"
