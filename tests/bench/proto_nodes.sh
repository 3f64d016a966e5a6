#!/usr/bin/env bash
# Records N realistic nodes (scripts/bench.d/nodes.py) as a kube-apiserver sends them, in JSON (NODES/nodes.json)
# and in protobuf (NODES/nodes.pb), for swg_parse_bench's protobuf rows. Loopback only; cleans up after itself.
#   tests/bench/proto_nodes.sh N OUT_DIR && build/tests/bench/swg_parse_bench OUT_DIR
set -euo pipefail
N=${1:?usage: proto_nodes.sh N OUT_DIR} OUT=${2:?usage: proto_nodes.sh N OUT_DIR}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d /tmp/swg-proto-nodes.XXXXXX)
cleanup() {
  "$ROOT/scripts/control-plane" stop --dir "$TMP/cp" >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$OUT"
"$ROOT/scripts/bench.d/nodes.py" "$N" "$TMP/src" >/dev/null
"$ROOT/scripts/control-plane" start --dir "$TMP/cp" --clusters pn >/dev/null
# shellcheck disable=SC1091
source "$TMP/cp/pn/env"
printf '%s\n' "$TMP/src"/*.json | xargs -P 2 -I{} "$KUBECTL" --kubeconfig "$KUBECONFIG" create -f {} >/dev/null
get() {  # ACCEPT OUT
  curl -sS --fail --max-time 120 -A swg-bench --cacert "$CA_FILE" -H "Authorization: Bearer $ADMIN_TOKEN" \
    -H "Accept: $1" -o "$2" "$SERVER/api/v1/nodes"
}
get application/json "$OUT/nodes.json"
get application/vnd.kubernetes.protobuf "$OUT/nodes.pb"
ls -l "$OUT"
