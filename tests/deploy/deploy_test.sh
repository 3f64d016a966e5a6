#!/usr/bin/env bash
# deploy/: `kubectl kustomize` renders both examples and the remote reader, a real kube-apiserver accepts every
# rendered object with server-side dry-run, the DaemonSet is what the README says (paths agree with the flags
# and the config, probes, keeper, listen address, security). tests/kubelet runs the same manifests
# under real kubelets; tests/image builds the image and checks it (libraries included) in a real containerd.
BIN="$1"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/lib/testlib.sh"
KUBECTL=$("$ROOT/scripts/build-control-plane" | sed -n 's/^KUBECTL=//p')

on_exit '"$ROOT/scripts/control-plane" stop --dir "$TMP/cp"'
"$ROOT/scripts/control-plane" start --dir "$TMP/cp" --clusters deploy >/dev/null 2>"$TMP/cp.log" ||
  { cat "$TMP/cp.log"; echo "FAIL cannot start the test control plane"; exit 1; }
k() { "$KUBECTL" --kubeconfig "$TMP/cp/deploy/kubeconfig" "$@"; }

VERSION=$(sed -n 's/^project(semaphore-wireguard VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
render_and_dry_run() {  # NAME DIR: $TMP/NAME.yaml as rendered, $TMP/NAME.json as the apiserver accepts it
  check "kubectl kustomize renders $2" bash -c "'$KUBECTL' kustomize '$ROOT/deploy/$2' >'$TMP/$1.yaml'"
  # Server-side dry-run needs the namespace to exist; it is created for real, the rest is only validated.
  k create namespace semaphore-wireguard --dry-run=client -o yaml | k apply -f - >/dev/null 2>&1
  check "the apiserver accepts every object of $2 (dry-run=server)" \
    bash -c "'$KUBECTL' --kubeconfig '$TMP/cp/deploy/kubeconfig' apply --dry-run=server -o json -f '$TMP/$1.yaml' >'$TMP/$1.json'"
}
for c in c1 c2; do
  render_and_dry_run "$c" "example/$c"
  check "nothing was created by the dry run" bash -c "! '$KUBECTL' --kubeconfig '$TMP/cp/deploy/kubeconfig' -n semaphore-wireguard get daemonset semaphore-wireguard >/dev/null 2>&1"
done
render_and_dry_run rr remote-reader

# What the DaemonSet must be, read from the objects the apiserver accepted. Paths must agree: the key directory
# is mounted where -wg-key-path points (the original's example misspelled it, so keys changed on every
# restart), the config where -clusters-config points, the token where the config's remoteSATokenPath points.
ds='$root | .items[] | select(.kind == "DaemonSet") | .spec.template'
agent="$ds | .spec.containers[] | select(.name == \"semaphore-wireguard\")"
keeper="$ds | .spec.containers[] | select(.name == \"wireguard-go-keeper\")"
# expect "what" JQ_BOOLEAN_EXPRESSION [FILE]: the expression holds for the c1 example as accepted (or FILE).
expect() { check "$1" jq -e ". as \$root | $2" "${3:-$TMP/c1.json}"; }
arg() { echo "($agent | .args[] | select(startswith(\"-$1=\")) | ltrimstr(\"-$1=\"))"; }
mounted() { echo "([$1 | .volumeMounts[].mountPath] | any(. as \$m | $2 | startswith(\$m + \"/\")))"; }
token=$(jq -r '.remotes[0].remoteSATokenPath' "$ROOT/deploy/example/c1/clusters.json")
expect "key directory -wg-key-path is a mounted volume" "[$agent | .volumeMounts[].mountPath] | index([$(arg wg-key-path)]) != null"
expect "config -clusters-config is inside a mounted volume" "$(mounted "$agent" "$(arg clusters-config)")"
expect "token $token is inside a mounted volume" "$(mounted "$agent" "\"$token\"")"
expect "hostNetwork" "$ds | .spec.hostNetwork == true"
expect "both containers: NET_ADMIN only, read-only root, no privilege escalation" \
  "[$ds | .spec.containers[].securityContext | .capabilities.add == [\"NET_ADMIN\"] and .capabilities.drop == [\"ALL\"] and .readOnlyRootFilesystem and .allowPrivilegeEscalation == false] == [true, true]"
expect "seccomp profile RuntimeDefault" "$ds | .spec.securityContext.seccompProfile.type == \"RuntimeDefault\""
expect "liveness is /livez, readiness /readyz, on the listen port" \
  "$agent | .livenessProbe.httpGet.path == \"/livez\" and .readinessProbe.httpGet.path == \"/readyz\" and .livenessProbe.httpGet.port == \"http\" and (.ports[] | select(.name == \"http\") | .containerPort) == 7773"
expect "listens on the node's IP (downward API status.hostIP), port 7773" \
  "$(arg listen-address) == \"\$(SWG_HOST_IP):7773\" and ($agent | .env[] | select(.name == \"SWG_HOST_IP\") | .valueFrom.fieldRef.fieldPath) == \"status.hostIP\""
expect "the agent leaves wireguard-go to the keeper" "$(arg wireguard-go-keeper) == \"true\""
expect "the keeper runs the same image with the same config" \
  "($keeper | .args[0] == \"wireguard-go-keeper\" and .image == ($agent | .image)) and ($keeper | .args | index([\"-clusters-config=\" + $(arg clusters-config)]) != null)"
expect "agent and keeper share /run/wireguard through an emptyDir; /dev/net/tun is the keeper's" \
  "($agent | .volumeMounts[] | select(.mountPath == \"/run/wireguard\") | .name) as \$v | ($keeper | .volumeMounts[] | select(.mountPath == \"/run/wireguard\") | .name) == \$v and ($ds | .spec.volumes[] | select(.name == \$v) | .emptyDir) != null and ($keeper | [.volumeMounts[].mountPath] | index([\"/dev/net/tun\"]) != null)"
expect "the image is pinned to the project version ($VERSION)" "[$ds | .spec.containers[].image] == [\"semaphore-wireguard:$VERSION\", \"semaphore-wireguard:$VERSION\"]"
expect "tolerates every taint, system priority class" \
  "($ds | .spec.tolerations | any(.operator == \"Exists\" and .key == null)) and ($ds | .spec.priorityClassName) == \"system-node-critical\""
expect "the pods carry app.kubernetes.io labels" "$ds | .metadata.labels[\"app.kubernetes.io/name\"] == \"semaphore-wireguard\" and .metadata.labels[\"app.kubernetes.io/component\"] == \"agent\""
ns='$root | .items[] | select(.kind == "Namespace") | .metadata.labels'
psa='.["pod-security.kubernetes.io/enforce"] == "privileged" and .["pod-security.kubernetes.io/warn"] == "privileged" and .["pod-security.kubernetes.io/audit"] == "privileged"'
expect "the namespace allows privileged pods (Pod Security labels)" "$ns | $psa"
expect "deploy/remote-reader brings the same namespace, so it applies to a new cluster" \
  "($ns | $psa) and ($ns | .[\"app.kubernetes.io/name\"]) == \"semaphore-wireguard\"" "$TMP/rr.json"
expect "the remote-reader token is a long-lived Secret" \
  'any(.items[]; .kind == "Secret" and .type == "kubernetes.io/service-account-token")' "$TMP/rr.json"
expect "the remote reader may only get, list and watch nodes" \
  '[.items[] | select(.kind == "ClusterRole") | .rules[]] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}]' "$TMP/rr.json"
check "no PodSecurityPolicy (gone since Kubernetes 1.25)" bash -c "! grep -q PodSecurityPolicy '$TMP/c1.yaml' '$TMP/rr.yaml'"
check "the example config is valid" "$BIN" check-config -clusters-config "$ROOT/deploy/example/c1/clusters.json"

# The image override the base documents changes both containers.
mkdir -p "$TMP/override"
cat >"$TMP/override/kustomization.yaml" <<EOF
resources: ["$(realpath --relative-to="$TMP/override" "$ROOT/deploy/example/c1")"]
images: [{name: semaphore-wireguard, newName: registry.example.com/semaphore-wireguard, newTag: "9.9.9"}]
EOF
check "an images: override in an overlay changes both containers' image" \
  bash -c "[[ \$('$KUBECTL' kustomize '$TMP/override' | grep -c 'image: registry.example.com/semaphore-wireguard:9.9.9') == 2 ]]"
summary
