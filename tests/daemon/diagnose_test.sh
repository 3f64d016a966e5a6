#!/usr/bin/env bash
# `semaphore-wireguard diagnose` on a node, as an operator runs it. n1 (cluster c1) pairs with cluster c2:
#  1. r1, healthy: pods ping each other, diagnose finds nothing wrong (exit 0), in text and JSON;
#  2. r2 drops UDP to its WireGuard port (an iptables rule in r2's own network namespace): diagnose names r2,
#     with no handshake, and the hint (blocked UDP, the remote not having us, NAT), exit 1;
#  3. r3 does not know n1 (its config's c1 pod subnet does not hold n1's pod CIDR, so r3 rejects n1 and its
#     device has no peer for it, while r3 still advertises itself): diagnose names r3 the same way.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"
on_exit lab_cleanup
lab_init "$TMP/lab" "g$((RANDOM % 90 + 10))" "192.168.$((116 + RANDOM % 2))"
LAB_SUBNET_c1=10.2.0.0/16 LAB_SUBNET_c2=10.4.0.0/16
lab_start_clusters c1,c2 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2; do lab_credentials "$c"; done
lab_add_node c1 n1 10.2.1.0/24
lab_add_node c2 r1 10.4.1.0/24
lab_config n1 c2=kubeconfig
lab_config r1 c1=kubeconfig
lab_start_daemon n1
lab_start_daemon r1

# diagnose on n1, inside the node (its network namespace: links, routes, sysctls and sockets are the node's).
diagnose() {
  lab_exec n1 "$BIN" diagnose -control-socket "$LAB_DIR/n1/control.sock" \
    -clusters-config "$LAB_DIR/n1/config.json" "$@"
}
ping_pod() { lab_exec n1 ping -c 1 -W 1 -I 10.2.1.1 "$1"; }
ready() { lab_status n1 >/dev/null; }
n1_peers() { lab_wg n1 show wireguard.c2 peers | wc -l; }

echo "--- a healthy pairing"
check "pods reach each other (n1 -> r1)" wait_for 60 ping_pod 10.4.1.1
check "pods reach each other (r1 -> n1)" wait_for 30 lab_exec r1 ping -c 1 -W 1 -I 10.4.1.1 10.2.1.1
check "the agent is ready" wait_for 30 ready
start=$SECONDS
out=$(diagnose)
rc=$?
echo "$out" | sed 's/^/     > /'
echo "     (diagnose took $((SECONDS - start)) s)"
check "diagnose exits 0" test "$rc" = 0
no_problem() { ! grep -q '^problem' <<<"$out"; }
check "no finding is a problem" no_problem
check "the interface is up" grep -Eq '^ok +c2 +interface +wireguard.c2 is up$' <<<"$out"
check "the pod subnet's route lookup goes through the interface" \
  grep -Eq '^ok +c2 +route +route to 10.4.0.0/16 \(lookup of 10.4.0.1\) goes through wireguard.c2$' <<<"$out"
check "the peer's pod CIDR too" grep -Eq '^ok +c2 +route +route to 10.4.1.0/24 .* goes through wireguard.c2$' <<<"$out"
check "rp_filter is reported" grep -Eq '^(ok|warn) +c2 +rp_filter +rp_filter [0-2] on wireguard.c2' <<<"$out"
check "the UDP port is bound" grep -Eq '^ok +c2 +udp +UDP port 51821 is bound$' <<<"$out"
check "r1's handshake is fresh" grep -Eq '^ok +c2 +handshake +1 peer\(s\) with a handshake in the last 3 minutes$' <<<"$out"
lines=$(wc -l <<<"$out")
diagnose -json >"$TMP/healthy.json"
check "-json: exit 0, no problems, every finding" \
  jq -e --argjson n "$lines" '.problems == false and (.findings | length) == $n' "$TMP/healthy.json"
out=$(diagnose -remote c9 2>&1)
rc=$?
check "an unknown remote: exit 1" test "$rc" = 1
check "and it is named" grep -q 'unknown remote "c9": this node.s remotes are c2' <<<"$out"

echo "--- r2 drops UDP to its WireGuard port; r3 does not have n1 as a peer"
lab_add_node c2 r2 10.4.2.0/24
lab_add_node c2 r3 10.4.3.0/24
lab_exec r2 iptables -A INPUT -p udp --dport 51821 -j DROP
lab_config r2 c1=kubeconfig
LAB_SUBNET_c1=10.9.0.0/16 lab_config r3 c1=kubeconfig  # n1's pod CIDR 10.2.1.0/24 is outside: rejected
lab_start_daemon r2
lab_start_daemon r3
three_peers() { [[ $(lab_wg n1 show wireguard.c2 peers | wc -l) == 3 ]]; }
check "n1 has r1, r2 and r3 as peers" wait_for 60 three_peers
r3_rejects_n1() { lab_status r3 -v | grep -Eq '^  n1 +outside_subnet'; }
check "r3 rejects n1 (so its device has no peer for n1)" wait_for 60 r3_rejects_n1
check "r3's device has no peer" test -z "$(lab_wg r3 show wireguard.c1 peers)"
# Pods on n1 try to reach r2's and r3's pods; the keepalive (25 s by default) sends handshakes as well.
lab_exec n1 ping -c 3 -W 1 -I 10.2.1.1 10.4.2.1 >/dev/null 2>&1
lab_exec n1 ping -c 3 -W 1 -I 10.2.1.1 10.4.3.1 >/dev/null 2>&1
R2_PUB=$(lab_kubectl c2 get node r2 -o jsonpath='{.metadata.annotations.c1\.wireguard\.semaphore\.uw\.io/pubKey}')
r2_heard() { lab_wg n1 show wireguard.c2 transfer | awk -v k="$R2_PUB" '$1 == k && $2 > 0 { found = 1 } END { exit !found }'; }
check "r2's handshake initiations reach n1 (its keepalive starts them)" wait_for 60 r2_heard
out=$(diagnose)
rc=$?
echo "$out" | sed 's/^/     > /'
check "diagnose exits 1" test "$rc" = 1
R2_IP=$(lab_node_get r2 IP) R3_IP=$(lab_node_get r3 IP)
# r2's handshakes reach n1 (only its own port drops UDP), so r2 has n1 as a peer: the answers are what is lost.
check "r2 is named: no handshake although packets went both ways" \
  grep -Eq "^problem +c2 +handshake +peer r2 \($R2_IP:51821\): never had a handshake, although [0-9]+ bytes were sent to it and [0-9]+ received from it" <<<"$out"
check "with the hint: it has us, UDP blocked on the way to it or NAT" \
  grep -Eq "^problem +c2 +handshake +peer r2 .* -- hint: its handshakes reach this node, so it has this node as a peer, but the answers do not get back to it: UDP is blocked on the way to $R2_IP:51821 .*NAT" <<<"$out"
# r3 sends nothing to n1 (it does not have n1): nothing comes back.
check "r3 is named: no handshake, nothing received" \
  grep -Eq "^problem +c2 +handshake +peer r3 \($R3_IP:51821\): never had a handshake, although [0-9]+ bytes were sent to it \(nothing received\)" <<<"$out"
check "with the hint: the remote does not have us (mesh), UDP blocked, NAT" \
  grep -Eq "^problem +c2 +handshake +peer r3 .* -- hint: usually: the remote node does not have this node as a peer \(run .semaphore-wireguard mesh.*UDP is blocked on the way \(to $R3_IP:51821, or back to this node's port 51821.*NAT" <<<"$out"
check "r1 is still fine" grep -Eq '^ok +c2 +handshake +1 peer\(s\) with a handshake' <<<"$out"
diagnose -json -remote c2 >"$TMP/broken.json"
check "-json names both" jq -e '.problems == true and ([.findings[] | select(.severity == "problem") | .message | capture("peer (?<n>r[0-9])").n] | sort) == ["r2", "r3"]' "$TMP/broken.json"
summary
