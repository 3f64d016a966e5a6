#!/usr/bin/env bash
# Logs reach a real systemd-journald with structured fields, so `journalctl SWG_REMOTE=c2` shows one pairing.
# journald runs in a private mount namespace with its own /run, so the host is not touched.
BIN="$1"
FAKE="$2"
source "$(dirname "$0")/../lib/testlib.sh"
[[ $(id -u) == 0 ]] || { echo "FAIL this test needs root (mount namespaces)"; exit 1; }
JOURNALD=/lib/systemd/systemd-journald
[[ -x $JOURNALD ]] || { echo "FAIL $JOURNALD is missing (Debian package systemd)"; exit 1; }

cat >"$TMP/config.json" <<'JSON'
{"local": {"name": "c1"},
 "remotes": [{"name": "c2", "kubeConfigPath": "/k", "podSubnet": "10.4.0.0/16", "wgListenPort": 51821},
             {"name": "c3", "kubeConfigPath": "/k", "podSubnet": "10.6.0.0/16", "wgListenPort": 51822}]}
JSON
PORT=$(free_port)
unshare --mount --propagation private bash -c '
  set -u
  mount -t tmpfs tmpfs /run/systemd 2>/dev/null || { mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd; }
  mkdir -p /run/systemd/journal /run/log && mount -t tmpfs tmpfs /run/log
  "$1" >"$2/journald.log" 2>&1 &
  jd=$!
  for i in $(seq 50); do [[ -S /run/systemd/journal/socket ]] && break; sleep 0.1; done
  "$3" -node-name n1 -clusters-config "$2/config.json" -listen-address "127.0.0.1:$5" \
    -control-socket "$2/ctl.sock" -worker-binary "$4" -log-format journal &
  d=$!
  for i in $(seq 100); do curl -sf "http://127.0.0.1:$5/healthz" >/dev/null && break; sleep 0.1; done
  kill -TERM $d; wait $d
  journalctl -D /run/log/journal --no-pager -o json >"$2/journal.json"
  journalctl -D /run/log/journal --no-pager SWG_REMOTE=c2 -o cat >"$2/c2.txt"
  kill $jd' bash "$JOURNALD" "$TMP" "$BIN" "$FAKE" "$PORT"

check "the supervisor's lines are in the journal" grep -q '"MESSAGE":"starting semaphore-wireguard"' "$TMP/journal.json"
check "with SYSLOG_IDENTIFIER" grep -q '"SYSLOG_IDENTIFIER":"semaphore-wireguard"' "$TMP/journal.json"
check "with a priority per level" grep -q '"MESSAGE":"starting semaphore-wireguard".*"PRIORITY":"6"\|"PRIORITY":"6".*"MESSAGE":"starting semaphore-wireguard"' "$TMP/journal.json"
check "structured fields (SWG_NODE)" grep -q '"SWG_NODE":"n1"' "$TMP/journal.json"
check "SWG_REMOTE=c2 selects c2's lines" grep -qx 'worker started' "$TMP/c2.txt"
check "... including the worker's own lines" grep -qx 'fake worker running' "$TMP/c2.txt"
check "... and nothing of c3" bash -c "! grep -q c3 '$TMP/c2.txt' && [[ \$(grep -c . '$TMP/c2.txt') -ge 2 ]]"
summary
