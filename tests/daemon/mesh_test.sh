#!/usr/bin/env bash
# `semaphore-wireguard mesh` from a workstation's kubeconfig (one admin context per cluster) against three real
# kube-apiservers. First the reading side alone, on Nodes written with kubectl as the agents would write them
# (reports, a condition): a healthy pair, a rejection named with its reason, the outputs, usage errors. Then
# six real daemons: from their own reports a healthy three-cluster mesh (exit 0), then a broken pairing named
# with its reason; a node without an agent, colliding endpoints, a cluster whose name disagrees between configs.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"

on_exit lab_cleanup
lab_init "$TMP/lab" "m$((RANDOM % 90 + 10))" "192.168.$((145 + RANDOM % 5))"
LAB_SUBNET_c1=10.2.0.0/16 LAB_SUBNET_c2=10.4.0.0/16 LAB_SUBNET_c3=10.6.0.0/16
lab_start_clusters c1,c2,c3 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2 c3; do lab_credentials "$c"; done

# The workstation's kubeconfig: the three admin kubeconfigs merged, one context per cluster (c1, c2, c3).
KC="$TMP/kubeconfig"
KUBECONFIG="$LAB_DIR/cp/c1/kubeconfig:$LAB_DIR/cp/c2/kubeconfig:$LAB_DIR/cp/c3/kubeconfig" "$KUBECTL" config view --raw >"$KC"
# mesh ARGS...: run from the underlay namespace, where the apiservers listen; output in $TMP/out, exit in $TMP/rc.
mesh() {
  local rc=0
  ip netns exec "$LAB_UL" "$BIN" mesh --kubeconfig "$KC" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  echo "$rc" >"$TMP/rc"
}
mesh_rc() { cat "$TMP/rc"; }
# says TEXT: the last output (stdout and stderr) has the line fragment.
says() { grep -qF -- "$1" "$TMP/out" "$TMP/err" || { cat "$TMP/out" "$TMP/err"; return 1; }; }
# mesh_until RC TEXT ARGS...: polls (the agents write every 10 s at most) until mesh exits RC saying TEXT.
mesh_until() {
  local want="$1" text="$2" i
  shift 2
  for i in $(seq 45); do
    mesh "$@"
    [[ $(mesh_rc) == "$want" ]] && grep -qF -- "$text" "$TMP/out" && return 0
    sleep 2
  done
  echo "exit $(mesh_rc), want $want with \"$text\""
  cat "$TMP/out" "$TMP/err"
  return 1
}

echo "--- the reading side, on Nodes written as the agents write them"
report() {  # local extra-json
  printf '{"v":1,"local":"%s","ready":true,"reason":"PairingReady","peers":1,"fresh":1%s,"more":0,"sync":"%s"}' \
    "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
fake_node() {  # cluster node remote ip report
  lab_kubectl "$1" create -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$2","annotations":{
  "$3.wireguard.semaphore.uw.io/pubKey":"$(wg genkey | wg pubkey)",
  "$3.wireguard.semaphore.uw.io/endpoint":"$4:51821",
  "$3.wireguard.semaphore.uw.io/report":$(jq -Rn --arg r "$5" '$r')}}}
JSON
}
fake_node c1 fa1 c2 10.99.1.1 "$(report c1 '')"
fake_node c2 fb1 c1 10.99.2.1 "$(report c2 '')"
mesh --context c1 --context c2
check "a healthy pair: exit 0" test "$(mesh_rc)" = 0
check "... says so" says "No findings: the mesh is healthy."
check "... names the clusters from the reports and counts the peers" \
  grep -Eq '^    fa1 +[^ ]+ +10\.99\.1\.1:51821 +1/1 +1/1 +ready PairingReady' "$TMP/out"
lab_kubectl c2 annotate --overwrite node fb1 \
  "c1.wireguard.semaphore.uw.io/report=$(report c2 ',"rejected":{"fa1":"own_key"}')" >/dev/null
lab_kubectl c1 patch node fa1 --subresource=status --type=strategic -p '{"status":{"conditions":[
  {"type":"WireGuardC2Ready","status":"False","reason":"NoHandshakes","message":"1 peers, 0 with a fresh handshake",
   "lastHeartbeatTime":"2026-12-03T15:00:00Z","lastTransitionTime":"2026-12-03T15:00:00Z"}]}}' >/dev/null
mesh --context c1 --context c2
check "a rejection: exit 1" test "$(mesh_rc)" = 1
check "... the asymmetry with its reason" says "asymmetry: fa1 peers with fb1, but fb1 rejected fa1: own_key"
check "... the condition False with its reason" \
  says "not_ready: fa1: WireGuardC2Ready False: NoHandshakes (1 peers, 0 with a fresh handshake)"
check "... the peer count drops" grep -Eq '^    fa1 +[^ ]+ +[^ ]+ +0/1 ' "$TMP/out"
mesh --context c1 --context c2 -o json
check "-o json: the finding and the rejection" \
  jq -e '.healthy == false and (.findings[] | select(.kind == "asymmetry")) and
         .pairs[0].a.nodes[0].rejectedBy.fb1 == "own_key"' "$TMP/out"
mesh --context c1 --context c2 -o dot
check "-o dot: a graph Graphviz reads, the rejected edge red" bash -c \
  "dot -Tsvg '$TMP/out' >/dev/null && grep -qF '\"c1/fa1\" -- \"c2/fb1\" [color=red, label=\"fb1 rejected fa1: own_key\"]' '$TMP/out'"
mesh --context c1 --context nope
check "an unknown context: exit 2, naming it" bash -c "test $(mesh_rc) = 2 && grep -q 'invalid value \"nope\" for -context' '$TMP/err'"
mesh -o yaml
check "a bad -o: exit 2, naming it" bash -c "test $(mesh_rc) = 2 && grep -q 'invalid value \"yaml\" for -o' '$TMP/err'"
mesh --kubeconfig "$TMP/missing"
check "a missing kubeconfig: exit 2" bash -c "test $(mesh_rc) = 2 && grep -q '$TMP/missing' '$TMP/err'"
lab_kubectl c1 delete node fa1 >/dev/null
lab_kubectl c2 delete node fb1 >/dev/null

echo "--- six real daemons"
NODES=()
add_node() {  # cluster node pod-cidr
  lab_add_node "$1" "$2" "$3"
  local r remotes=()
  for r in c1 c2 c3; do [[ $r == "$1" ]] || remotes+=("$r=kubeconfig"); done
  lab_config "$2" "${remotes[@]}"
  NODES+=("$2")
}
add_node c1 c1n1 10.2.1.0/24
add_node c1 c1n2 10.2.2.0/24
add_node c2 c2n1 10.4.1.0/24
add_node c2 c2n2 10.4.2.0/24
add_node c3 c3n1 10.6.1.0/24
add_node c3 c3n2 10.6.2.0/24
for n in "${NODES[@]}"; do lab_start_daemon "$n"; done
ready() { [[ $(lab_exec "$1" curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:7773/readyz) == 200 ]]; }
all_ready() { local n; for n in "$@"; do ready "$n" || return 1; done; }
pub_of() { wg pubkey <"$LAB_DIR/$1/keys/wireguard.$2.key"; }
check "every node is ready" wait_for 120 all_ready "${NODES[@]}"

# Each agent writes its report within seconds of its first sync (then on change, at most every 10 s).
has_report() { lab_kubectl c1 get node c1n1 -o json | jq -e '.metadata.annotations | has("c2.wireguard.semaphore.uw.io/report")'; }
check "the agents write their reports" wait_for 60 has_report
check "the whole mesh, from the agents' own reports, every context of the kubeconfig: healthy (exit 0)" \
  mesh_until 0 "No findings: the mesh is healthy."
check "... the clusters' names from the reports" grep -Eq '^c2 +c2 +2 +c1, c3$' "$TMP/out"
check "... c1n1 is a peer of both c2 nodes, both fresh" grep -Eq '^    c1n1 +[^ ]+ +[^ ]+ +2/2 +2/2 +ready' "$TMP/out"
# A broken pairing: c2n2 (its daemon stopped) advertises c1n1's own key, which c1n1 rejects.
lab_stop_daemon c2n2
lab_kubectl c2 annotate --overwrite node c2n2 "c1.wireguard.semaphore.uw.io/pubKey=$(pub_of c1n1 c2)" >/dev/null
check "a broken pairing is named with its reason (exit 1)" \
  mesh_until 1 "asymmetry: c2n2 peers with c1n1, but c1n1 rejected c2n2: own_key"
lab_kubectl c2 annotate --overwrite node c2n2 "c1.wireguard.semaphore.uw.io/pubKey=$(pub_of c2n2 c1)" >/dev/null
lab_start_daemon c2n2
check "repaired: healthy again" mesh_until 0 "No findings: the mesh is healthy."
mesh -o json
check "each node's advertised key is the daemon's own" jq -e --arg k "$(pub_of c3n2 c1)" \
  '.pairs[] | select(.a.cluster == "c1" and .b.cluster == "c3") | .b.nodes[] | select(.node == "c3n2") | .pubKey == $k' "$TMP/out"

lab_kubectl c3 create -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"c3n9"},"spec":{"podCIDR":"10.6.9.0/24","podCIDRs":["10.6.9.0/24"]}}
JSON
check "a node without an agent is named (exit 1)" mesh_until 1 "no_agent: c3n9 runs no agent for c1 (no pubKey annotation towards c1)"
lab_kubectl c3 delete node c3n9 >/dev/null

ep=$(lab_kubectl c2 get node c2n1 -o jsonpath='{.metadata.annotations.c1\.wireguard\.semaphore\.uw\.io/endpoint}')
lab_kubectl c2 create -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"c2n9","annotations":{
  "c1.wireguard.semaphore.uw.io/pubKey":"$(wg genkey | wg pubkey)","c1.wireguard.semaphore.uw.io/endpoint":"$ep"}},
 "spec":{"podCIDR":"10.4.9.0/24","podCIDRs":["10.4.9.0/24"]}}
JSON
check "colliding endpoints are named (exit 1)" mesh_until 1 "endpoint_collision: endpoint $ep is advertised by c2n1, c2n9"
lab_kubectl c2 delete node c2n9 >/dev/null

# c3n2's config calls c1 "c1x": its daemon annotates c3n2 for a remote no cluster calls itself. (Another port:
# wireguard.c1 stays, with its port, after the daemon stops.)
lab_stop_daemon c3n2
sed -i '/"name": "c1"/{s/"name": "c1"/"name": "c1x"/;s/"wgListenPort": 51821/"wgListenPort": 51829/}' \
  "$LAB_DIR/c3n2/config.json"
lab_start_daemon c3n2
check "a cluster name that disagrees between configs is named (exit 1)" \
  mesh_until 1 "name_mismatch: c3's nodes are configured for a remote \"c1x\" that no cluster calls itself"

check "no sanitizer reports in the daemon logs" no_sanitizer_reports "$LAB_DIR"/*/daemon.log
if ((FAILURES)); then
  for n in c1n1 c3n2; do echo "--- $n daemon log (last 20 lines)"; tail -n 20 "$LAB_DIR/$n/daemon.log"; done
fi
summary
