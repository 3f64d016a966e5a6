#!/usr/bin/env bash
# The command line as a user meets it: exit codes, one-line usage errors, check-config output.
set -uo pipefail
BIN="$1"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
failures=0

# An empty pattern means the stream must be empty; otherwise an extended regex over the whole stream.
matches() {
  if [[ -z "$1" ]]; then [[ ! -s "$2" ]]; else grep -Eqz -- "$1" "$2"; fi
}

# expect NAME WANT_CODE WANT_STDOUT_REGEX WANT_STDERR_REGEX -- command...
expect() {
  local name="$1" want_code="$2" want_out="$3" want_err="$4"
  shift 5
  "$@" >"$TMP/out" 2>"$TMP/err"
  local code=$?
  local ok=1
  [[ $code == "$want_code" ]] || ok=0
  matches "$want_out" "$TMP/out" || ok=0
  matches "$want_err" "$TMP/err" || ok=0
  if ((ok)); then
    echo "ok   $name"
  else
    echo "FAIL $name: exit $code (want $want_code)"
    sed 's/^/     stdout: /' "$TMP/out"
    sed 's/^/     stderr: /' "$TMP/err"
    failures=$((failures + 1))
  fi
}

touch "$TMP/kubeconfig"
cat >"$TMP/good.json" <<JSON
{"local": {"name": "c1"},
 "remotes": [{"name": "c2", "kubeConfigPath": "$TMP/kubeconfig", "podSubnet": "10.4.0.0/16"}]}
JSON
# Credentials files that are not there (yet): check-config warns, naming the field and the path, and passes.
cat >"$TMP/unmounted.json" <<JSON
{"local": {"name": "c1", "kubeConfigPath": "$TMP/no-local"},
 "remotes": [{"name": "c2", "kubeConfigPath": "$TMP/no-c2", "podSubnet": "10.4.0.0/16"},
             {"name": "c3", "remoteAPIURL": "https://c3.example", "remoteCAURL": "https://c3.example/ca",
              "remoteSATokenPath": "$TMP/no-token", "podSubnet": "10.5.0.0/16", "wgListenPort": 51821,
              "resyncPeriod": "1h", "maxPeers": 7}]}
JSON
cat >"$TMP/bad.json" <<'JSON'
{"local": {"name": "c1"},
 "remotes": [{"name": "c2", "kubeConfigPath": "/etc/k", "podSubNet": "10.4.0.0/16"},
             {"name": "c3", "kubeConfigPath": "/etc/k", "podSubnet": "10.4.0.0/33", "wgListenPort": 51821}]}
JSON
printf '{"local": {"name": "c1"},\n  "remotes": [\n' >"$TMP/syntax.json"

expect "-h prints usage" 0 'Usage of semaphore-wireguard:.*-clusters-config string.*-wg-key-path string' '' -- "$BIN" -h
expect "--help prints usage" 0 'Usage of' '' -- "$BIN" --help
expect "-version" 0 '^semaphore-wireguard [0-9]+\.[0-9]+\.[0-9]+' '' -- "$BIN" -version
expect "unknown flag" 2 '' $'^semaphore-wireguard: flag provided but not defined: -bogus \\(see -h\\)\n$' -- "$BIN" -bogus
expect "missing node name" 2 '' '-node-name is required' -- "$BIN" -clusters-config "$TMP/good.json"
expect "missing config" 2 '' '-clusters-config is required' -- "$BIN" -node-name n1
expect "bad env value names the variable" 2 '' 'invalid value "loud" for SWG_LOG_LEVEL' \
  -- env SWG_LOG_LEVEL=loud "$BIN" -node-name n1
expect "unknown command" 2 '' 'unknown command "frobnicate"' -- "$BIN" frobnicate

# resyncPeriod is the effective period: unset (0) means the 5 minute full resync, longer periods are capped.
expect "check-config prints the resolved config" 0 \
  '"wgDeviceMTU": 1420,.*"wgListenPort": 51820,.*"resyncPeriod": "5m0s",.*"maxPeers": 10000' \
  '' -- "$BIN" check-config -clusters-config "$TMP/good.json"
expect "check-config warns about unreadable credentials files" 0 \
  '"name": "c3",.*"resyncPeriod": "5m0s",.*"maxPeers": 7' \
  $'unmounted.json: warning: local.kubeConfigPath: "[^"]*/no-local" cannot be read: No such file or directory\n.*unmounted.json: warning: remotes\\[0\\].kubeConfigPath: "[^"]*/no-c2" cannot be read: No such file or directory\n.*unmounted.json: warning: remotes\\[1\\].remoteSATokenPath: "[^"]*/no-token" cannot be read: No such file or directory\n$' \
  -- "$BIN" check-config -clusters-config "$TMP/unmounted.json"
expect "check-config reads SWG_CLUSTERS_CONFIG" 0 '"name": "c2"' '' \
  -- env SWG_CLUSTERS_CONFIG="$TMP/good.json" "$BIN" check-config
expect "check-config lists every error" 2 '' \
  $'bad.json: remotes\\[0\\].podSubNet: unknown field, did you mean "podSubnet"\\?\n.*bad.json: remotes\\[0\\].podSubnet: required\n.*bad.json: remotes\\[1\\].podSubnet: "10.4.0.0/33" is not a valid CIDR\n.*bad.json: 3 errors\n$' \
  -- "$BIN" check-config -clusters-config "$TMP/bad.json"
expect "check-config syntax error has line and column" 2 '' 'syntax.json: JSON syntax error at line 3, column [0-9]+' \
  -- "$BIN" check-config -clusters-config "$TMP/syntax.json"
expect "check-config missing file names it" 2 '' "cannot open $TMP/nope.json: No such file or directory" \
  -- "$BIN" check-config -clusters-config "$TMP/nope.json"
expect "check-config without a file" 2 '' 'check-config: -clusters-config FILE is required' -- "$BIN" check-config

# The mirror (README "Scale: the mirror"): its own flags, its configuration read directly.
cat >"$TMP/mirrored.json" <<'EOF2'
{"local": {"name": "c1"}, "remotes": [{"name": "c2", "peerSource": "mirror", "podSubnet": "10.4.0.0/16"}]}
EOF2
expect "mirror -h lists its flags" 0 'Usage: semaphore-wireguard mirror -clusters-config FILE.*-lease-duration.*-marker-interval' '' \
  -- "$BIN" mirror -h
expect "mirror needs a config" 2 '' $'^semaphore-wireguard mirror: -clusters-config is required \\(or set SWG_CLUSTERS_CONFIG\\) \\(see -h\\)\n$' \
  -- "$BIN" mirror
expect "mirror: a lease not longer than the renew deadline" 2 '' '-lease-duration must be longer than -renew-deadline' \
  -- "$BIN" mirror -clusters-config "$TMP/good.json" -lease-duration 10s
expect "mirror: a bad duration names the variable" 2 '' 'invalid value "soon" for SWG_MIRROR_RETRY_PERIOD' \
  -- env SWG_MIRROR_RETRY_PERIOD=soon "$BIN" mirror -clusters-config "$TMP/good.json"
expect "mirror: a lease of part of a second" 2 '' 'invalid value "15500ms" for -lease-duration: a whole number of seconds' \
  -- "$BIN" mirror -clusters-config "$TMP/good.json" -lease-duration 15500ms
expect "check-config -mirror refuses a remote the mirror would not read" 2 '' \
  'mirrored.json: remotes\[0\].peerSource: "mirror" is for agents; the mirror reads "c2" itself' \
  -- "$BIN" check-config -mirror -clusters-config "$TMP/mirrored.json"
cat >"$TMP/mirror2.json" <<'EOF2'
{"local": {"name": "c1"}, "remotes": [
  {"name": "c2", "kubeConfigPath": "/etc/c2", "podSubnet": "10.4.0.0/16"},
  {"name": "c3", "kubeConfigPath": "/etc/c3", "podSubnet": "10.6.0.0/16"}]}
EOF2
expect "check-config -mirror: two remotes on the default port are no conflict (a mirror has no interfaces)" 0 \
  '"name": "c3"' 'remotes\[1\].kubeConfigPath: "/etc/c3" cannot be read' -- "$BIN" check-config -mirror -clusters-config "$TMP/mirror2.json"
expect "check-config: for agents they are" 2 '' 'remotes\[1\].wgListenPort: 51820 \(the default\) is already used by remotes\[0\]' \
  -- "$BIN" check-config -clusters-config "$TMP/mirror2.json"
expect "check-config without -mirror accepts it for agents" 0 '"peerSource": "mirror"' '' \
  -- "$BIN" check-config -clusters-config "$TMP/mirrored.json"
expect "the mirror refuses to start with it, naming the field" 2 '' 'remotes\[0\].peerSource: "mirror" is for agents' \
  -- "$BIN" mirror -clusters-config "$TMP/mirrored.json" -identity m1 -log-format text -control-socket "$TMP/m.sock" -listen-address 127.0.0.1:0

# The commands that need libcurl or netlink run in semaphore-wireguard-worker, found beside the binary.
expect "mesh runs in the worker program beside the binary" 0 'Usage: semaphore-wireguard mesh' '' -- "$BIN" mesh -h
mkdir "$TMP/alone" && cp "$BIN" "$TMP/alone/semaphore-wireguard"
expect "without the worker program beside it, a command that needs it says so" 1 '' \
  "cannot run $TMP/alone/semaphore-wireguard-worker for .mesh.: No such file or directory" \
  -- "$TMP/alone/semaphore-wireguard" mesh -h
expect "... and the daemon does not start, naming the program" 1 '' \
  "cannot use $TMP/alone/semaphore-wireguard-worker as the worker program: No such file or directory" \
  -- "$TMP/alone/semaphore-wireguard" -node-name n1 -clusters-config "$TMP/good.json" -log-format text \
  -control-socket "$TMP/alone/c.sock" -listen-address 127.0.0.1:0 -wg-key-path "$TMP/alone"
printf '#!/bin/sh\n' >"$TMP/alone/script" && chmod +x "$TMP/alone/script"
expect "a worker program that is not a program is refused" 1 '' "$TMP/alone/script as the worker program: not an ELF program" \
  -- "$BIN" -node-name n1 -clusters-config "$TMP/good.json" -log-format text -worker-binary "$TMP/alone/script" \
  -control-socket "$TMP/alone/c.sock" -listen-address 127.0.0.1:0 -wg-key-path "$TMP/alone"
expect "the worker program alone says what it is" 2 '' 'runs the workers of semaphore-wireguard' -- "${BIN}-worker"

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "all passed"
