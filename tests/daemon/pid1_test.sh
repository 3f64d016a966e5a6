#!/usr/bin/env bash
# The daemon as a container runs it: PID 1 of its own PID namespace (as under containerd), against real
# kube-apiservers, with wireguard-go. Checks what broke there before: workers that took "parent is PID 1" for
# "my supervisor died", wireguard-go zombies nobody reaped, a liveness endpoint that failed with one remote, a
# failed remote never retried, a corrupt key that sometimes ended "down" instead of "failed", and idle
# connections from elsewhere starving the probes.
source "$(dirname "$0")/../lib/lab_test.sh" "$@"

on_exit lab_cleanup
lab_init "$TMP/lab" "p$((RANDOM % 90 + 10))" "192.168.$((190 + RANDOM % 10))"
LAB_SUBNET_c1=10.2.0.0/16 LAB_SUBNET_c2=10.4.0.0/16 LAB_SUBNET_c3=10.6.0.0/16
lab_start_clusters c1,c2,c3 || { echo "FAIL cannot start the test control plane"; exit 1; }
for c in c1 c2 c3; do lab_credentials "$c"; done
lab_serve_cas || exit 1
lab_add_node c1 n1 10.2.1.0/24
lab_add_node c2 r1 10.4.1.0/24
lab_add_node c3 s1 10.6.1.0/24
lab_config n1 c2=token c3=kubeconfig
lab_config r1 c1=kubeconfig
lab_config s1 c1=kubeconfig
lab_start_daemon r1
lab_start_daemon s1
N1_IP=$(lab_node_get n1 IP)
R1_IP=$(lab_node_get r1 IP)
D="$LAB_DIR/n1"
mkdir -p "$D"

# n1's daemon as PID 1 of a new PID namespace (with its own /proc), inside the node's network and mount
# namespaces; health on the node's address, as the DaemonSet serves it on status.hostIP.
nsenter -t "$(lab_node_get n1 ANCHOR)" -n -m unshare --pid --fork --mount-proc \
  env SSL_CERT_FILE="$LAB_DIR/caserver/ca.crt" "$BIN" -node-name n1 -clusters-config "$D/config.json" \
  -wg-key-path "$D/keys" -listen-address "$N1_IP:7773" -control-socket "$D/control.sock" -log-format text \
  >>"$D/daemon.log" 2>&1 &
UNSHARE=$!
on_exit "kill -9 $UNSHARE"
SUP=""
wait_for 30 bash -c "pgrep -P $UNSHARE >/dev/null" && SUP=$(pgrep -P "$UNSHARE" | head -1)
check "the supervisor runs as PID 1 of its namespace" grep -q '^NSpid:.*[[:space:]]1$' "/proc/${SUP:-0}/status"
on_exit "kill -9 ${SUP:-0}"

URL="http://$N1_IP:7773"
code() { lab_exec "$1" curl -s -o /dev/null -w '%{http_code}' --max-time "${3:-10}" "$URL$2"; }
state_of() { lab_status n1 -json | jq -r ".remotes[] | select(.status.remote==\"$1\") | if .failed then \"failed\" elif .worker_up then .status.state else \"down\" end"; }
# Host pids: the status reports pids as the daemon's PID namespace sees them.
worker_pid() { pgrep -f " worker -remote $1 " --ns "$SUP" --nslist pid | head -1; }
ready_is() { [[ $(code n1 /readyz 5) == "$1" ]]; }
peers_of() { lab_wg n1 show "wireguard.$1" peers | sort | tr '\n' ' '; }
r1_key() { wg pubkey <"$LAB_DIR/r1/keys/wireguard.c1.key"; }
wggo_pid() { pgrep -f "wireguard-go -f wireguard.$1\$" --ns "$SUP" --nslist pid | head -1; }
zombies() { ps -o pid=,stat=,comm= --ppid "$SUP" | awk '$2 ~ /^Z/'; }

echo "--- the whole daemon as PID 1"
check "ready: both remotes in sync" wait_for 90 ready_is 200
check "no worker mistook PID 1 for a dead supervisor" bash -c "! grep -q 'the supervisor (pid .*) is gone' '$D/daemon.log'"
check "no worker restarted" bash -c "! grep -q 'worker exited; restarting it' '$D/daemon.log'"
check "interface wireguard.c2 exists" lab_exec n1 ip link show wireguard.c2
check "route for the c2 pod subnet" grep -q '^10.4.0.0/16 dev wireguard.c2 proto 87 scope link' <(lab_exec n1 ip route)
check "route for the c3 pod subnet" grep -q '^10.6.0.0/16 dev wireguard.c3 proto 87 scope link' <(lab_exec n1 ip route)
check "r1 is n1's peer on wireguard.c2" wait_for 30 bash -c "[[ \"\$(nsenter -t $(lab_node_get n1 ANCHOR) -n -m wg show wireguard.c2 peers)\" == '$(r1_key)' ]]"
check "pods reach across the tunnel (n1 -> r1)" wait_for 30 lab_exec n1 ping -c 1 -W 2 -I 10.2.1.1 10.4.1.1
check "/livez answers" test "$(code n1 /livez)" = 200

echo "--- wireguard-go killed three times: restarted, reaped, no zombie"
for round in 1 2 3; do
  old=$(wggo_pid c2)
  [[ -n "$old" ]] && kill -9 "$old"
  check "round $round: a new wireguard-go for c2" wait_for 60 bash -c "p=\$(pgrep -f 'wireguard-go -f wireguard.c2\$' --ns $SUP --nslist pid | head -1); [[ -n \$p && \$p != '$old' ]]"
  check "round $round: the killed one is gone, not a zombie" wait_for 10 bash -c "! kill -0 ${old:-0} 2>/dev/null"
done
new=$(wggo_pid c2)
check "wireguard-go was adopted by the supervisor (PID 1)" test "$(ps -o ppid= -p "${new:-0}" | tr -d ' ')" = "$SUP"
check "no zombie under the supervisor" test -z "$(zombies)"
check "pods reach across again" wait_for 60 lab_exec n1 ping -c 1 -W 2 -I 10.2.1.1 10.4.1.1

echo "--- a corrupt key file: always 'failed' (never 'down'), liveness unaffected, retried when the file changes"
KEY="$D/keys/wireguard.c3.key"
for round in 1 2 3; do
  echo "this is not a key" >"$KEY"
  kill -9 "$(worker_pid c3)" || fail "no c3 worker to kill"
  check "round $round: c3 failed" wait_for 60 bash -c "[[ \$('$BIN' status -json -control-socket '$D/control.sock' | jq -r '.remotes[] | select(.status.remote==\"c3\") | .failed') == true ]]"
  sleep 3  # long enough for a wrong 'down' and a restart to show
  check "round $round: still failed, not restarting" test "$(state_of c3)" = failed
  wg genkey >"$KEY"
  check "round $round: the changed key file starts c3 again" wait_for 60 bash -c "[[ \$('$BIN' status -json -control-socket '$D/control.sock' | jq -r '.remotes[] | select(.status.remote==\"c3\") | .status.state') == ready ]]"
done
echo "this is not a key" >"$KEY"
kill -9 "$(worker_pid c3)" || fail "no c3 worker to kill"
wait_for 60 bash -c "[[ \$('$BIN' status -json -control-socket '$D/control.sock' | jq -r '.remotes[] | select(.status.remote==\"c3\") | .failed') == true ]]"
check "status names the file and the reason" grep -q "key file $KEY is corrupt" <(lab_status n1)
check "/healthz 503 names c3" grep -q '^not healthy: c3' <(lab_exec n1 curl -s --max-time 10 "$URL/healthz")
check "/livez 200 all the same" test "$(code n1 /livez)" = 200
check "c2 keeps working" lab_exec n1 ping -c 1 -W 2 -I 10.2.1.1 10.4.1.1
rm -f "$KEY"
check "a removed key file starts c3 again with a new key" wait_for 60 bash -c "[[ \$('$BIN' status -json -control-socket '$D/control.sock' | jq -r '.remotes[] | select(.status.remote==\"c3\") | .status.state') == ready ]]"
check "the key directory is 0700" test "$(stat -c %a "$D/keys")" = 700

echo "--- 64 idle connections from another address do not starve the probes"
lab_exec r1 python3 - "$N1_IP" 7773 >"$TMP/idle.out" 2>&1 <<'PY' &
import socket, sys, time
held = []
for _ in range(64):
    try:
        held.append(socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2))
    except OSError:
        pass
print(len(held), "connected", flush=True)
time.sleep(15)
PY
IDLE=$!
on_exit "kill $IDLE"
wait_for 20 grep -q connected "$TMP/idle.out"
start=$(date +%s%N)
c=$(code n1 /livez 2)
ms=$((($(date +%s%N) - start) / 1000000))
check "/livez from the node's own address answers 200 within 2 s ($ms ms)" test "$c" = 200
check "/readyz too" test "$(code n1 /readyz 2)" = 200
kill "$IDLE" 2>/dev/null

echo "--- SIGTERM to PID 1 stops it cleanly"
kill -TERM "$SUP"
check "the supervisor exits" wait_for 30 bash -c "! kill -0 $SUP 2>/dev/null"
wait "$UNSHARE"
check "with exit code 0" test $? = 0
check "its workers said they stopped" grep -q 'stopped; the interface, route and peers stay as they are remote=c2' "$D/daemon.log"
check "no sanitizer reports" no_sanitizer_reports "$D/daemon.log"

if ((FAILURES)); then
  echo "--- daemon log (last 60 lines)"
  tail -n 60 "$D/daemon.log"
fi
summary
