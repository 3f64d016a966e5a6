#!/usr/bin/env bash
# Reach (README "Reach"): chosen endpoints, nodes behind NAT, keepalive and MTU, with the real daemon, real
# kube-apiservers and wireguard-go in network namespaces. Two clusters:
#   a1 (c1)  main underlay 192.168.114.0/24 (eth0) + a second underlay 192.168.115.0/26 (eth1)
#   b1 (c2)  main underlay + the second underlay, whose address is its ExternalIP; it advertises it to c1
#            (advertiseAddressType ExternalIP): only c1's node a1 is on that segment
#   b2 (c2)  behind a NAT namespace (masquerade) on 192.168.115.64/26: its InternalIP cannot be reached
# Then bad override and keepalive values, and the MTU: the main underlay goes to 1400 under running daemons
# with wgDeviceMTU "auto", against a fixed 1420.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"

NET=192.168.114 NET2=192.168.115
ID="r$((RANDOM % 90 + 10))"
NAT_NS="swg-$ID-nat"
on_exit lab_cleanup
on_exit "ip netns del $NAT_NS"
lab_init "$TMP/lab" "$ID" "$NET"
LAB_SUBNET_c1=10.12.0.0/16 LAB_SUBNET_c2=10.14.0.0/16
lab_start_clusters c1,c2 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2; do lab_credentials "$c"; done
lab_add_node c1 a1 10.12.1.0/24
lab_add_node c2 b1 10.14.1.0/24
lab_add_node c2 b2 10.14.2.0/24

set_addresses() {  # cluster node json-array: the Node's status.addresses, as a kubelet or cloud would set them
  lab_kubectl "$1" patch node "$2" --subresource=status --type=merge -p "{\"status\":{\"addresses\":$3}}" >/dev/null
}

# The second underlay: a bridge that only a1 and b1 are on.
ip -n "$LAB_UL" link add br1 type bridge
ip -n "$LAB_UL" link set br1 up
second_underlay() {  # node host-number
  local ns
  ns=$(lab_node_ns "$1")
  ip -n "$LAB_UL" link add "s$ID-2-$2" type veth peer name eth1 netns "$ns"
  ip -n "$LAB_UL" link set "s$ID-2-$2" master br1 up
  ip -n "$ns" addr add "$NET2.$2/26" dev eth1
  ip -n "$ns" link set eth1 up
}
second_underlay a1 10
second_underlay b1 11
set_addresses c2 b1 "[{\"type\":\"InternalIP\",\"address\":\"$NET.11\"},{\"type\":\"ExternalIP\",\"address\":\"$NET2.11\"}]"

# b2 behind a NAT: its link to the main underlay is replaced by a private segment to a router that masquerades.
ip netns add "$NAT_NS"
ip -n "$NAT_NS" link set lo up
ip -n "$LAB_UL" link add "s$ID-nat" type veth peer name wan netns "$NAT_NS"
ip -n "$LAB_UL" link set "s$ID-nat" master br0 up
ip -n "$NAT_NS" addr add "$NET.5/24" dev wan
ip -n "$NAT_NS" link set wan up
B2_NS=$(lab_node_ns b2)
ip -n "$B2_NS" link del eth0
ip -n "$NAT_NS" link add lan type veth peer name eth0 netns "$B2_NS"
ip -n "$NAT_NS" addr add "$NET2.65/26" dev lan
ip -n "$NAT_NS" link set lan up
ip -n "$B2_NS" addr add "$NET2.66/26" dev eth0
ip -n "$B2_NS" link set eth0 up
ip -n "$B2_NS" route add default via "$NET2.65"
ip netns exec "$NAT_NS" sysctl -qw net.ipv4.ip_forward=1
ip netns exec "$NAT_NS" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
set_addresses c2 b2 "[{\"type\":\"InternalIP\",\"address\":\"$NET2.66\"}]"

# b1's InternalIP is not reachable from c1 for WireGuard: the main underlay drops a1<->b1 WireGuard packets,
# so that only the second underlay can carry them (roaming would otherwise pick whichever path b1 sent on).
MAIN_BLOCK=(INPUT -i eth0 -s "$NET.11" -p udp --dport 51821 -j DROP)
lab_exec a1 iptables -A "${MAIN_BLOCK[@]}"

config() {  # node remote extra-json-fields: one remote, kubeconfig credentials, listen port 51821
  local c subnet="LAB_SUBNET_$2"
  c=$(lab_node_get "$1" CLUSTER)
  mkdir -p "$LAB_DIR/$1"
  cat >"$LAB_DIR/$1/config.json" <<JSON
{"local": {"name": "$c", "kubeConfigPath": "$LAB_DIR/creds/$c/kubeconfig"},
 "remotes": [{"name": "$2", "kubeConfigPath": "$LAB_DIR/creds/$2/kubeconfig", "podSubnet": "${!subnet}",
              "wgListenPort": 51821, "resyncPeriod": "2s"$3}]}
JSON
}
config a1 c2 ', "wgDeviceMTU": "auto", "persistentKeepalive": "15s"'
config b1 c1 ', "wgDeviceMTU": "auto", "advertiseAddressType": "ExternalIP"'
config b2 c1 ''
start=$SECONDS
for n in a1 b1 b2; do lab_start_daemon "$n" -log-level debug; done

pod_of() { lab_node_get "$1" POD_IP; }
ready() { [[ $(lab_exec "$1" curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:7773/readyz) == 200 ]]; }
ping_pod() {  # src dst [ping args]: from src's pod address to dst's
  lab_exec "$1" ping -q -c 1 -W 2 -I "$(pod_of "$1")" "${@:3}" "$(pod_of "$2")" >/dev/null
}
ann() { lab_kubectl "$1" get node "$2" -o json | jq -r ".metadata.annotations[\"$3\"] // \"\""; }
pub_of() { wg pubkey <"$LAB_DIR/$1/keys/wireguard.$2.key"; }
# wg_field node device field peer-node peer-remote: one column of `wg show DEVICE FIELD` for that peer.
wg_field() { lab_wg "$1" show "$2" "$3" | awk -v k="$(pub_of "$4" "$5")" '$1 == k {print $2}'; }
remote_status() { lab_status "$1" -json | jq -r ".remotes[0].status.$2"; }
link_mtu() { lab_exec "$1" ip -o link show "$2" | sed -n 's/.* mtu \([0-9]*\) .*/\1/p'; }

echo "--- ExternalIP on a second underlay"
all_ready() { ready a1 && ready b1 && ready b2; }
check "a1, b1 and b2 are ready" wait_for 60 all_ready
all_ready || { for n in a1 b1 b2; do echo "== $n"; tail -n 15 "$LAB_DIR/$n/daemon.log"; done; summary; }
check "b1 advertises its ExternalIP to c1 (advertiseAddressType ExternalIP)" \
  test "$(ann c2 b1 c1.wireguard.semaphore.uw.io/endpoint)" = "$NET2.11:51821"
check "status names the endpoint and its source" test "$(remote_status b1 endpoint_source)" = ExternalIP
b1_ep() { wg_field a1 wireguard.c2 endpoints b1 c1; }
check "a1's peer b1 is at b1's ExternalIP" wait_for 20 eval '[[ $(b1_ep) == '"$NET2.11:51821"' ]]'
check "a1's pod reaches b1's pod, over the second underlay" wait_for 20 ping_pod a1 b1
check "and b1's pod reaches a1's" wait_for 20 ping_pod b1 a1

echo "--- a node behind NAT"
check "b2 advertises its InternalIP, which a1 cannot reach" \
  test "$(ann c2 b2 c1.wireguard.semaphore.uw.io/endpoint)" = "$NET2.66:51821"
b2_ep() { wg_field a1 wireguard.c2 endpoints b2 c1; }
check "after b2's handshake (its keepalive), a1 knows b2 at the NAT's address (roaming)" \
  wait_for 40 eval '[[ $(b2_ep) == '"$NET.5"':* ]]'
check "a1's pod reaches b2's pod behind the NAT" wait_for 20 ping_pod a1 b2
check "b2's pod reaches a1's pod" wait_for 20 ping_pod b2 a1
sleep 3  # a full resync every 2 s (resyncPeriod): the roamed endpoint must survive it
check "full resyncs keep the roamed endpoint (the annotation's is not forced back)" eval '[[ $(b2_ep) == '"$NET.5"':* ]]'
check "per-remote persistentKeepalive 15s on a1's peers" test "$(wg_field a1 wireguard.c2 persistent-keepalive b2 c1)" = 15
check "the default keepalive 25s on b2's peer a1" test "$(wg_field b2 wireguard.c1 persistent-keepalive a1 c2)" = 25
echo "reach: endpoints, NAT: $((SECONDS - start)) s"

echo "--- bad values are rejected with reasons, nothing else disturbed"
lab_kubectl c1 annotate node a1 --overwrite c2.wireguard.semaphore.uw.io/advertise-endpoint=a1.example.com:4500 >/dev/null
last_error_is_override() { remote_status a1 last_error | grep -F 'advertise-endpoint: ignoring annotation c2.wireguard.semaphore.uw.io/advertise-endpoint: "a1.example.com:4500" is not IP, IP:port or [IPv6]:port'; }
check "a bad override shows in status LAST ERROR, with the reason" wait_for 20 last_error_is_override
check "the status table shows it" bash -c "'$BIN' status -control-socket '$LAB_DIR/a1/control.sock' | grep -F 'ignoring annotation'"
check "the bad value is never advertised: the default endpoint stays" \
  test "$(ann c1 a1 c2.wireguard.semaphore.uw.io/endpoint)" = "$NET.10:51821"
lab_kubectl c1 annotate node a1 c2.wireguard.semaphore.uw.io/endpoint- >/dev/null  # the agent restores it
check "a removed endpoint annotation comes back as the default" \
  wait_for 20 eval '[[ $(ann c1 a1 c2.wireguard.semaphore.uw.io/endpoint) == '"$NET.10:51821"' ]]'
check "the warning is logged once" test "$(grep -c 'bad endpoint override' "$LAB_DIR/a1/daemon.log")" = 1
lab_kubectl c2 annotate node b1 --overwrite c1.wireguard.semaphore.uw.io/persistentKeepalive=2s >/dev/null
rejected_b1() { lab_status a1 -v | grep -E '^ +b1 +bad_keepalive +c1.wireguard.semaphore.uw.io/persistentKeepalive: "2s" is out of bounds'; }
check "a bad keepalive annotation rejects that node, with the reason" wait_for 20 rejected_b1
check "the rejected-peers metric counts it" bash -c "ip netns exec $(lab_node_ns a1) curl -s http://127.0.0.1:7773/metrics | grep -x 'semaphore_wg_rejected_peers{remote=\"c2\",reason=\"bad_keepalive\"} 1'"
check "the other peer is not disturbed" ping_pod a1 b2
lab_kubectl c2 annotate node b1 --overwrite c1.wireguard.semaphore.uw.io/persistentKeepalive=40s >/dev/null
check "a good keepalive annotation: b1 is a peer again, with keepalive 40" \
  wait_for 20 eval '[[ $(wg_field a1 wireguard.c2 persistent-keepalive b1 c1) == 40 ]]'
lab_kubectl c1 annotate node a1 c2.wireguard.semaphore.uw.io/advertise-endpoint- >/dev/null
check "with the bad override gone, LAST ERROR clears" wait_for 20 eval '[[ -z $(remote_status a1 last_error) ]]'

echo "--- MTU"
check "auto: a1's interface is eth0's 1500 minus 60" test "$(link_mtu a1 wireguard.c2)" = 1440
check "status shows the MTU and where it comes from" \
  test "$(remote_status a1 mtu_source)" = "auto: eth0 (MTU 1500) holds $NET.10, minus 60 for IPv4"
check "the MTU metric, with its source" bash -c "ip netns exec $(lab_node_ns a1) curl -s http://127.0.0.1:7773/metrics | grep -x 'semaphore_wg_device_mtu{device=\"wireguard.c2\",source=\"auto\"} 1440'"
# b1 moves to the main underlay with the node-wide override (no port: the listen port), which now carries it.
lab_exec a1 iptables -D "${MAIN_BLOCK[@]}"
lab_kubectl c2 annotate node b1 --overwrite wireguard.semaphore.uw.io/advertise-endpoint="$NET.11" >/dev/null
check "b1 advertises the override" wait_for 20 eval '[[ $(ann c2 b1 c1.wireguard.semaphore.uw.io/endpoint) == '"$NET.11:51821"' ]]'
lab_kubectl c2 annotate node b1 c1.wireguard.semaphore.uw.io/endpoint- >/dev/null
check "and keeps it when it restores its annotations" \
  wait_for 20 eval '[[ $(ann c2 b1 c1.wireguard.semaphore.uw.io/endpoint) == '"$NET.11:51821"' ]]'
check "a1's peer b1 follows it" wait_for 20 eval '[[ $(b1_ep) == '"$NET.11:51821"' ]]'
# The main underlay shrinks to 1400 under the running daemons.
for n in a1 b1; do lab_exec "$n" ip link set eth0 mtu 1400; done
for l in $(ip -n "$LAB_UL" -o link show master br0 | awk -F': ' '{print $2}' | cut -d@ -f1); do
  ip -n "$LAB_UL" link set "$l" mtu 1400
done
check "a1's interface follows the underlay's new MTU: 1340" wait_for 30 eval '[[ $(link_mtu a1 wireguard.c2) == 1340 ]]'
check "b1's too" wait_for 30 eval '[[ $(link_mtu b1 wireguard.c1) == 1340 ]]'
# The node's IP FragCreates counter (found by its header: newer kernels add columns).
frags() { lab_exec "$1" awk '/^Ip:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 } else print $c["FragCreates"] }' /proc/net/snmp; }
# A network that does not carry IP fragments (many cloud networks, load balancers and firewalls don't).
lab_exec b1 iptables -t raw -A PREROUTING -f -j DROP
f0=$(frags a1)
check "auto: a full-size packet (1312 bytes, don't fragment) crosses" wait_for 10 ping_pod a1 b1 -M do -s 1312
check "with -s 1300 too" ping_pod a1 b1 -M do -s 1300
check "and the underlay carries it whole (no fragments)" test "$(frags a1)" = "$f0"
refused() { { lab_exec a1 ping -c 1 -W 2 -M do -s 1392 -I "$(pod_of a1)" "$(pod_of b1)" || true; } 2>&1 | grep 'message too long'; }
check "auto: a larger one is refused at the sender (\"message too long\"), which learns the MTU" refused
lab_stop_daemon a1
config a1 c2 ', "wgDeviceMTU": 1420'
lab_start_daemon a1
check "fixed 1420: a1 is ready again with MTU 1420" wait_for 30 eval 'ready a1 && [[ $(link_mtu a1 wireguard.c2) == 1420 ]]'
check "fixed 1420: -s 1300 still crosses" wait_for 10 ping_pod a1 b1 -M do -s 1300
f0=$(frags a1)
lost() { ! "$@"; }
check "fixed 1420: the same full-size test (1392 bytes, don't fragment) is lost" lost ping_pod a1 b1 -M do -s 1392
check "because the tunnel's packet was fragmented on the underlay" test "$(frags a1)" -gt "$f0"
echo "reach: total $((SECONDS - start)) s"

check "no daemon exited" bash -c "for n in a1 b1 b2; do kill -0 \$(cat '$LAB_DIR'/\$n/pid) || exit 1; done"
summary
