#!/usr/bin/env bash
# Agents whose remote is in mirror mode ("peerSource": "mirror"): they read the remote's nodes from the mirror's
# WireGuardPeer records in their own cluster (deploy/crd), not from the remote's apiserver. The mirror process
# itself is not built yet: this test writes the records as it will (one per remote node, from the remote's
# Nodes, plus the remote's sync marker), with kubectl. c1's agents n1, n2 mirror c2; c2's agents r1, r2 watch
# c1 directly. Asserts what an operator would check:
#  1. no peer before the sync marker says a complete list was written (records alone are not enough), then every
#     remote node as a peer, and pods ping both ways;
#  2. hand-written bad records are rejected with their reason, as bad nodes are (status -v);
#  3. a marker no longer refreshed makes the remote stale (status, /healthz, metric) and every peer is kept, even
#     when a record goes away meanwhile; refreshed again, the agents converge without removing any other peer.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"
on_exit lab_cleanup
lab_init "$TMP/lab" "mi$((RANDOM % 90 + 10))" "192.168.$((127 + RANDOM % 2))"
LAB_SUBNET_c1=10.2.0.0/16 LAB_SUBNET_c2=10.4.0.0/16 LAB_MIRROR_STALE_AFTER=15s
lab_start_clusters c1,c2 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2; do lab_credentials "$c"; done
NS=semaphore-wireguard
lab_kubectl c1 create namespace "$NS" >/dev/null
lab_kubectl c1 apply -f "$ROOT/deploy/crd/wireguardpeers.yaml" >/dev/null
check "the WireGuardPeer CRD is established in c1" \
  lab_kubectl c1 wait --for=condition=Established --timeout=60s crd/wireguardpeers.wireguard.semaphore.uw.io
# The agents' Role on the records, as deploy/base grants it (read only), for the lab's agent account.
lab_agent_records_role c1 "$NS"
lab_add_node c1 n1 10.2.1.0/24
lab_add_node c1 n2 10.2.2.0/24
lab_add_node c2 r1 10.4.1.0/24
lab_add_node c2 r2 10.4.2.0/24
for n in n1 n2; do lab_config "$n" c2=mirror; done
for r in r1 r2; do lab_config "$r" c1=kubeconfig; done
for n in n1 n2 r1 r2; do lab_start_daemon "$n"; done

# The mirror's part: a record in c1 per c2 node that advertises itself to c1, as the mirror writes it.
record() {  # NODE: the record of c2's node NODE, from the Node itself
  lab_kubectl c2 get node "$1" -o json | jq --arg ns "$NS" '{
    apiVersion: "wireguard.semaphore.uw.io/v1alpha1", kind: "WireGuardPeer",
    metadata: {name: ("c2." + .metadata.name), namespace: $ns, labels: {"wireguard.semaphore.uw.io/remote": "c2"}},
    spec: {nodeName: .metadata.name,
           publicKey: .metadata.annotations["c1.wireguard.semaphore.uw.io/pubKey"],
           endpoint: .metadata.annotations["c1.wireguard.semaphore.uw.io/endpoint"],
           podCIDRs: (.spec.podCIDRs // [.spec.podCIDR]),
           nodeCreationTimestamp: .metadata.creationTimestamp}}'
}
marker() {  # COMPLETE: the sync marker of c2, refreshed now
  jq -n --arg ns "$NS" --argjson complete "$1" --arg now "$(date -u +%Y-%m-%dT%H:%M:%SZ)" '{
    apiVersion: "wireguard.semaphore.uw.io/v1alpha1", kind: "WireGuardPeer",
    metadata: {name: "c2", namespace: $ns,
               labels: {"wireguard.semaphore.uw.io/remote": "c2", "wireguard.semaphore.uw.io/sync-marker": "true"}},
    spec: {sync: {complete: $complete, lastSyncTime: $now, leader: "test-mirror", nodes: 2}}}'
}
apply() { lab_kubectl c1 apply -f - >/dev/null; }
peers() { lab_wg "$1" show wireguard.c2 peers | wc -l; }
has_peers() { [[ $(peers "$1") == "$2" ]]; }
advertised() { lab_kubectl c2 get node "$1" -o jsonpath='{.metadata.annotations.c1\.wireguard\.semaphore\.uw\.io/pubKey}' | grep -q .; }
status_says() { lab_status "$1" -v 2>&1 | grep -Eq "$2"; }

dump_and_stop_on_failure() {  # the later steps build on the earlier ones: stop at the first failed step
  ((FAILURES)) || return 0
  echo "--- n1's daemon log (last 60 lines)"
  tail -n 60 "$LAB_DIR/n1/daemon.log"
  echo "--- n1's status -v"
  lab_status n1 -v
  summary
}

echo "--- 1. nothing before the sync marker says complete, then every remote node"
for r in r1 r2; do check "$r advertises itself to c1" wait_for 60 advertised "$r"; done
check "n1 waits for the mirror: no sync marker yet" wait_for 60 status_says n1 'no sync marker for c2 yet'
has_peers_r1() { [[ $(lab_wg r1 show wireguard.c1 peers | wc -l) == 2 ]]; }
check "c1's agents advertise themselves to c2 all the same (r1 has both)" wait_for 60 has_peers_r1
for r in r1 r2; do record "$r" | apply; done
marker false | apply
check "n1 waits for a complete list" wait_for 30 status_says n1 "waiting for the mirror's first complete list of c2"
sleep 3  # the records and the incomplete marker reached the agents (they said so above): still nothing applied
check "records without a complete marker add no peer (n1)" has_peers n1 0
check "nor on n2" has_peers n2 0
marker true | apply
for n in n1 n2; do check "$n has both c2 nodes as peers once the marker is complete" wait_for 60 has_peers "$n" 2; done
ping_pod() { lab_exec "$1" ping -c 1 -w 15 -I "$2" "$3" >/dev/null; }
check "a pod on n1 reaches r1's" wait_for 60 ping_pod n1 10.2.1.1 10.4.1.1
check "a pod on r2 reaches n2's" wait_for 60 ping_pod r2 10.4.2.1 10.2.2.1
ready() { local s; s=$(lab_status "$1") && ! grep -q 'not ready' <<<"$s" && grep -q 'ready' <<<"$s"; }
check "n1 is ready" wait_for 60 ready n1
lab_exec n1 curl -s -o "$TMP/metrics" http://127.0.0.1:7773/metrics
check "semaphore_wg_mirror_stale is 0" grep -q '^semaphore_wg_mirror_stale{remote="c2"} 0$' "$TMP/metrics"
# The daemon test checks the other queries against a direct-mode scrape.
check "deploy/monitoring's mirror queries use metrics a mirror-mode agent exports" \
  python3 "$ROOT/tests/deploy/monitoring_names.py" --only-prefix semaphore_wg_mirror_ "$ROOT/deploy/monitoring" "$TMP/metrics"

dump_and_stop_on_failure
echo "--- 2. bad records are rejected with their reason"
jq -n --arg ns "$NS" '{apiVersion: "wireguard.semaphore.uw.io/v1alpha1", kind: "WireGuardPeer",
  metadata: {name: "c2.bogus", namespace: $ns, labels: {"wireguard.semaphore.uw.io/remote": "c2"}},
  spec: {nodeName: "bogus", publicKey: "not-a-key", endpoint: "192.168.1.9:51820", podCIDRs: ["10.4.9.0/24"],
         nodeCreationTimestamp: "2026-01-01T00:00:00Z"}}' | apply
jq -n --arg ns "$NS" '{apiVersion: "wireguard.semaphore.uw.io/v1alpha1", kind: "WireGuardPeer",
  metadata: {name: "c2.outside", namespace: $ns, labels: {"wireguard.semaphore.uw.io/remote": "c2"}},
  spec: {nodeName: "outside", publicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEA=", endpoint: "192.168.1.10:51820",
         podCIDRs: ["10.9.0.0/24"], nodeCreationTimestamp: "2026-01-01T00:00:00Z"}}' | apply
jq -n --arg ns "$NS" '{apiVersion: "wireguard.semaphore.uw.io/v1alpha1", kind: "WireGuardPeer",
  metadata: {name: "c2.noname", namespace: $ns, labels: {"wireguard.semaphore.uw.io/remote": "c2"}},
  spec: {publicKey: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEA=", nodeCreationTimestamp: "2026-01-01T00:00:00Z"}}' | apply
check "a bad key: bad_key" wait_for 30 status_says n1 'bogus +bad_key +public key "not-a-key"'
check "a CIDR outside the remote's subnet: outside_subnet" \
  wait_for 30 status_says n1 'outside +outside_subnet +pod CIDR 10.9.0.0/24 is outside the remote pod subnet 10.4.0.0/16'
check "no nodeName: bad_record, named by the record" \
  wait_for 30 status_says n1 'record c2.noname +bad_record +record: spec.nodeName is missing'
check "the good peers stay" has_peers n1 2
lab_kubectl c1 -n "$NS" delete wireguardpeer c2.bogus c2.outside c2.noname >/dev/null

dump_and_stop_on_failure
echo "--- 3. a marker no longer refreshed: stale, every peer kept; refreshed again: converged"
R2_KEY=$(lab_kubectl c2 get node r2 -o jsonpath='{.metadata.annotations.c1\.wireguard\.semaphore\.uw\.io/pubKey}')
# The last refresh was above; nothing refreshes it now (the mirror is down). After mirrorStaleAfter (15 s):
check "n1 reports c2 stale" wait_for 60 status_says n1 'mirror stale: the sync marker of c2 \(leader test-mirror\)'
healthz_stale() { lab_exec n1 curl -s http://127.0.0.1:7773/healthz | grep -q 'mirror stale'; }
check "/healthz says so" healthz_stale
lab_exec n1 curl -s -o "$TMP/metrics" http://127.0.0.1:7773/metrics
check "semaphore_wg_mirror_stale is 1" grep -q '^semaphore_wg_mirror_stale{remote="c2"} 1$' "$TMP/metrics"
lab_kubectl c1 -n "$NS" delete wireguardpeer c2.r2 >/dev/null
sleep 5  # the deletion reached the agents; while stale nothing is applied
check "r2's record deleted while stale: its peer is kept on n1" has_peers n1 2
check "and on n2" has_peers n2 2
record r2 | apply
marker true | apply
not_stale() { ! status_says n1 'mirror stale'; }
check "refreshed: n1 is no longer stale" wait_for 60 not_stale
check "n1 is ready again" wait_for 60 ready n1
check "both peers are there" has_peers n1 2
no_removal() { ! grep -q 'peer removed' "$LAB_DIR/$1/daemon.log"; }
check "no peer was ever removed on n1 (the log has every change)" no_removal n1
check "nor on n2" no_removal n2
added_once() { [[ $(grep 'peer added' "$LAB_DIR/n1/daemon.log" | grep -cF "$R2_KEY") == 1 ]]; }
check "r2's peer was added once on n1, never removed and added again" added_once
check "no sanitizer reports in the daemon logs" no_sanitizer_reports "$LAB_DIR"/*/daemon.log
dump_and_stop_on_failure
summary
