#!/usr/bin/env bash
# The README's first command as a user runs it: `sudo scripts/demo`, here piped into tee, then Ctrl-C.
# It must show a working mesh, refuse a second demo instead of cleaning up the first one's lab, and leave
# nothing behind when Ctrl-C ends both the demo and tee (the cleanup's output then goes to a closed pipe).
source "$(dirname "$0")/../lib/testlib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEMO_DIR=/tmp/semaphore-wireguard-demo
LAB_NS_PREFIX=swg-dm-

leftovers() {
  ip netns list | grep -c "^$LAB_NS_PREFIX" || true
}
if [[ -f $DEMO_DIR.pid ]] && kill -0 "$(cat "$DEMO_DIR.pid")" 2>/dev/null; then
  fail "a demo (pid $(cat "$DEMO_DIR.pid")) is already running on this machine; this test runs its own"
  summary
fi

# Job control: the pipeline gets its own process group, as in a terminal, and SIGINT is not ignored in it
# (a non-interactive shell starts background jobs with SIGINT ignored, which no trap could undo).
set -m
"$ROOT/scripts/demo" 2>&1 | tee "$TMP/demo.log" >/dev/null &
PGID=$(ps -o pgid= -p $! | tr -d ' ')  # $! is tee, the pipeline's last process; the group is the pipeline's
set +m
on_exit "kill -KILL -- -$PGID"
on_exit "[[ -f $DEMO_DIR/lab.env ]] && (source $DEMO_DIR/lab.env && source $ROOT/scripts/lab-lib.sh && lab_cleanup)"

check "the demo reaches 'the mesh is up' (build, clusters, nodes: bounded at 10 minutes)" \
  wait_for 600 grep -q '==> the mesh is up' "$TMP/demo.log"
# On failure, what the demo showed of the pings and the devices' peers.
all_answered() {
  grep -Eq '^([0-9]+) of \1 cross-cluster pings answered$' "$TMP/demo.log" && return 0
  grep -E '^demo:|NO ANSWER|answered|^-----|peer:|endpoint:|latest handshake' "$TMP/demo.log"
  return 1
}
check "every cross-cluster ping was answered" all_answered
check "it shows each node's status" bash -c "[ \$(grep -c '^----- c[12]n[12]: semaphore-wireguard status -v' '$TMP/demo.log') -eq 4 ]"
check "and the hints for poking at it" grep -q 'The lab keeps running until you press Ctrl-C' "$TMP/demo.log"
check "the lab's namespaces exist" test "$(leftovers)" -ge 5

echo "--- a second demo is refused, and the first one's lab is untouched"
rc=0
"$ROOT/scripts/demo" --once >"$TMP/second.log" 2>&1 || rc=$?
check "the second demo exits non-zero" test "$rc" -ne 0
check "it names the running demo's pid" grep -Eq "another run \(pid [0-9]+\) is using $DEMO_DIR" "$TMP/second.log"
node_ns=$(source "$DEMO_DIR/lab.env" && echo "swg-$LAB_ID-c1n1")
check "the first demo's node still answers /readyz" \
  bash -c "nsenter --net=/run/netns/$node_ns curl -sf --max-time 10 http://127.0.0.1:7773/readyz >/dev/null"

echo "--- Ctrl-C: SIGINT to the whole pipeline, demo and tee"
kill -INT -- -"$PGID"
check "the demo exits (bounded at 2 minutes)" wait_for 120 bash -c "! kill -0 -- -$PGID 2>/dev/null"
check "no lab namespace is left" test "$(leftovers)" -eq 0
# (The bracket keeps pgrep from matching the shell that runs it.)
check "no daemon of the demo is left" bash -c "! pgrep -f '[s]emaphore-wireguard.*$DEMO_DIR' >/dev/null"
check "no apiserver or etcd of the demo is left" bash -c "! pgrep -f '[/]tmp/semaphore-wireguard-demo/cp' >/dev/null"
check "the demo's directory and pid file are removed" bash -c "[ ! -e $DEMO_DIR ] && [ ! -e $DEMO_DIR.pid ]"
summary
