#!/usr/bin/env bash
# The per-remote report on each agent's own Node, as an operator reads it with kubectl: clusters c1 (node n1)
# and c2 (node r1) peer with each other, each running semaphore-wireguard; c2 also has r2, whose pubKey for c1
# is not a key.
#  1. n1's Node carries the condition WireGuardC2Ready True PairingReady, shown by `kubectl describe node`, and
#     the annotation c2.wireguard.semaphore.uw.io/report with r2 rejected (bad_key); r1's carries WireGuardC1Ready;
#  2. writes are bounded: no PATCH of nodes/status over an idle minute (the apiserver's own request counter);
#  3. a status patch by another writer (the kubelet owns the other conditions) keeps ours, and ours keeps its;
#  4. c2's apiserver stopped: False RemoteWatchFailing within a minute, at most one write per 10 s meanwhile;
#     restarted: True PairingReady again;
#  5. c1's apiserver stopped while the report changes (r2 becomes a peer): the write is retried and arrives.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"
figure() { echo "     figure: $*"; }
on_exit lab_cleanup
lab_init "$TMP/lab" "q$((RANDOM % 90 + 10))" "192.168.$((140 + RANDOM % 5))"
LAB_SUBNET_c1=10.2.0.0/16 LAB_SUBNET_c2=10.4.0.0/16
lab_start_clusters c1,c2 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2; do lab_credentials "$c"; done

lab_add_node c1 n1 10.2.1.0/24
lab_add_node c2 r1 10.4.1.0/24
lab_add_node c2 r2 10.4.2.0/24
# r2 runs no agent: its annotations are set by hand, with a pubKey that is not a key.
lab_kubectl c2 annotate node r2 "c1.wireguard.semaphore.uw.io/pubKey=not-a-key" \
  "c1.wireguard.semaphore.uw.io/endpoint=$(lab_node_get r2 IP):51821" >/dev/null
# A keepalive keeps the handshakes fresh without traffic, so that "ready" does not depend on pings.
lab_config n1 c2=kubeconfig
lab_config r1 c1=kubeconfig
for n in n1 r1; do
  jq '.remotes[0].persistentKeepalive = "25s"' "$LAB_DIR/$n/config.json" >"$TMP/c.json" && mv "$TMP/c.json" "$LAB_DIR/$n/config.json"
done
lab_start_daemon n1
lab_start_daemon r1

# cond CLUSTER NODE TYPE: "status reason" of the node's condition TYPE; report CLUSTER NODE REMOTE: the annotation.
cond() {
  lab_kubectl "$1" get node "$2" -o json |
    jq -r --arg t "$3" '.status.conditions // [] | map(select(.type == $t)) | .[0] | "\(.status) \(.reason)"'
}
report() {
  lab_kubectl "$1" get node "$2" -o json | jq -r --arg k "$3.wireguard.semaphore.uw.io/report" '.metadata.annotations[$k]'
}
cond_times() {  # CLUSTER NODE TYPE: "lastHeartbeatTime lastTransitionTime"
  lab_kubectl "$1" get node "$2" -o json |
    jq -r --arg t "$3" '.status.conditions[] | select(.type == $t) | "\(.lastHeartbeatTime) \(.lastTransitionTime)"'
}
is() { [[ "$("${@:2}")" == "$1" ]]; }  # is EXPECTED command...
# status_patches CLUSTER: PATCHes of nodes/status the cluster's apiserver has served (its request counter).
status_patches() {
  lab_kubectl "$1" get --raw /metrics |
    awk '/^apiserver_request_total\{/ && /resource="nodes"/ && /subresource="status"/ && /verb="PATCH"/ { n += $NF }
         END { printf "%d\n", n }'
}

echo "--- 1. peered: the condition and the report"
t=$SECONDS
check "n1: WireGuardC2Ready True PairingReady" wait_for 90 is "True PairingReady" cond c1 n1 WireGuardC2Ready
figure "daemons started -> condition True on n1: $((SECONDS - t)) s"
check "r1: WireGuardC1Ready True PairingReady" wait_for 60 is "True PairingReady" cond c2 r1 WireGuardC1Ready
R=$(report c1 n1 c2)
echo "     n1's report: $R"
check "the report is v1 from local c1" jq -e '.v == 1 and .local == "c1"' <<<"$R"
check "the report: ready, 1 peer with a fresh handshake, none stale" \
  jq -e '.ready == true and .reason == "PairingReady" and .peers == 1 and .fresh == 1 and .stale == [] and .more == 0' <<<"$R"
check "the report names r2 rejected for its bad key" jq -e '.rejected == {"r2": "bad_key"}' <<<"$R"
check "the report has the last full sync (RFC 3339 UTC)" jq -e '.sync | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")' <<<"$R"
check "the report is at most 4 KiB" test "${#R}" -le 4096
DESCRIBE=$(lab_kubectl c1 describe node n1)
check "kubectl describe node n1 shows the condition" \
  grep -Eq '^ +WireGuardC2Ready +True .* PairingReady +1 peer, 1 with a fresh handshake, 1 remote node rejected$' <<<"$DESCRIBE"
MSG=$(lab_kubectl c1 get node n1 -o jsonpath='{.status.conditions[?(@.type=="WireGuardC2Ready")].message}')
check "the message counts peers, fresh handshakes and rejections" \
  test "$MSG" == "1 peer, 1 with a fresh handshake, 1 remote node rejected"
check "the condition has a heartbeat and a transition time" \
  grep -Eq '^20[0-9-]{8}T[0-9:]{8}Z 20[0-9-]{8}T[0-9:]{8}Z$' <<<"$(cond_times c1 n1 WireGuardC2Ready)"

echo "--- 2. no write while nothing changes"
# Handshakes need a few seconds after the first write: let the report settle, then count over a minute.
sleep 15
before=$(status_patches c1)
check "the apiserver counted n1's status patches" test "$before" -ge 1
sleep 60
after=$(status_patches c1)
figure "PATCH nodes/status on c1: $before before the idle minute, $after after"
check "no status patch over an idle minute" test "$after" -eq "$before"

echo "--- 3. another writer's conditions and ours merge by type"
lab_kubectl c1 patch node n1 --subresource=status --type=strategic \
  -p '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady","message":"kubelet is posting ready status","lastHeartbeatTime":"2026-01-01T00:00:00Z","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}' >/dev/null
check "a kubelet-style status patch keeps WireGuardC2Ready" is "True PairingReady" cond c1 n1 WireGuardC2Ready
check "and adds Ready beside it" is "True KubeletReady" cond c1 n1 Ready

echo "--- 4. the remote apiserver stopped, then started again"
before=$(status_patches c1)
t=$SECONDS
"$ROOT/scripts/control-plane" stop-apiserver --dir "$LAB_DIR/cp" --cluster c2 >/dev/null
check "n1: WireGuardC2Ready False RemoteWatchFailing within a minute" \
  wait_for 60 is "False RemoteWatchFailing" cond c1 n1 WireGuardC2Ready
figure "c2's apiserver stopped -> False RemoteWatchFailing on n1: $((SECONDS - t)) s"
MSG=$(lab_kubectl c1 get node n1 -o jsonpath='{.status.conditions[?(@.type=="WireGuardC2Ready")].message}')
echo "     message: $MSG"
check "the message is the watch's error, naming the remote" grep -q "^remote watch: c2: " <<<"$MSG"
check "the report says so too" jq -e '.ready == false and .reason == "RemoteWatchFailing"' <<<"$(report c1 n1 c2)"
DOWN_TIMES=$(cond_times c1 n1 WireGuardC2Ready)
check "the Ready condition someone else wrote is still there" is "True KubeletReady" cond c1 n1 Ready
sleep 20  # the failure goes on: retries must not become writes
down=$((SECONDS - t))
after=$(status_patches c1)
figure "PATCH nodes/status on c1 while c2's apiserver was down ${down} s: $((after - before))"
check "at most one write per 10 s while it is down" test "$((after - before))" -le $((down / 10 + 1))
t=$SECONDS
"$ROOT/scripts/control-plane" start-apiserver --dir "$LAB_DIR/cp" --cluster c2 >/dev/null
check "n1: WireGuardC2Ready True PairingReady again" wait_for 90 is "True PairingReady" cond c1 n1 WireGuardC2Ready
figure "c2's apiserver started -> True on n1: $((SECONDS - t)) s"
UP_TIMES=$(cond_times c1 n1 WireGuardC2Ready)
echo "     times (heartbeat transition) when down: $DOWN_TIMES; up again: $UP_TIMES"
check "the lastTransitionTime moved with the status" test "${UP_TIMES#* }" \> "${DOWN_TIMES#* }"

echo "--- 5. a write that fails is retried: the local apiserver down while the report changes"
"$ROOT/scripts/control-plane" stop-apiserver --dir "$LAB_DIR/cp" --cluster c1 >/dev/null
# r2 gets a real key: it becomes n1's second peer, without a handshake (nothing runs on it).
lab_kubectl c2 annotate --overwrite node r2 "c1.wireguard.semaphore.uw.io/pubKey=$(wg genkey | wg pubkey)" >/dev/null
peers() { lab_wg n1 show wireguard.c2 peers | wc -l; }
check "r2 becomes n1's second peer" wait_for 60 is 2 peers
check "the failed write is logged, to be retried" \
  wait_for 60 grep -q "cannot report this pairing's health on the node; retrying" "$LAB_DIR/n1/daemon.log"
t=$SECONDS
"$ROOT/scripts/control-plane" start-apiserver --dir "$LAB_DIR/cp" --cluster c1 >/dev/null
retried() { jq -e '.peers == 2 and .stale == ["r2"] and .rejected == {}' <<<"$(report c1 n1 c2)"; }
check "the report arrives once c1's apiserver is back: r2 a stale peer, no longer rejected" wait_for 90 retried
figure "c1's apiserver started -> the report written: $((SECONDS - t)) s"
echo "     n1's report: $(report c1 n1 c2)"
MSG=$(lab_kubectl c1 get node n1 -o jsonpath='{.status.conditions[?(@.type=="WireGuardC2Ready")].message}')
check "still True PairingReady: one peer has a fresh handshake" is "True PairingReady" cond c1 n1 WireGuardC2Ready
check "the message counts the stale peer" test "$MSG" == "2 peers, 1 with a fresh handshake"

check "the writes are logged" grep -q 'node condition written.*reason=RemoteWatchFailing' "$LAB_DIR/n1/daemon.log"
check "no sanitizer reports in the daemon logs" no_sanitizer_reports "$LAB_DIR"/n1/daemon.log "$LAB_DIR"/r1/daemon.log
if ((FAILURES)); then
  for n in n1 r1; do
    echo "--- $n daemon log (last 40 lines)"
    tail -n 40 "$LAB_DIR/$n/daemon.log"
  done
  lab_kubectl c1 get node n1 -o yaml
fi
summary
