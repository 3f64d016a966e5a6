#!/usr/bin/env bash
# Remote nodes as users meet them, with the daemon for real: one local node n1 (semaphore-wireguard with
# wireguard-go) and a remote cluster c2 (a real kube-apiserver) with two real WireGuard peers configured by hand.
#  1. r1 is dual-stack (an IPv4 and an IPv6 pod CIDR): with podSubnets it is a peer with both, a route for each
#     subnet, IPv4 and IPv6 pods reach each other;
#  2. with the original's single IPv4 podSubnet it is a peer with its IPv4 CIDR, and the IPv6 route is deleted;
#  3. r2 moved (its endpoint annotation changed) while the daemon was down: after the restart its new endpoint
#     is used, while r1, a live peer that roamed, keeps the endpoint its packets come from.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"
on_exit lab_cleanup
lab_init "$TMP/lab" "u$((RANDOM % 90 + 10))" "192.168.$((100 + RANDOM % 10))"
LAB_SUBNET_c2=10.4.0.0/16
lab_start_clusters c1,c2 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2; do lab_credentials "$c"; done

lab_add_node c1 n1 10.2.1.0/24
lab_add_node c2 r1 10.4.1.0/24
lab_add_node c2 r2 10.4.2.0/24
N1_IP=$(lab_node_get n1 IP) R1_IP=$(lab_node_get r1 IP) R2_IP=$(lab_node_get r2 IP)
# Where r2 was before it moved: an address of the lab's segment that nobody has.
R2_OLD="$LAB_NET.250:51820"
lab_config n1 c2=kubeconfig
CONFIG="$LAB_DIR/n1/config.json"
cp "$CONFIG" "$TMP/config-v4.json"
jq '.remotes[0] |= (del(.podSubnet) + {podSubnets: ["10.4.0.0/16", "fd00:4::/48"]})' "$TMP/config-v4.json" \
  >"$TMP/config-dual.json"

# IPv6 pod addresses beside the IPv4 ones; r1's Node becomes dual-stack as a dual-stack cluster assigns it.
lab_exec n1 ip -6 addr add fd00:2:0:1::1/128 dev lo
lab_exec r1 ip -6 addr add fd00:4:0:1::1/128 dev lo
lab_kubectl c2 delete node r1 >/dev/null
lab_kubectl c2 create -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"r1"},
 "spec":{"podCIDR":"10.4.1.0/24","podCIDRs":["10.4.1.0/24","fd00:4:0:1::/64"]},
 "status":{"addresses":[{"type":"InternalIP","address":"$R1_IP"}]}}
JSON

# n1's key for c2 comes from `wg genkey`, so the remote peers can be configured before the daemon starts.
mkdir -p "$LAB_DIR/n1/keys" && chmod 700 "$LAB_DIR/n1/keys"
(umask 077 && wg genkey >"$LAB_DIR/n1/keys/wireguard.c2.key")
N1_PUB=$(wg pubkey <"$LAB_DIR/n1/keys/wireguard.c2.key")
R1_PRIV=$(wg genkey) R2_PRIV=$(wg genkey)
R1_PUB=$(wg pubkey <<<"$R1_PRIV") R2_PUB=$(wg pubkey <<<"$R2_PRIV")

# wg_peer NODE PRIVATE_KEY ALLOWED_IPS [wg peer options]: a hand-made WireGuard peer of n1 in NODE, routing
# c1's pod subnets to n1.
wg_peer() {
  lab_ns_exec "$1" sh -c '
    priv=$1 peer=$2 ips=$3
    shift 3
    wireguard-go wgr >/dev/null 2>&1
    key=$(mktemp) && echo "$priv" >"$key" && wg set wgr private-key "$key" listen-port 51820 peer "$peer" allowed-ips "$ips" "$@"
    rm -f "$key"
    ip link set wgr up
    for net in $(echo "$ips" | tr , " "); do ip route add "$net" dev wgr; done' sh "${@:2}"
}
# r1 knows n1's endpoint and keeps the session alive; r2 only answers (it learns n1's endpoint from n1's packets).
wg_peer r1 "$R1_PRIV" "$N1_PUB" 10.2.0.0/16,fd00:2::/48 endpoint "$N1_IP:51821" persistent-keepalive 25
wg_peer r2 "$R2_PRIV" "$N1_PUB" 10.2.0.0/16

annotate() {  # NODE ENDPOINT [PUBKEY]
  lab_kubectl c2 annotate --overwrite node "$1" ${3:+"c1.wireguard.semaphore.uw.io/pubKey=$3"} \
    "c1.wireguard.semaphore.uw.io/endpoint=$2" >/dev/null
}
annotate r1 "$R1_IP:51820" "$R1_PUB"
annotate r2 "$R2_OLD" "$R2_PUB"

URL=http://127.0.0.1:7773
readyz_is() { [[ $(lab_exec n1 curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$URL/readyz") == "$1" ]]; }
# allowed_ips KEY: the peer's allowed IPs on n1's wireguard.c2, sorted, space-separated.
allowed_ips() { lab_wg n1 show wireguard.c2 allowed-ips | awk -v k="$1" '$1 == k { $1 = ""; print }' | tr ' ' '\n' | sed '/^$/d' | sort | xargs; }
endpoint_of() { lab_wg n1 show wireguard.c2 endpoints | awk -v k="$1" '$1 == k { print $2 }'; }
handshake_of() { lab_wg n1 show wireguard.c2 latest-handshakes | awk -v k="$1" '$1 == k { print $2 }'; }
routes() { lab_exec n1 ip "-$1" -o route show dev wireguard.c2 proto 87 | awk '{ print $1 }' | xargs; }
is() { [[ "$("${@:2}")" == "$1" ]]; }  # is EXPECTED command...: the command prints exactly EXPECTED
start_daemon() {
  lab_start_daemon n1
  check "$1: ready" wait_for 90 readyz_is 200
}

echo "--- 1. a dual-stack remote with podSubnets"
cp "$TMP/config-dual.json" "$CONFIG"
check "check-config accepts and prints podSubnets" \
  is '["10.4.0.0/16","fd00:4::/48"]' bash -c "'$BIN' check-config -clusters-config '$CONFIG' | jq -c '.remotes[0].podSubnets'"
start_daemon "dual-stack"
check "r1's allowed IPs hold both pod CIDRs" wait_for 10 is "10.4.1.0/24 fd00:4:0:1::/64" allowed_ips "$R1_PUB"
check "a route for the IPv4 subnet on wireguard.c2" is "10.4.0.0/16" routes 4
check "a route for the IPv6 subnet on wireguard.c2" is "fd00:4::/48" routes 6
check "IPv4 pods reach each other across (n1 -> r1)" lab_exec n1 ping -c 2 -W 2 -I 10.2.1.1 10.4.1.1
check "IPv6 pods reach each other across (n1 -> r1)" lab_exec n1 ping -6 -c 2 -W 2 -I fd00:2:0:1::1 fd00:4:0:1::1
check "status -v shows r1 with both CIDRs" \
  grep -Eq "^  r1 +.* (10\.4\.1\.0/24,fd00:4:0:1::/64|fd00:4:0:1::/64,10\.4\.1\.0/24) " <(lab_status n1 -v)
check "no node rejected" grep -q "^c2: 0 rejected node(s)$" <(lab_status n1 -v)

echo "--- 2. the same remote with the original's IPv4 podSubnet, after a restart"
lab_stop_daemon n1 TERM
cp "$TMP/config-v4.json" "$CONFIG"
start_daemon "IPv4 podSubnet"
check "r1 is a peer with its IPv4 CIDR only" wait_for 10 is "10.4.1.0/24" allowed_ips "$R1_PUB"
check "the IPv6 route is deleted" wait_for 10 is "" routes 6
check "the IPv4 route stays" is "10.4.0.0/16" routes 4
check "IPv4 pods still reach each other" lab_exec n1 ping -c 2 -W 2 -I 10.2.1.1 10.4.1.1
check "r1 is not rejected" grep -q "^c2: 0 rejected node(s)$" <(lab_status n1 -v)
check "the ignored IPv6 CIDR is logged, once" \
  is 1 grep -c 'remote nodes have IPv6 pod CIDRs but no IPv6 pod subnet is configured.* node=r1 pod_cidr=fd00:4:0:1::/64' "$LAB_DIR/n1/daemon.log"
check "the route deletion is logged" \
  grep -q 'deleted a route to a subnet no longer configured remote=c2 device=wireguard.c2 route=fd00:4::/48' "$LAB_DIR/n1/daemon.log"

echo "--- 3. an endpoint changed while the daemon was down"
check "r2 has never had a handshake at its old endpoint" is "0" handshake_of "$R2_PUB"
check "n1 uses r2's old endpoint" is "$R2_OLD" endpoint_of "$R2_PUB"
# r1 roams: it advertises an address its packets do not come from (as behind NAT); n1 follows its packets.
annotate r1 "$LAB_NET.251:51820"
check "the advertised endpoint is applied while the daemon runs" wait_for 10 is "$LAB_NET.251:51820" endpoint_of "$R1_PUB"
lab_exec r1 ping -c 1 -W 2 -I 10.4.1.1 10.2.1.1 >/dev/null
check "r1's packets move its endpoint back (roaming)" wait_for 30 is "$R1_IP:51820" endpoint_of "$R1_PUB"
lab_stop_daemon n1 TERM
annotate r2 "$R2_IP:51820"
start_daemon "restarted"
check "r2's new endpoint is applied after the restart" wait_for 30 is "$R2_IP:51820" endpoint_of "$R2_PUB"
# WireGuard sends a new handshake initiation at most every 5 s (REKEY_TIMEOUT): the first pings may go unanswered.
check "pods reach r2 at its new address" wait_for 30 lab_exec n1 ping -c 1 -W 1 -I 10.2.1.1 10.4.2.1
check "a handshake with r2" test "$(handshake_of "$R2_PUB")" -gt 0
check "the endpoint update is logged" \
  grep -q "peer updated remote=c2 device=wireguard.c2 node=r2 peer=\"$R2_PUB\" endpoint=$R2_IP:51820" "$LAB_DIR/n1/daemon.log"
check "r1, live, keeps the endpoint it roamed to" is "$R1_IP:51820" endpoint_of "$R1_PUB"
check "r1 still reachable" lab_exec n1 ping -c 1 -W 2 -I 10.2.1.1 10.4.1.1

check "no sanitizer reports in the daemon log" no_sanitizer_reports "$LAB_DIR"/n1/daemon.log
if ((FAILURES)); then
  echo "--- daemon log (last 60 lines)"
  tail -n 60 "$LAB_DIR/n1/daemon.log"
  echo "--- status -v"
  lab_status n1 -v
  lab_wg n1 show wireguard.c2
fi
summary
