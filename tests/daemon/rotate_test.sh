#!/usr/bin/env bash
# Key rotation as an operator does it: two clusters with one node each (n1 in c1, r1 in c2), both running the
# daemon with wireguard-go. Pods ping each other; `semaphore-wireguard rotate-key -remote c2` on n1 gives
# wireguard.c2 a new key: the key file changes (0600), n1's Node advertises the new public key, r1's device
# moves the peer to it (the old key is gone), and pings work again. A ping loop around the rotation measures the
# traffic gap, which is printed. An unknown remote is refused with a clear message and changes nothing, and so
# does a rotation whose key file cannot be written (the old key stays on the file, the device and the Node).
source "$(dirname "$0")/../lib/lab_test.sh" "$@"
on_exit lab_cleanup
lab_init "$TMP/lab" "k$((RANDOM % 90 + 10))" "192.168.$((118 + RANDOM % 2))"
LAB_SUBNET_c1=10.2.0.0/16 LAB_SUBNET_c2=10.4.0.0/16
lab_start_clusters c1,c2 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2; do lab_credentials "$c"; done
lab_add_node c1 n1 10.2.1.0/24
lab_add_node c2 r1 10.4.1.0/24
lab_config n1 c2=kubeconfig
lab_config r1 c1=kubeconfig
lab_start_daemon n1
lab_start_daemon r1

KEY_FILE="$LAB_DIR/n1/keys/wireguard.c2.key"
ping_r1() { lab_exec n1 ping -c 1 -W 1 -I 10.2.1.1 10.4.1.1; }
ping_n1() { lab_exec r1 ping -c 1 -W 1 -I 10.4.1.1 10.2.1.1; }
# n1's advertised key for c2, as r1's worker reads it.
n1_annotation() { lab_kubectl c1 get node n1 -o jsonpath='{.metadata.annotations.c2\.wireguard\.semaphore\.uw\.io/pubKey}'; }
r1_peers() { lab_wg r1 show wireguard.c1 peers; }
r1_has_peer() { r1_peers | grep -qxF "$1"; }

check "pods reach each other before the rotation (n1 -> r1)" wait_for 60 ping_r1
check "pods reach each other before the rotation (r1 -> n1)" wait_for 30 ping_n1
OLD=$(n1_annotation)
OLD_FILE_PUB=$(wg pubkey <"$KEY_FILE")
check "n1 advertises the key of its key file" test "$OLD" = "$OLD_FILE_PUB"
check "r1 has n1's key as a peer" r1_has_peer "$OLD"

echo "--- an unknown remote: refused, nothing changes"
out=$("$BIN" rotate-key -remote c9 -control-socket "$LAB_DIR/n1/control.sock" 2>&1)
rc=$?
check "rotate-key -remote c9 exits 1" test "$rc" = 1
check "and names the remote and the known ones" grep -q 'unknown remote "c9": this node.s remotes are c2' <<<"$out"
check "the key file is unchanged" test "$(wg pubkey <"$KEY_FILE")" = "$OLD"

echo "--- the key file cannot be written: the rotation fails, the old key stays everywhere"
# A read-only bind mount of the key directory, in n1's own mount namespace only (where its daemon runs).
KEYS="$LAB_DIR/n1/keys"
lab_ns_exec n1 sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1"' sh "$KEYS"
on_exit "lab_ns_exec n1 umount '$KEYS'"
out=$("$BIN" rotate-key -remote c2 -control-socket "$LAB_DIR/n1/control.sock" 2>&1)
rc=$?
echo "$out" | sed 's/^/     > /'
check "rotate-key exits 1" test "$rc" = 1
check "and says the old key stays, with the reason" grep -q 'the key was not rotated (the old key stays in place): .*Read-only' <<<"$out"
check "the key file is unchanged" test "$(wg pubkey <"$KEY_FILE")" = "$OLD"
check "n1's device keeps the old key" test "$(lab_wg n1 show wireguard.c2 public-key)" = "$OLD"
check "n1's Node keeps advertising the old key" test "$(n1_annotation)" = "$OLD"
check "pods still reach each other" ping_r1
lab_ns_exec n1 umount "$KEYS"

echo "--- rotate-key -remote c2, with a ping every 50 ms around it"
# 240 echo requests over 12 s; the rotation happens 2 s in. -D stamps each reply with its arrival time.
lab_exec n1 ping -n -D -i 0.05 -c 240 -W 1 -I 10.2.1.1 10.4.1.1 >"$TMP/ping.txt" 2>&1 &
PING_PID=$!
sleep 2
start=$(date +%s.%N)
out=$("$BIN" rotate-key -remote c2 -control-socket "$LAB_DIR/n1/control.sock" 2>&1)
rc=$?
echo "$out" | sed 's/^/     > /'
check "rotate-key exits 0" test "$rc" = 0
NEW=$(sed -n 's/^new public key: //p' <<<"$out")
check "it prints the old public key" grep -qxF "old public key: $OLD" <<<"$out"
check "it prints a new, valid public key" test "${#NEW}" = 44 -a "$NEW" != "$OLD"
check "the key file holds the new key" test "$(wg pubkey <"$KEY_FILE")" = "$NEW"
check "the key file is 0600" test "$(stat -c %a "$KEY_FILE")" = 600
check "no temporary file is left beside it" test "$(ls -A "$LAB_DIR/n1/keys")" = wireguard.c2.key
check "n1's device has the new key" test "$(lab_wg n1 show wireguard.c2 public-key)" = "$NEW"
annotation_is() { [[ $(n1_annotation) == "$1" ]]; }
check "n1's Node advertises the new key within a minute" wait_for 60 annotation_is "$NEW"
r1_moved() { r1_has_peer "$NEW" && ! r1_has_peer "$OLD"; }
check "r1's device has the new key as a peer and the old one no more, within a minute" wait_for 60 r1_moved
moved=$(date +%s.%N)
echo "     r1 had moved the peer $(awk -v a="$start" -v b="$moved" 'BEGIN { printf "%.1f", b - a }') s after rotate-key started (polled every 0.1 s)"
check "pods reach each other after the rotation (n1 -> r1)" wait_for 30 ping_r1
check "pods reach each other after the rotation (r1 -> n1)" wait_for 30 ping_n1
wait "$PING_PID"
# The gap: the longest time without a reply arriving (WireGuard holds packets back while it shakes hands, so
# some arrive late rather than not at all), the slowest reply, and the requests never answered.
read -r sent got gap slowest < <(awk '
  /icmp_seq=/ { t = substr($1, 2, length($1) - 2) + 0; if (n && t - last > gap) gap = t - last; last = t; n++
                match($0, /time=[0-9.]+/); rtt = substr($0, RSTART + 5, RLENGTH - 5) + 0; if (rtt > slowest) slowest = rtt }
  /packets transmitted/ { sent = $1 }
  END { printf "%d %d %.2f %.0f\n", sent, n, gap, slowest }' "$TMP/ping.txt")
echo "     traffic gap: no reply for $gap s (pings every 0.05 s); the slowest reply took $slowest ms; $((sent - got)) of $sent requests never answered"
check "the ping loop ran and traffic flowed again after the gap" test "$got" -gt 0 -a "$((sent - got))" -lt "$sent"
logged() { grep "rotated the private key" "$LAB_DIR/n1/daemon.log" | grep -qF "$NEW"; }
check "the daemon logged the rotation with the new key" logged
check "r1 logs no error about n1" bash -c "! grep -E 'rejected.*node=n1' '$LAB_DIR/r1/daemon.log'"
summary
