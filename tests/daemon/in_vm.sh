#!/bin/sh
# Runs inside the kernel VM (see kernel_vm_test.sh): the real daemon with the kernel WireGuard module,
# talking to the host's apiservers over qemu's user network. Prints "vm ok"/"vm FAIL" lines; exit status is
# the number of failures.
. /extra/expected.env
. /extra/vm_checks.sh
ready() { wget -q -O /dev/null http://127.0.0.1:7773/readyz; }
start() {
  semaphore-wireguard -node-name n1 -clusters-config /extra/config.json -wg-key-path /tmp/keys \
    -wg-backend kernel -listen-address 127.0.0.1:7773 -control-socket /tmp/ctl.sock -log-format text \
    >>/tmp/daemon.log 2>&1 &
  echo $! >/tmp/daemon.pid
}
worker_pid() { semaphore-wireguard status -json -control-socket /tmp/ctl.sock | sed -n 's/^ *"pid": \([0-9]*\),*$/\1/p' | head -1; }

start
chk "ready with the kernel backend" waitfor 240 ready
chk "wireguard.c2 is a kernel WireGuard link" sh -c 'ip -d link show wireguard.c2 | grep -q "^ *wireguard"'
chk "listen port 51821" sh -c '[ "$(wg show wireguard.c2 listen-port)" = 51821 ]'
chk "the key is the one in the key file" sh -c '[ "$(wg show wireguard.c2 public-key)" = "$(wg pubkey </tmp/keys/wireguard.c2.key)" ]'
chk "the valid remote node is the only peer" sh -c "[ \"\$(wg show wireguard.c2 peers)\" = '$K1' ]"
chk "its endpoint, allowed IPs and keepalive" sh -c "wg show wireguard.c2 dump | awk -F '\t' '\$1 == \"$K1\" && \$3 == \"192.168.99.1:51820\" && \$4 == \"10.4.1.0/24\" && \$8 == 25' | grep -q ."
chk "the route to the remote pod subnet" sh -c 'ip route | grep -q "^10.4.0.0/16 dev wireguard.c2 proto 87 scope link"'
chk "status names the kernel backend" sh -c 'semaphore-wireguard status -control-socket /tmp/ctl.sock | grep -q "^c2  *ready  *wireguard.c2  *kernel  *51821 "'
chk "status -v gives the rejected node's reason" sh -c 'semaphore-wireguard status -v -control-socket /tmp/ctl.sock | grep -q "^  r2  *outside_subnet  *pod CIDR 10.9.0.0/24 is outside the remote pod subnet 10.4.0.0/16"'

# The link recreated while another socket (a second WireGuard link) holds its port. The kernel sets the port
# before the key and stops at the first error: the key must be there all the same, and the remote not ready,
# saying why, until the port is free.
pub_ours() { [ "$(wg show wireguard.c2 public-key)" = "$(wg pubkey </tmp/keys/wireguard.c2.key)" ]; }
port_ours() { [ "$(wg show wireguard.c2 listen-port)" = 51821 ]; }
key_and_port_ours() { pub_ours && port_ours; }
ip link del wireguard.c2
ip link add wgx type wireguard && wg set wgx listen-port 51821 && ip link set wgx up
chk "another link holds UDP 51821" sh -c '[ "$(wg show wgx listen-port)" = 51821 ]'
chk "the interface is recreated" waitfor 30 ip link show wireguard.c2
chk "not ready, status says why" waitfor 30 sh -c 'semaphore-wireguard status -control-socket /tmp/ctl.sock | grep -q "^c2  *degraded .*device settings: wireguard.c2: set device: .*Address already in use"'
chk "readyz 503 meanwhile" sh -c '! wget -q -O /dev/null http://127.0.0.1:7773/readyz'
chk "the device has this node's key meanwhile" pub_ours
ip link del wgx
chk "ready again once the port is free" waitfor 60 ready
chk "listen port 51821 again" port_ours
# Changed behind the daemon's back: the next full resync (every 3 s here) puts key and port back.
(umask 077 && wg genkey >/tmp/other.key) && wg set wireguard.c2 private-key /tmp/other.key listen-port 51999
# The daemon may correct it before a check here runs (the VM is slow): the change is seen either on the device
# or in the drift it logs, which names the port it found.
set_seen() {
  [ "$(wg show wireguard.c2 listen-port)" = 51999 ] ||
    grep -q "the device's private key or listen port differed from this node's; correcting them .*listen port 51999" /tmp/daemon.log
}
chk "wg set took effect" set_seen
chk "key and port put back" waitfor 30 key_and_port_ours
chk "the drift is logged" waitfor 10 grep -q "the device's private key or listen port differed from this node's; correcting them .*found=\"public key [^ ]*=, listen port 51999\"" /tmp/daemon.log

old=$(worker_pid)
kill -9 "$old"
chk "a killed worker is replaced" waitfor 30 sh -c "p=\$(semaphore-wireguard status -json -control-socket /tmp/ctl.sock | sed -n 's/^ *\"pid\": \\([0-9]*\\),*\$/\\1/p' | head -1); [ -n \"\$p\" ] && [ \"\$p\" != 0 ] && [ \"\$p\" != $old ]"
chk "ready again" waitfor 60 ready
chk "the peer is still there" sh -c "[ \"\$(wg show wireguard.c2 peers)\" = '$K1' ]"

wg set wireguard.c2 peer "$STALE" allowed-ips 10.4.99.0/24
kill -TERM "$(cat /tmp/daemon.pid)"
chk "the daemon stops on SIGTERM" waitfor 20 sh -c '! kill -0 $(cat /tmp/daemon.pid)'
chk "the link stays after the daemon stopped" ip link show wireguard.c2
start
chk "ready after a restart" waitfor 120 ready
chk "the existing kernel link was adopted" grep -q "adopted the existing interface remote=c2 device=wireguard.c2 kind=wireguard backend=kernel" /tmp/daemon.log
chk "the stale peer found at start-up is removed" waitfor 20 sh -c "[ \"\$(wg show wireguard.c2 peers)\" = '$K1' ]"
kill -TERM "$(cat /tmp/daemon.pid)"
waitfor 20 sh -c '! kill -0 $(cat /tmp/daemon.pid)'
if [ "$fails" -gt 0 ]; then
  echo "--- daemon log"
  tail -n 40 /tmp/daemon.log
fi
exit "$fails"
