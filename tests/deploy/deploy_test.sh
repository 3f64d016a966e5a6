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
render_and_dry_run c1m example/c1-mirror
check "nothing was created by the dry run of c1-mirror" bash -c "! '$KUBECTL' --kubeconfig '$TMP/cp/deploy/kubeconfig' -n semaphore-wireguard get deployment semaphore-wireguard-mirror >/dev/null 2>&1"

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

# The mirror (deploy/mirror, through deploy/example/c1-mirror: c1's agents read c2 from the mirror's records).
# What a user relies on: two replicas of `semaphore-wireguard mirror` that need no privilege at all, the config
# and the remote tokens where the flags and the config point, the identity and namespace from the downward API.
m='$root | .items[] | select(.kind == "Deployment" and .metadata.name == "semaphore-wireguard-mirror")'
mpod="$m | .spec.template.spec"
mirror="$mpod | .containers[0]"
marg() { echo "($mirror | .args[] | select(startswith(\"-$1=\")) | ltrimstr(\"-$1=\"))"; }
mexpect() { expect "mirror: $1" "$2" "$TMP/c1m.json"; }
mtoken=$(jq -r '.remotes[0].remoteSATokenPath' "$ROOT/deploy/example/c1-mirror/mirror-clusters.json")
entrypoint=$(sed -n 's/^ENTRYPOINT \(.*\)/\1/p' "$ROOT/deploy/Dockerfile")
mexpect "one Deployment, 2 replicas, one container, account semaphore-wireguard-mirror" \
  "[$m] | length == 1 and .[0].spec.replicas == 2 and (.[0].spec.template.spec | (.containers | length) == 1 and .serviceAccountName == \"semaphore-wireguard-mirror\")"
check "the image's ENTRYPOINT is the binary ($entrypoint), so the first argument is the subcommand" \
  test "$entrypoint" = '["/usr/local/bin/semaphore-wireguard"]'
mexpect "runs \`semaphore-wireguard mirror\` (no command: the image's entrypoint), the agents' image" \
  "($mirror | .command == null and .args[0] == \"mirror\" and .image == ($agent | .image))"
mexpect "-clusters-config is inside a volume from the ConfigMap semaphore-wireguard-mirror-config-<hash>" \
  "$(mounted "$mirror" "$(marg clusters-config)") and ([$mpod | .volumes[] | .configMap.name // empty] | map(startswith(\"semaphore-wireguard-mirror-config-\")) == [true])"
mexpect "the remote token $mtoken is inside a volume from the Secret semaphore-wireguard-mirror-tokens-<hash>" \
  "$(mounted "$mirror" "\"$mtoken\"") and ([$mpod | .volumes[] | .secret.secretName // empty] | map(startswith(\"semaphore-wireguard-mirror-tokens-\")) == [true])"
mexpect "POD_NAME and POD_NAMESPACE from the downward API (its identity, its namespace)" \
  "[$mirror | .env[] | [.name, .valueFrom.fieldRef.fieldPath]] == [[\"POD_NAME\", \"metadata.name\"], [\"POD_NAMESPACE\", \"metadata.namespace\"]]"
mexpect "liveness /livez and readiness /readyz on port 7774, where -listen-address listens" \
  "$mirror | .livenessProbe.httpGet.path == \"/livez\" and .readinessProbe.httpGet.path == \"/readyz\" and .livenessProbe.httpGet.port == \"http\" and .readinessProbe.httpGet.port == \"http\" and (.ports[] | select(.name == \"http\") | .containerPort) == 7774 and $(marg listen-address) == \":7774\""
mexpect "the control socket's directory is a writable emptyDir (the root filesystem is read-only)" \
  "($(marg control-socket) | rtrimstr(\"/mirror.sock\")) as \$d | ($mirror | .volumeMounts[] | select(.mountPath == \$d) | .name) as \$v | \$v != null and ($mirror | .volumeMounts[] | select(.name == \$v) | .readOnly) != true and ($mpod | .volumes[] | select(.name == \$v) | .emptyDir) != null"
mexpect "no privilege: non-root user, no capability, no escalation, read-only root, RuntimeDefault seccomp, no host namespaces" \
  "($mpod | .securityContext | .runAsNonRoot == true and .runAsUser > 0 and .seccompProfile.type == \"RuntimeDefault\") and ($mirror | .securityContext | .capabilities == {\"drop\": [\"ALL\"]} and .allowPrivilegeEscalation == false and .readOnlyRootFilesystem == true and .privileged != true) and ($mpod | .hostNetwork != true and .hostPID != true and ([.volumes[] | .hostPath // empty] == []))"
mexpect "leader election: lease duration > renew deadline > retry period" \
  "[$(marg lease-duration), $(marg renew-deadline), $(marg retry-period)] | map(rtrimstr(\"s\") | tonumber) | .[0] > .[1] and .[1] > .[2]"
mexpect "terminationGracePeriodSeconds leaves time to release the Lease (>= 10 s)" "$mpod | .terminationGracePeriodSeconds >= 10"
mexpect "rolling update keeps both replicas (maxUnavailable 0)" "$m | .spec.strategy.rollingUpdate.maxUnavailable == 0"
mexpect "replicas prefer different nodes (podAntiAffinity on kubernetes.io/hostname, matching its own pods)" \
  "($m | .spec.selector.matchLabels) as \$sel | $mpod | .affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution | any(.podAffinityTerm | .topologyKey == \"kubernetes.io/hostname\" and .labelSelector.matchLabels == \$sel)"
mexpect "requests cpu and memory, limits memory" "$mirror | .resources.requests.cpu != null and .resources.requests.memory != null and .resources.limits.memory != null"
mexpect "the pods carry app.kubernetes.io labels, component mirror" \
  "$m | .spec.template.metadata.labels | .[\"app.kubernetes.io/name\"] == \"semaphore-wireguard\" and .[\"app.kubernetes.io/component\"] == \"mirror\""
expect "c1-mirror: the agents hold no remote token (no Secret mounted in the DaemonSet)" \
  "[$ds | .spec.volumes[] | .secret // empty] == []" "$TMP/c1m.json"
check "c1-mirror: the agents' config is valid, with c2 in mirror mode" bash -c \
  "'$BIN' check-config -clusters-config '$ROOT/deploy/example/c1-mirror/clusters.json' | jq -e '.remotes[0].peerSource == \"mirror\"'"
check "c1-mirror: the mirror's config is valid as the mirror's (check-config -mirror)" \
  "$BIN" check-config -mirror -clusters-config "$ROOT/deploy/example/c1-mirror/mirror-clusters.json"
agents_config_refused() {
  local out
  out=$("$BIN" check-config -mirror -clusters-config "$ROOT/deploy/example/c1-mirror/clusters.json" 2>&1) && return 1
  grep -qF 'remotes[0].peerSource: "mirror" is for agents' <<<"$out" || { echo "$out"; return 1; }
}
check "... and the agents' config is not (check-config -mirror names remotes[0].peerSource)" agents_config_refused
# Pod Security "restricted" (the strictest level): the mirror's pod is admitted in such a namespace, the agent's is
# not (host network, NET_ADMIN, host paths). Pods made from the templates, server-side dry-run (their
# ServiceAccounts exist there: admission looks them up).
k create namespace swg-restricted >/dev/null 2>&1
k -n swg-restricted create serviceaccount semaphore-wireguard-mirror >/dev/null
k -n swg-restricted create serviceaccount semaphore-wireguard >/dev/null
k label namespace swg-restricted pod-security.kubernetes.io/enforce=restricted >/dev/null
pod_of() {  # pod_of KIND NAME: a Pod from the template of the accepted c1-mirror object, in swg-restricted
  jq --arg kind "$1" --arg name "$2" '.items[] | select(.kind == $kind and .metadata.name == $name) | .spec.template |
    {apiVersion: "v1", kind: "Pod", metadata: {name: "probe", namespace: "swg-restricted", labels: .metadata.labels}, spec: .spec}' "$TMP/c1m.json"
}
mirror_admitted() { pod_of Deployment semaphore-wireguard-mirror | k apply --dry-run=server -f -; }
check "mirror: its pod is admitted at Pod Security level restricted (dry-run=server)" mirror_admitted
agent_refused() {
  local out
  out=$(pod_of DaemonSet semaphore-wireguard | k apply --dry-run=server -f - 2>&1) && return 1
  grep -q 'violates PodSecurity "restricted' <<<"$out" || { echo "$out"; return 1; }
}
check "... while the agent's pod is refused there (the check can tell)" agent_refused

# The image override the base documents changes both containers.
mkdir -p "$TMP/override"
cat >"$TMP/override/kustomization.yaml" <<EOF
resources: ["$(realpath --relative-to="$TMP/override" "$ROOT/deploy/example/c1")"]
images: [{name: semaphore-wireguard, newName: registry.example.com/semaphore-wireguard, newTag: "9.9.9"}]
EOF
check "an images: override in an overlay changes both containers' image" \
  bash -c "[[ \$('$KUBECTL' kustomize '$TMP/override' | grep -c 'image: registry.example.com/semaphore-wireguard:9.9.9') == 2 ]]"
sed -i 's#example/c1"#example/c1-mirror"#' "$TMP/override/kustomization.yaml"
check "... and in c1-mirror, the mirror's too (3 containers)" \
  bash -c "[[ \$('$KUBECTL' kustomize '$TMP/override' | grep -c 'image: registry.example.com/semaphore-wireguard:9.9.9') == 3 ]]"
summary
