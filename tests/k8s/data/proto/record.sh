#!/usr/bin/env bash
# Records what a real kube-apiserver (scripts/control-plane, v1.36) sends about Nodes in protobuf and in JSON,
# for the differential tests (tests/k8s/node_proto_test.cc): the same list, node, watch and error read both
# ways must give the same NodeInfo. Run from anywhere; rewrites the files next to this script.
#   node_list.{pb,json}   GET /api/v1/nodes (the three nodes of ../bench_nodes.json)
#   node.{pb,json}        GET /api/v1/nodes/r00000
#   watch.{pb,jsonl}      one watch each from the list's resourceVersion, while r00000's annotations change,
#                         r00001's status changes (a status-only event) and r00002 is deleted; ends with the
#                         BOOKMARK the apiserver sends at timeoutSeconds
#   status_404.pb         GET /api/v1/nodes/nope (a protobuf Status)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../../.." && pwd)
DIR=$(mktemp -d /tmp/swg-proto-record.XXXXXX)
cleanup() {
  jobs -p | xargs -r kill 2>/dev/null || true
  "$ROOT/scripts/control-plane" stop --dir "$DIR/cp" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT

"$ROOT/scripts/control-plane" start --dir "$DIR/cp" --clusters rec >/dev/null
# shellcheck disable=SC1091
source "$DIR/cp/rec/env"
kubectl() { "$KUBECTL" --kubeconfig "$KUBECONFIG" "$@"; }
PB="application/vnd.kubernetes.protobuf, application/json"
get() {  # ACCEPT PATH OUT
  curl -sS --max-time 30 --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" -H "Accept: $1" \
    -o "$3" "$SERVER$2"
}

kubectl create -f "$HERE/../bench_nodes.json" >/dev/null
get "$PB" /api/v1/nodes "$HERE/node_list.pb"
get application/json /api/v1/nodes "$DIR/list.json"
python3 -m json.tool --compact "$DIR/list.json" >"$HERE/node_list.json"
rv=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"]["resourceVersion"])' \
  "$DIR/list.json")
get "$PB" /api/v1/nodes/r00000 "$HERE/node.pb"
get application/json /api/v1/nodes/r00000 "$HERE/node.json"
get "$PB" /api/v1/nodes/nope "$HERE/status_404.pb" || true

watch="/api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion=$rv&timeoutSeconds=6"
get "$PB" "$watch" "$HERE/watch.pb" &
get application/json "$watch" "$HERE/watch.jsonl" &
sleep 1
kubectl annotate node r00000 c1.wireguard.semaphore.uw.io/endpoint=192.168.200.9:51820 --overwrite >/dev/null
kubectl patch node r00001 --subresource=status --type=strategic -p \
  '{"status":{"conditions":[{"type":"Ready","status":"True","lastHeartbeatTime":"2026-12-03T23:00:00Z","reason":"KubeletReady","message":"kubelet is posting ready status"}]}}' \
  >/dev/null
kubectl delete node r00002 >/dev/null
wait
ls -l "$HERE"
