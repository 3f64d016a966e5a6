#!/usr/bin/env bash
# The mirror (issue 17) with real processes: two replicas of `semaphore-wireguard mirror` (m1, m2) for cluster
# c1, ten agents in c1 that read c2 from the mirror's records ("peerSource": "mirror"), and two agents in c2
# that watch c1 directly (the remote side, unchanged: interop). The mirrors run with their own ServiceAccount
# token (deploy/mirror/rbac.yaml) and short leases (6 s) so that the test takes one or two minutes. c2 also has Nodes
# without an agent, written with kubectl: r9 (a valid peer whose endpoint the test moves), and later r7/r6 (bad
# annotations). The mirrors' config also has c3: c2's apiserver under another name (pod subnet 10.6.0.0/16, so
# the mirror rejects each of its nodes), a remote that step 5 takes out. Asserts what an operator would check:
#  1. the mirrors elect one leader per remote (Lease, status, metrics), its records match c2's Nodes, the agents
#     have every c2 node as a peer, pods ping both ways; the RBAC (the mirror's and the agents' tokens); Node
#     updates that touch nothing mirrored make no write (the mirror's counters);
#  2. kill -9 of the active mirror (its process group, as a pod's kill) during a 30 s ping loop on every agent:
#     no ping lost, no peer removed on any agent, the standby holds the Lease within the lease duration plus a
#     few seconds (the time is printed) but not before the lease ran out after the dead leader's last renewal
#     (never two leaders), and r9's endpoint moved during the failover reaches every agent;
#  3. both mirrors stopped for longer than the agents' mirrorStaleAfter: every agent reports stale (status,
#     /healthz, metric) and keeps every peer; mirrors back: every agent converges (r9's endpoint moved while they
#     were down) with no peer removed and re-added;
#  4. bad input: c2 Nodes with a bad key and a pod CIDR outside c2's subnet reach the agents as mirror_rejected
#     with the mirror's reason; records written by hand for c2 with a bad key and a CIDR outside the subnet are
#     rejected by the agents with their reason (bad_key, outside_subnet); nothing bad reaches a device; records
#     for a remote the mirror does not have (c9) are deleted by it;
#  5. c3 taken out of the mirrors' config, rolled out replica by replica with SIGTERM (the Lease handed over at
#     once): c3's records and marker are gone, and the new leader's complete list of c2 removes the records
#     written by hand.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"
on_exit lab_cleanup
START=$SECONDS
lab_init "$TMP/lab" "mm$((RANDOM % 10))" "192.168.$((122 + RANDOM % 2))"
LAB_SUBNET_c1=10.2.0.0/16 LAB_SUBNET_c2=10.4.0.0/16 LAB_SUBNET_c3=10.6.0.0/16 LAB_MIRROR_STALE_AFTER=10s
STALE_AFTER=10 LEASE=6
MIRROR_ARGS=(-lease-duration "${LEASE}s" -renew-deadline 4s -retry-period 1s -marker-interval 2s)
AGENTS=(n1 n2 n3 n4 n5 n6 n7 n8 n9 n10)
REMOTES=(r1 r2)
NS=semaphore-wireguard
GROUP=wireguard.semaphore.uw.io
lab_start_clusters c1,c2 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2; do lab_credentials "$c"; done
lab_kubectl c1 create namespace "$NS" >/dev/null
lab_kubectl c1 apply -f "$ROOT/deploy/crd/wireguardpeers.yaml" >/dev/null
check "the WireGuardPeer CRD is established in c1" \
  lab_kubectl c1 wait --for=condition=Established --timeout=60s "crd/wireguardpeers.$GROUP"
# The agents' Role on the records (read only, as deploy/base grants it), for the lab's agent account.
lab_agent_records_role c1 "$NS"
check "the mirror's ServiceAccount, Role and RoleBinding from deploy/mirror/rbac.yaml, and its token" \
  lab_mirror_credentials c1

i=0
for n in "${AGENTS[@]}"; do i=$((i + 1)) && lab_add_node c1 "$n" "10.2.$i.0/24"; done
i=0
for r in "${REMOTES[@]}"; do i=$((i + 1)) && lab_add_node c2 "$r" "10.4.$i.0/24"; done
# fake_node NAME POD_CIDR PUBKEY ENDPOINT: a c2 Node without an agent, advertising itself to c1 by hand.
fake_node() {
  lab_kubectl c2 create -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$1","annotations":{
   "c1.$GROUP/pubKey":"$3","c1.$GROUP/endpoint":"$4"}},
 "spec":{"podCIDR":"$2","podCIDRs":["$2"]},
 "status":{"addresses":[{"type":"InternalIP","address":"${4%:*}"}]}}
JSON
}
R9_KEY=$(wg genkey | wg pubkey)
fake_node r9 10.4.9.0/24 "$R9_KEY" "$LAB_NET.249:51820"
for n in "${AGENTS[@]}"; do lab_config "$n" c2=mirror; done
for r in "${REMOTES[@]}"; do lab_config "$r" c1=kubeconfig; done
for n in "${AGENTS[@]}" "${REMOTES[@]}"; do lab_start_daemon "$n"; done
lab_mirror_config c1 c2 c3=c2
for m in m1 m2; do lab_start_mirror "$m" c1 "${MIRROR_ARGS[@]}"; done

# --- helpers
kc() { lab_kubectl c1 -n "$NS" "$@"; }
holder() { kc get lease "semaphore-wireguard-mirror-$1" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
holder_is() { [[ "$(holder "$1")" == "$2" ]]; }
other() { if [[ "$1" == m1 ]]; then echo m2; else echo m1; fi; }
# records REMOTE: the names of REMOTE's node records (not its marker), sorted, one line.
records() {
  kc get wireguardpeers -l "$GROUP/remote=$1,$GROUP/sync-marker!=true" -o json |
    jq -r '[.items[].metadata.name] | sort | join(" ")'
}
records_are() { [[ "$(records "$1")" == "$2" ]]; }
marker() { kc get wireguardpeer "$1" -o json | jq -c .spec.sync; }
marker_complete_by() { marker "$1" | jq -e --arg l "$2" '.complete == true and .leader == $l' >/dev/null; }
no_record_of() { [[ "$(kc get wireguardpeers -l "$GROUP/remote=$1" -o name | wc -l)" == 0 ]]; }
mirror_says() { lab_mirror_status "$1" 2>&1 | grep -Eq "$2"; }
metric_is() {  # MIRROR LINE: /metrics has LINE; else shows the mirror metrics it has
  local out
  out=$(lab_mirror_http "$1" /metrics) || { echo "no /metrics"; return 1; }
  grep -qxF "$2" <<<"$out" || { grep '^semaphore_wg_mirror_leader\|^semaphore_wg_mirror_records' <<<"$out"; return 1; }
}
# wait_show SECONDS COMMAND ARGS: wait_for, and on a timeout COMMAND's output once more, for the failure.
wait_show() { wait_for "$@" || { "${@:2}"; return 1; }; }
node_key() { lab_kubectl c2 get node "$1" -o jsonpath="{.metadata.annotations.c1\.wireguard\.semaphore\.uw\.io/pubKey}"; }
peers() { lab_wg "$1" show "$2" peers | sort; }
npeers() { lab_wg "$1" show "$2" peers | wc -l; }
has_peers() { [[ $(npeers "$1" "$2") == "$3" ]]; }
all_agents() {  # all_agents COMMAND ARGS: COMMAND AGENT ARGS for every c1 agent; names those it fails for
  local n bad=""
  for n in "${AGENTS[@]}"; do "$1" "$n" "${@:2}" >/dev/null 2>&1 || bad+=" $n"; done
  [[ -z "$bad" ]] || { echo "not on:$bad"; return 1; }
}
wait_all_agents() {  # wait_all_agents SECONDS COMMAND ARGS: until COMMAND holds on every c1 agent
  local deadline=$((SECONDS + $1))
  shift
  until all_agents "$@" >/dev/null; do ((SECONDS < deadline)) || { all_agents "$@"; return 1; }; sleep 0.5; done
}
status_says() { lab_status "$1" -v 2>&1 | grep -Eq "$2"; }
status_lacks() { ! lab_status "$1" -v 2>&1 | grep -Eq "$2"; }
endpoint_of() { lab_wg "$1" show wireguard.c2 endpoints | awk -v k="$2" '$1 == k { print $2 }'; }
endpoint_is() { [[ "$(endpoint_of "$1" "$2")" == "$3" ]]; }
ping_pod() { lab_exec "$1" ping -c 1 -W 2 -I "$(lab_node_get "$1" POD_IP)" "$(lab_node_get "$2" POD_IP)"; }
# no_removal LOGS...: no peer ever left a device: neither a "peer removed" line nor a summary with removed>0.
no_removal() { ! grep -E 'peer removed|removed=[1-9]' "$@"; }
agent_logs() { local n; for n in "${AGENTS[@]}"; do echo "$LAB_DIR/$n/daemon.log"; done; }
# since EPOCH: seconds from EPOCH to the Lease of c2's acquireTime (the new holder's own stamp); when the Lease
# has none, to now (the test saw the new holder just now).
since() {
  local acquired at
  acquired=$(kc get lease semaphore-wireguard-mirror-c2 -o jsonpath='{.spec.acquireTime}')
  at=$(date -d "$acquired" +%s.%N 2>/dev/null) && [[ -n "$acquired" ]] || at=$(date +%s.%N)
  awk -v a="$at" -v k="$1" 'BEGIN { printf "%.1f", a - k }'
}
lease_line() { kc get lease "semaphore-wireguard-mirror-$1" -o json | jq -r '.spec | "Lease: holder \(.holderIdentity), acquireTime \(.acquireTime // "-"), renewTime \(.renewTime // "-"), transitions \(.leaseTransitions // 0)"'; }
set_endpoint() { lab_kubectl c2 annotate --overwrite node "$1" "c1.$GROUP/endpoint=$2" >/dev/null; }

dump_and_stop_on_failure() {  # the later steps build on the earlier ones: stop at the first failed step
  ((FAILURES)) || return 0
  local m n
  for m in m1 m2; do
    echo "--- mirror $m: log (last 60 lines)"
    tail -n 60 "$LAB_DIR/mirrors/$m/mirror.log"
    echo "--- mirror $m: status -v"
    lab_mirror_status "$m" -v 2>&1 | head -n 40
  done
  for n in n1 r1; do
    echo "--- $n's daemon log (last 40 lines)"
    tail -n 40 "$LAB_DIR/$n/daemon.log"
    echo "--- $n's status -v"
    lab_status "$n" -v 2>&1 | head -n 40
  done
  for n in "${AGENTS[@]}" r2; do
    echo "--- $n: status; warnings and errors in its log (last 10)"
    lab_status "$n" 2>&1 | sed -n 3,4p
    grep -E ' (warn|error) ' "$LAB_DIR/$n/daemon.log" | tail -n 10
  done
  echo "--- c1's records"
  kc get wireguardpeers -o wide
  echo "--- c1's Leases"
  kc get leases -o wide
  echo "--- test time: $((SECONDS - START)) s"
  summary
}

echo "--- 1. one leader per remote, records as c2's Nodes, every peer, pings both ways"
both_answer() { lab_mirror_status m1 && lab_mirror_status m2; }
check "m1 and m2 answer status" wait_for 60 both_answer
has_holder() { [[ -n "$(holder "$1")" ]]; }
check "a replica holds the Lease of c2" wait_for 60 has_holder c2
dump_and_stop_on_failure
ACTIVE=$(holder c2)
STANDBY=$(other "$ACTIVE")
echo "     the leader of c2 is $ACTIVE, $STANDBY stands by"
check "the leader is m1 or m2" test "$ACTIVE" = m1 -o "$ACTIVE" = m2
check "$ACTIVE's status: c2 ready" wait_for 60 mirror_says "$ACTIVE" '^ *c2 +ready'
check "$STANDBY's status: c2 standby" wait_for 60 mirror_says "$STANDBY" '^ *c2 +standby'
check "$ACTIVE: semaphore_wg_mirror_leader{remote=\"c2\"} 1" wait_show 30 metric_is "$ACTIVE" 'semaphore_wg_mirror_leader{remote="c2"} 1'
check "$STANDBY: semaphore_wg_mirror_leader{remote=\"c2\"} 0" wait_show 30 metric_is "$STANDBY" 'semaphore_wg_mirror_leader{remote="c2"} 0'
both_ready() { lab_mirror_http m1 /readyz && lab_mirror_http m2 /readyz; }
check "/readyz of both replicas: 200" wait_for 60 both_ready
advertised() { node_key "$1" | grep -q .; }
for r in "${REMOTES[@]}"; do check "$r advertises itself to c1" wait_for 60 advertised "$r"; done
check "c2's records: one per c2 node" wait_for 60 records_are c2 "c2.r1 c2.r2 c2.r9"
check "c2's sync marker: complete, by $ACTIVE" wait_for 60 marker_complete_by c2 "$ACTIVE"
record_matches() {  # NODE: the record carries the Node's key, endpoint and pod CIDRs
  local node rec
  node=$(lab_kubectl c2 get node "$1" -o json) rec=$(kc get wireguardpeer "c2.$1" -o json)
  jq -n -e --argjson n "$node" --argjson r "$rec" '$r.spec.nodeName == $n.metadata.name and
    $r.spec.publicKey == $n.metadata.annotations["c1.wireguard.semaphore.uw.io/pubKey"] and
    $r.spec.endpoint == $n.metadata.annotations["c1.wireguard.semaphore.uw.io/endpoint"] and
    $r.spec.podCIDRs == $n.spec.podCIDRs and ($r.spec.rejection // "") == "" and
    $r.metadata.labels["wireguard.semaphore.uw.io/remote"] == "c2"'
}
for r in r1 r2 r9; do check "record c2.$r: key, endpoint, pod CIDRs of Node $r" record_matches "$r"; done
c3_all_rejected() {
  kc get wireguardpeers -l "$GROUP/remote=c3,$GROUP/sync-marker!=true" -o json |
    jq -e '[.items[] | select((.spec.rejection // "") != "") | .metadata.name] | sort == ["c3.r1", "c3.r2", "c3.r9"]'
}
check "c3 (c2 under another name, pod subnet 10.6.0.0/16): a record per node, each rejected" wait_for 60 c3_all_rejected
marker_complete() { marker "$1" | jq -e '.complete == true' >/dev/null; }
check "c3's sync marker: complete" wait_for 60 marker_complete c3
C2_PEERS=$(printf '%s\n' "$(node_key r1)" "$(node_key r2)" "$R9_KEY" | sort)
peers_are_c2() { [[ "$(peers "$1" wireguard.c2)" == "$C2_PEERS" ]]; }
check "every c1 agent has c2's 3 nodes as its peers" wait_all_agents 60 peers_are_c2
for r in "${REMOTES[@]}"; do check "$r (direct mode) has the 10 c1 agents as peers" wait_for 60 has_peers "$r" wireguard.c1 10; done
ping_all() {  # ping_all FROM... -- TO...: every pair answers, retried for up to a minute in all; names those that do not
  local from=() to=() a b seen=0 pending=() left deadline=$((SECONDS + 60))
  for a in "$@"; do if [[ "$a" == -- ]]; then seen=1; elif ((seen)); then to+=("$a"); else from+=("$a"); fi; done
  for a in "${from[@]}"; do for b in "${to[@]}"; do pending+=("$a->$b"); done; done
  while :; do
    left=()
    for a in "${pending[@]}"; do ping_pod "${a%->*}" "${a#*->}" >/dev/null 2>&1 || left+=("$a"); done
    pending=("${left[@]}")
    ((${#pending[@]})) || return 0
    ((SECONDS < deadline)) || break
    sleep 1
  done
  echo "no reply: ${pending[*]}"
  return 1
}
check "every c1 agent's pod reaches r1's and r2's (20 pairs)" ping_all "${AGENTS[@]}" -- r1 r2
check "r1's and r2's pods reach every c1 agent's (20 pairs)" ping_all r1 r2 -- "${AGENTS[@]}"
ready() { local s; s=$(lab_status "$1") && ! grep -q 'not ready' <<<"$s" && grep -q 'ready' <<<"$s"; }
check "every c1 agent is ready" wait_all_agents 60 ready
# RBAC: the mirror works with its own token (above); it can do nothing else, and the agents only read records.
as() { local who="$1"; shift; ip netns exec "$LAB_UL" "$KUBECTL" --kubeconfig "$LAB_DIR/creds/$who/kubeconfig" "$@" 2>&1; }
forbidden() { local out; out=$("$@") && { echo "allowed: $out"; return 1; }; grep -q 'Forbidden\|forbidden' <<<"$out" || { echo "$out"; return 1; }; }
check "the mirror's token: 403 listing c1's nodes" forbidden as mirror-c1 get nodes
create_in_default() {
  jq -n --arg g "$GROUP/v1alpha1" '{apiVersion: $g, kind: "WireGuardPeer", metadata: {name: "c2.x", namespace: "default"}, spec: {}}' |
    as mirror-c1 create -f -
}
check "the mirror's token: 403 creating a record in namespace default" forbidden create_in_default
check "an agent's token: 403 writing a record (delete c2.r1)" forbidden as c1 -n "$NS" delete wireguardpeer c2.r1
check "an agent's token: 403 patching a record" \
  forbidden as c1 -n "$NS" patch wireguardpeer c2.r1 --type merge -p '{"spec": {"endpoint": "192.0.2.1:51820"}}'
check "an agent's token reads the records" as c1 -n "$NS" get wireguardpeers c2.r1
# Writes only on change: updates of c2's Nodes that touch none of the records' fields make no write; the
# endpoint change after them (the watch delivers in order) makes exactly one.
scrape() { lab_mirror_http "$ACTIVE" /metrics >"$TMP/metrics.$1"; }
value() {  # FILE METRIC{LABELS}
  awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' "$1"
}
node_updates() {  # SCRAPE: c2's node record updates (the marker's writes are op="marker")
  value "$TMP/metrics.$1" 'semaphore_wg_mirror_writes_total{remote="c2",op="update"}'
}
modified() { value "$TMP/metrics.$1" 'semaphore_wg_watch_events_total{remote="c2",type="modified"}'; }
scrape before
for i in 1 2 3; do lab_kubectl c2 annotate --overwrite node r1 r2 r9 "example.com/touched=$i" >/dev/null; done
R9_EP1="$LAB_NET.246:51820"
set_endpoint r9 "$R9_EP1"
check "record c2.r9 has r9's new endpoint $R9_EP1" wait_for 60 record_matches r9
# Scraped until the endpoint's update is counted (the supervisor serves a scrape from its cache for a second).
# (semaphore_wg_watch_events_total counts the events that changed what the mirror reads: the endpoint's only.)
counted() { scrape after && (($(node_updates after) - $(node_updates before) >= 1)); }
wait_for 30 counted
one_update() {
  scrape after && (($(node_updates after) - $(node_updates before) == 1)) ||
    { grep 'writes_total{' "$TMP/metrics.before" "$TMP/metrics.after"; return 1; }
}
check "the mirror wrote one record update for them, the endpoint's (semaphore_wg_mirror_writes_total)" wait_show 5 one_update
echo "     after 9 Node updates that touch nothing mirrored and 1 endpoint change, $ACTIVE counted $(($(modified after) - $(modified before))) relevant watch event(s) and wrote $(($(node_updates after) - $(node_updates before))) record update(s)"
check "every c1 agent applies r9's new endpoint" wait_all_agents 60 endpoint_is "$R9_KEY" "$R9_EP1"

dump_and_stop_on_failure
echo "--- 2. kill -9 of the active mirror ($ACTIVE) during a 30 s ping loop"
# Every c1 agent pings a c2 pod and each c2 agent pings five c1 pods, 5 times a second for 30 s.
PINGS=()
loop() {  # loop FROM TO: 150 pings, 0.2 s apart, each answered within 5 s
  lab_exec "$1" ping -n -i 0.2 -c 150 -W 5 -I "$(lab_node_get "$1" POD_IP)" "$(lab_node_get "$2" POD_IP)" \
    >"$TMP/ping.$1-$2" 2>&1 &
  PINGS+=($!)
}
i=0
for n in "${AGENTS[@]}"; do
  i=$((i + 1))
  loop "$n" "r$((i % 2 + 1))"
  loop "r$((i % 2 + 1))" "$n"
done
sleep 5
R9_EP2="$LAB_NET.248:51820"
KILLED_AT=$(date +%s.%N)
lab_stop_mirror "$ACTIVE" KILL
# The Lease as the dead leader left it: its last renewal (the standby needs a few seconds to take it over).
LAST_LEASE=$(kc get lease semaphore-wireguard-mirror-c2 -o json | jq -c '.spec')
set_endpoint r9 "$R9_EP2"  # during the failover: nobody writes records now
echo "     killed $ACTIVE's process group at $(date -d "@$KILLED_AT" +%T.%N | cut -c1-12); r9's endpoint moved to $R9_EP2"
check "$STANDBY holds the Lease of c2 (waited up to a minute)" wait_for 60 holder_is c2 "$STANDBY"
TAKEOVER=$(since "$KILLED_AT")
echo "     failover: $STANDBY acquired the Lease ${TAKEOVER} s after the kill ($(lease_line c2); lease duration ${LEASE} s, retry period 1 s)"
check "the takeover took at most the lease duration plus 5 s (${TAKEOVER} s <= $((LEASE + 5)) s)" \
  awk -v t="$TAKEOVER" -v max="$((LEASE + 5))" 'BEGIN { exit !(t <= max) }'
# No two leaders: the standby waited the whole lease duration after the last renewal it could have seen.
AFTER_RENEW=$(awk -v a="$(date -d "$(kc get lease semaphore-wireguard-mirror-c2 -o jsonpath='{.spec.acquireTime}')" +%s.%N)" \
  -v r="$(date -d "$(jq -r .renewTime <<<"$LAST_LEASE")" +%s.%N)" 'BEGIN { printf "%.1f", a - r }')
echo "     $ACTIVE's last renewal: $(jq -r .renewTime <<<"$LAST_LEASE"); $STANDBY acquired the Lease ${AFTER_RENEW} s after it"
check "the standby waited out the lease: acquired ${AFTER_RENEW} s >= ${LEASE} s after the dead leader's last renewal" \
  awk -v t="$AFTER_RENEW" -v min="$LEASE" -v h="$(jq -r .holderIdentity <<<"$LAST_LEASE")" -v dead="$ACTIVE" \
  'BEGIN { exit !(t >= min && h == dead) }'
check "$STANDBY's status: c2 ready" wait_for 60 mirror_says "$STANDBY" '^ *c2 +ready'
check "c2's sync marker: complete, by $STANDBY" wait_for 60 marker_complete_by c2 "$STANDBY"
check "record c2.r9 has the endpoint moved during the failover" wait_for 60 record_matches r9
check "every c1 agent applies r9's new endpoint after the failover" wait_all_agents 60 endpoint_is "$R9_KEY" "$R9_EP2"
echo "     r9's endpoint moved during the failover was on all 10 agents' devices $(awk -v n="$(date +%s.%N)" -v k="$KILLED_AT" 'BEGIN { printf "%.1f", n - k }') s after the kill"
wait "${PINGS[@]}"
lost() {  # the loops that lost a ping, with their counts
  local f bad=""
  for f in "$TMP"/ping.*; do
    grep -q '150 packets transmitted, 150 received' "$f" || bad+=" ${f##*/ping.}: $(grep -o '[0-9]* packets transmitted, [0-9]* received' "$f")"
  done
  [[ -z "$bad" ]] || { echo "lost pings:$bad"; return 1; }
}
echo "     $(cat "$TMP"/ping.* | grep -o '^[0-9]* packets transmitted, [0-9]* received' |
  awk '{ s += $1; r += $4 } END { printf "%d loops: %d pings sent, %d answered", NR, s, r }')"
check "no ping lost during the failover (20 loops of 150 pings, both directions)" lost
check "every c1 agent still has c2's 3 nodes as its peers" all_agents peers_are_c2
# shellcheck disable=SC2046
check "no peer removed on any c1 agent (their logs have every device change)" no_removal $(agent_logs)
check "nor on r1, r2" no_removal "$LAB_DIR/r1/daemon.log" "$LAB_DIR/r2/daemon.log"
lab_start_mirror "$ACTIVE" c1 "${MIRROR_ARGS[@]}"
check "$ACTIVE, restarted, stands by" wait_for 60 mirror_says "$ACTIVE" '^ *c2 +standby'
ACTIVE=$STANDBY STANDBY=$(other "$STANDBY")

dump_and_stop_on_failure
echo "--- 3. both mirrors stopped for longer than mirrorStaleAfter (${STALE_AFTER} s)"
STOPPED_AT=$SECONDS
lab_stop_mirror "$STANDBY" TERM
lab_stop_mirror "$ACTIVE" TERM
R9_EP3="$LAB_NET.247:51820"
set_endpoint r9 "$R9_EP3"  # while no mirror runs
stale() { status_says "$1" 'mirror stale: the sync marker of c2'; }
check "every c1 agent reports c2 stale in status -v" wait_all_agents 60 stale
echo "     every agent stale $((SECONDS - STOPPED_AT)) s after the mirrors stopped"
healthz_stale() { lab_exec "$1" curl -s --max-time 10 http://127.0.0.1:7773/healthz | grep -q 'mirror stale'; }
check "every c1 agent's /healthz says 'mirror stale'" all_agents healthz_stale
stale_metric() { lab_exec "$1" curl -s --max-time 10 http://127.0.0.1:7773/metrics | grep -qx 'semaphore_wg_mirror_stale{remote="c2"} 1'; }
check "semaphore_wg_mirror_stale{remote=\"c2\"} 1 on n1" wait_for 30 stale_metric n1
check "semaphore_wg_mirror_stale{remote=\"c2\"} 1 on n10" wait_for 30 stale_metric n10
sleep 5  # longer than mirrorStaleAfter in all
check "every c1 agent keeps c2's 3 nodes as its peers ($((SECONDS - STOPPED_AT)) s without a mirror)" all_agents peers_are_c2
check "r9's old endpoint stays on every agent" all_agents endpoint_is "$R9_KEY" "$R9_EP2"
check "pods still reach each other (n1 -> r1)" ping_all n1 -- r1
check "pods still reach each other (r2 -> n10)" ping_all r2 -- n10
for m in m1 m2; do lab_start_mirror "$m" c1 "${MIRROR_ARGS[@]}"; done
not_stale() { status_lacks "$1" 'mirror stale'; }
check "the mirrors are back: no c1 agent is stale any more" wait_all_agents 60 not_stale
check "every c1 agent is ready" wait_all_agents 60 ready
check "every c1 agent converges: r9's endpoint moved while no mirror ran" wait_all_agents 60 endpoint_is "$R9_KEY" "$R9_EP3"
check "every c1 agent has c2's 3 nodes as its peers" all_agents peers_are_c2
# shellcheck disable=SC2046
check "no peer removed on any c1 agent" no_removal $(agent_logs)
added_once() {  # AGENT: each c2 key was added once, never removed and added again
  local k
  for k in $C2_PEERS; do
    [[ $(grep 'peer added' "$LAB_DIR/$1/daemon.log" | grep -cF "$k") == 1 ]] || { echo "$k"; return 1; }
  done
}
check "every c1 agent added each c2 peer once in the whole run" all_agents added_once
ACTIVE=$(holder c2) STANDBY=$(other "$(holder c2)")

dump_and_stop_on_failure
echo "--- 4. bad input: rejected with its reason, nothing bad on a device"
BAD_KEY_NODE='not-a-key'
OUT_KEY=$(wg genkey | wg pubkey)
fake_node r7 10.4.7.0/24 "$BAD_KEY_NODE" "$LAB_NET.237:51820"
fake_node r6 10.9.6.0/24 "$OUT_KEY" "$LAB_NET.236:51820"
rejected_by_mirror() { kc get wireguardpeer "c2.$1" -o jsonpath='{.spec.rejection}' | grep -q .; }
check "the mirror writes record c2.r7 (a bad key) with its rejection" wait_for 60 rejected_by_mirror r7
check "and c2.r6 (pod CIDR 10.9.6.0/24 outside c2's 10.4.0.0/16)" wait_for 60 rejected_by_mirror r6
echo "     the mirror's reasons: c2.r7: $(kc get wireguardpeer c2.r7 -o jsonpath='{.spec.rejection}'); c2.r6: $(kc get wireguardpeer c2.r6 -o jsonpath='{.spec.rejection}')"
mirror_rejects() {  # the active mirror's status -v names both rejected nodes with their reason
  local out
  out=$(lab_mirror_status "$ACTIVE" -v 2>&1)
  grep -Eq '^ +r7 +bad_key ' <<<"$out" && grep -Eq '^ +r6 +outside_subnet ' <<<"$out" || { echo "$out"; return 1; }
}
check "the active mirror's status -v lists r7 (bad_key) and r6 (outside_subnet)" wait_show 30 mirror_rejects
check "every c1 agent: r7 mirror_rejected, with the mirror's reason" \
  wait_all_agents 60 status_says 'r7 +mirror_rejected +the mirror rejected this node: .*not-a-key'
check "every c1 agent: r6 mirror_rejected, with the mirror's reason" \
  wait_all_agents 60 status_says 'r6 +mirror_rejected +the mirror rejected this node: .*10\.9\.6\.0/24'
hand_record() {  # NAME NODE KEY CIDR
  jq -n --arg ns "$NS" --arg n "$1" --arg node "$2" --arg key "$3" --arg cidr "$4" --arg ep "$LAB_NET.235:51820" '{
    apiVersion: "wireguard.semaphore.uw.io/v1alpha1", kind: "WireGuardPeer",
    metadata: {name: $n, namespace: $ns, labels: {"wireguard.semaphore.uw.io/remote": ($n | split(".")[0])}},
    spec: {nodeName: $node, publicKey: $key, endpoint: $ep, podCIDRs: [$cidr],
           nodeCreationTimestamp: "2026-01-01T00:00:00Z"}}' | kc apply -f - >/dev/null
}
HAND_KEY=$(wg genkey | wg pubkey)
hand_record c2.bogus bogus not-a-key 10.4.20.0/24
hand_record c2.outside outside "$HAND_KEY" 10.9.0.0/24
hand_record c9.gone gone "$(wg genkey | wg pubkey)" 10.8.0.0/24
check "every c1 agent: the hand-written c2.bogus is rejected: bad_key" \
  wait_all_agents 60 status_says 'bogus +bad_key +public key "not-a-key"'
check "every c1 agent: the hand-written c2.outside is rejected: outside_subnet" \
  wait_all_agents 60 status_says 'outside +outside_subnet +pod CIDR 10.9.0.0/24 is outside the remote pod subnet 10.4.0.0/16'
check "the mirror deletes record c9.gone (remote c9 is not in its config)" wait_for 60 no_record_of c9
check "every c1 agent keeps exactly c2's 3 good nodes as its peers" all_agents peers_are_c2
no_bad_route() { ! lab_exec "$1" ip route show table all | grep -E '10\.9\.|10\.4\.(7|20)\.'; }
check "no route to a rejected pod CIDR on any c1 agent" all_agents no_bad_route

dump_and_stop_on_failure
echo "--- 5. c3 taken out of the mirrors' config, rolled out one replica at a time"
lab_mirror_config c1 c2
lab_stop_mirror "$STANDBY" TERM
lab_start_mirror "$STANDBY" c1 "${MIRROR_ARGS[@]}"
check "$STANDBY, restarted without c3, stands by for c2" wait_for 60 mirror_says "$STANDBY" '^ *c2 +standby'
lists_no_c3() { ! mirror_says "$1" '^ *c3 '; }
check "$STANDBY's status no longer lists c3" lists_no_c3 "$STANDBY"
TERM_AT=$(date +%s.%N)
lab_stop_mirror "$ACTIVE" TERM
check "SIGTERM to $ACTIVE: $STANDBY holds the Lease of c2" wait_for 60 holder_is c2 "$STANDBY"
HANDOVER=$(since "$TERM_AT")
echo "     handover on SIGTERM: ${HANDOVER} s ($(lease_line c2))"
check "the handover on SIGTERM is quicker than the lease duration (${HANDOVER} s < ${LEASE} s)" \
  awk -v t="$HANDOVER" -v max="$LEASE" 'BEGIN { exit !(t < max) }'
lab_start_mirror "$ACTIVE" c1 "${MIRROR_ARGS[@]}"
ACTIVE=$STANDBY STANDBY=$(other "$STANDBY")
check "c3's records and marker are gone" wait_for 60 no_record_of c3
check "the new leader's complete list of c2 removed the records written by hand (c2.bogus, c2.outside)" \
  wait_for 60 records_are c2 "c2.r1 c2.r2 c2.r6 c2.r7 c2.r9"
check "c2's sync marker: complete, by $ACTIVE" wait_for 60 marker_complete_by c2 "$ACTIVE"
check "the agents no longer list the hand-written records as rejected" wait_all_agents 60 status_lacks '^ +(bogus|outside) '
check "while r7 and r6 stay rejected by the mirror" all_agents status_says 'c2: 2 rejected node\(s\)'
check "$STANDBY stands by for c2" wait_for 60 mirror_says "$STANDBY" '^ *c2 +standby'
check "every c1 agent has c2's 3 good nodes as its peers" all_agents peers_are_c2
# shellcheck disable=SC2046
check "no peer removed on any c1 agent in the whole run" no_removal $(agent_logs)
check "nor on r1, r2 in the whole run" no_removal "$LAB_DIR/r1/daemon.log" "$LAB_DIR/r2/daemon.log"
check "pods still reach each other (n10 -> r2)" ping_all n10 -- r2
check "pods still reach each other (r1 -> n1)" ping_all r1 -- n1
check "no sanitizer reports in the agents' and mirrors' logs" \
  no_sanitizer_reports "$LAB_DIR"/*/daemon.log "$LAB_DIR"/mirrors/*/mirror.log
dump_and_stop_on_failure
echo "     test time: $((SECONDS - START)) s; failover after kill -9: ${TAKEOVER} s; handover on SIGTERM: ${HANDOVER} s"
summary
