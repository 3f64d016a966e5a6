#!/usr/bin/env bash
# deploy/monitoring: it renders with kustomize, a real kube-apiserver with the Prometheus Operator's CRDs
# accepts the PodMonitor, the PrometheusRule and the dashboard ConfigMap (server-side dry-run, schema
# validated), the alerts pass `promtool check rules` and their unit tests, and the dashboard is valid JSON.
# (tests/daemon checks that every query uses only metric names a real daemon exports.)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/lib/testlib.sh"
KUBECTL=$("$ROOT/scripts/build-control-plane" | sed -n 's/^KUBECTL=//p')
CRDS=$("$ROOT/tests/deploy/prometheus_operator_crds.sh") || { echo "FAIL cannot get the Prometheus Operator's CRDs"; exit 1; }

on_exit '"$ROOT/scripts/control-plane" stop --dir "$TMP/cp"'
"$ROOT/scripts/control-plane" start --dir "$TMP/cp" --clusters mon >/dev/null 2>"$TMP/cp.log" ||
  { cat "$TMP/cp.log"; echo "FAIL cannot start the test control plane"; exit 1; }
k() { "$KUBECTL" --kubeconfig "$TMP/cp/mon/kubeconfig" "$@"; }

check "the Prometheus Operator's CRDs install" k apply --server-side -f "$CRDS"
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
