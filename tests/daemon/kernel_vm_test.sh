#!/usr/bin/env bash
# The daemon with the kernel backend: a qemu VM booting Debian's cloud kernel (with its wireguard.ko) runs the
# real semaphore-wireguard against real apiservers on this host, reached over qemu's user network. The checks
# inside the VM are in in_vm.sh; here: the clusters, and what the daemon wrote to its Node.
BIN="$1"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/scripts/vm-lib.sh"
source "$ROOT/tests/lib/testlib.sh"
KUBECTL=$("$ROOT/scripts/build-control-plane" | sed -n 's/^KUBECTL=//p')

on_exit '"$ROOT/scripts/control-plane" stop --dir "$TMP/cp"'
"$ROOT/scripts/control-plane" start --dir "$TMP/cp" --clusters c1,c2 >/dev/null 2>"$TMP/cp.log" ||
  { cat "$TMP/cp.log"; echo "FAIL cannot start the test control plane"; exit 1; }
k() { vm_kubectl "$TMP/cp" "$@"; }
node() { vm_node "$TMP/cp" "$@"; }  # cluster name cidr internal-ip annotations-json
K1=$(wg genkey | wg pubkey)
STALE=$(wg genkey | wg pubkey)
node c1 n1 10.2.1.0/24 10.0.2.15 '{}'
ann() { printf '{"c1.wireguard.semaphore.uw.io/pubKey":"%s","c1.wireguard.semaphore.uw.io/endpoint":"%s"}' "$1" "$2"; }
node c2 r1 10.4.1.0/24 192.168.99.1 "$(ann "$K1" 192.168.99.1:51820)"
sleep 1.1
node c2 r2 10.9.0.0/24 192.168.99.2 "$(ann "$(wg genkey | wg pubkey)" 192.168.99.2:51820)"

vm_kubeconfigs "$TMP/cp" "$TMP/extra" c1 c2
cp "$ROOT/tests/lib/vm_checks.sh" "$TMP/extra/"
cat >"$TMP/extra/config.json" <<JSON
{"local": {"name": "c1", "kubeConfigPath": "/extra/c1.kubeconfig"},
 "remotes": [{"name": "c2", "kubeConfigPath": "/extra/c2.kubeconfig", "podSubnet": "10.4.0.0/16", "wgListenPort": 51821,
   "resyncPeriod": "3s"}]}
JSON
printf "K1='%s'\nSTALE='%s'\n" "$K1" "$STALE" >"$TMP/extra/expected.env"

SWG_VM_NET=1 SWG_VM_EXTRA="$TMP/extra" SWG_VM_PROGRAMS="$BIN ${BIN}-worker" SWG_VM_TIMEOUT=600 \
  "$ROOT/scripts/vm-run" "$ROOT/tests/daemon/in_vm.sh" >"$TMP/vm.log" 2>&1
rc=$?
grep -E '^vm (ok|FAIL)|^vm: |vm-run:' "$TMP/vm.log"
check "every check inside the VM passed (exit $rc)" test "$rc" -eq 0
((rc == 0)) || sed -n '/^--- daemon log/,$p' "$TMP/vm.log" | head -50

ann_json=$(k c1 get node n1 -o json | jq -c .metadata.annotations)
check "the daemon in the VM annotated its node with its endpoint" \
  test "$(jq -r '."c2.wireguard.semaphore.uw.io/endpoint"' <<<"$ann_json")" = "10.0.2.15:51821"
check "... and a valid public key" bash -c "[[ \$(jq -r '.\"c2.wireguard.semaphore.uw.io/pubKey\"' <<<'$ann_json') =~ ^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$ ]]"
summary
