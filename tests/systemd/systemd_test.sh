#!/usr/bin/env bash
# Bare metal for real: the Debian package installed with apt on a Debian bookworm machine booted with a real
# systemd (systemd-nspawn, scripts/nspawn-machine), enabled with systemctl and read with journalctl and busctl,
# exactly as the README's "Bare metal (systemd)" section tells a user. The machine m1 is a node of cluster c1 on
# the lab's underlay; its two remotes c2 and c3 each have a node (r2, r3) running the daemon in a namespace.
# Checks: the unit runs under its hardening, peers and pod-to-pod pings, key permissions, a restart and a
# package upgrade that lose no packet, the watchdog, a corrupt key, a broken config, the journal fields, D-Bus,
# and remove/purge.
#
#   systemd_test.sh BUILD_DIR    packages BUILD_DIR with cpack, unless SWG_DEB names a .deb to test
BUILD="$1"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/lib/testlib.sh"
LAB_BIN="$BUILD/semaphore-wireguard"
source "$ROOT/scripts/lab-lib.sh"
[[ $(id -u) == 0 ]] || { echo "FAIL this test needs root (network namespaces, systemd-nspawn)"; exit 1; }
NM="$ROOT/scripts/nspawn-machine"
MDIR="$TMP/machine"
m() { "$NM" exec "$MDIR" "$@"; }
unit_prop() { m systemctl show -p "$1" --value semaphore-wireguard; }

DEB="${SWG_DEB:-}"
if [[ -z $DEB ]]; then
  cpack --config "$BUILD/CPackConfig.cmake" -B "$TMP/pkg" >"$TMP/cpack.log" 2>&1 ||
    { cat "$TMP/cpack.log"; echo "FAIL cpack"; exit 1; }
  DEB=$(ls "$TMP"/pkg/semaphore-wireguard_*_amd64.deb)
fi
[[ -f $DEB ]] || { echo "FAIL no package ($DEB)"; exit 1; }
echo "--- package $(basename "$DEB") ($(stat -c %s "$DEB") bytes), as dpkg-deb shows it to a user"
field() { dpkg-deb -f "$DEB" "$1"; }
# Depends is dpkg-shlibdeps' work: exactly the packages of the libraries the two programs need (NEEDED, looked
# up with dpkg -S on this build host), most with a minimum version.
dpkg-deb -x "$DEB" "$TMP/deb"
needed_packages() {
  local lib multiarch
  multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
  for lib in $(readelf -d "$TMP"/deb/usr/bin/semaphore-wireguard{,-worker} | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
    dpkg -S "*/$multiarch/$lib" | sed 's/:.*//' | sort -u
  done | sort -u | paste -sd' ' -
}
depends_packages() { field Depends | tr ',' '\n' | sed 's/^ *//; s/ .*//' | sort -u | paste -sd' ' -; }
check "Depends names exactly the packages of the programs' libraries ($(needed_packages))" \
  test "$(depends_packages)" = "$(needed_packages)"
check "... with minimum versions from their symbols: $(field Depends)" grep -q 'libc6 (>= [0-9.]*)' <(field Depends)
check "Recommends: wireguard-tools" test "$(field Recommends)" = wireguard-tools
check "Suggests: wireguard-go" test "$(field Suggests)" = wireguard-go
dpkg-deb -c "$DEB" | awk '{print $6}' >"$TMP/contents.txt"
for f in ./usr/bin/semaphore-wireguard ./usr/bin/semaphore-wireguard-worker ./lib/systemd/system/semaphore-wireguard.service \
  ./usr/share/dbus-1/system.d/io.uw.SemaphoreWireguard.conf ./etc/default/semaphore-wireguard \
  ./usr/share/man/man8/semaphore-wireguard.8.gz ./usr/share/man/man8/semaphore-wireguard-worker.8.gz; do
  check "dpkg-deb -c lists $f" grep -qx -- "$f" "$TMP/contents.txt"
done
# The machine's tree has the package's dependencies pre-installed: the lab has no route to a mirror.
IMAGE=$("$NM" image --deps-of "$DEB") || { echo "FAIL cannot build the machine's tree"; exit 1; }

on_exit lab_cleanup
on_exit '"$NM" stop "$MDIR"'
# A random lab ID: namespaces of two runs at once do not collide (each lab has its own underlay namespace).
lab_init "$TMP/lab" "y$((RANDOM % 90 + 10))" 192.168.112
LAB_SUBNET_c1=10.2.0.0/16 LAB_SUBNET_c2=10.4.0.0/16 LAB_SUBNET_c3=10.6.0.0/16
lab_start_clusters c1,c2,c3 >/dev/null || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2 c3; do lab_credentials "$c"; done
lab_serve_cas || exit 1
lab_add_node c1 m1 10.2.1.0/24
lab_add_node c2 r2 10.4.1.0/24
lab_add_node c3 r3 10.6.1.0/24
for n in r2 r3; do
  lab_config "$n" c1=kubeconfig
  lab_start_daemon "$n"
done
# A node of c2 with a broken key: the machine must reject it with a warning.
lab_kubectl c2 create -f - >/dev/null <<'JSON'
{"apiVersion":"v1","kind":"Node","metadata":{"name":"bad-key","annotations":{
  "c1.wireguard.semaphore.uw.io/pubKey":"not-a-key","c1.wireguard.semaphore.uw.io/endpoint":"192.168.112.99:51820"}},
 "spec":{"podCIDR":"10.4.9.0/24","podCIDRs":["10.4.9.0/24"]}}
JSON

# What the administrator copies onto the machine, named as in the README: the package, clusters.json,
# c1.kubeconfig and c3.kubeconfig (each with its token), c2-token, and the CA that signs the remote CA server's
# certificate. c2 in token + CA URL mode, c1 and c3 through kubeconfigs.
IN="$TMP/in"
mkdir -p "$IN"
cp "$DEB" "$IN/"
cp "$LAB_DIR/caserver/ca.crt" "$IN/lab-ca.crt"
cp "$LAB_DIR/creds/c2/token" "$IN/c2-token"
for c in c1 c3; do
  sed "s#tokenFile: \".*\"#token: \"$(cat "$LAB_DIR/creds/$c/token")\"#" "$LAB_DIR/creds/$c/kubeconfig" >"$IN/$c.kubeconfig"
done
cat >"$IN/clusters.json" <<JSON
{"local": {"name": "c1", "kubeConfigPath": "/etc/semaphore-wireguard/c1.kubeconfig"},
 "remotes": [
  {"name": "c2", "remoteAPIURL": "$(lab_server c2)", "remoteCAURL": "https://$LAB_NET.1:8443/c2/ca.crt",
   "remoteSATokenPath": "/etc/semaphore-wireguard/tokens/c2", "podSubnet": "10.4.0.0/16", "wgListenPort": 51821},
  {"name": "c3", "kubeConfigPath": "/etc/semaphore-wireguard/c3.kubeconfig", "podSubnet": "10.6.0.0/16",
   "wgListenPort": 51822}]}
JSON

echo "--- boot the machine"
t=$SECONDS
"$NM" boot "$MDIR" "$IMAGE" m1 "$(lab_node_ns m1)" --bind-ro="$IN:/mnt/in" ||
  { echo "FAIL the machine did not boot"; exit 1; }
echo "booted in $((SECONDS - t)) s"
check "PID 1 of the machine is systemd" test "$(m readlink /proc/1/exe)" = /usr/lib/systemd/systemd

echo "--- install, configure, enable: the README's bare-metal commands, as root (no sudo) on the machine"
# The package where scripts/build-deb leaves it, build-release/ of the checkout (/root here).
PKG="build-release/$(basename "$DEB")"
m sh -c "mkdir -p /root/build-release && cp /mnt/in/$(basename "$DEB") /root/$PKG"
m sh -c "cd /root && apt install ./$PKG" </dev/null >"$TMP/apt.log" 2>&1
check "apt install ./$PKG succeeds" test $? -eq 0
installed() { [[ $(m dpkg-query -W -f '${Status}' semaphore-wireguard 2>/dev/null) == "install ok installed" ]]; }
check "... and installs the package" installed
# The lab has no mirror: the machine's tree already holds wireguard-go, so apt finds nothing to fetch.
m apt install wireguard-go </dev/null >>"$TMP/apt.log" 2>&1
check "apt install wireguard-go (no WireGuard module here)" test $? -eq 0
check "the unit is known and not started before it is configured" test "$(unit_prop ActiveState)" = inactive
check "... nor enabled" test "$(m systemctl is-enabled semaphore-wireguard 2>&1)" = disabled
check "the unit runs /usr/bin/semaphore-wireguard" grep -q '^ExecStart=/usr/bin/semaphore-wireguard ' \
  <(m systemctl cat semaphore-wireguard)
# A private CA, as the README says: with update-ca-certificates.
m sh -c 'cp /mnt/in/lab-ca.crt /usr/local/share/ca-certificates/ && update-ca-certificates >/dev/null 2>&1'
m sh -ec 'cd /mnt/in
  mkdir -p /etc/semaphore-wireguard
  cp clusters.json c1.kubeconfig c3.kubeconfig /etc/semaphore-wireguard/
  install -D -m 0600 c2-token /etc/semaphore-wireguard/tokens/c2
  echo "SWG_LISTEN_ADDRESS=127.0.0.1:7773" | tee -a /etc/default/semaphore-wireguard' >"$TMP/configure.log" 2>&1
check "mkdir, cp, install -D -m 0600 c2-token ..., tee -a /etc/default/semaphore-wireguard succeed" test $? -eq 0
check "the token is 0600 and root's" test "$(m stat -c %a/%U /etc/semaphore-wireguard/tokens/c2)" = 600/root
t=$SECONDS
m timeout 90 systemctl enable --now semaphore-wireguard >"$TMP/enable.log" 2>&1
check "systemctl enable --now succeeds (Type=notify: READY in $((SECONDS - t)) s)" test $? -eq 0
check "active (running)" test "$(unit_prop ActiveState)/$(unit_prop SubState)" = active/running
check "enabled" test "$(m systemctl is-enabled semaphore-wireguard)" = enabled

echo "--- the service at work"
ready() { m curl -sf --max-time 5 http://127.0.0.1:7773/readyz; }
check "readyz 200 within a minute" wait_for 60 ready
status_text=$(unit_prop StatusText)
check "StatusText is the one-line STATUS= ($status_text)" \
  grep -Eqx '2/2 remotes in sync: c2 ready \(1 peers\), c3 ready \(1 peers\)' <<<"$status_text"
m systemctl status semaphore-wireguard >"$TMP/status-ok.txt" 2>&1
check "systemctl status semaphore-wireguard shows it (as the README's comment)" \
  grep -Eq '^ +Status: "2/2 remotes in sync: c2 ready \(1 peers\), c3 ready \(1 peers\)"$' "$TMP/status-ok.txt"
pub_of() { wg pubkey <"$LAB_DIR/$1/keys/wireguard.c1.key"; }
check "wireguard.c2 has r2 as its only peer" test "$(m wg show wireguard.c2 peers)" = "$(pub_of r2)"
check "wireguard.c3 has r3 as its only peer" test "$(m wg show wireguard.c3 peers)" = "$(pub_of r3)"
wggo() { m pgrep -f "wireguard-go -f wireguard.$1\$"; }
check "wireguard-go runs the interfaces (no kernel module here)" wggo c2
ping_ok() { m ping -c 1 -W 2 -I 10.2.1.1 "$1"; }
check "m1's pod address reaches r2's pod address and back" wait_for 60 ping_ok 10.4.1.1
check "... and r3's" wait_for 60 ping_ok 10.6.1.1
check "r2 has m1 as its peer, with the key in m1's key file" \
  test "$(lab_wg r2 show wireguard.c1 peers)" = "$(m sh -c 'wg pubkey </var/lib/semaphore-wireguard/wireguard.c2.key')"
check "the key directory is 0700" test "$(m stat -c %a /var/lib/semaphore-wireguard)" = 700
check "the key files are 0600" test "$(m stat -c %a /var/lib/semaphore-wireguard/wireguard.c2.key \
  /var/lib/semaphore-wireguard/wireguard.c3.key | sort -u)" = 600
# The hardening is in force on the processes that do the work (not only written in the unit).
proc_has() { grep -qx "$2" <(m cat "/proc/$1/status"); }
no_privs() { proc_has "$1" $'NoNewPrivs:\t1' && proc_has "$1" $'Seccomp:\t2'; }
mount_opts() { m awk -v p="$2" '$5 == p { split($6, o, ","); print o[1] }' "/proc/$1/mountinfo" | tail -n 1; }
for p in "$(unit_prop MainPID)" "$(wggo c2)"; do
  what=$(m cat "/proc/$p/comm")
  check "$what: CAP_NET_ADMIN is its only capability" proc_has "$p" $'CapBnd:\t0000000000001000'
  check "$what: no new privileges, a seccomp filter" no_privs "$p"
  check "$what: / read-only, the key directory writable" test "$(mount_opts "$p" /)/$(mount_opts "$p" /var/lib/semaphore-wireguard)" = ro/rw
done
check "semaphore-wireguard status on the machine" \
  grep -Eq '^c2 +ready +wireguard.c2 +userspace +51821 ' <(m semaphore-wireguard status)

echo "--- systemctl restart while pings flow"
adopted() { m journalctl -u semaphore-wireguard -o cat | grep -c 'adopted the existing interface' || true; }
wggo_before=$(wggo c2)
pid_before=$(unit_prop MainPID)
adopted_before=$(adopted)
m ping -q -i 0.2 -c 75 -W 2 -I 10.2.1.1 10.4.1.1 >"$TMP/ping-restart.txt" 2>&1 &
ping_pid=$!
sleep 3
t=$SECONDS
m timeout 90 systemctl restart semaphore-wireguard
check "restart succeeds ($((SECONDS - t)) s to READY)" test $? -eq 0
wait "$ping_pid"
check "no ping lost across the restart: $(grep transmitted "$TMP/ping-restart.txt")" \
  grep -q '^75 packets transmitted, 75 received' "$TMP/ping-restart.txt"
check "a new supervisor" test "$(unit_prop MainPID)" != "$pid_before"
check "the same wireguard-go (KillMode=process)" test "$(wggo c2)" = "$wggo_before" -a -n "$wggo_before"
check "the new process adopted both interfaces" test "$(adopted)" -ge $((adopted_before + 2))

echo "--- package upgrade (reinstall) while pings flow"
pid_before=$(unit_prop MainPID)
m ping -q -i 0.2 -c 50 -W 2 -I 10.2.1.1 10.6.1.1 >"$TMP/ping-upgrade.txt" 2>&1 &
ping_pid=$!
sleep 2
m sh -c "cd /root && DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall ./$PKG" \
  >>"$TMP/apt.log" 2>&1
check "apt reinstalls the package" test $? -eq 0
wait "$ping_pid"
check "postinst restarted the enabled service" test "$(unit_prop MainPID)" != "$pid_before"
check "active" test "$(unit_prop ActiveState)" = active
check "no ping lost across the upgrade: $(grep transmitted "$TMP/ping-upgrade.txt")" \
  grep -q '^50 packets transmitted, 50 received' "$TMP/ping-upgrade.txt"
check "our /etc/default edit survived the upgrade (conffile)" \
  m grep -qx SWG_LISTEN_ADDRESS=127.0.0.1:7773 /etc/default/semaphore-wireguard

echo "--- the watchdog: the supervisor frozen with SIGSTOP"
wd=$(unit_prop WatchdogUSec)
pid_before=$(unit_prop MainPID)
restarts_before=$(unit_prop NRestarts)
m kill -STOP "$pid_before"
t=$SECONDS
new_main() { local p; p=$(unit_prop MainPID); [[ $p != 0 && $p != "$pid_before" && $(unit_prop ActiveState) == active ]]; }
wait_for 90 new_main
elapsed=$((SECONDS - t))
check "systemd restarted it after ${elapsed} s (WatchdogSec=$wd, RestartSec=5s)" test "$elapsed" -le 45
check "... because of the watchdog" grep -q 'Watchdog timeout' <(m journalctl -u semaphore-wireguard -o cat)
check "NRestarts counted it" test "$(unit_prop NRestarts)" -eq $((restarts_before + 1))
check "pods reach each other again" wait_for 60 ping_ok 10.4.1.1

echo "--- a corrupt key file for c3"
m systemctl stop semaphore-wireguard
m sh -c 'cp -p /var/lib/semaphore-wireguard/wireguard.c3.key /root/c3.key &&
  echo "this is not a key" >/var/lib/semaphore-wireguard/wireguard.c3.key'
t=$SECONDS
m timeout 90 systemctl start semaphore-wireguard
rc=$?
state=$(unit_prop ActiveState)
check "the unit starts (exit $rc, $state after $((SECONDS - t)) s)" test "$rc/$state" = 0/active
# status exits 1 while a remote is not healthy: its output is what counts.
c3_failed() { grep -Eq '^c3 +failed ' <(m semaphore-wireguard status); }
check "c3 is failed in status" wait_for 60 c3_failed
status_has() { [[ $(unit_prop StatusText) == *"$1"* ]]; }
check "... and in StatusText" wait_for 10 status_has "c3 failed"
check "c2 still works" wait_for 60 ping_ok 10.4.1.1
stays_down() { m journalctl -u semaphore-wireguard -o cat SWG_REMOTE=c3 | grep -c 'this remote stays down until it is fixed'; }
n=$(stays_down)
sleep 8
check "c3 is not restarted any more ($n attempts, none in the next 8 s)" test "$(stays_down)" -eq "$n" -a "$n" -ge 1
check "still active" test "$(unit_prop ActiveState)" = active
m sh -c 'cp -p /root/c3.key /var/lib/semaphore-wireguard/wireguard.c3.key'
m timeout 90 systemctl restart semaphore-wireguard
check "with the key restored, c3 is back" wait_for 60 ping_ok 10.6.1.1

echo "--- the journal"
j() { m journalctl --no-pager -u semaphore-wireguard "$@"; }
j SWG_REMOTE=c2 -o json >"$TMP/j-c2.json"
check "SWG_REMOTE=c2 returns c2's lines" grep -q '"MESSAGE":"peer added"' "$TMP/j-c2.json"
check "... only c2's" bash -c "! jq -r .SWG_REMOTE <'$TMP/j-c2.json' | grep -vqx c2"
j SWG_NODE=r2 -o cat >"$TMP/j-r2.txt"
check "SWG_NODE=r2 returns what happened to r2" grep -qx 'peer added' "$TMP/j-r2.txt"
j -p warning -o cat >"$TMP/j-warn.txt"
check "-p warning: the rejected node" grep -qx 'remote node rejected' "$TMP/j-warn.txt"
check "-p warning: c3's configuration error" grep -qx 'configuration error; this remote stays down until it is fixed' \
  "$TMP/j-warn.txt"
check "... whose SWG_ERROR names the corrupt key file" grep -q \
  '^    SWG_ERROR=key file /var/lib/semaphore-wireguard/wireguard.c3.key is corrupt' <(j -p warning -o verbose SWG_REMOTE=c3)
check "-p warning: no info lines" bash -c "! grep -qx 'peer added' '$TMP/j-warn.txt'"
j -o verbose SWG_NODE=bad-key >"$TMP/j-verbose.txt"
for f in SWG_REMOTE=c2 SWG_NODE=bad-key SWG_REASON=bad_key PRIORITY=4 SYSLOG_IDENTIFIER=semaphore-wireguard; do
  check "-o verbose shows $f" grep -q "^    $f\$" "$TMP/j-verbose.txt"
done

echo "--- D-Bus on the machine's system bus"
m busctl call io.uw.SemaphoreWireguard /io/uw/SemaphoreWireguard io.uw.SemaphoreWireguard1 Status >"$TMP/bus.txt" 2>&1
check "busctl call ... Status answers with the node's status" grep -q '^s ".*c2' "$TMP/bus.txt"
check "busctl get-property ... State of c2" test "$(m busctl get-property io.uw.SemaphoreWireguard \
  /io/uw/SemaphoreWireguard/remote/c2 io.uw.SemaphoreWireguard1.Remote State)" = 's "ready"'

echo "--- a broken clusters.json"
m sh -c 'cp /etc/semaphore-wireguard/clusters.json /root/ && echo "{\"local\": {" >/etc/semaphore-wireguard/clusters.json'
restarts_before=$(unit_prop NRestarts)
m timeout 90 systemctl restart semaphore-wireguard 2>/dev/null
check "systemctl restart fails" test $? -ne 0
check "the unit is failed with exit status 2" test "$(unit_prop ActiveState)/$(unit_prop ExecMainStatus)" = failed/2
sleep 8
check "and not restarted (RestartPreventExitStatus), 8 s later" \
  test "$(unit_prop ActiveState)/$(unit_prop NRestarts)" = "failed/$restarts_before"
m systemctl status --no-pager -n 20 semaphore-wireguard >"$TMP/status.txt" 2>&1
check "systemctl status shows the error line" grep -q 'configuration: JSON syntax error at line' "$TMP/status.txt"
check "... and the exit status" grep -q 'status=2' "$TMP/status.txt"
m sh -c 'cp /root/clusters.json /etc/semaphore-wireguard/clusters.json'
m timeout 90 systemctl start semaphore-wireguard
check "fixed, it starts again" test "$(unit_prop ActiveState)" = active

echo "--- apt remove, then purge"
# The supervisor and its workers (semaphore-wireguard-worker), by command line: a process name is cut at 15
# characters, so `pgrep -x` cannot tell them.
ours() { m pgrep -f '^/usr/bin/semaphore-wireguard(-worker)? ' | wc -l; }
all_running() { (($(ours) >= 3)); }
check "before: the supervisor and its two workers run" wait_for 30 all_running
m apt remove -y semaphore-wireguard </dev/null >>"$TMP/apt.log" 2>&1
check "apt removes the package" test $? -eq 0
gone() { ! m "$@" >/dev/null 2>&1; }
none_left() { (($(ours) == 0)); }
check "the service is stopped: no supervisor or worker left" wait_for 10 none_left
check "the interfaces are gone" bash -c "! ip -n $(lab_node_ns m1) link show wireguard.c2 && ! ip -n $(lab_node_ns m1) link show wireguard.c3"
check "no wireguard-go left" wait_for 10 gone pgrep -x wireguard-go
check "the keys stay until purge" m test -f /var/lib/semaphore-wireguard/wireguard.c2.key
m apt purge -y semaphore-wireguard </dev/null >>"$TMP/apt.log" 2>&1
check "apt purges the package" test $? -eq 0
check "purge removed the keys" gone test -e /var/lib/semaphore-wireguard
check "... /etc/default/semaphore-wireguard" gone test -e /etc/default/semaphore-wireguard
check "... and the enablement link" gone test -L /etc/systemd/system/multi-user.target.wants/semaphore-wireguard.service
check "the administrator's /etc/semaphore-wireguard is left alone" m test -f /etc/semaphore-wireguard/clusters.json

if ((FAILURES)); then
  echo "--- journal of the unit (last 60 lines)"
  m journalctl --no-pager -u semaphore-wireguard -n 60
  echo "--- apt"
  tail -n 20 "$TMP/apt.log"
fi
summary
