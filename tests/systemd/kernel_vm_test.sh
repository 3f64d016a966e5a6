#!/usr/bin/env bash
# The package's unit with the kernel WireGuard module: a qemu VM boots Debian's cloud kernel with systemd as
# PID 1 on the same bookworm tree as the nspawn machine, with the package installed (scripts/vm-systemd), and
# runs in_vm.sh there against real apiservers on this host (reached over qemu's user network).
#
#   kernel_vm_test.sh BUILD_DIR    packages BUILD_DIR with cpack, unless SWG_DEB names a .deb to test
BUILD="$1"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/scripts/vm-lib.sh"
source "$ROOT/tests/lib/testlib.sh"
[[ $(id -u) == 0 ]] || { echo "FAIL this test needs root (chroot, dpkg)"; exit 1; }
KUBECTL=$("$ROOT/scripts/build-control-plane" | sed -n 's/^KUBECTL=//p')

DEB="${SWG_DEB:-}"
if [[ -z $DEB ]]; then
  cpack --config "$BUILD/CPackConfig.cmake" -B "$TMP/pkg" >"$TMP/cpack.log" 2>&1 ||
    { cat "$TMP/cpack.log"; echo "FAIL cpack"; exit 1; }
  DEB=$(ls "$TMP"/pkg/semaphore-wireguard_*_amd64.deb)
fi

on_exit '"$ROOT/scripts/control-plane" stop --dir "$TMP/cp"'
"$ROOT/scripts/control-plane" start --dir "$TMP/cp" --clusters c1,c2 >/dev/null 2>"$TMP/cp.log" ||
  { cat "$TMP/cp.log"; echo "FAIL cannot start the test control plane"; exit 1; }
k() { vm_kubectl "$TMP/cp" "$@"; }
node() { vm_node "$TMP/cp" "$@"; }  # cluster name cidr internal-ip annotations-json
K1=$(wg genkey | wg pubkey)
node c1 n1 10.2.1.0/24 10.0.2.15 '{}'
node c2 r1 10.4.1.0/24 192.168.99.1 \
  "{\"c1.wireguard.semaphore.uw.io/pubKey\":\"$K1\",\"c1.wireguard.semaphore.uw.io/endpoint\":\"192.168.99.1:51820\"}"

vm_kubeconfigs "$TMP/cp" "$TMP/extra" c1 c2
cp "$ROOT/tests/lib/vm_checks.sh" "$TMP/extra/"
cat >"$TMP/extra/clusters.json" <<JSON
{"local": {"name": "c1", "kubeConfigPath": "/etc/semaphore-wireguard/c1.kubeconfig"},
 "remotes": [{"name": "c2", "kubeConfigPath": "/etc/semaphore-wireguard/c2.kubeconfig", "podSubnet": "10.4.0.0/16",
              "wgListenPort": 51821}]}
JSON
printf "K1='%s'\n" "$K1" >"$TMP/extra/expected.env"

t=$SECONDS
SWG_VM_TIMEOUT=900 "$ROOT/scripts/vm-systemd" "$DEB" "$TMP/extra" "$ROOT/tests/systemd/in_vm.sh" >"$TMP/vm.log" 2>&1
rc=$?
# The checks' lines reach the console through the journal: "[ uptime] sh[pid]: vm ok ...".
sed 's/^\[ *[0-9.]*\] sh\[[0-9]*\]: //' "$TMP/vm.log" >"$TMP/vm.txt"
grep -E '^vm (ok|FAIL)|^vm: |vm-systemd:' "$TMP/vm.txt"
check "every check inside the VM passed (exit $rc, $((SECONDS - t)) s)" test "$rc" -eq 0
((rc == 0)) || sed -n '/^--- journal/,$p' "$TMP/vm.txt" | head -60
((rc == 0)) || grep -q 'SWG-VM-RESULT' "$TMP/vm.txt" || tail -n 60 "$TMP/vm.txt"

ann_json=$(k c1 get node n1 -o json | jq -c .metadata.annotations)
check "the unit in the VM annotated its node with its endpoint" \
  test "$(jq -r '."c2.wireguard.semaphore.uw.io/endpoint"' <<<"$ann_json")" = "10.0.2.15:51821"
summary
