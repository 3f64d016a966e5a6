#!/usr/bin/env bash
# End to end: three clusters (real kube-apiservers), two nodes each (network namespaces on one underlay), every
# node running the real semaphore-wireguard with wireguard-go. c1 and c3 reach c2 with a token + CA URL and the
# other remote with a kubeconfig (c2 the other way round). Checks what the mission is: every pod reaches every
# pod in the other clusters, through the right interface, and keeps doing so through node churn, restarts,
# crashing workers, an apiserver outage and a malicious remote.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"

on_exit lab_cleanup
lab_init "$TMP/lab" "e$((RANDOM % 90 + 10))" "192.168.$((150 + RANDOM % 40))"
LAB_SUBNET_c1=10.2.0.0/16 LAB_SUBNET_c2=10.4.0.0/16 LAB_SUBNET_c3=10.6.0.0/16
lab_start_clusters c1,c2,c3 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2 c3; do lab_credentials "$c"; done
lab_serve_cas || exit 1

declare -A MODES=([c1]="c2=token c3=kubeconfig" [c2]="c1=kubeconfig c3=token" [c3]="c1=token c2=kubeconfig")
NODES=()
add_node() {  # cluster node pod-cidr
  lab_add_node "$1" "$2" "$3"
  # shellcheck disable=SC2086
  lab_config "$2" ${MODES[$1]}
  NODES+=("$2")
}
add_node c1 c1n1 10.2.1.0/24
add_node c1 c1n2 10.2.2.0/24
add_node c2 c2n1 10.4.1.0/24
add_node c2 c2n2 10.4.2.0/24
add_node c3 c3n1 10.6.1.0/24
add_node c3 c3n2 10.6.2.0/24
for n in "${NODES[@]}"; do lab_start_daemon "$n"; done

cluster_of() { lab_node_get "$1" CLUSTER; }
pod_of() { lab_node_get "$1" POD_IP; }
ready() { [[ $(lab_exec "$1" curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:7773/readyz) == 200 ]]; }
all_ready() { local n; for n in "$@"; do ready "$n" || return 1; done; }
# reach SRC DST: a ping from SRC's pod address to DST's, routed through wireguard.<DST's cluster>.
reach() {
  local dev
  dev=$(lab_exec "$1" ip route get "$(pod_of "$2")" from "$(pod_of "$1")" | sed -n 's/.* dev \([^ ]*\).*/\1/p')
  [[ "$dev" == "wireguard.$(cluster_of "$2")" ]] || { echo "$1 -> $2 routed via '$dev'"; return 1; }
  lab_exec "$1" ping -q -c 1 -W 3 -I "$(pod_of "$1")" "$(pod_of "$2")" >/dev/null || { echo "$1 -> $2: no answer"; return 1; }
}
# full_mesh NODE...: every node reaches every node of the other clusters.
full_mesh() {
  local a b bad=0
  for a in "$@"; do
    for b in "$@"; do
      [[ $(cluster_of "$a") == $(cluster_of "$b") ]] && continue
      reach "$a" "$b" || bad=1
    done
  done
  return $bad
}
pub_of() { wg pubkey <"$LAB_DIR/$1/keys/wireguard.$2.key"; }  # node's key towards a remote cluster
peers() { lab_wg "$1" show "wireguard.$2" peers 2>/dev/null | sort; }
has_peer() { peers "$1" "$2" | grep -xF "$3" >/dev/null; }
worker_pid() { lab_status "$1" -json | jq -r ".remotes[] | select(.status.remote==\"$2\") | .status.pid"; }

echo "--- full mesh"
check "every node is ready" wait_for 120 all_ready "${NODES[@]}"
check "every pod reaches every pod in the other clusters, through the right interface" \
  wait_for 30 full_mesh "${NODES[@]}"
check "c1n1 has both c2 nodes as peers" test "$(peers c1n1 c2)" = "$(printf '%s\n' "$(pub_of c2n1 c1)" "$(pub_of c2n2 c1)" | sort)"

echo "--- node churn"
add_node c2 c2n3 10.4.3.0/24
lab_start_daemon c2n3
check "the new c2 node becomes ready" wait_for 60 ready c2n3
check "the new c2 node is reachable from every c1 and c3 node" wait_for 30 full_mesh c2n3 c1n1 c1n2 c3n1 c3n2
lab_stop_daemon c2n2
lab_kubectl c2 delete node c2n2 >/dev/null
gone_everywhere() {
  local n
  for n in c1n1 c1n2; do has_peer "$n" c2 "$(pub_of c2n2 c1)" && return 1; done
  for n in c3n1 c3n2; do has_peer "$n" c2 "$(pub_of c2n2 c3)" && return 1; done
  return 0
}
check "a deleted c2 node disappears as a peer everywhere" wait_for 15 gone_everywhere
lab_stop_daemon c3n2
lab_kubectl c3 annotate node c3n2 c1.wireguard.semaphore.uw.io/pubKey- c1.wireguard.semaphore.uw.io/endpoint- >/dev/null
check "a node whose annotations for c1 are removed stops being a peer on c1 nodes" \
  wait_for 15 bash -c "! nsenter -t $(lab_node_get c1n1 ANCHOR) -n -m wg show wireguard.c3 peers | grep -qxF '$(pub_of c3n2 c1)'"
check "... but stays a peer for c2 (its c2 annotations are intact)" has_peer c2n1 c3 "$(pub_of c3n2 c2)"
lab_start_daemon c3n2
check "its restarted daemon restores the annotations and it is a c1 peer again" \
  wait_for 30 has_peer c1n1 c3 "$(pub_of c3n2 c1)"
check "and reachable" wait_for 30 full_mesh c3n2 c1n1 c1n2

echo "--- restart of a node's daemon"
keys_before=$(cat "$LAB_DIR"/c1n1/keys/*.key | sha256sum)
peers_before=$(peers c1n1 c3)
c2n3_key=$(pub_of c2n3 c1)
lab_stop_daemon c1n1
lab_stop_daemon c2n3
lab_kubectl c2 delete node c2n3 >/dev/null  # deleted while c1n1's daemon is down
check "c1n1 still reaches c3 while its daemon is down" reach c1n1 c3n1
lab_start_daemon c1n1
check "c1n1 is ready again" wait_for 60 ready c1n1
check "keys unchanged" test "$(cat "$LAB_DIR"/c1n1/keys/*.key | sha256sum)" = "$keys_before"
check "c3 peers unchanged" test "$(peers c1n1 c3)" = "$peers_before"
check "the node deleted while it was down is no longer a peer" bash -c "! nsenter -t $(lab_node_get c1n1 ANCHOR) -n -m wg show wireguard.c2 peers | grep -qxF '$c2n3_key'"
check "connectivity is back by the end of the first sync" full_mesh c1n1 c2n1 c3n1 c3n2

echo "--- isolation: c1n1's c3 worker killed again and again, c2 traffic never stops"
# The worker is killed as soon as it is back, 5 times; its restarts back off (1 s, 2 s, 4 s, 8 s, ...).
lab_exec c1n1 ping -i 0.2 -c 150 -W 1 -I "$(pod_of c1n1)" "$(pod_of c2n1)" >"$TMP/ping.log" 2>&1 &
ping_pid=$!
kills=0 last=""
deadline=$((SECONDS + 28))
while ((kills < 5 && SECONDS < deadline)); do
  pid=$(worker_pid c1n1 c3)
  if [[ "$pid" =~ ^[1-9][0-9]*$ && "$pid" != "$last" ]]; then
    kill -9 "$pid" && kills=$((kills + 1)) last="$pid"
  fi
  sleep 0.2
done
wait "$ping_pid"
check "the worker was killed 5 times" test "$kills" -eq 5
check "the ping loop to c2 lost no packet ($(grep -o '[0-9]* received' "$TMP/ping.log"))" \
  grep -q '150 packets transmitted, 150 received, 0% packet loss' "$TMP/ping.log"
check "c3 comes back" wait_for 30 ready c1n1
check "c1n1 reaches c3 again" wait_for 20 full_mesh c1n1 c3n1 c3n2
check "the restarts are counted" test "$(lab_status c1n1 -json | jq '.remotes[] | select(.status.remote=="c3") | .restarts')" -ge 5

echo "--- a remote apiserver stopped for 30 s"
lab_second_apiserver c2 >/dev/null 2>&1 || fail "cannot start a second apiserver for c2"
"$ROOT/scripts/control-plane" stop-apiserver --dir "$LAB_DIR/cp" --cluster c2 2>/dev/null
X_KEY=$(wg genkey | wg pubkey)
lab_kubectl c2-b create -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"c2x","annotations":{
  "c1.wireguard.semaphore.uw.io/pubKey":"$X_KEY","c1.wireguard.semaphore.uw.io/endpoint":"192.168.99.1:51820"}},
 "spec":{"podCIDR":"10.4.9.0/24","podCIDRs":["10.4.9.0/24"]}}
JSON
peers_during=$(peers c1n1 c2)
down_ok=1
for i in $(seq 10); do
  reach c1n1 c2n1 >/dev/null || down_ok=0
  sleep 3
done
check "traffic to c2 keeps flowing while its apiserver is down" test "$down_ok" = 1
check "existing peers stay" test "$(peers c1n1 c2)" = "$peers_during"
check "the outage is visible in status (watch not healthy)" \
  bash -c "'$BIN' status -json -control-socket '$LAB_DIR/c1n1/control.sock' | jq -e '.remotes[] | select(.status.remote==\"c2\") | .status.watch != \"watching\" or .status.state == \"degraded\"' >/dev/null"
"$ROOT/scripts/control-plane" start-apiserver --dir "$LAB_DIR/cp" --cluster c2 2>/dev/null
# Every c1 node's watch on c2 backed off independently (up to 30 s); each must be back before going on.
for n in c1n1 c1n2; do
  check "$n: a change made meanwhile is applied after it returns" wait_for 60 has_peer "$n" c2 "$X_KEY"
done
check "c2 traffic still fine" full_mesh c1n1 c2n1

echo "--- a malicious remote"
routes_before=$(lab_exec c1n1 ip route | sort)
evil() {  # name cidr key
  lab_kubectl c2 create -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","annotations":{
  "c1.wireguard.semaphore.uw.io/pubKey":"$3","c1.wireguard.semaphore.uw.io/endpoint":"192.168.99.66:51820"}},
 "spec":{"podCIDR":"$2","podCIDRs":["$2"]}}
JSON
}
sleep 1.1  # the impostor below is younger than c2n1
evil evil-subnet 10.2.0.0/16 "$(wg genkey | wg pubkey)"
evil evil-all 0.0.0.0/0 "$(wg genkey | wg pubkey)"
evil evil-key 10.4.66.0/24 "$(pub_of c2n1 c1)"
rejected_all() {
  lab_exec "$1" curl -s http://127.0.0.1:7773/metrics >"$TMP/m.$1"
  grep -q '^semaphore_wg_rejected_peers{remote="c2",reason="outside_subnet"} 2$' "$TMP/m.$1" &&
    grep -q '^semaphore_wg_rejected_peers{remote="c2",reason="key_conflict"} 1$' "$TMP/m.$1"
}
for n in c1n1 c1n2; do
  check "$n: the metric counts the rejected impostors by reason" wait_for 15 rejected_all "$n"
  v=$(lab_status "$n" -v)
  check "$n: status says why (c1's subnet)" grep -Eq '^  evil-subnet +outside_subnet +pod CIDR 10.2.0.0/16 is outside the remote pod subnet 10.4.0.0/16' <<<"$v"
  check "$n: status says why (0.0.0.0/0)" grep -Eq '^  evil-all +outside_subnet +pod CIDR 0.0.0.0/0' <<<"$v"
  check "$n: status says why (stolen key)" grep -Eq '^  evil-key +key_conflict +public key is also claimed by node c2n1' <<<"$v"
  check "$n: no allowed IP of the impostors" bash -c "! nsenter -t $(lab_node_get "$n" ANCHOR) -n -m wg show wireguard.c2 allowed-ips | grep -Eq '10\.2\.0\.0/16|0\.0\.0\.0/0|10\.4\.66\.0/24'"
done
check "c1n1 routes nothing new" test "$(lab_exec c1n1 ip route | sort)" = "$routes_before"
check "traffic for c1's own pods is not sent to c2" bash -c "! ip netns exec $(lab_node_ns c1n1) ip route get 10.2.2.1 2>&1 | grep -q wireguard.c2"
check "the mesh is intact" full_mesh c1n1 c1n2 c2n1 c3n1 c3n2

check "no sanitizer reports in the daemon logs" no_sanitizer_reports "$LAB_DIR"/*/daemon.log

if ((FAILURES)); then
  for n in c1n1 c2n1; do echo "--- $n daemon log (last 30 lines)"; tail -n 30 "$LAB_DIR/$n/daemon.log"; done
fi
summary
