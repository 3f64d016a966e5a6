#!/usr/bin/env bash
# The daemon for real: one node (a network namespace running semaphore-wireguard with wireguard-go), its local
# cluster c1 and two remote clusters c2 and c3 (real kube-apiservers), and one real remote peer r1 (wireguard-go
# configured by hand in its own namespace). Checks what an operator would: annotations, peers, rejected nodes
# and their reasons, removals, worker crash/hang isolation, health endpoints, metrics, status, and a restart
# that changes nothing on the network.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"
ID="d$((RANDOM % 90 + 10))"
on_exit lab_cleanup
lab_init "$TMP/lab" "$ID" "192.168.$((200 + RANDOM % 50))"
LAB_SUBNET_c2=10.4.0.0/16
LAB_SUBNET_c3=10.6.0.0/16
lab_start_clusters c1,c2,c3 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2 c3; do lab_credentials "$c"; done
lab_serve_cas || exit 1

lab_add_node c1 n1 10.2.1.0/24
lab_add_node c2 r1 10.4.1.0/24
N1_IP=$(lab_node_get n1 IP)
R1_IP=$(lab_node_get r1 IP)
# c2 in token + CA URL mode, c3 through a kubeconfig.
lab_config n1 c2=token c3=kubeconfig

# n1's key for c2 comes from `wg genkey`, so r1 can be configured before the daemon starts.
mkdir -p "$LAB_DIR/n1/keys" && chmod 700 "$LAB_DIR/n1/keys"
(umask 077 && wg genkey >"$LAB_DIR/n1/keys/wireguard.c2.key")
N1_C2_PUB=$(wg pubkey <"$LAB_DIR/n1/keys/wireguard.c2.key")
R1_PRIV=$(wg genkey)
R1_PUB=$(wg pubkey <<<"$R1_PRIV")

# r1: a real WireGuard peer, configured by hand, routing c1's pod subnet to n1.
lab_hand_peer r1 "$R1_PRIV" "$N1_C2_PUB" "$N1_IP:51821" 10.2.0.0/16

ann() { printf '"c1.wireguard.semaphore.uw.io/pubKey":"%s","c1.wireguard.semaphore.uw.io/endpoint":"%s"' "$1" "$2"; }
node_json() {  # name cidr annotations
  printf '{"apiVersion":"v1","kind":"Node","metadata":{"name":"%s","annotations":{%s}},"spec":{"podCIDR":"%s","podCIDRs":["%s"]},"status":{"addresses":[{"type":"InternalIP","address":"192.168.99.9"}]}}' \
    "$1" "$3" "$2" "$2"
}
lab_kubectl c2 annotate node r1 "c1.wireguard.semaphore.uw.io/pubKey=$R1_PUB" \
  "c1.wireguard.semaphore.uw.io/endpoint=$R1_IP:51820" >/dev/null
sleep 1.1  # the nodes below are younger than r1, so r1 wins every conflict
K() { wg genkey | wg pubkey; }
re() { sed 's/[][\.*^$+?(){}|/]/\\&/g' <<<"$1"; }  # a literal for grep -E
node_json bad-key 10.4.2.0/24 "$(ann not-a-key 192.168.99.2:51820)" | lab_kubectl c2 create -f - >/dev/null
node_json no-port 10.4.3.0/24 "$(ann "$(K)" 192.168.99.3)" | lab_kubectl c2 create -f - >/dev/null
node_json outside 10.2.9.0/24 "$(ann "$(K)" 192.168.99.4:51820)" | lab_kubectl c2 create -f - >/dev/null
node_json everything 0.0.0.0/0 "$(ann "$(K)" 192.168.99.5:51820)" | lab_kubectl c2 create -f - >/dev/null
node_json dup-cidr 10.4.1.0/24 "$(ann "$(K)" 192.168.99.6:51820)" | lab_kubectl c2 create -f - >/dev/null
node_json dup-key 10.4.7.0/24 "$(ann "$R1_PUB" 192.168.99.7:51820)" | lab_kubectl c2 create -f - >/dev/null
S1_PUB=$(K) S2_PUB=$(K)
node_json s1 10.6.1.0/24 "$(ann "$S1_PUB" 192.168.98.1:51820)" | lab_kubectl c3 create -f - >/dev/null
node_json s2 10.6.2.0/24 "$(ann "$S2_PUB" 192.168.98.2:51820)" | lab_kubectl c3 create -f - >/dev/null

URL=http://127.0.0.1:7773
n1_http() { lab_exec n1 curl -s --max-time 10 "$@"; }
healthz_is() { [[ $(lab_exec n1 curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/healthz") == "$1" ]]; }
readyz_is() { [[ $(lab_exec n1 curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/readyz") == "$1" ]]; }
status_json() { lab_status n1 -json; }
worker_pid() { status_json | jq -r ".remotes[] | select(.status.remote==\"$1\") | .status.pid"; }
peers_of() { lab_wg n1 show "wireguard.$1" peers | sort | tr '\n' ' '; }

echo "--- start"
lab_start_daemon n1 -worker-heartbeat-timeout 3s
check "readyz 200 once both remotes are in sync" wait_for 90 readyz_is 200
check "healthz 200" healthz_is 200
check "auto fell back to wireguard-go with one clear line" \
  grep -q 'the kernel has no WireGuard (link type "wireguard" unknown): using wireguard-go instead' "$LAB_DIR/n1/daemon.log"

echo "--- annotations on the local node"
annotations=$(lab_kubectl c1 get node n1 -o json | jq -c .metadata.annotations)
check "c2 pubKey annotation is the key from wg genkey" \
  test "$(jq -r '."c2.wireguard.semaphore.uw.io/pubKey"' <<<"$annotations")" = "$N1_C2_PUB"
check "c2 endpoint annotation" test "$(jq -r '."c2.wireguard.semaphore.uw.io/endpoint"' <<<"$annotations")" = "$N1_IP:51821"
check "c3 pubKey annotation matches the key file" \
  test "$(jq -r '."c3.wireguard.semaphore.uw.io/pubKey"' <<<"$annotations")" = "$(wg pubkey <"$LAB_DIR/n1/keys/wireguard.c3.key")"
check "c3 endpoint annotation" test "$(jq -r '."c3.wireguard.semaphore.uw.io/endpoint"' <<<"$annotations")" = "$N1_IP:51822"
check "key files are 0600" test "$(stat -c %a "$LAB_DIR/n1/keys/wireguard.c3.key")" = 600

echo "--- peers and rejected nodes"
check "c2 has exactly the valid peer r1" test "$(peers_of c2)" = "$R1_PUB "
check "r1's allowed IPs are its pod CIDR" test "$(lab_wg n1 show wireguard.c2 allowed-ips)" = "$R1_PUB	10.4.1.0/24"
check "c3 has s1 and s2" test "$(peers_of c3)" = "$(printf '%s\n%s\n' "$S1_PUB" "$S2_PUB" | sort | tr '\n' ' ')"
check "keepalive 25 s" grep -q "25$" <(lab_wg n1 show wireguard.c3 persistent-keepalive)
check "route for the c2 pod subnet via wireguard.c2" grep -q '^10.4.0.0/16 dev wireguard.c2 proto 87 scope link' <(lab_exec n1 ip route)
check "pods reach across the tunnel (n1 -> r1)" lab_exec n1 ping -c 2 -W 2 -I 10.2.1.1 10.4.1.1
check "a handshake happened" test "$(lab_wg n1 show wireguard.c2 latest-handshakes | awk '{print $2}')" -gt 0
verbose=$(lab_status n1 -v)
for expect in "bad-key +bad_key +public key \"not-a-key\" is not 44 base64 characters" \
              "no-port +bad_endpoint +endpoint \"192.168.99.3\" is not a numeric" \
              "outside +outside_subnet +pod CIDR 10.2.9.0/24 is outside the remote pod subnet 10.4.0.0/16" \
              "everything +outside_subnet +pod CIDR 0.0.0.0/0 is outside" \
              "dup-cidr +cidr_conflict +pod CIDR 10.4.1.0/24 overlaps 10.4.1.0/24 of node r1, which keeps it \(older\)" \
              "dup-key +key_conflict +public key is also claimed by node r1, which keeps it \(older\)"; do
  check "status -v: ${expect%% *}" grep -Eq "^  $expect" <<<"$verbose"
done
check "status -v names r1 as a peer with its endpoint" grep -Eq "^  r1 +$(re "$R1_PUB") +$R1_IP:51820 +10.4.1.0/24 +[0-9]+s ago" <<<"$verbose"
check "rejections logged with node and reason" \
  grep -q 'warn  remote node rejected remote=c2 node=dup-key reason=key_conflict' "$LAB_DIR/n1/daemon.log"
n1_http "$URL/metrics" >"$TMP/metrics"
check "metrics pass promtool" promtool check metrics <"$TMP/metrics"
# semaphore_wg_mirror_* only exist with a remote in mirror mode: mirror_agent_test checks those queries.
check "deploy/monitoring queries only metrics the daemon exports" \
  python3 "$ROOT/tests/deploy/monitoring_names.py" --skip-prefix semaphore_wg_mirror_ "$ROOT/deploy/monitoring" "$TMP/metrics"
check "rejected metric by reason" grep -q '^semaphore_wg_rejected_peers{remote="c2",reason="outside_subnet"} 2$' "$TMP/metrics"
check "peer info metric" grep -q "^semaphore_wg_peer_info{device=\"wireguard.c2\",public_key=\"$R1_PUB\",endpoint=\"$R1_IP:51820\",node=\"r1\"} 1$" "$TMP/metrics"
check "per-peer series carry the peer's node" grep -Eq "^semaphore_wg_peer_last_handshake_seconds\{device=\"wireguard.c2\",public_key=\"$(re "$R1_PUB")\",node=\"r1\"\} [1-9]" "$TMP/metrics"
check "device info metric" grep -q "^semaphore_wg_device_info{device=\"wireguard.c2\",public_key=\"$N1_C2_PUB\"} 1$" "$TMP/metrics"
check "kube request metric" grep -Eq '^semaphore_wg_kube_http_request_total\{host="[0-9.]+:[0-9]+",code="200",method="PATCH"\} [1-9]' "$TMP/metrics"
check "sync metric" grep -Eq '^semaphore_wg_sync_peers_total\{device="wireguard.c3",success="1"\} [1-9]' "$TMP/metrics"
sleep 1.1  # past the supervisor's one-second cache: the workers read their devices again
n1_http "$URL/metrics" >"$TMP/metrics"
check "the next scrape shows the peers again (a worker keeps no series between scrapes)" \
  grep -q "^semaphore_wg_peer_info{device=\"wireguard.c2\",public_key=\"$R1_PUB\",endpoint=\"$R1_IP:51820\",node=\"r1\"} 1$" "$TMP/metrics"

echo "--- removals follow the remote cluster"
lab_kubectl c3 annotate node s2 c1.wireguard.semaphore.uw.io/pubKey- >/dev/null
check "a node that loses an annotation stops being a peer" wait_for 10 bash -c "[[ \"\$(nsenter -t $(lab_node_get n1 ANCHOR) -n -m wg show wireguard.c3 peers)\" == '$S1_PUB' ]]"
check "... and is reported as missing an annotation" wait_for 5 bash -c "'$BIN' status -v -control-socket '$LAB_DIR/n1/control.sock' | grep -Eq '^  s2 +missing_annotation'"
lab_kubectl c3 delete node s1 >/dev/null
check "a deleted node stops being a peer" wait_for 10 bash -c "[[ -z \"\$(nsenter -t $(lab_node_get n1 ANCHOR) -n -m wg show wireguard.c3 peers)\" ]]"
check "the removal is logged" grep -q "info  peer removed remote=c3 device=wireguard.c3 node=s1 peer=\"$S1_PUB\"" "$LAB_DIR/n1/daemon.log"

echo "--- a worker killed with SIGKILL; the other pairing is untouched"
c2_pid=$(worker_pid c2) c3_pid=$(worker_pid c3)
hs_before=$(lab_wg n1 show wireguard.c2 latest-handshakes)
rx_before=$(lab_wg n1 show wireguard.c3 transfer)
kill -9 "$c3_pid"
check "healthz shows the gap" wait_for 3 bash -c "ip netns exec $(lab_node_ns n1) curl -s $URL/healthz | grep -q '^not healthy: c3'"
check "c3 back within seconds" wait_for 15 readyz_is 200
check "c3 has a new worker" test "$(worker_pid c3)" != "$c3_pid"
check "c2 worker untouched" test "$(worker_pid c2)" = "$c2_pid"
check "c2 handshake state untouched" test "$(lab_wg n1 show wireguard.c2 latest-handshakes)" = "$hs_before"
check "c2 still has its peer" test "$(peers_of c2)" = "$R1_PUB "
check "traffic to r1 still flows" lab_exec n1 ping -c 1 -W 2 -I 10.2.1.1 10.4.1.1

echo "--- a worker stopped with SIGSTOP is detected as hung and replaced"
c2_pid=$(worker_pid c2)
kill -STOP "$c2_pid"
check "hung worker replaced" wait_for 20 bash -c "p=\$('$BIN' status -json -control-socket '$LAB_DIR/n1/control.sock' | jq -r '.remotes[] | select(.status.remote==\"c2\") | .status.pid'); [[ \$p != $c2_pid && \$p != 0 ]]"
check "healthy again" wait_for 20 readyz_is 200
check "r1 still a peer" test "$(peers_of c2)" = "$R1_PUB "

echo "--- restart of the whole daemon: nothing torn down, keys unchanged, stale peers removed"
keys_before=$(cat "$LAB_DIR"/n1/keys/*.key | sha256sum)
hs_before=$(lab_wg n1 show wireguard.c2 latest-handshakes)
wggo_of_n1() { for p in $(ip netns pids "$(lab_node_ns n1)"); do grep -qx 'wireguard-go -f wireguard.c2 ' <(tr '\0' ' ' </proc/$p/cmdline) && echo "$p"; done; }
wggo_before=$(wggo_of_n1)
daemon_pid=$(lab_daemon_pid n1)
STALE=$(K)
lab_wg n1 set wireguard.c3 peer "$STALE" allowed-ips 10.6.99.0/24
lab_stop_daemon n1 TERM
check "the daemon exited on SIGTERM" bash -c "! kill -0 $daemon_pid 2>/dev/null"
check "the interface stays while the daemon is down" lab_exec n1 ip link show wireguard.c2
check "traffic flows while the daemon is down" lab_exec n1 ping -c 1 -W 2 -I 10.2.1.1 10.4.1.1
lab_start_daemon n1 -worker-heartbeat-timeout 3s
check "ready again" wait_for 60 readyz_is 200
check "same keys" test "$(cat "$LAB_DIR"/n1/keys/*.key | sha256sum)" = "$keys_before"
check "one wireguard-go for c2, the same process" test "$(wggo_of_n1)" = "$wggo_before"
hs_after=$(lab_wg n1 show wireguard.c2 latest-handshakes)
check "same handshake (session kept: $hs_before / $hs_after)" test "$hs_after" = "$hs_before"
check "the stale peer found at start-up is removed" wait_for 10 bash -c "! nsenter -t $(lab_node_get n1 ANCHOR) -n -m wg show wireguard.c3 peers | grep -q '$STALE'"
check "adopting is logged" grep -q 'adopted the existing interface remote=c2' "$LAB_DIR/n1/daemon.log"

check "no sanitizer reports in the daemon logs" no_sanitizer_reports "$LAB_DIR"/n1/daemon.log

if ((FAILURES)); then
  echo "--- daemon log (last 60 lines)"
  tail -n 60 "$LAB_DIR/n1/daemon.log"
  echo "--- status -v"
  lab_status n1 -v
fi
summary
