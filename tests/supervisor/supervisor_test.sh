#!/usr/bin/env bash
# The supervisor with stand-in workers (real processes speaking the real protocol): health and readiness,
# status, metrics, restarts after SIGKILL, hung-worker detection after SIGSTOP, configuration-error workers
# left alone, a slow worker not breaking the scrape, clean shutdown, systemd notifications and D-Bus.
BIN="$1"
FAKE="$2"
source "$(dirname "$0")/../lib/testlib.sh"

cat >"$TMP/config.json" <<'JSON'
{"local": {"name": "c1"},
 "remotes": [{"name": "c2", "kubeConfigPath": "/k", "podSubnet": "10.4.0.0/16", "wgListenPort": 51821},
             {"name": "c3", "kubeConfigPath": "/k", "podSubnet": "10.6.0.0/16", "wgListenPort": 51822}]}
JSON
PORT=$(free_port)
URL="http://127.0.0.1:$PORT"
CTL="$TMP/run/control.sock"
DPID=""

start_daemon() {
  "$BIN" -node-name n1 -clusters-config "$TMP/config.json" -listen-address "127.0.0.1:$PORT" \
    -control-socket "$CTL" -worker-binary "$FAKE" -worker-heartbeat-timeout 3s -log-format json \
    >>"$TMP/daemon.log" 2>&1 &
  DPID=$!
}
stop_daemon() {
  [[ -n "$DPID" ]] || return 0
  kill -TERM "$DPID" 2>/dev/null
  local rc=0
  wait "$DPID" || rc=$?
  DPID=""
  return $rc
}
on_exit 'kill -9 $DPID; pkill -9 -f "^$FAKE "'

status_json() { "$BIN" status -json -control-socket "$CTL"; }
worker_pid() { status_json | jq -r ".remotes[] | select(.status.remote==\"$1\") | .status.pid"; }
restarts() { status_json | jq -r ".remotes[] | select(.status.remote==\"$1\") | .restarts"; }
healthz_is() { [[ $(http_code "$URL/healthz") == "$1" ]]; }
readyz_is() { [[ $(http_code "$URL/readyz") == "$1" ]]; }

echo "--- normal operation"
start_daemon
check "healthz becomes 200 when every worker initialised" wait_for 60 healthz_is 200
check "readyz becomes 200 when every worker synced" wait_for 60 readyz_is 200
out=$("$BIN" status -control-socket "$CTL")
check "status exits 0 when healthy" test $? -eq 0
check "status shows one line per remote" grep -Eq '^c2 +ready +wireguard\.c2 +fake +51821 +hSDw[^ ]+ +3 +1 ' <<<"$out"
check "status shows c3" grep -Eq '^c3 +ready +wireguard\.c3 +fake +51822 ' <<<"$out"
check "status header" grep -q 'node n1 (cluster c1), semaphore-wireguard .*: healthy, ready' <<<"$out"
out=$("$BIN" status -v -control-socket "$CTL")
check "status -v lists peers" grep -Eq '^  node-a +AAAA[^ ]+ +192\.168\.0\.1:51820 +10\.4\.1\.0/24 +never +10 B +20 B' <<<"$out"
check "status -v lists rejected nodes with reasons" grep -Eq '^  node-b +bad_endpoint +endpoint "x" is not' <<<"$out"
check "status -json is JSON with the state" test "$(status_json | jq -r '.remotes[0].status.state')" = ready
curl -s "$URL/metrics" >"$TMP/metrics.txt"
check "metrics pass promtool check metrics" promtool check metrics <"$TMP/metrics.txt"
check "metrics have worker up" grep -q '^semaphore_wg_worker_up{remote="c2"} 1$' "$TMP/metrics.txt"
check "metrics include the workers' own metrics" grep -q '^semaphore_wg_peers{remote="c3"} 3$' "$TMP/metrics.txt"
check "build info names the version and revision" \
  grep -Eq "^semaphore_wg_build_info\{version=\"[0-9.]+\",revision=\"[^\"]+\"\} 1$" "$TMP/metrics.txt"
rss_c2=$(sed -n 's/^process_resident_memory_bytes{process="worker",remote="c2"} \([0-9.e+]*\)$/\1/p' "$TMP/metrics.txt")
rss_real=$(( $(awk '/^VmRSS:/ {print $2}' "/proc/$(worker_pid c2)/status") * 1024 ))
check "the c2 worker's RSS is in process_resident_memory_bytes (within 50%)" \
  python3 -c "import sys; a, b = float('$rss_c2'), $rss_real; sys.exit(0 if 0.5 * b <= a <= 1.5 * b else 1)"
check "the supervisor's own process metrics" grep -Eq '^process_open_fds\{process="supervisor",remote=""\} [1-9]' "$TMP/metrics.txt"
check "and each worker's CPU time" grep -q '^process_cpu_seconds_total{process="worker",remote="c3"} ' "$TMP/metrics.txt"
check "unknown path is 404" test "$(http_code "$URL/nope")" = 404

echo "--- a worker killed with SIGKILL is restarted; the other is untouched"
c2_pid=$(worker_pid c2)
c3_pid=$(worker_pid c3)
kill -9 "$c2_pid"
check "healthz shows the gap (503 naming c2)" wait_for 3 bash -c "curl -s $URL/healthz | grep -q '^not healthy: c2 (worker down'"
check "c2 is back within seconds" wait_for 60 healthz_is 200
check "c2 has a new process" test "$(worker_pid c2)" != "$c2_pid"
check "c2 restart counted" test "$(restarts c2)" = 1
check "c3 process unchanged" test "$(worker_pid c3)" = "$c3_pid"
check "c3 restarts still 0" test "$(restarts c3)" = 0
check "the exit cause is logged" wait_for 60 grep -q '"msg":"worker exited; restarting it","remote":"c2","pid":'"$c2_pid"',"cause":"killed by signal 9 (SIGKILL)"' "$TMP/daemon.log"

echo "--- a worker stopped with SIGSTOP is detected as hung and replaced"
c3_pid=$(worker_pid c3)
kill -STOP "$c3_pid"
check "hung c3 is replaced" wait_for 60 bash -c "[[ \$('$BIN' status -json -control-socket '$CTL' | jq -r '.remotes[] | select(.status.remote==\"c3\") | .status.pid') =~ ^[0-9]+$ && \$('$BIN' status -json -control-socket '$CTL' | jq -r '.remotes[] | select(.status.remote==\"c3\") | .status.pid') != $c3_pid && \$('$BIN' status -json -control-socket '$CTL' | jq -r '.remotes[] | select(.status.remote==\"c3\") | .status.pid') != 0 ]]"
check "the stopped process is gone" wait_for 60 bash -c "! kill -0 $c3_pid"
check "the hang is logged" grep -q '"msg":"worker is hung: no heartbeat; killing it","remote":"c3"' "$TMP/daemon.log"
check "healthy again" wait_for 60 healthz_is 200

echo "--- a second agent on the same control socket refuses to start"
"$BIN" -node-name n1 -clusters-config "$TMP/config.json" -listen-address 127.0.0.1:0 -control-socket "$CTL" \
  -worker-binary "$FAKE" -log-format text >"$TMP/second.log" 2>&1
check "second agent exits 1" test $? -eq 1
check "second agent names the socket" grep -q "control socket $CTL is in use: is another semaphore-wireguard running?" "$TMP/second.log"

echo "--- SIGTERM stops the workers and exits 0"
pids="$(worker_pid c2) $(worker_pid c3)"
stop_daemon
check "daemon exited 0" test $? -eq 0
check "workers are gone" bash -c "! kill -0 ${pids// / 2>/dev/null || ! kill -0 } 2>/dev/null"
check "control socket removed" test ! -e "$CTL"

echo "--- a configuration-error worker is not restarted; a slow worker does not break the scrape"
export SWG_FAKE_C2=config-error SWG_FAKE_C3=slow-metrics
start_daemon
check "healthz 503 names the failed remote" wait_for 60 bash -c "curl -s $URL/healthz | grep -q '^not healthy: c2 (failed: configuration error)'"
sleep 3
check "c2 not restarted" test "$(restarts c2)" = 0
check "c2 has no process" test "$(worker_pid c2)" = 0
start=$SECONDS
curl -s --max-time 10 "$URL/metrics" >"$TMP/metrics2.txt"
check "scrape answers although c3 never answers metrics" test $((SECONDS - start)) -le 4
check "failed worker shown in metrics" grep -q '^semaphore_wg_worker_failed{remote="c2"} 1$' "$TMP/metrics2.txt"
check "the unanswered request was dropped at the timeout" grep -q '^semaphore_wg_worker_requests_pending{remote="c3"} 0$' "$TMP/metrics2.txt"
check "slow worker still up" grep -q '^semaphore_wg_worker_up{remote="c3"} 1$' "$TMP/metrics2.txt"
check "dead worker is up 0" grep -q '^semaphore_wg_worker_up{remote="c2"} 0$' "$TMP/metrics2.txt"
check "metrics still valid" promtool check metrics <"$TMP/metrics2.txt"
check "status exits 1 when unhealthy" bash -c "! '$BIN' status -control-socket '$CTL' >/dev/null"
stop_daemon
unset SWG_FAKE_C2 SWG_FAKE_C3

echo "--- the supervisor killed with SIGKILL: its workers exit too"
start_daemon
wait_for 60 healthz_is 200
pids="$(worker_pid c2) $(worker_pid c3)"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=""
check "orphaned workers exit" wait_for 60 bash -c "! kill -0 ${pids// / 2>/dev/null || ! kill -0 } 2>/dev/null"
rm -f "$CTL"

echo "--- systemd: READY, STATUS and WATCHDOG on the notify socket; D-Bus status object"
python3 - "$TMP/notify.sock" "$TMP/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a") as f:
    while True:
        f.write(s.recv(65536).decode() + "\n")
        f.flush()
PY
NPID=$!
on_exit "kill $NPID"
cat >"$TMP/bus.conf" <<XML
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$TMP/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
XML
dbus-daemon --config-file="$TMP/bus.conf" --fork --print-pid >"$TMP/dbus.pid"
on_exit 'kill $(cat "$TMP/dbus.pid")'
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$TMP/system_bus_socket"
wait_for 60 test -S "$TMP/system_bus_socket"
# The listener must be bound before the daemon starts: a READY=1 sent to a socket nobody holds yet is lost.
wait_for 60 test -S "$TMP/notify.sock"
NOTIFY_SOCKET="$TMP/notify.sock" WATCHDOG_USEC=1000000 start_daemon
check "READY=1 sent once all workers initialised" wait_for 60 grep -q '^READY=1$' "$TMP/notify.log"
check "STATUS= summary" wait_for 60 grep -q '^STATUS=2/2 remotes in sync: c2 ready (3 peers), c3 ready (3 peers)$' "$TMP/notify.log"
check "WATCHDOG=1 pings" wait_for 60 grep -q '^WATCHDOG=1$' "$TMP/notify.log"
check "D-Bus Status method returns the JSON" wait_for 60 bash -c \
  "busctl --system call io.uw.SemaphoreWireguard /io/uw/SemaphoreWireguard io.uw.SemaphoreWireguard1 Status | grep -q 'node.*n1'"
check "D-Bus per-remote State property" wait_for 60 bash -c \
  "busctl --system get-property io.uw.SemaphoreWireguard /io/uw/SemaphoreWireguard/remote/c2 io.uw.SemaphoreWireguard1.Remote State | grep -qx 's \"ready\"'"
check "D-Bus Healthy property" bash -c \
  "busctl --system get-property io.uw.SemaphoreWireguard /io/uw/SemaphoreWireguard io.uw.SemaphoreWireguard1 Healthy | grep -qx 'b true'"
check "D-Bus tree lists the remotes" bash -c "busctl --system tree io.uw.SemaphoreWireguard | grep -q '/io/uw/SemaphoreWireguard/remote/c3'"
stop_daemon
check "STOPPING=1 on shutdown" grep -q '^STOPPING=1$' "$TMP/notify.log"
unset DBUS_SYSTEM_BUS_ADDRESS

echo "--- an invalid configuration stops the start with every error, exit 2"
echo '{"local":{"name":"c1"},"remotes":[{"name":"toolong","kubeConfigPath":"/k","podSubnet":"10.4.0.0/33"}]}' >"$TMP/bad.json"
"$BIN" -node-name n1 -clusters-config "$TMP/bad.json" -log-format text >"$TMP/bad.log" 2>&1
check "exit 2" test $? -eq 2
check "name error logged" grep -q 'configuration: remotes\[0\].name: "toolong" is longer than 5 characters' "$TMP/bad.log"
check "subnet error logged" grep -q 'configuration: remotes\[0\].podSubnet: "10.4.0.0/33" is not a valid CIDR' "$TMP/bad.log"

check "no sanitizer reports in the daemon logs" no_sanitizer_reports "$TMP"/*.log

summary
