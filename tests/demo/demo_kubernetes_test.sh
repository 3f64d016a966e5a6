#!/usr/bin/env bash
# The README's `sudo scripts/demo --kubernetes`, with --once (the summary, then exit; 0 when every ping was
# answered): two clusters of two real kubelet nodes, the image built from deploy/Dockerfile, the DaemonSet of
# deploy/ applied as the README says, pods on each node's CNI bridge pinging across the clusters. Asserts what a
# user reads in its output, and that it leaves nothing behind.
source "$(dirname "$0")/../lib/testlib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEMO_DIR=/tmp/semaphore-wireguard-demo-kubernetes
LAB_NS_PREFIX=swg-kd-

leftovers() { ip netns list | grep -c "^$LAB_NS_PREFIX" || true; }
if [[ -f $DEMO_DIR.pid ]] && kill -0 "$(cat "$DEMO_DIR.pid")" 2>/dev/null; then
  fail "a Kubernetes demo (pid $(cat "$DEMO_DIR.pid")) is already running on this machine; this test runs its own"
  summary
fi
# If the demo is killed by CTest's timeout, its own trap cleans up; this is for a demo killed harder.
on_exit "[[ -f $DEMO_DIR/lab.env ]] && (source $ROOT/scripts/kubelet-lab-lib.sh && source $ROOT/tests/kubelet/mesh.sh && source $DEMO_DIR/lab.env && mesh_cleanup)"

rc=0
timeout 1100 "$ROOT/scripts/demo" --kubernetes --once >"$TMP/demo.log" 2>&1 || rc=$?
check "scripts/demo --kubernetes --once exits 0 (every ping answered)" test "$rc" -eq 0
check "it deployed as the README says" grep -q '^==> deploying semaphore-wireguard as the README says' "$TMP/demo.log"
all_answered() {
  grep -Eq '^([0-9]+) of \1 cross-cluster pings answered$' "$TMP/demo.log" && return 0
  grep -E '^demo:|NO ANSWER|answered' "$TMP/demo.log"
  return 1
}
check "every cross-cluster ping, pod to pod, was answered" all_answered
check "... and there were 8 (each of the 4 pods to the other cluster's 2)" \
  grep -q '^8 of 8 cross-cluster pings answered$' "$TMP/demo.log"
check "it shows each agent's status -v through kubectl exec (4 pods)" \
  bash -c "[ \$(grep -c '^----- c[12]: kubectl exec pod/semaphore-wireguard-[a-z0-9]* -- semaphore-wireguard status -v' '$TMP/demo.log') -eq 4 ]"
check "each agent is ready with its peer set (2 peers of the other cluster)" \
  bash -c "[ \$(grep -Ec '^c[12] +ready +wireguard\.c[12] .* 2 +0 ' '$TMP/demo.log') -eq 4 ]"
check "the lab is stopped" grep -q '^==> stopping the lab' "$TMP/demo.log"
check "no lab namespace is left" test "$(leftovers)" -eq 0
check "no kubelet, containerd or apiserver of the demo is left" bash -c "! pgrep -f '[/]tmp/semaphore-wireguard-demo-kubernetes' >/dev/null"
check "the demo's directory and pid file are removed" bash -c "[ ! -e $DEMO_DIR ] && [ ! -e $DEMO_DIR.pid ]"
if ((FAILURES)); then
  echo "--- the demo's output (last 80 lines)"
  tail -n 80 "$TMP/demo.log"
fi
summary
