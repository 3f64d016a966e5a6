#!/usr/bin/env bash
# deploy/monitoring: it renders with kustomize, a real kube-apiserver with the Prometheus Operator's CRDs
# accepts the PodMonitor, the PrometheusRule and the dashboard ConfigMap (server-side dry-run, schema
# validated), the alerts pass `promtool check rules` and their unit tests, and the dashboard is valid JSON.
# (tests/daemon checks that every query uses only metric names a real daemon exports.)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/lib/testlib.sh"
KUBECTL=$("$ROOT/scripts/build-control-plane" | sed -n 's/^KUBECTL=//p')
# The CRDs as the Prometheus Operator publishes them, from its module on the Go module proxy, checked against a
# pinned SHA-256 and cached.
PO_VERSION=v0.85.0
PO_SHA256=0bdb88ed823d0f2e86cf909638439b6ad1da744a228172c7411d9987527dc5d1
CACHE="${SWG_CACHE:-$HOME/.cache/semaphore-wireguard}/crds/prometheus-operator-$PO_VERSION"

if [[ ! -f $CACHE/monitoring.coreos.com_prometheusrules.yaml ]]; then
  proxy=${GOPROXY:-https://proxy.golang.org}
  proxy=${proxy%%,*}
  curl -fsSL --retry 3 -o "$TMP/po.zip" "$proxy/github.com/prometheus-operator/prometheus-operator/@v/$PO_VERSION.zip" ||
    { echo "FAIL cannot fetch the Prometheus Operator module $PO_VERSION"; exit 1; }
  [[ $(sha256sum "$TMP/po.zip" | cut -d' ' -f1) == "$PO_SHA256" ]] ||
    { echo "FAIL the Prometheus Operator module $PO_VERSION does not have the pinned SHA-256"; exit 1; }
  mkdir -p "$CACHE.tmp"
  python3 - "$TMP/po.zip" "$CACHE.tmp" "$PO_VERSION" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for kind in ("podmonitors", "prometheusrules"):
    name = f"github.com/prometheus-operator/prometheus-operator@{sys.argv[3]}/example/prometheus-operator-crd/monitoring.coreos.com_{kind}.yaml"
    open(f"{sys.argv[2]}/monitoring.coreos.com_{kind}.yaml", "wb").write(z.read(name))
PY
  rm -rf "$CACHE" && mv "$CACHE.tmp" "$CACHE"
fi

on_exit '"$ROOT/scripts/control-plane" stop --dir "$TMP/cp"'
"$ROOT/scripts/control-plane" start --dir "$TMP/cp" --clusters mon >/dev/null 2>"$TMP/cp.log" ||
  { cat "$TMP/cp.log"; echo "FAIL cannot start the test control plane"; exit 1; }
k() { "$KUBECTL" --kubeconfig "$TMP/cp/mon/kubeconfig" "$@"; }

check "the Prometheus Operator's CRDs install" k apply --server-side -f "$CACHE"
check "and are established" k wait --for condition=established --timeout=60s \
  crd/podmonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com
check "kubectl kustomize renders deploy/monitoring" bash -c "'$KUBECTL' kustomize '$ROOT/deploy/monitoring' >'$TMP/mon.yaml'"
k create namespace semaphore-wireguard >/dev/null
check "the apiserver accepts every object (dry-run=server, schema-validated)" \
  k apply --dry-run=server --validate=strict -o json -f "$TMP/mon.yaml"
k apply --dry-run=server -o json -f "$TMP/mon.yaml" >"$TMP/mon.json" 2>/dev/null
check "a PodMonitor, a PrometheusRule and the dashboard ConfigMap" \
  bash -c "jq -r '.items[].kind' '$TMP/mon.json' | sort | tr '\n' ' ' | grep -qx 'ConfigMap PodMonitor PrometheusRule '"
check "the PodMonitor selects the DaemonSet's pods on its http port" \
  bash -c "jq -e '.items[] | select(.kind == \"PodMonitor\") | .spec.selector.matchLabels.app == \"semaphore-wireguard\" and .spec.podMetricsEndpoints[0].port == \"http\"' '$TMP/mon.json'"
check "the DaemonSet's pods carry that label and port" bash -c \
  "'$KUBECTL' kustomize '$ROOT/deploy/base' | grep -q 'app: semaphore-wireguard' && '$KUBECTL' kustomize '$ROOT/deploy/base' | grep -q 'name: http'"
check "the dashboard ConfigMap is labelled for Grafana's sidecar and holds valid JSON" \
  bash -c "jq -e '.items[] | select(.kind == \"ConfigMap\") | .metadata.labels.grafana_dashboard == \"1\" and (.data[\"semaphore-wireguard.json\"] | fromjson | .panels | length > 0)' '$TMP/mon.json'"

mkdir -p "$TMP/rules"
python3 -c "
import sys, yaml
d = yaml.safe_load(open('$ROOT/deploy/monitoring/prometheusrule.yaml'))
yaml.safe_dump({'groups': d['spec']['groups']}, open('$TMP/rules/rules.yaml', 'w'), sort_keys=False)"
cp "$ROOT/deploy/monitoring/rules_test.yaml" "$TMP/rules/"
check "promtool check rules" promtool check rules "$TMP/rules/rules.yaml"
check "promtool test rules (the alerts' unit tests)" promtool test rules "$TMP/rules/rules_test.yaml"
summary
