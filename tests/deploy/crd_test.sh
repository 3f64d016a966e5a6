#!/usr/bin/env bash
# The mirror's records (issue 17) against a real kube-apiserver: `kubectl apply -k` of deploy/example/c1 brings the
# WireGuardPeer CRD, Established, and deploy/example/c1-mirror (the agents with c2 mirrored, and the mirror)
# leaves it unchanged; the schema checks types only (a bad record
# the agents must reject is stored verbatim, a wrong type is refused with the apiserver's message); the printer
# columns; and the RBAC with real ServiceAccount tokens (kubectl create token, then plain HTTPS requests): the
# agents only read and watch records, the mirror writes records and its Leases and nothing else.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/tests/lib/testlib.sh"
KUBECTL=$("$ROOT/scripts/build-control-plane" | sed -n 's/^KUBECTL=//p')

on_exit '"$ROOT/scripts/control-plane" stop --dir "$TMP/cp"'
"$ROOT/scripts/control-plane" start --dir "$TMP/cp" --clusters crd >/dev/null 2>"$TMP/cp.log" ||
  { cat "$TMP/cp.log"; echo "FAIL cannot start the test control plane"; exit 1; }
# shellcheck disable=SC1091  # SERVER, CA_FILE
source "$TMP/cp/crd/env"
k() { "$KUBECTL" --kubeconfig "$TMP/cp/crd/kubeconfig" "$@"; }
NS=semaphore-wireguard
CRD=wireguardpeers.wireguard.semaphore.uw.io
PEERS=/apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/$NS/wireguardpeers
LEASES=/apis/coordination.k8s.io/v1/namespaces/$NS/leases

# As users install it: the agents (deploy/base brings the CRD), then c1 switched to mirror mode for c2 (the same
# base, and deploy/mirror: the mirror's RBAC and Deployment).
check "kubectl apply -k deploy/example/c1 (the agents; deploy/base brings the CRD)" k apply -k "$ROOT/deploy/example/c1"
apply_mirror() {
  k apply -k "$ROOT/deploy/example/c1-mirror" >"$TMP/mirror.out" && cat "$TMP/mirror.out" &&
    grep -qx "customresourcedefinition.apiextensions.k8s.io/$CRD unchanged" "$TMP/mirror.out" &&
    grep -qx "serviceaccount/semaphore-wireguard-mirror created" "$TMP/mirror.out"
}
check "kubectl apply -k deploy/example/c1-mirror: the mirror's account and Deployment, the CRD unchanged" apply_mirror
check "CRD $CRD is Established" k wait --for condition=established --timeout=60s "crd/$CRD"
k get crd "$CRD" -o json >"$TMP/crd.json"
check "CRD $CRD: group, kind, plural, singular, short name wgpeer, Namespaced, v1alpha1 served and stored, names accepted" \
  jq -e '.spec.group == "wireguard.semaphore.uw.io" and .spec.scope == "Namespaced" and
    .status.acceptedNames == {kind: "WireGuardPeer", listKind: "WireGuardPeerList", plural: "wireguardpeers",
      singular: "wireguardpeer", shortNames: ["wgpeer"]} and
    [.spec.versions[] | [.name, .served, .storage]] == [["v1alpha1", true, true]] and
    any(.status.conditions[]; .type == "NamesAccepted" and .status == "True")' "$TMP/crd.json"

# record NAME REMOTE SPEC_JSON [EXTRA_LABELS_JSON]: a WireGuardPeer as JSON, labelled with its remote.
record() {
  local extra=${4:-'{}'}
  jq -n --arg n "$1" --arg ns "$NS" --arg r "$2" --argjson spec "$3" --argjson extra "$extra" \
    '{apiVersion: "wireguard.semaphore.uw.io/v1alpha1", kind: "WireGuardPeer",
      metadata: {name: $n, namespace: $ns, labels: ({"wireguard.semaphore.uw.io/remote": $r} + $extra)}, spec: $spec}'
}
# stored "what" NAME SPEC_JSON: the apiserver accepts the record and stores its spec verbatim.
stored() {
  local out
  if ! out=$(record "$2" c2 "$3" | k create -f - 2>&1); then
    fail "$1: record $2 refused: $out"
  elif k -n "$NS" get wireguardpeer "$2" -o json | jq -e --argjson spec "$3" '.spec == $spec' >/dev/null; then
    pass "$1: record $2 accepted and stored verbatim"
  else
    fail "$1: record $2 stored as $(k -n "$NS" get wireguardpeer "$2" -o json | jq -c .spec), not as given"
  fi
}
KEY=$(head -c 32 /dev/urandom | base64)
stored "a node record as the mirror writes it" c2.node-a \
  '{"nodeName": "node-a", "publicKey": "'"$KEY"'", "endpoint": "192.0.2.10:51820", "persistentKeepalive": "25",
    "podCIDRs": ["10.4.1.0/24"], "nodeCreationTimestamp": "2026-12-04T05:00:00Z"}'
# Bad for the agents (a key that is no key, an endpoint without a port, a pod CIDR outside c2's podSubnet
# 10.4.0.0/16 of deploy/example, a date that is none), but of the right types: the apiserver must store it.
stored "types only: a bad key, endpoint, keepalive, date and a CIDR outside c2's subnet" c2.bad-node \
  '{"nodeName": "bad-node", "publicKey": "not-a-key", "endpoint": "nowhere", "persistentKeepalive": "-5",
    "podCIDRs": ["10.99.0.0/24", "nonsense"], "nodeCreationTimestamp": "yesterday"}'
stored "all fields optional: an empty spec" c2.empty '{}'
stored "a record with the mirror's rejection" c2.rejected \
  '{"nodeName": "rejected", "publicKey": "", "endpoint": "", "podCIDRs": [], "rejection": "publicKey: not a WireGuard key"}'
create_marker() {
  record c2 c2 '{"sync": {"complete": true, "lastSyncTime": "2026-12-04T05:00:00Z", "leader": "mirror-0", "nodes": 3}}' \
    '{"wireguard.semaphore.uw.io/sync-marker": "true"}' | k create -f - &&
    k -n "$NS" get wgpeer -l wireguard.semaphore.uw.io/sync-marker=true -o json |
    jq -e '[.items[] | [.metadata.name, .spec.sync.complete, .spec.sync.nodes]] == [["c2", true, 3]]'
}
check "the sync marker c2, found by its sync-marker label, stored verbatim" create_marker

# refused "what" NAME SPEC_JSON FIELD TYPE: the apiserver refuses a wrong type, its message names the field and
# the type, and nothing is stored.
refused() {
  local out
  if out=$(record "$2" c2 "$3" | k create -f - 2>&1); then
    fail "$1: record $2 was accepted"
  elif [[ "$out" == *"$4"*"must be of type $5"* ]] && ! k -n "$NS" get wireguardpeer "$2" >/dev/null 2>&1; then
    pass "$1: refused: $out"
  else
    fail "$1: record $2: no \"$4 ... must be of type $5\" in: $out"
  fi
}
refused "wrong type: podCIDRs a string" c2.wrong-cidrs '{"podCIDRs": "10.4.1.0/24"}' spec.podCIDRs array
refused "wrong type: a pod CIDR a number" c2.wrong-cidr '{"podCIDRs": [10]}' 'spec.podCIDRs[0]' string
refused "wrong type: publicKey a number" c2.wrong-key '{"publicKey": 42}' spec.publicKey string
refused "wrong type: sync.complete a string" c2.wrong-complete '{"sync": {"complete": "yes"}}' spec.sync.complete boolean
refused "wrong type: sync.nodes a string" c2.wrong-nodes '{"sync": {"nodes": "3"}}' spec.sync.nodes integer
# Unknown fields: kubectl's default strict validation refuses them; without it the apiserver prunes them.
if out=$(record c2.extra c2 '{"nodeName": "extra", "color": "red"}' | k create -f - 2>&1); then
  fail "an unknown field spec.color: record c2.extra accepted by a strict create"
else
  check "an unknown field spec.color: refused by a strict create ($out)" grep -q 'unknown field "spec.color"' <<<"$out"
fi
create_pruned() {
  record c2.extra c2 '{"nodeName": "extra", "color": "red"}' | k create --validate=false -f - &&
    k -n "$NS" get wgpeer c2.extra -o json | jq -e '.spec == {nodeName: "extra"}'
}
check "without strict validation, spec.color is pruned: record c2.extra is stored as {nodeName: extra}" create_pruned

# What an operator sees (an absent field is an empty cell).
k -n "$NS" get wgpeer >"$TMP/get.txt" 2>&1
k -n "$NS" get wgpeer -o wide >"$TMP/wide.txt" 2>&1
sed 's/^/     | /' "$TMP/wide.txt"
check "kubectl get wgpeer: columns NAME REMOTE NODE ENDPOINT REJECTION AGE" \
  grep -Eq '^NAME +REMOTE +NODE +ENDPOINT +REJECTION +AGE *$' "$TMP/get.txt"
check "kubectl get wgpeer: c2.node-a shows its remote, node and endpoint" \
  grep -Eq '^c2\.node-a +c2 +node-a +192\.0\.2\.10:51820 +[0-9][0-9a-z]* *$' "$TMP/get.txt"
check "kubectl get wgpeer: c2.rejected shows its rejection" \
  grep -Eq '^c2\.rejected +c2 +rejected +publicKey: not a WireGuard key +[0-9][0-9a-z]* *$' "$TMP/get.txt"
check "kubectl get wgpeer -o wide: adds POD-CIDRS SYNCED LAST-SYNC LEADER" \
  grep -Eq '^NAME +REMOTE +NODE +ENDPOINT +REJECTION +AGE +POD-CIDRS +SYNCED +LAST-SYNC +LEADER *$' "$TMP/wide.txt"
check "kubectl get wgpeer -o wide: the marker c2 shows its sync" \
  grep -Eq '^c2 +c2 +[0-9][0-9a-z]* +true +2026-12-04T05:00:00Z +mirror-0 *$' "$TMP/wide.txt"
check "kubectl get wgpeer -o wide: c2.node-a shows its pod CIDRs" \
  grep -Eq '^c2\.node-a +c2 +node-a +192\.0\.2\.10:51820 +[0-9][0-9a-z]* +\["10\.4\.1\.0/24"\] *$' "$TMP/wide.txt"

# The Roles as applied, rule for rule (the requests below show what they allow and refuse).
rules_are() { k -n "$NS" get role "$1" -o json | jq -e --argjson want "$2" '.rules == $want'; }
check "Role semaphore-wireguard (the agents): get, list, watch wireguardpeers, nothing more" rules_are semaphore-wireguard \
  '[{"apiGroups": ["wireguard.semaphore.uw.io"], "resources": ["wireguardpeers"], "verbs": ["get", "list", "watch"]}]'
check "Role semaphore-wireguard-mirror: every verb on wireguardpeers; get, create, update leases; nothing more" \
  rules_are semaphore-wireguard-mirror '[{"apiGroups": ["wireguard.semaphore.uw.io"], "resources": ["wireguardpeers"],
    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}]'
check "RoleBindings: each Role to its own ServiceAccount" bash -c "'$KUBECTL' --kubeconfig '$TMP/cp/crd/kubeconfig' -n $NS get rolebinding -o json |
  jq -e '[.items[] | [.metadata.name, .roleRef.name, (.subjects | map(.kind + \" \" + .namespace + \"/\" + .name))]] | sort ==
    [[\"semaphore-wireguard\", \"semaphore-wireguard\", [\"ServiceAccount $NS/semaphore-wireguard\"]],
     [\"semaphore-wireguard-mirror\", \"semaphore-wireguard-mirror\", [\"ServiceAccount $NS/semaphore-wireguard-mirror\"]]]'"

# RBAC, with the tokens the pods would get: plain HTTPS requests, so that each answer's code and Status show.
AGENT=$(k -n "$NS" create token semaphore-wireguard --duration=10m)
MIRROR=$(k -n "$NS" create token semaphore-wireguard-mirror --duration=10m)
check "kubectl create token for the agents' and the mirror's ServiceAccounts" test -n "$AGENT" -a -n "$MIRROR"
# http TOKEN METHOD PATH [BODY [CONTENT_TYPE]]: prints the status code; the response body is in $TMP/body.
http() {
  local args=(-sS --max-time 30 --cacert "$CA_FILE" -H "Authorization: Bearer $1" -X "$2" -o "$TMP/body" -w '%{http_code}')
  if (($# > 3)); then args+=(-H "Content-Type: ${5:-application/json}" --data-binary "$4"); fi
  curl "${args[@]}" "$SERVER$3" || true
}
# answer: what the last response says: a Status's message, an object's kind and name, a list's size, a watch's
# number of events.
answer() {
  jq -rs '.[0] as $o | if $o.type and $o.object then "a watch of \(length) events"
          elif $o.kind == "Status" then $o.message // $o.status elif $o.items then "\($o.kind) of \($o.items | length)"
          else "\($o.kind) \($o.metadata.name)" end' "$TMP/body" 2>/dev/null | head -c 400
}
# expect_http "what" CODE TOKEN METHOD PATH [BODY [CONTENT_TYPE]]: the request gets CODE.
expect_http() {
  local what=$1 want=$2 code
  shift 2
  code=$(http "$@")
  if [[ "$code" == "$want" ]]; then pass "$what: HTTP $code, $(answer)"; else fail "$what ($2 $3): HTTP $code, not $want: $(answer)"; fi
}
# forbidden ACCOUNT "what" TOKEN METHOD PATH [BODY [CONTENT_TYPE]]: 403, and the apiserver says that this
# account may not (not another user: the token authenticated).
forbidden() {
  local who="system:serviceaccount:$NS:$1" what=$2 code
  shift 2
  code=$(http "$@")
  if [[ "$code" == 403 && "$(answer)" == *"User \"$who\" cannot "* ]]; then
    pass "$what: HTTP 403, $(answer)"
  else
    fail "$what ($2 $3): HTTP $code, not 403 for $who: $(answer)"
  fi
}
endpoint_of() { k -n "$NS" get wgpeer "$1" -o jsonpath='{.spec.endpoint}'; }
REMOTE_C2="labelSelector=wireguard.semaphore.uw.io%2Fremote%3Dc2"

# The agents: read and watch records; no write of any kind, nor anywhere else.
expect_http "agent: list the records" 200 "$AGENT" GET "$PEERS"
check "agent: the list holds the records created above (c2.node-a, c2.bad-node, the marker c2)" \
  jq -e '[.items[].metadata.name] | index("c2.node-a") and index("c2.bad-node") and index("c2")' "$TMP/body"
expect_http "agent: list c2's records by their remote label" 200 "$AGENT" GET "$PEERS?$REMOTE_C2"
rv=$(jq -r .metadata.resourceVersion "$TMP/body")
# A watch from the list's resourceVersion sees every later change, even one made before the watch is set up:
# no race. The apiserver ends it after timeoutSeconds.
curl -sS --max-time 30 --cacert "$CA_FILE" -H "Authorization: Bearer $AGENT" -o "$TMP/watch" -w '%{http_code}' \
  "$SERVER$PEERS?watch=1&resourceVersion=$rv&timeoutSeconds=3&$REMOTE_C2" >"$TMP/watch.code" 2>&1 &
watcher=$!
k -n "$NS" patch wgpeer c2.node-a --type merge -p '{"spec": {"endpoint": "192.0.2.11:51820"}}' >/dev/null
wait "$watcher"
watched() {
  [[ "$(cat "$TMP/watch.code")" == 200 ]] &&
    jq -e -s 'any(.[]; .type == "MODIFIED" and .object.metadata.name == "c2.node-a" and .object.spec.endpoint == "192.0.2.11:51820")' "$TMP/watch"
}
check "agent: watch c2's records from the list: HTTP 200, c2.node-a MODIFIED with its new endpoint" watched
expect_http "agent: get record c2.node-a" 200 "$AGENT" GET "$PEERS/c2.node-a"
forbidden semaphore-wireguard "agent: update record c2.node-a" "$AGENT" PUT "$PEERS/c2.node-a" \
  "$(jq -c '.spec.endpoint = "203.0.113.1:51820"' "$TMP/body")"
forbidden semaphore-wireguard "agent: create record c2.by-agent" "$AGENT" POST "$PEERS" "$(record c2.by-agent c2 '{"nodeName": "by-agent"}')"
forbidden semaphore-wireguard "agent: patch record c2.node-a" "$AGENT" PATCH "$PEERS/c2.node-a" \
  '{"spec": {"endpoint": "203.0.113.1:51820"}}' application/merge-patch+json
forbidden semaphore-wireguard "agent: delete record c2.node-a" "$AGENT" DELETE "$PEERS/c2.node-a"
forbidden semaphore-wireguard "agent: delete the collection of c2's records" "$AGENT" DELETE "$PEERS?$REMOTE_C2"
check "record c2.node-a is unchanged after the agent's refused writes (endpoint 192.0.2.11:51820)" \
  test "$(endpoint_of c2.node-a)" = 192.0.2.11:51820
check "record c2.by-agent does not exist" bash -c "! '$KUBECTL' --kubeconfig '$TMP/cp/crd/kubeconfig' -n $NS get wgpeer c2.by-agent"
forbidden semaphore-wireguard "agent: list the records of namespace default (a Role, not a ClusterRole)" "$AGENT" GET \
  /apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/default/wireguardpeers
forbidden semaphore-wireguard "agent: create Lease semaphore-wireguard-mirror-c2" "$AGENT" POST "$LEASES" \
  '{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "semaphore-wireguard-mirror-c2"}}'
expect_http "agent: still lists the nodes (its ClusterRole)" 200 "$AGENT" GET /api/v1/nodes

# The mirror: every write of records and of its Lease in the namespace; nothing else.
expect_http "mirror: create record c2.node-m" 201 "$MIRROR" POST "$PEERS" \
  "$(record c2.node-m c2 '{"nodeName": "node-m", "endpoint": "192.0.2.20:51820", "podCIDRs": ["10.4.2.0/24"]}')"
expect_http "mirror: get record c2.node-m" 200 "$MIRROR" GET "$PEERS/c2.node-m"
expect_http "mirror: update record c2.node-m (endpoint 192.0.2.21:51820)" 200 "$MIRROR" PUT "$PEERS/c2.node-m" \
  "$(jq -c '.spec.endpoint = "192.0.2.21:51820"' "$TMP/body")"
expect_http "mirror: patch record c2.node-m (a rejection)" 200 "$MIRROR" PATCH "$PEERS/c2.node-m" \
  '{"spec": {"rejection": "endpoint: test"}}' application/merge-patch+json
check "record c2.node-m has the updated endpoint and the rejection" bash -c \
  "'$KUBECTL' --kubeconfig '$TMP/cp/crd/kubeconfig' -n $NS get wgpeer c2.node-m -o json | jq -e '.spec.endpoint == \"192.0.2.21:51820\" and .spec.rejection == \"endpoint: test\"'"
expect_http "mirror: list c2's records" 200 "$MIRROR" GET "$PEERS?$REMOTE_C2"
expect_http "mirror: watch c2's records (1 s)" 200 "$MIRROR" GET "$PEERS?watch=1&timeoutSeconds=1&$REMOTE_C2"
expect_http "mirror: delete record c2.node-m" 200 "$MIRROR" DELETE "$PEERS/c2.node-m"
check "record c2.node-m is gone" bash -c "! '$KUBECTL' --kubeconfig '$TMP/cp/crd/kubeconfig' -n $NS get wgpeer c2.node-m"
expect_http "mirror: create record c3.node-x" 201 "$MIRROR" POST "$PEERS" "$(record c3.node-x c3 '{"nodeName": "node-x"}')"
expect_http "mirror: create record c3.node-y" 201 "$MIRROR" POST "$PEERS" "$(record c3.node-y c3 '{"nodeName": "node-y"}')"
expect_http "mirror: delete the collection of c3's records (a remote taken out)" 200 "$MIRROR" DELETE \
  "$PEERS?labelSelector=wireguard.semaphore.uw.io%2Fremote%3Dc3"
check "c3's records are gone, c2's stay" bash -c \
  "'$KUBECTL' --kubeconfig '$TMP/cp/crd/kubeconfig' -n $NS get wgpeer -o json | jq -e '[.items[].metadata.labels[\"wireguard.semaphore.uw.io/remote\"]] | unique == [\"c2\"]'"
now=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
expect_http "mirror: create Lease semaphore-wireguard-mirror-c2" 201 "$MIRROR" POST "$LEASES" \
  '{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "semaphore-wireguard-mirror-c2"},
    "spec": {"holderIdentity": "mirror-0", "leaseDurationSeconds": 15, "acquireTime": "'"$now"'", "renewTime": "'"$now"'"}}'
expect_http "mirror: get Lease semaphore-wireguard-mirror-c2" 200 "$MIRROR" GET "$LEASES/semaphore-wireguard-mirror-c2"
expect_http "mirror: update (renew) Lease semaphore-wireguard-mirror-c2" 200 "$MIRROR" PUT "$LEASES/semaphore-wireguard-mirror-c2" \
  "$(jq -c --arg t "$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)" '.spec.renewTime = $t' "$TMP/body")"
forbidden semaphore-wireguard-mirror "mirror: delete Lease semaphore-wireguard-mirror-c2 (get, create, update only)" "$MIRROR" DELETE \
  "$LEASES/semaphore-wireguard-mirror-c2"
forbidden semaphore-wireguard-mirror "mirror: create a Lease in kube-system" "$MIRROR" POST \
  /apis/coordination.k8s.io/v1/namespaces/kube-system/leases '{"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "x"}}'
forbidden semaphore-wireguard-mirror "mirror: create a record in namespace default" "$MIRROR" POST \
  /apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/default/wireguardpeers \
  "$(record c2.elsewhere c2 '{}' | jq -c '.metadata.namespace = "default"')"
forbidden semaphore-wireguard-mirror "mirror: create ConfigMap x" "$MIRROR" POST "/api/v1/namespaces/$NS/configmaps" \
  '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}'
forbidden semaphore-wireguard-mirror "mirror: create Node x" "$MIRROR" POST /api/v1/nodes \
  '{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "x"}}'
forbidden semaphore-wireguard-mirror "mirror: patch Node x" "$MIRROR" PATCH /api/v1/nodes/x \
  '{"metadata": {"annotations": {"c2.wireguard.semaphore.uw.io/pubKey": "x"}}}' application/merge-patch+json
forbidden semaphore-wireguard-mirror "mirror: list the local nodes" "$MIRROR" GET /api/v1/nodes
forbidden semaphore-wireguard-mirror "mirror: list the Secrets of $NS" "$MIRROR" GET "/api/v1/namespaces/$NS/secrets"
forbidden semaphore-wireguard-mirror "mirror: patch DaemonSet semaphore-wireguard" "$MIRROR" PATCH \
  "/apis/apps/v1/namespaces/$NS/daemonsets/semaphore-wireguard" '{"spec": {"minReadySeconds": 1}}' application/merge-patch+json

summary
