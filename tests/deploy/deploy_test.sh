#!/usr/bin/env bash
# deploy/: `kubectl kustomize` renders both examples, a real kube-apiserver accepts every rendered object with
# server-side dry-run, and the paths in the manifests agree with the flags and the config.
# tests/image builds the image and checks it (libraries included) in a real containerd.
BIN="$1"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/lib/testlib.sh"
KUBECTL=$("$ROOT/scripts/build-control-plane" | sed -n 's/^KUBECTL=//p')

on_exit '"$ROOT/scripts/control-plane" stop --dir "$TMP/cp"'
"$ROOT/scripts/control-plane" start --dir "$TMP/cp" --clusters deploy >/dev/null 2>"$TMP/cp.log" ||
  { cat "$TMP/cp.log"; echo "FAIL cannot start the test control plane"; exit 1; }
k() { "$KUBECTL" --kubeconfig "$TMP/cp/deploy/kubeconfig" "$@"; }

for c in c1 c2; do
  check "kubectl kustomize renders example/$c" bash -c "'$KUBECTL' kustomize '$ROOT/deploy/example/$c' >'$TMP/$c.yaml'"
  # Server-side dry-run needs the namespace to exist; it is created for real, the rest is only validated.
  k create namespace semaphore-wireguard --dry-run=client -o yaml | k apply -f - >/dev/null 2>&1
  check "the apiserver accepts every object of example/$c (dry-run=server)" \
    k apply --dry-run=server -f "$TMP/$c.yaml"
  check "nothing was created by the dry run" bash -c "! '$KUBECTL' --kubeconfig '$TMP/cp/deploy/kubeconfig' -n semaphore-wireguard get daemonset semaphore-wireguard >/dev/null 2>&1"
done

# Paths must agree: the key directory is mounted where -wg-key-path points (the original's example
# misspelled it, so keys changed on every restart), the config where -clusters-config points, and the token
# where the config's remoteSATokenPath points.
python3 - "$TMP/c1.yaml" "$ROOT/deploy/example/c1/clusters.json" >"$TMP/paths.txt" 2>&1 <<'PY'
import json, sys
docs, cur = [], []
for line in open(sys.argv[1]):
    if line.startswith("---"):
        docs.append("".join(cur)); cur = []
    else:
        cur.append(line)
docs.append("".join(cur))
ds = [d for d in docs if "kind: DaemonSet" in d][0]
def val(prefix):
    for line in ds.splitlines():
        s = line.strip()
        if s.startswith("- " + prefix):
            return s[len("- " + prefix):]
    return None
key_path = val("-wg-key-path=")
cfg_path = val("-clusters-config=")
mounts = [l.strip().removeprefix("- ")[len("mountPath: "):] for l in ds.splitlines()
          if l.strip().removeprefix("- ").startswith("mountPath: ")]
cfg = json.load(open(sys.argv[2]))
token = cfg["remotes"][0]["remoteSATokenPath"]
ok = True
def expect(cond, what):
    global ok
    print(("ok " if cond else "BAD ") + what)
    ok = ok and cond
expect(key_path in mounts, f"key directory {key_path} is a mounted volume")
expect(any(cfg_path.startswith(m + "/") for m in mounts), f"config {cfg_path} is inside a mounted volume")
expect(any(token.startswith(m + "/") for m in mounts), f"token {token} is inside a mounted volume")
expect("hostNetwork: true" in ds, "hostNetwork")
expect("- NET_ADMIN" in ds and "- ALL" in ds, "NET_ADMIN only")
expect("path: /healthz" in ds and "path: /readyz" in ds, "liveness and readiness probes")
expect("operator: Exists" in ds, "tolerates every taint")
expect("priorityClassName: system-node-critical" in ds, "system priority class")
sys.exit(0 if ok else 1)
PY
check "manifest paths agree with the flags and the config" test $? -eq 0
cat "$TMP/paths.txt"
check "the remote-reader token is a long-lived Secret" grep -q 'type: kubernetes.io/service-account-token' "$TMP/c1.yaml"
check "no PodSecurityPolicy (gone since Kubernetes 1.25)" bash -c "! grep -q PodSecurityPolicy '$TMP/c1.yaml'"
check "the example config is valid" "$BIN" check-config -clusters-config "$ROOT/deploy/example/c1/clusters.json"
summary
