#!/usr/bin/env bash
# scripts/bench --agents A: direct mode and mirror mode (issue 17) side by side, on the same clusters and the same
# remote nodes. Local cluster c1 has A agents (simulated nodes: network namespaces, each agent with its own
# wireguard-go); remote cluster c2 has N realistic nodes (scripts/bench.d/nodes.py) plus a few nodes that run
# real agents (watching c1 directly). Direct phase: every agent watches c2's Nodes. Mirror phase: the agents
# read c2 with "peerSource": "mirror" from the records that two `semaphore-wireguard mirror` replicas (one
# active, by Lease) write into c1. Every traffic figure comes from the apiservers' own /metrics, before and
# after each step; times from the agents' and mirrors' logs and the Lease. Asserts nothing beyond "it ran".
#
#   sudo scripts/bench --agents A [--nodes N] [--mirror-rss-nodes M] [--status-updates U]
#                      [--endpoint-changes C] [--remote-agents R] [--direct-only] [--json]
#
#   --nodes N             c2's simulated nodes (default 1000)
#   --mirror-rss-nodes M  last step: stop the agents, grow c2 to M nodes, and read the mirror's RSS (0: skip)
#   --status-updates U    status-only Node updates per phase (default 100, sent at 20 a second)
#   --endpoint-changes C  endpoint changes per phase, one at a time, each timed to every agent (default 20)
#   --remote-agents R     c2 nodes running a real agent (default 2)
#   --direct-only         the direct phase alone (a binary without `mirror`); the mirror column stays empty
#
# The simulated nodes carry c1.../persistentKeepalive "0": they do not exist, so with keepalives each agent's
# wireguard-go would retry handshakes to all of them forever (measured alone: 2.7 % of a core and 66 MB per 1000
# such peers, against 0 % and 16 MB with keepalive 0), a cost real peers, which answer, do not have. The real
# remote agents keep the default 25 s. Even so, once a device also has a live peer (a real remote agent),
# wireguard-go v0.0.20220316 was seen sending about 100 handshake initiations a second to the silent peers
# (strace: failing sendmsg, getrandom): 2 % of a core and 67 MB per agent, which the report shows as the host's
# idle CPU and RSS of wireguard-go. Both phases carry it alike.
# Lab "bm" on 192.168.124 by default (SWG_BENCH_LAB_ID, SWG_BENCH_NET); LAB_BIN=FILE runs that binary instead
# of building ROOT/build; SWG_BENCH_KEEP=DIR keeps the metrics snapshots and some logs there.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/scripts/bench.d"
A=50 N=1000 RSS_NODES=0 UPDATES=100 CHANGES=20 REAL=2 JSON=0 DIRECT_ONLY=0
while (($#)); do
  case "$1" in
    --agents) A="$2"; shift 2 ;;
    --nodes) N="$2"; shift 2 ;;
    --mirror-rss-nodes) RSS_NODES="$2"; shift 2 ;;
    --status-updates) UPDATES="$2"; shift 2 ;;
    --endpoint-changes) CHANGES="$2"; shift 2 ;;
    --remote-agents) REAL="$2"; shift 2 ;;
    --direct-only) DIRECT_ONLY=1; shift ;;
    --json) JSON=1; shift ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench: unknown argument with --agents: $1 (see scripts/bench.d/mirror.sh --help)" >&2; exit 2 ;;
  esac
done
num() { [[ "$1" =~ ^[0-9]+$ ]]; }
for v in "$A" "$N" "$RSS_NODES" "$UPDATES" "$CHANGES" "$REAL"; do
  num "$v" || { echo "bench: numbers only (got '$v')" >&2; exit 2; }
done
((A >= 1 && A <= 200 && REAL >= 1 && REAL <= 20 && N >= 2 * CHANGES + 100 && CHANGES >= 1 && UPDATES >= 20)) ||
  { echo "bench: --agents 1..200, --remote-agents 1..20, --nodes >= 2 x --endpoint-changes + 100, --status-updates >= 20" >&2; exit 2; }
((RSS_NODES == 0 || RSS_NODES > N)) || { echo "bench: --mirror-rss-nodes must be above --nodes (or 0)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "bench: needs root (network namespaces)" >&2; exit 1; }
"$ROOT/scripts/setup" && "$ROOT/scripts/build-control-plane" >/dev/null || exit 1
if [[ -z "${LAB_BIN:-}" ]]; then
  cmake -S "$ROOT" -B "$ROOT/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null &&
    cmake --build "$ROOT/build" --target semaphore-wireguard >/dev/null || exit 1
  LAB_BIN="$ROOT/build/semaphore-wireguard"
fi
if ((!DIRECT_ONLY)) && ! "$LAB_BIN" mirror -h >/dev/null 2>&1; then
  echo "bench: $LAB_BIN has no working \`mirror\` command (try --direct-only)" >&2
  exit 1
fi
# shellcheck source=scripts/lab-lib.sh
source "$ROOT/scripts/lab-lib.sh"
TMP=$(mktemp -d /tmp/swg-benchm.XXXXXX)
BENCH_ID=${SWG_BENCH_LAB_ID:-bm} BENCH_NET=${SWG_BENCH_NET:-192.168.124}
[[ "$BENCH_ID" =~ ^[a-z]{1,3}$ && "$BENCH_NET" =~ ^192\.168\.[0-9]{1,3}$ ]] ||
  { echo "bench: SWG_BENCH_LAB_ID must be 1 to 3 letters and SWG_BENCH_NET like 192.168.124" >&2; exit 2; }
MIRRORS=(a b)
declare -A MPORT=([a]=7774 [b]=7775)
cleanup() {
  local m p
  for m in "${MIRRORS[@]}"; do
    p=$(cat "$LAB_DIR/mirror-$m/pid" 2>/dev/null) && [[ -n $p ]] && kill -9 "$p" 2>/dev/null
  done
  if [[ -n "${SWG_BENCH_KEEP:-}" ]]; then  # a place to keep the metrics snapshots and the logs, for a look later
    mkdir -p "$SWG_BENCH_KEEP" && cp -r "$TMP"/m-* "$TMP"/*latency* "$TMP/figures" "$SWG_BENCH_KEEP/" 2>/dev/null
    for m in "$LAB_DIR"/mirror-* "$LAB_DIR"/n001 "$LAB_DIR"/r1; do
      [[ -d $m ]] && mkdir -p "$SWG_BENCH_KEEP/$(basename "$m")" && cp "$m"/*.log "$SWG_BENCH_KEEP/$(basename "$m")/" 2>/dev/null
    done
  fi
  lab_cleanup
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }
now_ms() { date +%s%3N; }
py() { python3 "$HERE/mirror.py" "$@"; }

LAB_SUBNET_c1=10.0.0.0/14 LAB_SUBNET_c2=10.8.0.0/14
NS=semaphore-wireguard
lab_init "$TMP/lab" "$BENCH_ID" "$BENCH_NET" || exit 1
t0=$SECONDS
lab_start_clusters c1,c2 >/dev/null 2>&1 || die "cannot start the clusters"
for c in c1 c2; do lab_credentials "$c" || exit 1; done
ENV1="$LAB_DIR/cp/c1/env" ENV2="$LAB_DIR/cp/c2/env"
say "clusters up in $((SECONDS - t0)) s; creating $N realistic nodes in c2 ..."

# ----- c2's nodes: the simulated ones (keepalive off, see above), then R that run real agents
t0=$SECONDS
create_nodes() {  # FIRST COUNT: nodes rFIRST.. in c2
  local dir="$TMP/nodes-$1"
  "$HERE/nodes.py" "$2" "$dir" --first "$1" --subnet-base 8 >"$TMP/shape" || return 1
  python3 - "$dir" <<'PY' || return 1
import glob, json, sys
for f in glob.glob(sys.argv[1] + "/*.json"):
    doc = json.load(open(f))
    for n in doc["items"]:
        n["metadata"]["annotations"]["c1.wireguard.semaphore.uw.io/persistentKeepalive"] = "0"
    json.dump(doc, open(f, "w"), separators=(",", ":"))
PY
  printf '%s\n' "$dir"/*.json | xargs -P 2 -I{} sh -c \
    "ip netns exec '$LAB_UL' '$KUBECTL' --kubeconfig '$LAB_DIR/cp/c2/kubeconfig' create -f {} >/dev/null"
}
create_nodes 0 "$N" || die "creating the nodes of c2 failed"
say "  $(cat "$TMP/shape"); created in $((SECONDS - t0)) s"
EXPECT=$((N + REAL))  # peers on every agent's device

# ----- c1: the records' CRD, the mirror's account (deploy/mirror), the agents' read-only Role on the records
lab_kubectl c1 create namespace "$NS" >/dev/null
lab_kubectl c1 apply -f "$ROOT/deploy/crd/wireguardpeers.yaml" >/dev/null &&
  lab_kubectl c1 wait --for=condition=Established --timeout=60s crd/wireguardpeers.wireguard.semaphore.uw.io >/dev/null ||
  die "the WireGuardPeer CRD is not established in c1"
lab_kubectl c1 -n "$NS" apply -f "$ROOT/deploy/mirror/rbac.yaml" >/dev/null || die "the mirror's RBAC"
lab_agent_records_role c1 "$NS" || die "the agents' Role on the records"
mkdir -p "$LAB_DIR/creds/mirror"
lab_kubectl c1 -n "$NS" create token semaphore-wireguard-mirror --duration=24h >"$LAB_DIR/creds/mirror/token" ||
  die "no token for the mirror"
cat >"$LAB_DIR/creds/mirror/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: c1
  cluster: {server: "$(lab_server c1)", certificate-authority-data: "$(base64 -w0 <"$LAB_DIR/cp/c1/pki/ca.crt")"}
users:
- name: mirror
  user: {tokenFile: "$LAB_DIR/creds/mirror/token"}
contexts:
- name: c1
  context: {cluster: c1, user: mirror}
current-context: c1
YAML
mkdir -p "$LAB_DIR/mirror"
cat >"$LAB_DIR/mirror/config.json" <<JSON
{"local": {"name": "c1", "kubeConfigPath": "$LAB_DIR/creds/mirror/kubeconfig", "mirrorNamespace": "$NS"},
 "remotes": [{"name": "c2", "kubeConfigPath": "$LAB_DIR/creds/c2/kubeconfig", "podSubnet": "$LAB_SUBNET_c2"}]}
JSON

# ----- the simulated nodes: A in c1, R real agents in c2 (started now, they watch c1 directly)
AGENTS=() REMOTE_AGENTS=()
for ((i = 1; i <= A; i++)); do
  n=$(printf 'n%03d' "$i")
  AGENTS+=("$n")
  lab_add_node c1 "$n" "10.2.$i.0/24" || die "cannot add $n"
done
for ((i = 1; i <= REAL; i++)); do
  REMOTE_AGENTS+=("r$i")
  lab_add_node c2 "r$i" "10.11.$i.0/24" || die "cannot add r$i"
  lab_config "r$i" c1=kubeconfig
  lab_start_daemon "r$i"
done
advertised() { [[ -n $(lab_kubectl c2 get node "$1" -o jsonpath='{.metadata.annotations.c1\.wireguard\.semaphore\.uw\.io/pubKey}') ]]; }
for r in "${REMOTE_AGENTS[@]}"; do
  deadline=$((SECONDS + 120))
  until advertised "$r"; do
    ((SECONDS < deadline)) || { tail "$LAB_DIR/$r/daemon.log" >&2; die "$r does not advertise itself to c1"; }
    sleep 0.5
  done
done

# ----- tools
snap() { ip netns exec "$LAB_UL" python3 "$HERE/mirror.py" scrape "$ENV1" "$TMP/m-$1-c1" && ip netns exec "$LAB_UL" python3 "$HERE/mirror.py" scrape "$ENV2" "$TMP/m-$1-c2" || die "cannot read the apiservers' /metrics"; }
val() { py sum "$TMP/m-$1-$2" "${@:3}"; }  # TAG CLUSTER NAME [filters]
delta() {                                   # FROM TO CLUSTER NAME [filters]
  python3 -c "import sys; d = float(sys.argv[2]) - float(sys.argv[1]); print(int(d) if d == int(d) else round(d, 3))" \
    "$(val "$1" "$3" "${@:4}")" "$(val "$2" "$3" "${@:4}")"
}
watches() { val "$1" c2 apiserver_longrunning_requests verb=WATCH resource=nodes; }
logsize() { stat -c %s "$LAB_DIR/$1/daemon.log" 2>/dev/null || echo 0; }
peers_on() { lab_wg "$1" show wireguard.c2 peers 2>/dev/null | wc -l; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null; }
anon() { awk '/^RssAnon/ {print $2}' "/proc/$1/status" 2>/dev/null; }
cpu_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $t; }
wggo_pids() {  # NODE...: wireguard-go processes in the nodes
  local n p
  for n in "$@"; do
    for p in $(ip netns pids "$(lab_node_ns "$n")" 2>/dev/null); do
      [[ $(cat "/proc/$p/comm" 2>/dev/null) == wireguard-go ]] && echo "$p"
    done
  done
}
agent_pids() {  # every process of the agents (supervisors, workers), not wireguard-go nor the anchors
  local n p
  for n in "${AGENTS[@]}"; do
    for p in $(ip netns pids "$(lab_node_ns "$n")" 2>/dev/null); do
      [[ $(cat "/proc/$p/comm" 2>/dev/null) == semaphore-wire* ]] && echo "$p"
    done
  done
}
start_agents() {  # NODE...: started at once; writes $TMP/offsets ("node offset") and prints the start in ms
  local n
  : >"$TMP/offsets"
  for n in "$@"; do echo "$n $(logsize "$n")" >>"$TMP/offsets"; done
  now_ms
  for n in "$@"; do lab_start_daemon "$n"; done
}
wait_in_sync() {  # START_MS TIMEOUT OUT: each agent of $TMP/offsets in sync (ms from START, peers) into OUT
  local specs=() n o
  while read -r n o; do specs+=("$LAB_DIR/$n/daemon.log:$o"); done <"$TMP/offsets"
  py insync "$2" "$1" "${specs[@]}" >"$3" || return 1
  awk -v want="$EXPECT" '$2 != want {bad++} END {exit bad > 0}' "$3" ||
    { say "some agents synced with a peer count other than $EXPECT:"; sort -u -k2 "$3" | head -3 >&2; return 1; }
}
stop_agents() {  # all of them at once (SIGTERM), each removed from the lab's pid files
  local n p pids=()
  for n in "${AGENTS[@]}"; do
    p=$(lab_daemon_pid "$n")
    [[ -n $p ]] && kill -TERM "$p" 2>/dev/null && pids+=("$p")
    rm -f "$LAB_DIR/$n/pid"
  done
  local deadline=$((SECONDS + 30))
  for p in "${pids[@]}"; do
    while kill -0 "$p" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  for p in $(agent_pids); do kill -9 "$p" 2>/dev/null; done  # workers left behind, if any
  true
}
fresh_devices() {  # the next phase starts, as the first did, from empty devices
  local p
  for p in $(wggo_pids "${AGENTS[@]}"); do kill "$p" 2>/dev/null; done
  sleep 1
  for p in $(wggo_pids "${AGENTS[@]}"); do kill -9 "$p" 2>/dev/null; done
}
removed_peers() {  # "peer removed" lines, and counts in summaries, in every agent's log after $PHASE_OFF
  local n o total=0 c
  while read -r n o; do
    c=$(tail -c +"$((o + 1))" "$LAB_DIR/$n/daemon.log" |
      awk '/peer removed/ {c++} match($0, /removed=[0-9]+/) {c += substr($0, RSTART + 8, RLENGTH - 8)} END {print c + 0}')
    total=$((total + c))
  done <"$PHASE_OFF"
  echo "$total"
}
mirror_metric() { ip netns exec "$LAB_UL" curl -s --max-time 5 "http://127.0.0.1:${MPORT[$1]}/metrics" | py sum /dev/stdin "${@:2}"; }
start_mirror() {  # a|b
  local d="$LAB_DIR/mirror-$1"
  mkdir -p "$d"
  ip netns exec "$LAB_UL" "$LAB_BIN" mirror -clusters-config "$LAB_DIR/mirror/config.json" -identity "mirror-$1" \
    -listen-address "127.0.0.1:${MPORT[$1]}" -control-socket "$d/mirror.sock" -log-format text >>"$d/mirror.log" 2>&1 &
  echo $! >"$d/pid"
  disown $!
}
c1_get() {  # PATH: GET on c1 as its admin, JSON
  # shellcheck disable=SC1090
  (source "$ENV1" && ip netns exec "$LAB_UL" curl -s --max-time 5 -A swg-bench --cacert "$CA_FILE" \
    -H "Authorization: Bearer $ADMIN_TOKEN" -H 'Accept: application/json' "$SERVER$1")
}
lease_holder() { c1_get "/apis/coordination.k8s.io/v1/namespaces/$NS/leases/semaphore-wireguard-mirror-c2" | jq -r '.spec.holderIdentity // ""' 2>/dev/null; }
marker_json() { c1_get "/apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/$NS/wireguardpeers/c2"; }
mirror_pids() {  # a|b: the mirror's supervisor, then its worker(s)
  local p
  p=$(cat "$LAB_DIR/mirror-$1/pid" 2>/dev/null) || return 0
  echo "$p"
  pgrep -P "$p"
}

declare -A R  # every figure, "MODE.name"
snap base
R[base.watches]=$(watches base)
# What c2 sends for the status-only updates with no c1 agent yet: its own watchers' share, subtracted from both
# phases' figures below.
status_updates() {  # TAG: UPDATES status-only updates of c2's nodes, snapshots TAG-st0 and TAG-st1 around them
  snap "$1-st0"
  ip netns exec "$LAB_UL" python3 "$HERE/kube.py" churn "$ENV2" 20 "$(python3 -c "print($UPDATES / 20)")" "$N" >"$TMP/$1-churn" ||
    die "[$1] the status updates failed"
  sleep 3
  snap "$1-st1"
  R[$1.status_sent]=$(cat "$TMP/$1-churn")
  R[$1.status_c2_events]=$(delta "$1-st0" "$1-st1" c2 apiserver_watch_events_total resource=nodes)
  R[$1.status_c2_bytes]=$(delta "$1-st0" "$1-st1" c2 apiserver_watch_events_sizes_sum resource=nodes)
  R[$1.status_c1_events]=$(delta "$1-st0" "$1-st1" c1 apiserver_watch_events_total resource=wireguardpeers)
  R[$1.status_c1_bytes]=$(delta "$1-st0" "$1-st1" c1 apiserver_watch_events_sizes_sum resource=wireguardpeers)
}
say "baseline: $UPDATES status-only updates of c2's nodes with no agent in c1 ..."
status_updates base

# ----- one phase: MODE is direct or mirror
phase() {
  local mode=$1 n
  say "[$mode] configuring $A agents ..."
  for n in "${AGENTS[@]}"; do
    lab_config "$n" "c2=$([[ $mode == direct ]] && echo kubeconfig || echo mirror)"
    jq --arg ns "$NS" '.local.mirrorNamespace = $ns' "$LAB_DIR/$n/config.json" >"$TMP/cfg" &&
      cp "$TMP/cfg" "$LAB_DIR/$n/config.json"
  done
  PHASE_OFF="$TMP/phase-$mode-offsets"
  for n in "${AGENTS[@]}"; do echo "$n $(logsize "$n")"; done >"$PHASE_OFF"

  # start: one agent alone, 5 times from an empty device (the figure is the median), then the others at once
  local t k
  : >"$TMP/$mode-start1"
  for k in 1 2 3 4 5; do
    if ((k > 1)); then stop_agents; fresh_devices; fi
    t=$(start_agents "${AGENTS[0]}")
    wait_in_sync "$t" 300 "$TMP/$mode-start1-$k" || die "[$mode] ${AGENTS[0]} did not sync"
    cat "$TMP/$mode-start1-$k" >>"$TMP/$mode-start1"
  done
  read -r R[$mode.start1_ms] _ R[$mode.start1_max] _ < <(py stats <(awk '{print $1}' "$TMP/$mode-start1"))
  R[$mode.start1_min]=$(awk '{print $1}' "$TMP/$mode-start1" | sort -n | head -1)
  say "[$mode] ${AGENTS[0]} alone: all $EXPECT peers on its device in ${R[$mode.start1_ms]} ms (median of 5, $(awk '{print $1}' "$TMP/$mode-start1" | paste -sd' ') ms); starting the other $((A - 1)) at once ..."
  if ((A > 1)); then
    t=$(start_agents "${AGENTS[@]:1}")
    wait_in_sync "$t" 900 "$TMP/$mode-startall" || die "[$mode] the agents did not sync"
    read -r R[$mode.startall_p50] _ R[$mode.startall_max] _ < <(py stats <(awk '{print $1}' "$TMP/$mode-startall"))
  else
    R[$mode.startall_p50]=${R[$mode.start1_ms]} R[$mode.startall_max]=${R[$mode.start1_ms]}
  fi
  for n in "${AGENTS[@]}"; do
    [[ $(peers_on "$n") == "$EXPECT" ]] || die "[$mode] $n has $(peers_on "$n") peers on its device, not $EXPECT"
  done
  sleep 2
  snap "$mode-ready"
  R[$mode.watches]=$(python3 -c "print(int($(watches "$mode-ready") - ${R[base.watches]}))")
  # the host while every agent runs: memory and 10 s of CPU of the agents and of wireguard-go
  local ap wp c0a c0w
  mapfile -t ap < <(agent_pids)
  mapfile -t wp < <(wggo_pids "${AGENTS[@]}")
  c0a=$(cpu_ticks "${ap[@]}") c0w=$(cpu_ticks "${wp[@]}")
  sleep 10
  R[$mode.idle_cpu_agents_pct]=$(( ($(cpu_ticks "${ap[@]}") - c0a) * 100 / $(getconf CLK_TCK) / 10 ))
  R[$mode.idle_cpu_wggo_pct]=$(( ($(cpu_ticks "${wp[@]}") - c0w) * 100 / $(getconf CLK_TCK) / 10 ))
  R[$mode.rss_agents_mib]=$(for p in "${ap[@]}"; do rss "$p"; done | awk '{s += $1} END {printf "%d", s / 1024}')
  R[$mode.rss_wggo_mib]=$(for p in "${wp[@]}"; do rss "$p"; done | awk '{s += $1} END {printf "%d", s / 1024}')
  R[$mode.worker_rss_kib]=$(lab_status "${AGENTS[0]}" -json | jq -r '.remotes[0].status.pid' | { read -r p; rss "$p"; })

  # status-only updates of c2's nodes
  if [[ $mode == mirror ]]; then  # start right after a marker refresh, so that none falls in the window
    local m0 deadline=$((SECONDS + 60))
    m0=$(mirror_metric "$ACTIVE" semaphore_wg_mirror_writes_total op=marker)
    while [[ $(mirror_metric "$ACTIVE" semaphore_wg_mirror_writes_total op=marker) == "$m0" ]] && ((SECONDS < deadline)); do sleep 0.2; done
    sleep 1  # the marker's own events delivered
  fi
  say "[$mode] $UPDATES status-only updates of c2's nodes ..."
  status_updates "$mode"
  local k
  for k in status_c2_events status_c2_bytes; do  # without c2's own watchers' share
    R[$mode.$k]=$(python3 -c "print(max(0, int(${R[$mode.$k]} - ${R[base.$k]})))")
  done
  # writes to the records during the updates, as c1's apiserver counts them (the mirror's own counters lag by up
  # to the 1 s cache of its /metrics)
  R[$mode.status_writes]=$(delta "$mode-st0" "$mode-st1" c1 apiserver_request_total resource=wireguardpeers verb!=GET verb!=LIST verb!=WATCH)

  # endpoint changes, each timed to every agent's device
  local first=$((N / 2 + 1)) port_base=52000  # other nodes and endpoints in each phase
  [[ $mode == mirror ]] && first=$((first + CHANGES)) port_base=53000
  python3 - "$TMP/nodes-0" "$first" "$CHANGES" >"$TMP/$mode-latency-nodes" <<'PY'
import glob, json, sys
first, count = int(sys.argv[2]), int(sys.argv[3])
want = {f"r{i:05d}" for i in range(first, first + count)}
for f in sorted(glob.glob(sys.argv[1] + "/*.json")):
    for n in json.load(open(f))["items"]:
        if n["metadata"]["name"] in want:
            print(n["metadata"]["name"], n["metadata"]["annotations"]["c1.wireguard.semaphore.uw.io/pubKey"])
PY
  say "[$mode] $CHANGES endpoint changes, each to all $A agents ..."
  local logs=()
  for n in "${AGENTS[@]}"; do logs+=("$LAB_DIR/$n/daemon.log"); done
  snap "$mode-ep0"
  ip netns exec "$LAB_UL" python3 "$HERE/mirror.py" endpoints "$ENV2" "$TMP/$mode-latency-nodes" 200 \
    "$port_base" "${logs[@]}" >"$TMP/$mode-latency" || die "[$mode] the endpoint changes failed"
  sleep 1
  snap "$mode-ep1"
  (($(wc -l <"$TMP/$mode-latency") == CHANGES)) || die "[$mode] measured $(wc -l <"$TMP/$mode-latency") endpoint changes, not $CHANGES"
  read -r key ep < <(paste -d' ' <(tail -1 "$TMP/$mode-latency-nodes" | awk '{print $2}') <(tail -1 "$TMP/$mode-latency" | awk '{print $2}'))
  for n in "${AGENTS[@]}"; do  # the last change is on every device
    lab_wg "$n" show wireguard.c2 endpoints | grep -F "$key	$ep" >/dev/null || die "[$mode] $n's device lacks endpoint $ep"
  done
  read -r R[$mode.ep_p50] R[$mode.ep_p99] R[$mode.ep_max] R[$mode.ep_n] < <(py stats <(cut -d' ' -f3- "$TMP/$mode-latency"))
  read -r R[$mode.ep_answered_p50] _ _ _ < <(py stats <(cut -d' ' -f1 "$TMP/$mode-latency"))
  local res=nodes cl=c2
  [[ $mode == mirror ]] && res=wireguardpeers cl=c1
  R[$mode.change_events]=$(delta "$mode-ep0" "$mode-ep1" $cl apiserver_watch_events_total resource=$res)
  R[$mode.change_bytes]=$(delta "$mode-ep0" "$mode-ep1" $cl apiserver_watch_events_sizes_sum resource=$res)
  R[$mode.change_bytes_per_event]=$((R[$mode.change_events] > 0 ? ${R[$mode.change_bytes]%.*} / R[$mode.change_events] : 0))

  # every agent restarts at once
  say "[$mode] every agent restarts at once ..."
  stop_agents
  sleep 2
  snap "$mode-rs0"
  t=$(start_agents "${AGENTS[@]}")
  wait_in_sync "$t" 900 "$TMP/$mode-restart" || die "[$mode] the agents did not sync after the restart"
  sleep 2
  snap "$mode-rs1"
  read -r R[$mode.restart_p50] _ R[$mode.restart_max] _ < <(py stats <(awk '{print $1}' "$TMP/$mode-restart"))
  local c kind
  for c in c1 c2; do
    kind=nodes
    [[ $c == c1 ]] && kind=wireguardpeers
    R[$mode.restart_${c}_reads]=$(delta "$mode-rs0" "$mode-rs1" $c apiserver_request_total resource=$kind verb!=WATCH verb!=PATCH verb!=PUT verb!=POST verb!=DELETE)
    R[$mode.restart_${c}_watches]=$(delta "$mode-rs0" "$mode-rs1" $c apiserver_longrunning_requests verb=WATCH resource=$kind)
    R[$mode.restart_${c}_requests]=$(python3 -c "print(int(${R[$mode.restart_${c}_reads]} + max(0, ${R[$mode.restart_${c}_watches]})))")
    R[$mode.restart_${c}_bytes]=$(delta "$mode-rs0" "$mode-rs1" $c apiserver_response_sizes_sum resource=$kind)
    R[$mode.restart_${c}_all]=$(delta "$mode-rs0" "$mode-rs1" $c apiserver_request_total)
  done
  R[$mode.removed]=$(removed_peers)
  say "[$mode] done: start ${R[$mode.start1_ms]} ms, endpoint p50 ${R[$mode.ep_p50]} p99 ${R[$mode.ep_p99]} ms, watches ${R[$mode.watches]}"
}

phase direct
stop_agents
fresh_devices

if ((!DIRECT_ONLY)); then
  # ----- the mirrors: a first (it takes the Lease), then b, the standby
  say "[mirror] starting two mirror replicas ..."
  snap m0
  t=$(now_ms)
  start_mirror a
  deadline=$((SECONDS + 300))
  until [[ $(marker_json | jq -r '.spec.sync.complete // false' 2>/dev/null) == true ]]; do
    ((SECONDS < deadline)) || { tail -20 "$LAB_DIR/mirror-a/mirror.log" >&2; die "the mirror wrote no complete sync marker in 5 minutes"; }
    sleep 0.2
  done
  R[mirror.first_sync_ms]=$(( $(now_ms) - t ))
  sleep 1
  snap m1
  R[mirror.first_sync_c1_writes]=$(delta m0 m1 c1 apiserver_request_total resource=wireguardpeers verb=POST)
  R[mirror.records]=$(c1_get "/apis/wireguard.semaphore.uw.io/v1alpha1/namespaces/$NS/wireguardpeers?labelSelector=wireguard.semaphore.uw.io/remote%3Dc2,%21wireguard.semaphore.uw.io/sync-marker" | jq '.items | length')
  start_mirror b
  sleep 3
  ACTIVE=$(lease_holder)
  ACTIVE=${ACTIVE#mirror-}
  [[ $ACTIVE == a || $ACTIVE == b ]] || die "no mirror holds the Lease (holder '$ACTIVE')"
  phase mirror
  R[mirror.rss_worker_kib]=$(mirror_pids "$ACTIVE" | tail -n +2 | while read -r p; do rss "$p"; done | awk '{s += $1} END {print s + 0}')
  R[mirror.rss_sup_kib]=$(mirror_pids "$ACTIVE" | head -1 | { read -r p; rss "$p"; })

  # ----- leader failover: kill -9 of the holder (supervisor and workers); the other holds the Lease and writes the
# marker
  say "[mirror] failover: kill -9 of the active mirror (mirror-$ACTIVE) ..."
  OTHER=$([[ $ACTIVE == a ]] && echo b || echo a)
  for n in "${AGENTS[@]}"; do echo "$n $(logsize "$n")"; done >"$TMP/failover-offsets"
  PHASE_OFF_SAVED=$PHASE_OFF
  # The whole replica dies at once, as a pod's processes do: frozen first, so that its worker cannot see its
  # supervisor go and give the Lease up (it does that when only the supervisor is killed), then killed.
  mapfile -t victims < <(mirror_pids "$ACTIVE")
  t=$(now_ms)
  kill -STOP "${victims[@]}" 2>/dev/null
  kill -9 "${victims[@]}" 2>/dev/null
  deadline=$((SECONDS + 120)) lease_ms=""
  while ((SECONDS < deadline)); do
    if [[ -z $lease_ms && $(lease_holder) == "mirror-$OTHER" ]]; then lease_ms=$(( $(now_ms) - t )); fi
    if [[ -n $lease_ms && $(marker_json | jq -r '.spec.sync.leader // ""') == "mirror-$OTHER" ]]; then break; fi
    sleep 0.1
  done
  ((SECONDS < deadline)) || die "mirror-$OTHER did not take over within 120 s"
  R[mirror.failover_ms]=$(( $(now_ms) - t )) R[mirror.failover_lease_ms]=$lease_ms
  sleep 5  # what the agents do with the new leader's marker
  PHASE_OFF="$TMP/failover-offsets"
  R[mirror.failover_removed]=$(removed_peers)
  PHASE_OFF=$PHASE_OFF_SAVED
  lost=0
  for n in "${AGENTS[@]}"; do [[ $(peers_on "$n") == "$EXPECT" ]] || lost=$((lost + 1)); done
  R[mirror.failover_agents_short]=$lost
  ACTIVE=$OTHER

  # ----- the mirror's RSS with more remote nodes (the agents stopped: they would hold them all too)
  if ((RSS_NODES > N)); then
    say "[mirror] the active mirror with $RSS_NODES remote nodes: stopping the agents, creating $((RSS_NODES - N)) more ..."
    stop_agents
    fresh_devices
    t0=$SECONDS
    create_nodes "$N" $((RSS_NODES - N)) || die "creating more nodes failed"
    want=$((RSS_NODES + REAL)) deadline=$((SECONDS + 600))
    until [[ $(mirror_metric "$ACTIVE" semaphore_wg_mirror_records remote=c2) == "$want" ]]; do
      ((SECONDS < deadline)) || die "the mirror did not reach $want records in 10 minutes"
      sleep 1
    done
    # The steady state: past the worker's memory release timer (10 s), which gives back the free pages the
    # burst of 4,000 and more events left (read at once, the figure varied by 2 MiB between runs).
    sleep 12
    R[mirror.rss_big_worker_kib]=$(mirror_pids "$ACTIVE" | tail -n +2 | while read -r p; do rss "$p"; done | awk '{s += $1} END {print s + 0}')
    R[mirror.rss_big_worker_anon_kib]=$(mirror_pids "$ACTIVE" | tail -n +2 | while read -r p; do anon "$p"; done | awk '{s += $1} END {print s + 0}')
    R[mirror.rss_big_sup_kib]=$(mirror_pids "$ACTIVE" | head -1 | { read -r p; rss "$p"; })
    say "  $((SECONDS - t0)) s"
  fi
fi

# ----- the report
{
  for k in "${!R[@]}"; do printf '%s\t%s\n' "$k" "${R[$k]}"; done
  printf 'cfg.%s\t%s\n' agents "$A" nodes "$N" remote_agents "$REAL" status_updates "$UPDATES" \
    endpoint_changes "$CHANGES" rss_nodes "$RSS_NODES" cpus "$(nproc)" direct_only "$DIRECT_ONLY" \
    node_kib "$(sed -n 's/.*nodes, \([0-9.]*\) KiB.*/\1/p' "$TMP/shape")"
} >"$TMP/figures"
py report "$TMP/figures" "$JSON"
