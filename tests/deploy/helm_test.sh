#!/usr/bin/env bash
# deploy/helm/semaphore-wireguard: `helm lint`; `helm template` with the example's values gives the same objects
# as `kubectl kustomize deploy/example/<c>` (the CRD of crds/ included; with monitoring on, deploy/monitoring's;
# with mirror.rbac.create, deploy/mirror's RBAC; with mirror.enabled and c1-mirror's values, deploy/example/c1-mirror),
# Helm's own labels aside; values change what they say; bad values fail with a clear message; a real kube-apiserver accepts every
# object (server-side dry-run, strict), and `helm install`, `upgrade` and `uninstall` work against it. helm is
# built from the Go module proxy by scripts/build-control-plane.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/lib/testlib.sh"
TOOLS=$("$ROOT/scripts/build-control-plane") || { echo "FAIL cannot build the test tools"; exit 1; }
KUBECTL=$(sed -n 's/^KUBECTL=//p' <<<"$TOOLS")
HELM=$(sed -n 's/^HELM=//p' <<<"$TOOLS")
CHART="$ROOT/deploy/helm/semaphore-wireguard"
# helm keeps its own config, cache and data apart from the user's.
export HELM_CONFIG_HOME="$TMP/helm/config" HELM_CACHE_HOME="$TMP/helm/cache" HELM_DATA_HOME="$TMP/helm/data"
NS=semaphore-wireguard

# example_args C: the values that make the chart what deploy/example/C is, as the README gives them. For
# c1-mirror: the agents' config (no token: c2 is mirrored) and the mirror with its config and c2's token.
example_args() {
  local dir="$ROOT/deploy/example/$1" r
  r=$(jq -r '.remotes[0].name' "$dir/clusters.json")
  if [[ -f "$dir/mirror-clusters.json" ]]; then
    echo "--set-file clustersConfig=$dir/clusters.json --set mirror.enabled=true" \
      "--set-file mirror.clustersConfig=$dir/mirror-clusters.json --set-file mirror.remoteTokens.$r=$dir/tokens/$r-token"
  else
    echo "--set-file clustersConfig=$dir/clusters.json --set-file remoteTokens.$r=$dir/tokens/$r-token"
  fi
}
# render C FILE [helm args...]: helm template of C's example values (with the Namespace and the chart's crds/,
# which `helm install` applies and `helm template` leaves out unless asked, as deploy/base has them).
render() {
  local c=$1 out=$2
  shift 2
  # shellcheck disable=SC2046  # example_args is a list of words without spaces
  "$HELM" template semaphore-wireguard "$CHART" -n "$NS" --set namespace.create=true --include-crds $(example_args "$c") "$@" >"$out"
}
# fails_with "what" "message" [helm args...]: helm template fails, and says the message.
fails_with() {
  local what=$1 msg=$2
  shift 2
  if "$HELM" template semaphore-wireguard "$CHART" -n "$NS" "$@" >"$TMP/bad.out" 2>&1; then
    fail "$what: helm template succeeded"
  elif grep -qF -- "$msg" "$TMP/bad.out"; then
    pass "$what: \"$msg\""
  else
    fail "$what: no \"$msg\" in: $(tail -c 400 "$TMP/bad.out")"
  fi
}
# jqc "what" JQ_BOOLEAN FILE.yaml: the expression holds for the rendered objects (as a JSON array).
jqc() { check "$1" bash -c "python3 -c 'import sys,yaml,json; print(json.dumps([d for d in yaml.safe_load_all(open(sys.argv[1])) if d]))' '$3' | jq -e '$2'"; }

VERSION=$(sed -n 's/^project(semaphore-wireguard VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
check "helm $(sed -n 's/^HELM=.*helm-\(v[0-9.]*\)\/helm$/\1/p' <<<"$TOOLS") runs" "$HELM" version
check "the chart's appVersion is the project version ($VERSION)" grep -qx "appVersion: \"$VERSION\".*" "$CHART/Chart.yaml"
for f in podmonitor.yaml prometheusrule.yaml dashboard.json; do
  check "files/monitoring/$f is deploy/monitoring/$f, byte for byte" cmp "$ROOT/deploy/monitoring/$f" "$CHART/files/monitoring/$f"
done
check "crds/wireguardpeers.yaml is deploy/crd/wireguardpeers.yaml, byte for byte" \
  cmp "$ROOT/deploy/crd/wireguardpeers.yaml" "$CHART/crds/wireguardpeers.yaml"
# shellcheck disable=SC2046
check "helm lint --strict with c1's values" "$HELM" lint --strict "$CHART" $(example_args c1)
# shellcheck disable=SC2046
check "helm lint --strict with c1's values and the mirror's RBAC" "$HELM" lint --strict "$CHART" $(example_args c1) --set mirror.rbac.create=true
# shellcheck disable=SC2046
check "helm lint --strict with c1-mirror's values (mirror.enabled)" "$HELM" lint --strict "$CHART" $(example_args c1-mirror)
# shellcheck disable=SC2046
check "helm lint --strict with c1's values and monitoring on" "$HELM" lint --strict "$CHART" $(example_args c1) --set monitoring.enabled=true

for c in c1 c2 c1-mirror; do
  check "kubectl kustomize deploy/example/$c" bash -c "'$KUBECTL' kustomize '$ROOT/deploy/example/$c' >'$TMP/$c.kustomize.yaml'"
  check "helm template with $c's values" render "$c" "$TMP/$c.helm.yaml"
  check "helm template gives the same objects as kustomize for $c (Helm's labels aside)" \
    "$ROOT/tests/deploy/helm_compare.py" "$TMP/$c.kustomize.yaml" "$TMP/$c.helm.yaml"
done

jqc "monitoring off (the default): no PodMonitor, PrometheusRule or dashboard" \
  '[.[].kind] | (index("PodMonitor"), index("PrometheusRule")) == null and ([.[] | select(. == "ConfigMap")] | length) == 1' "$TMP/c1.helm.yaml"
check "kubectl kustomize deploy/monitoring" bash -c "'$KUBECTL' kustomize '$ROOT/deploy/monitoring' >'$TMP/mon.kustomize.yaml'"
check "monitoring on: the chart's monitoring objects are deploy/monitoring's" bash -c \
  "'$HELM' template semaphore-wireguard '$CHART' -n $NS $(example_args c1) --set monitoring.enabled=true --show-only templates/monitoring.yaml >'$TMP/mon.helm.yaml' &&
   '$ROOT/tests/deploy/helm_compare.py' '$TMP/mon.kustomize.yaml' '$TMP/mon.helm.yaml'"

# The mirror: off by default; mirror.rbac.create alone gives deploy/mirror's RBAC (not its Deployment);
# mirror.enabled gives deploy/example/c1-mirror (compared above, with the RBAC).
jqc "mirror off (the default): no semaphore-wireguard-mirror account, Role, binding or Deployment" \
  '[.[] | select(.metadata.name | startswith("semaphore-wireguard-mirror"))] == []' "$TMP/c1.helm.yaml"
jqc "mirror.enabled with c1-mirror's values: a Deployment of 2 replicas, its ConfigMap and Secret, its RBAC" \
  '([.[] | select(.metadata.name | startswith("semaphore-wireguard-mirror")) | .kind] | sort ==
   ["ConfigMap", "Deployment", "Role", "RoleBinding", "Secret", "ServiceAccount"]) and
   [.[] | select(.kind == "Deployment") | .spec.replicas] == [2]' "$TMP/c1-mirror.helm.yaml"
check "kubectl kustomize deploy/mirror" bash -c "'$KUBECTL' kustomize '$ROOT/deploy/mirror' |
  python3 -c 'import sys,yaml; yaml.safe_dump_all([d for d in yaml.safe_load_all(sys.stdin) if d[\"kind\"] != \"Deployment\"], sys.stdout)' >'$TMP/mirror.kustomize.yaml'"
check "mirror.rbac.create=true: the chart's mirror RBAC is deploy/mirror's" bash -c \
  "'$HELM' template semaphore-wireguard '$CHART' -n $NS $(example_args c1) --set mirror.rbac.create=true --show-only templates/mirror-rbac.yaml >'$TMP/mirror.helm.yaml' &&
   '$ROOT/tests/deploy/helm_compare.py' '$TMP/mirror.kustomize.yaml' '$TMP/mirror.helm.yaml'"

# Values say what they change.
render c1 "$TMP/v.yaml" --set 'listenAddress=[$(SWG_HOST_IP)]:9000' --set image.repository=registry.example.com/swg \
  --set image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ds='.[] | select(.kind == "DaemonSet") | .spec.template.spec'
jqc "listenAddress sets -listen-address and the http port of the probes" \
  "$ds | .containers[0] | (.args | index([\"-listen-address=[\$(SWG_HOST_IP)]:9000\"]) != null) and .ports == [{\"name\": \"http\", \"containerPort\": 9000}]" "$TMP/v.yaml"
jqc "image.repository and image.digest set both containers' image" \
  "[$ds | .containers[].image] == [range(2) | \"registry.example.com/swg@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"]" "$TMP/v.yaml"
render c1 "$TMP/s.yaml" --set remoteTokensSecret=my-tokens
jqc "remoteTokensSecret: the existing Secret is mounted, none is made" \
  "([.[].kind] | index(\"Secret\")) == null and ($ds | .volumes[] | select(.name == \"remote-tokens\") | .secret.secretName) == \"my-tokens\"" "$TMP/s.yaml"
sed 's/"wgDeviceMTU": 1380/"wgDeviceMTU": 1280/' "$ROOT/deploy/example/c1/clusters.json" >"$TMP/changed.json"
render c1 "$TMP/changed.yaml" --set-file clustersConfig="$TMP/changed.json"
check "a changed clusters config is a new ConfigMap name, so the pods roll" bash -c \
  "! diff <(grep -o 'semaphore-wireguard-config-[a-z0-9]*' '$TMP/c1.helm.yaml' | sort -u) <(grep -o 'semaphore-wireguard-config-[a-z0-9]*' '$TMP/changed.yaml' | sort -u) >/dev/null"
python3 -c "import json,yaml,sys; yaml.safe_dump({'clustersConfig': json.load(open(sys.argv[1]))}, open(sys.argv[2], 'w'))" \
  "$ROOT/deploy/example/c1/clusters.json" "$TMP/object-values.yaml"
render c1 "$TMP/o.yaml" -f "$TMP/object-values.yaml"
jqc "clustersConfig as a YAML object gives the same config" \
  ".[] | select(.kind == \"ConfigMap\") | .data[\"clusters.json\"] | fromjson == $(jq -c . "$ROOT/deploy/example/c1/clusters.json")" "$TMP/o.yaml"
render c1-mirror "$TMP/m.yaml" --set mirror.replicas=3 --set mirror.leaderElection.leaseDuration=30s \
  --set mirror.leaderElection.renewDeadline=20s --set mirror.leaderElection.retryPeriod=4s --set mirror.markerInterval=20s \
  --set mirror.resources.limits.memory=512Mi --set image.repository=registry.example.com/swg
md='.[] | select(.kind == "Deployment")'
jqc "mirror.replicas, .leaderElection, .markerInterval, .resources and image.repository say what they change" \
  "$md | .spec.replicas == 3 and (.spec.template.spec.containers[0] | (.args | index([\"-lease-duration=30s\", \"-renew-deadline=20s\", \"-retry-period=4s\", \"-marker-interval=20s\"]) != null) and .resources.limits.memory == \"512Mi\" and .image == \"registry.example.com/swg:$VERSION\")" "$TMP/m.yaml"
"$HELM" template semaphore-wireguard "$CHART" -n "$NS" --set mirror.enabled=true --set mirror.remoteTokensSecret=my-mirror-tokens \
  --set-file clustersConfig="$ROOT/deploy/example/c1-mirror/clusters.json" \
  --set-file mirror.clustersConfig="$ROOT/deploy/example/c1-mirror/mirror-clusters.json" >"$TMP/ms.yaml"
jqc "mirror.remoteTokensSecret: the existing Secret is mounted in the mirror, none is made" \
  "([.[].kind] | index(\"Secret\")) == null and ($md | .spec.template.spec.volumes[] | select(.name == \"remote-tokens\") | .secret.secretName) == \"my-mirror-tokens\"" "$TMP/ms.yaml"

# Bad values fail before anything reaches a cluster, saying which value is wrong.
fails_with "no clustersConfig" "clustersConfig is required"
fails_with "clustersConfig that is not JSON" "clustersConfig is not a clusters config" --set clustersConfig=nonsense
fails_with "a remote without its token" "remote c2 reads its token from /etc/semaphore-wireguard/tokens/c2: set remoteTokens.c2" \
  --set-file clustersConfig="$ROOT/deploy/example/c1/clusters.json"
# shellcheck disable=SC2046
fails_with "monitoring.enabled that is not a boolean (values.schema.json)" "monitoring/enabled" $(example_args c1) --set-string monitoring.enabled=yes
# shellcheck disable=SC2046
fails_with "mirror.rbac.create that is not a boolean (values.schema.json)" "mirror/rbac/create" $(example_args c1) --set-string mirror.rbac.create=yes
fails_with "mirror.enabled without its config" "mirror.clustersConfig is required with mirror.enabled" \
  --set-file clustersConfig="$ROOT/deploy/example/c1-mirror/clusters.json" --set mirror.enabled=true
fails_with "the mirror's remote without its token" "mirror: remote c2 reads its token from /etc/semaphore-wireguard/tokens/c2: set mirror.remoteTokens.c2" \
  --set-file clustersConfig="$ROOT/deploy/example/c1-mirror/clusters.json" --set mirror.enabled=true \
  --set-file mirror.clustersConfig="$ROOT/deploy/example/c1-mirror/mirror-clusters.json"
# The agents' config (c2 mirrored) given to the mirror by mistake.
# shellcheck disable=SC2046
fails_with "a mirror config with a remote in mirror mode" "mirror.clustersConfig: remote c2 has \"peerSource\": \"mirror\"" \
  $(example_args c1-mirror) --set-file mirror.clustersConfig="$ROOT/deploy/example/c1-mirror/clusters.json"
# shellcheck disable=SC2046
fails_with "a lease duration without its unit (values.schema.json)" "mirror/leaderElection/leaseDuration" \
  $(example_args c1-mirror) --set mirror.leaderElection.leaseDuration=15
# shellcheck disable=SC2046
fails_with "listenAddress without a port (values.schema.json)" "listenAddress" $(example_args c1) --set listenAddress=0.0.0.0
# shellcheck disable=SC2046
fails_with "a misspelt value (values.schema.json)" "listenAdress" $(example_args c1) --set listenAdress=0.0.0.0:7773

# A real kube-apiserver with the Prometheus Operator's CRDs.
CRDS=$("$ROOT/tests/deploy/prometheus_operator_crds.sh") || { echo "FAIL cannot get the Prometheus Operator's CRDs"; exit 1; }
on_exit '"$ROOT/scripts/control-plane" stop --dir "$TMP/cp"'
"$ROOT/scripts/control-plane" start --dir "$TMP/cp" --clusters helm >/dev/null 2>"$TMP/cp.log" ||
  { cat "$TMP/cp.log"; echo "FAIL cannot start the test control plane"; exit 1; }
export KUBECONFIG="$TMP/cp/helm/kubeconfig"
k() { "$KUBECTL" "$@"; }
check "the Prometheus Operator's CRDs install" k apply --server-side -f "$CRDS"
check "and are established" k wait --for condition=established --timeout=60s \
  crd/podmonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com
# As the README installs it: the namespace from deploy/remote-reader, then helm install.
check "kubectl apply -k deploy/remote-reader (brings the namespace)" k apply -k "$ROOT/deploy/remote-reader"
# Server-side dry-run needs the namespace to exist: the remote reader brought it.
render c1 "$TMP/all.yaml" --set monitoring.enabled=true --set mirror.rbac.create=true
check "the apiserver accepts every object the chart renders (dry-run=server, strict)" \
  k apply --dry-run=server --validate=strict -f "$TMP/all.yaml"
check "... and with c1-mirror's values (mirror.enabled)" k apply --dry-run=server --validate=strict -f "$TMP/c1-mirror.helm.yaml"
check "nothing was created by the dry run" bash -c "! '$KUBECTL' -n $NS get daemonset semaphore-wireguard >/dev/null 2>&1"
# shellcheck disable=SC2046
check "helm install with c1's values and monitoring on" \
  "$HELM" install semaphore-wireguard "$CHART" -n "$NS" $(example_args c1) --set monitoring.enabled=true
check "helm install installed the WireGuardPeer CRD from crds/, and it is established" \
  k wait --for condition=established --timeout=60s crd/wireguardpeers.wireguard.semaphore.uw.io
check "helm status: deployed" bash -c "'$HELM' status semaphore-wireguard -n $NS -o json | jq -e '.info.status == \"deployed\"'"
check "the DaemonSet, its ConfigMap and Secret, the PodMonitor and PrometheusRule exist" \
  k -n "$NS" get daemonset/semaphore-wireguard podmonitor/semaphore-wireguard prometheusrule/semaphore-wireguard \
  configmap/semaphore-wireguard-dashboard "configmap/$(grep -o 'semaphore-wireguard-config-[a-z0-9]*' "$TMP/c1.helm.yaml" | head -1)" \
  "secret/$(grep -o 'semaphore-wireguard-remote-tokens-[a-z0-9]*' "$TMP/c1.helm.yaml" | head -1)"
old=$(k -n "$NS" get ds semaphore-wireguard -o jsonpath='{.spec.template.spec.volumes[0].configMap.name}')
# shellcheck disable=SC2046
check "helm upgrade with a changed config" \
  "$HELM" upgrade semaphore-wireguard "$CHART" -n "$NS" $(example_args c1) --set-file clustersConfig="$TMP/changed.json"
new=$(k -n "$NS" get ds semaphore-wireguard -o jsonpath='{.spec.template.spec.volumes[0].configMap.name}')
check "the DaemonSet now mounts the new ConfigMap ($old -> $new)" test -n "$new" -a "$old" != "$new"
check "and monitoring is gone (off by default)" bash -c "! '$KUBECTL' -n $NS get podmonitor semaphore-wireguard >/dev/null 2>&1"
# shellcheck disable=SC2046
check "helm upgrade to c1-mirror's values (c2 mirrored, mirror.enabled)" \
  "$HELM" upgrade semaphore-wireguard "$CHART" -n "$NS" $(example_args c1-mirror)
mirror_installed() {
  k -n "$NS" get deployment semaphore-wireguard-mirror -o json | jq -e '.spec.replicas == 2' >/dev/null &&
    k -n "$NS" get serviceaccount/semaphore-wireguard-mirror role/semaphore-wireguard-mirror rolebinding/semaphore-wireguard-mirror >/dev/null &&
    k -n "$NS" get ds semaphore-wireguard -o json | jq -e '[.spec.template.spec.volumes[] | .secret // empty] == []' >/dev/null
}
check "the mirror's Deployment (2 replicas) and RBAC exist; the agents mount no token any more" mirror_installed
check "helm uninstall" "$HELM" uninstall semaphore-wireguard -n "$NS" --wait
check "the DaemonSet, the mirror and the ClusterRole are gone, the remote reader stays" bash -c \
  "! '$KUBECTL' -n $NS get ds semaphore-wireguard >/dev/null 2>&1 && ! '$KUBECTL' -n $NS get deployment semaphore-wireguard-mirror >/dev/null 2>&1 && ! '$KUBECTL' get clusterrole semaphore-wireguard >/dev/null 2>&1 && '$KUBECTL' get clusterrole semaphore-wireguard-remote-reader >/dev/null"
check "the WireGuardPeer CRD stays (Helm never deletes crds/: deleting it would delete every record)" \
  k get crd wireguardpeers.wireguard.semaphore.uw.io
summary
