#!/bin/sh
# Runs inside the VM of kernel_vm_test.sh, started by systemd once the machine is up: the package's unit
# with the kernel WireGuard module, then with wireguard-go under the unit's enforced device policy. Prints
# "vm ok"/"vm FAIL" lines; exit status is the number of failures.
. /extra/expected.env
. /extra/vm_checks.sh
prop() { systemctl show -p "$1" --value semaphore-wireguard; }
echo "vm: booted $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r), PID 1 $(readlink /proc/1/exe)"
mkdir -p /etc/semaphore-wireguard
cp /extra/clusters.json /extra/*.kubeconfig /etc/semaphore-wireguard/

chk "systemctl enable --now semaphore-wireguard" timeout 300 systemctl enable --now semaphore-wireguard
echo "vm: READY at $(cut -d' ' -f1 /proc/uptime) s"
chk "active (running)" sh -c '[ "$(systemctl show -p ActiveState,SubState --value semaphore-wireguard | paste -sd/)" = active/running ]'
chk "StatusText: $(prop StatusText)" sh -c 'systemctl show -p StatusText --value semaphore-wireguard | grep -q "^1/1 remotes in sync: c2 ready (1 peers)$"'
chk "wireguard.c2 is a kernel WireGuard link" sh -c 'ip -d link show wireguard.c2 | grep -q "^ *wireguard"'
chk "no wireguard-go" sh -c '! pgrep -x wireguard-go'
chk "its peer is the valid remote node" sh -c "[ \"\$(wg show wireguard.c2 peers)\" = '$K1' ]"
chk "its key is the one in StateDirectory" sh -c '[ "$(wg show wireguard.c2 public-key)" = "$(wg pubkey </var/lib/semaphore-wireguard/wireguard.c2.key)" ]'
chk "the key directory is 0700, the key 0600" sh -c '[ "$(stat -c %a /var/lib/semaphore-wireguard /var/lib/semaphore-wireguard/wireguard.c2.key | paste -sd/)" = 700/600 ]'
pid=$(prop MainPID)
chk "the supervisor's only capability is CAP_NET_ADMIN" grep -qx "CapBnd:	0000000000001000" /proc/$pid/status
chk "... with no new privileges and a seccomp filter" sh -c "grep -qx 'NoNewPrivs:	1' /proc/$pid/status && grep -qx 'Seccomp:	2' /proc/$pid/status"
chk "the route to the remote pod subnet" sh -c 'ip route | grep -q "^10.4.0.0/16 dev wireguard.c2 proto 87 scope link"'
chk "status names the kernel backend" sh -c 'semaphore-wireguard status | grep -q "^c2  *ready  *wireguard.c2  *kernel  *51821 "'
pid=$(prop MainPID)
chk "systemctl restart" timeout 120 systemctl restart semaphore-wireguard
chk "a new process" sh -c "[ \"\$(systemctl show -p MainPID --value semaphore-wireguard)\" != $pid ]"
chk "it adopted the kernel link" sh -c 'journalctl -u semaphore-wireguard -o cat | grep -q "adopted the existing interface"'
chk "the peer is still there" sh -c "[ \"\$(wg show wireguard.c2 peers)\" = '$K1' ]"
chk "journalctl SWG_REMOTE=c2" sh -c 'journalctl -u semaphore-wireguard SWG_REMOTE=c2 -o cat | grep -qx "peer added"'

# The same unit with wireguard-go, where its device policy is enforced (cgroup v2 here; not in an nspawn
# container on a cgroup v1 host): DeviceAllow=/dev/net/tun must be enough for wireguard-go.
echo "vm: --- SWG_WG_BACKEND=userspace (wireguard-go)"
systemctl stop semaphore-wireguard
ip link delete wireguard.c2
echo SWG_WG_BACKEND=userspace >>/etc/default/semaphore-wireguard
chk "systemctl start with the userspace backend" timeout 300 systemctl start semaphore-wireguard
chk "wireguard-go runs wireguard.c2" pgrep -f 'wireguard-go -f wireguard.c2$'
chk "wireguard.c2 is a tun device" sh -c 'ip -d link show wireguard.c2 | grep -q "^ *tun "'
chk "its peer is the valid remote node" waitfor 60 sh -c "[ \"\$(wg show wireguard.c2 peers)\" = '$K1' ]"
chk "status names the userspace backend" waitfor 60 sh -c 'semaphore-wireguard status | grep -q "^c2  *ready  *wireguard.c2  *userspace  *51821 "'
cg=/sys/fs/cgroup/system.slice/semaphore-wireguard.service
chk "in the unit's cgroup /dev/net/tun opens" sh -c "echo \$\$ >$cg/cgroup.procs && exec 3<>/dev/net/tun"
chk "(outside it /dev/ttyS0 opens)" sh -c "exec 3>/dev/ttyS0"
chk "... in the unit's cgroup /dev/ttyS0 does not: DevicePolicy=closed is in force" \
  sh -c "echo \$\$ >$cg/cgroup.procs && ! (exec 3>/dev/ttyS0) 2>/dev/null && exec 3>/dev/null"

if [ "$fails" -gt 0 ]; then
  echo "--- journal"
  journalctl --no-pager -u semaphore-wireguard -n 40
fi
exit "$fails"
