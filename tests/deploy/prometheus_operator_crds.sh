#!/usr/bin/env bash
# Prints a directory holding the Prometheus Operator's PodMonitor and PrometheusRule CRDs as the operator
# publishes them, from its module on the Go module proxy, checked against a pinned SHA-256 and cached (used by
# monitoring_test.sh and helm_test.sh).
set -euo pipefail
PO_VERSION=v0.85.0
PO_SHA256=0bdb88ed823d0f2e86cf909638439b6ad1da744a228172c7411d9987527dc5d1
CACHE="${SWG_CACHE:-$HOME/.cache/semaphore-wireguard}/crds/prometheus-operator-$PO_VERSION"

if [[ ! -f $CACHE/monitoring.coreos.com_prometheusrules.yaml ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp" "$CACHE.tmp.$$"' EXIT
  proxy=${GOPROXY:-https://proxy.golang.org}
  proxy=${proxy%%,*}
  curl -fsSL --retry 3 -o "$tmp/po.zip" "$proxy/github.com/prometheus-operator/prometheus-operator/@v/$PO_VERSION.zip" ||
    { echo "cannot fetch the Prometheus Operator module $PO_VERSION" >&2; exit 1; }
  [[ $(sha256sum "$tmp/po.zip" | cut -d' ' -f1) == "$PO_SHA256" ]] ||
    { echo "the Prometheus Operator module $PO_VERSION does not have the pinned SHA-256" >&2; exit 1; }
  mkdir -p "$CACHE.tmp.$$"
  python3 - "$tmp/po.zip" "$CACHE.tmp.$$" "$PO_VERSION" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
for kind in ("podmonitors", "prometheusrules"):
    name = f"github.com/prometheus-operator/prometheus-operator@{sys.argv[3]}/example/prometheus-operator-crd/monitoring.coreos.com_{kind}.yaml"
    open(f"{sys.argv[2]}/monitoring.coreos.com_{kind}.yaml", "wb").write(z.read(name))
PY
  # Two tests may fetch at once: the first rename wins, the other's copy is dropped by the trap.
  mv -T "$CACHE.tmp.$$" "$CACHE" 2>/dev/null || true
fi
echo "$CACHE"
