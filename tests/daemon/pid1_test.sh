#!/usr/bin/env bash
# The daemon as a container runs it: PID 1 of its own PID namespace (as under containerd), against real
# kube-apiservers, with wireguard-go. Checks what broke there before: workers that took "parent is PID 1" for
# "my supervisor died", wireguard-go zombies nobody reaped, a liveness endpoint that failed with one remote, a
# failed remote never retried, a corrupt key that sometimes ended "down" instead of "failed", and idle
# connections from elsewhere starving the probes; and the HTTP server's connection limits and idle timeout.
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

echo "--- the HTTP server's limits (README, Health): 16 connections per client address, 256 in all, idle ones closed after 5 s"
# conns.py per-ip HOST PORT N | total HOST PORT SRC,SRC,... EXTRA_SRC: prints key=value results.
cat >"$TMP/conns.py" <<'PY'
import re, select, socket, sys, time
REQ = b"GET /livez HTTP/1.1\r\nHost: n1\r\n\r\n"

def open_conns(n, src=None):
    conns = []
    for _ in range(n):
        s = socket.socket()
        s.settimeout(5)
        if src:
            s.bind((src, 0))
        try:
            s.connect((HOST, PORT))
            conns.append(s)
        except OSError:
            s.close()
    return conns

def closed(s):  # closed by the server (end of file or reset), without waiting
    s.settimeout(0)
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.settimeout(5)

def answered(s):  # one request on the connection, its whole answer read: 200?
    try:
        s.settimeout(5)
        s.sendall(REQ)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
        while len(body) < length:
            chunk = s.recv(4096)
            if not chunk:
                return False
            body += chunk
        return head.startswith(b"HTTP/1.1 200")
    except (OSError, AttributeError):
        return False

def wait_closed(conns, limit):  # seconds until the server closed each one, None for those still open
    t0, times, pending = time.monotonic(), {}, list(conns)
    while pending and time.monotonic() - t0 < limit:
        ready, _, _ = select.select(pending, [], [], 0.1)
        for s in ready:
            if closed(s):
                times[s] = time.monotonic() - t0
                pending.remove(s)
    return sorted(times.values()), len(pending)

mode, HOST, PORT = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "per-ip":
    conns = open_conns(int(sys.argv[4]))
    time.sleep(1)
    held = [s for s in conns if not closed(s)]
    served = sum(answered(s) for s in held)
    print(f"opened={len(conns)} held={len(held)} served={served}", flush=True)
    times, left = wait_closed(held, 30)
    first = f"{times[0]:.1f}" if times else "-"
    last = f"{times[-1]:.1f}" if times else "-"
    print(f"idle_closed={len(times)} still_open={left} first={first} last={last}", flush=True)
else:
    conns = [s for src in sys.argv[4].split(",") for s in open_conns(16, src)]
    served = sum(answered(s) for s in conns)
    extra = open_conns(1, sys.argv[5])
    state = "no-connect"
    if extra:
        extra[0].sendall(REQ)
        ready, _, _ = select.select(extra, [], [], 1.5)
        state = "waiting" if not ready else ("refused" if closed(extra[0]) else "answered")
    held = sum(not closed(s) for s in conns)
    print(f"opened={len(conns)} served={served} extra={state} held_meanwhile={held}", flush=True)
    times, left = wait_closed(conns, 30)
    last = f"{times[-1]:.1f}" if times else "-"
    later = "-"
    if state == "waiting":  # its request was sent: is it answered now that there is room?
        ready, _, _ = select.select(extra, [], [], 5)
        later = "answered" if ready and extra[0].recv(4096).startswith(b"HTTP/1.1 200") else "not-answered"
    fresh = open_conns(1, sys.argv[5])
    after = "answered" if fresh and answered(fresh[0]) else "not-answered"
    print(f"idle_closed={len(times)} still_open={left} last={last} waiting_one={later} after={after}", flush=True)
PY
val() { sed -n "s/.*\<$2=\([^ ]*\).*/\1/p" "$1" | tail -n 1; }
echo "     (per address) r1 opens 64 connections and stays idle; the probes come from n1's own address meanwhile"
lab_exec r1 python3 "$TMP/conns.py" per-ip "$N1_IP" 7773 64 >"$TMP/per-ip.out" 2>&1 &
PER_IP=$!
on_exit "kill $PER_IP"
wait_for 30 grep -q '^opened=' "$TMP/per-ip.out"
start=$(date +%s%N)
c=$(code n1 /livez 2)
ms=$((($(date +%s%N) - start) / 1000000))
check "/livez from the node's own address answers 200 within 2 s ($ms ms)" test "$c" = 200
check "/readyz too" test "$(code n1 /readyz 2)" = 200
wait_for 60 bash -c "! kill -0 $PER_IP 2>/dev/null"
sed 's/^/     | /' "$TMP/per-ip.out"
O="$TMP/per-ip.out"
check "of 64 connections from r1, the server keeps 16 (the per-address cap) and closes the others" \
  test "$(val "$O" opened)/$(val "$O" held)" = 64/16
check "the 16 it keeps are served" test "$(val "$O" served)" = 16
check "idle, all 16 are closed by the server (idle_closed=$(val "$O" idle_closed))" test "$(val "$O" idle_closed)" = 16
idle_window() { awk -v f="$(val "$O" first)" -v l="$(val "$O" last)" 'BEGIN { exit !(f >= 3 && l <= 15) }'; }
check "after about 5 s, not at once: the first after $(val "$O" first) s, the last after $(val "$O" last) s (3..15 s)" \
  idle_window

echo "     (in all) 16 addresses of r1 open 16 connections each, then a 17th address tries one"
srcs=()
for i in $(seq 0 16); do
  ip -n "$(lab_node_ns r1)" addr add "$LAB_NET.$((200 + i))/24" dev eth0 && srcs+=("$LAB_NET.$((200 + i))")
done
lab_exec r1 timeout 120 python3 "$TMP/conns.py" total "$N1_IP" 7773 "$(IFS=,; echo "${srcs[*]:0:16}")" \
  "${srcs[16]}" >"$TMP/total.out" 2>&1
sed 's/^/     | /' "$TMP/total.out"
O="$TMP/total.out"
check "256 connections from 16 addresses: all kept and served" test "$(val "$O" opened)/$(val "$O" served)" = 256/256
check "a 257th, from a 17th address, is not served while they are held ($(val "$O" extra))" \
  test "$(val "$O" extra)" != answered -a "$(val "$O" held_meanwhile)" = 256
check "once the idle ones are closed (the last after $(val "$O" last) s), that address is served" \
  test "$(val "$O" idle_closed)/$(val "$O" after)" = 256/answered
if [[ $(val "$O" extra) == waiting ]]; then
  check "... and the 257th, which waited in the listen queue, is answered then" test "$(val "$O" waiting_one)" = answered
fi
for a in "${srcs[@]}"; do ip -n "$(lab_node_ns r1)" addr del "$a/24" dev eth0; done

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
