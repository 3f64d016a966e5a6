# Functions for scripts/control-plane (sourced, not run). Per cluster directory D = DIR/<cluster>:
#   D/config          sourced state: CLUSTER NETNS ADDRESS ETCD_PORT ETCD_PEER_PORT API_PORT
#   D/apiserver.flags extra kube-apiserver flags, one a line
#   D/pki/            ca, apiserver serving cert, admin client cert (system:masters), SA signing key
#   D/tokens.csv      static bearer tokens (--token-auth-file)
#   D/etcd/           etcd data; D/*.log process logs; D/*.pid process ids; D/env what tests source
MARKER=.swg-control-plane

die() { echo "control-plane: $*" >&2; exit 1; }
info() { echo "control-plane: $*" >&2; }

load_binaries() {
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      KUBE_APISERVER) KUBE_APISERVER="$value" ;;
      KUBECTL) KUBECTL="$value" ;;
      ETCD) ETCD="$value" ;;
    esac
  done < <("$ROOT/scripts/build-control-plane")
  [[ -x "${KUBE_APISERVER:-}" && -x "${ETCD:-}" ]] || die "scripts/build-control-plane did not give the binaries"
}

# Runs a command in the cluster's network namespace (or here, when there is none).
ns_exec() {
  if [[ -n "${NETNS:-}" ]]; then ip netns exec "$NETNS" "$@"; else "$@"; fi
}

# The prefix that starts a daemon in its own session (and namespace), as a simple command, so that `$!` after
# `"${DAEMON[@]}" prog ... &` is the daemon's own pid (ip netns exec and setsid exec into it).
daemon_prefix() {
  DAEMON=()
  if [[ -n "${NETNS:-}" ]]; then DAEMON=(ip netns exec "$NETNS"); fi
  DAEMON+=(setsid)
}

# free_port VAR: sets VAR to a TCP port that nothing in the namespace uses, that this shell has not handed out
# before (the ports of all clusters are chosen before any of them listens), and that is below the ephemeral
# range, so that no outgoing connection (etcd's own, an apiserver's) can be holding it when the server binds.
CHOSEN_PORTS=" "
free_port() {
  local -n _fp_out="$1"
  local _fp_used _fp_port _fp_i _fp_low
  _fp_low=$(ns_exec cat /proc/sys/net/ipv4/ip_local_port_range | awk '{print $1}')
  ((_fp_low > 21000)) || die "the ephemeral port range starts at $_fp_low; tests need 20000-$((_fp_low - 1)) free"
  _fp_used=" $(ns_exec ss -Htan | awk '{n = split($4, a, ":"); print a[n]}' | sort -u | tr '\n' ' ') "
  for ((_fp_i = 0; _fp_i < 500; _fp_i++)); do
    _fp_port=$((20000 + (RANDOM * 32768 + RANDOM) % (_fp_low - 20000)))
    if [[ "$_fp_used" != *" $_fp_port "* && "$CHOSEN_PORTS" != *" $_fp_port "* ]]; then
      CHOSEN_PORTS+="$_fp_port "
      _fp_out=$_fp_port
      return
    fi
  done
  die "no free port found"
}

random_token() { openssl rand -hex 24; }

# A certificate signed by the cluster CA: sign_cert D NAME SUBJECT EXTENSIONS
sign_cert() {
  local pki="$1/pki" name="$2" subject="$3" ext="$4"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$subject" \
    -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
  printf '%b\n' "$ext" >"$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 3650 \
    -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}

# prepare_cluster DIR NAME NETNS ADDRESS [EXTRA_APISERVER_FLAG...]
prepare_cluster() {
  local dir="$1" c="$2" netns="$3" address="$4"
  shift 4
  local d="$dir/$c"
  rm -rf "$d"
  mkdir -p "$d/pki"
  local pki="$d/pki"
  NETNS="$netns"
  local etcd_port peer_port api_port
  free_port etcd_port && free_port peer_port && free_port api_port
  cat >"$d/config" <<EOF
CLUSTER='$c'
NETNS='$netns'
ADDRESS='$address'
ETCD_PORT=$etcd_port
ETCD_PEER_PORT=$peer_port
API_PORT=$api_port
EOF
  printf '%s\n' "$@" >"$d/apiserver.flags"
  [[ $# -gt 0 ]] || : >"$d/apiserver.flags"

  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=swg-test-ca-$c" -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  local sans="IP:127.0.0.1,DNS:localhost,DNS:apiserver.swg.test,DNS:kubernetes.default.svc,IP:10.0.0.1"
  if [[ "$address" != 127.0.0.1 ]]; then sans+=",IP:$address"; fi
  sign_cert "$d" apiserver "/CN=kube-apiserver" \
    "subjectAltName=$sans\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature,keyEncipherment"
  sign_cert "$d" admin "/O=system:masters/CN=swg-admin" \
    "extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment"
  openssl genrsa -out "$pki/sa.key" 2048 2>/dev/null
  chmod 600 "$pki"/*.key

  local admin_token nobody_token
  admin_token=$(random_token) && nobody_token=$(random_token)
  printf '%s,swg-admin,uid-admin,"system:masters"\n%s,swg-nobody,uid-nobody\n' \
    "$admin_token" "$nobody_token" >"$d/tokens.csv"
  printf "ADMIN_TOKEN='%s'\nNOBODY_TOKEN='%s'\n" "$admin_token" "$nobody_token" >"$d/tokens"

  cat >"$d/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $c
  cluster:
    server: https://$address:$api_port
    certificate-authority: $pki/ca.crt
users:
- name: $c-admin
  user:
    client-certificate: $pki/admin.crt
    client-key: $pki/admin.key
contexts:
- name: $c
  context:
    cluster: $c
    user: $c-admin
current-context: $c
EOF
  write_env "$d"
}

pid_of() { [[ -f "$1" ]] && cat "$1" || true; }

write_env() {
  local d="$1"
  # shellcheck disable=SC1091
  source "$d/config"
  # shellcheck disable=SC1091
  source "$d/tokens"
  cat >"$d/env.tmp" <<EOF
CLUSTER='$CLUSTER'
SERVER='https://$ADDRESS:$API_PORT'
API_ADDRESS='$ADDRESS'
API_PORT='$API_PORT'
CA_FILE='$d/pki/ca.crt'
CA_KEY='$d/pki/ca.key'
ADMIN_TOKEN='$ADMIN_TOKEN'
NOBODY_TOKEN='$NOBODY_TOKEN'
ADMIN_CERT='$d/pki/admin.crt'
ADMIN_KEY='$d/pki/admin.key'
KUBECONFIG='$d/kubeconfig'
ETCD_URL='http://$ADDRESS:$ETCD_PORT'
ETCD_PID='$(pid_of "$d/etcd.pid")'
APISERVER_PID='$(pid_of "$d/apiserver.pid")'
ETCD_LOG='$d/etcd.log'
APISERVER_LOG='$d/apiserver.log'
NETNS='$NETNS'
KUBECTL='${KUBECTL:-}'
EOF
  mv "$d/env.tmp" "$d/env"
}

start_etcd() {
  local d="$1"
  # shellcheck disable=SC1091
  source "$d/config"
  local url="http://$ADDRESS:$ETCD_PORT" peer="http://$ADDRESS:$ETCD_PEER_PORT"
  daemon_prefix
  "${DAEMON[@]}" "$ETCD" --name "$CLUSTER" --data-dir "$d/etcd" \
    --listen-client-urls "$url" --advertise-client-urls "$url" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" --initial-cluster "$CLUSTER=$peer" \
    --unsafe-no-fsync --log-level warn </dev/null >>"$d/etcd.log" 2>&1 &
  echo $! >"$d/etcd.pid"
  write_env "$d"
}

alive() { [[ -n "$1" && -d "/proc/$1" ]] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

wait_etcd() {
  local d="$1" i
  # shellcheck disable=SC1091
  source "$d/config"
  for ((i = 0; i < 300; i++)); do
    if ns_exec curl -s --max-time 2 "http://$ADDRESS:$ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; then
      return
    fi
    alive "$(pid_of "$d/etcd.pid")" || { tail -n 20 "$d/etcd.log" >&2; die "etcd of $CLUSTER exited"; }
    sleep 0.1
  done
  tail -n 20 "$d/etcd.log" >&2
  die "etcd of $CLUSTER not healthy after 30 s"
}

start_apiserver() {
  local d="$1"
  # shellcheck disable=SC1091
  source "$d/config"
  local pki="$d/pki" flags=()
  mapfile -t flags <"$d/apiserver.flags"
  daemon_prefix
  "${DAEMON[@]}" "$KUBE_APISERVER" \
    --etcd-servers="http://$ADDRESS:$ETCD_PORT" \
    --bind-address="$ADDRESS" --advertise-address="$ADDRESS" --secure-port="$API_PORT" \
    --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
    --client-ca-file="$pki/ca.crt" --token-auth-file="$d/tokens.csv" \
    --service-account-issuer="https://$ADDRESS:$API_PORT" \
    --service-account-key-file="$pki/sa.key" --service-account-signing-key-file="$pki/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --authorization-mode=RBAC --endpoint-reconciler-type=none \
    --cert-dir="$pki/generated" --profiling=false \
    "${flags[@]+"${flags[@]}"}" </dev/null >>"$d/apiserver.log" 2>&1 &
  echo $! >"$d/apiserver.pid"
  write_env "$d"
}

wait_apiserver() {
  local d="$1" deadline code
  # shellcheck disable=SC1091
  source "$d/config"
  # shellcheck disable=SC1091
  source "$d/tokens"
  deadline=$((SECONDS + ${SWG_CP_READY_TIMEOUT:-180}))
  while ((SECONDS < deadline)); do
    code=$(ns_exec curl -s -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$d/pki/ca.crt" \
      -H "Authorization: Bearer $ADMIN_TOKEN" "https://$ADDRESS:$API_PORT/readyz" 2>/dev/null || true)
    if [[ "$code" == 200 ]]; then return; fi
    alive "$(pid_of "$d/apiserver.pid")" || { tail -n 30 "$d/apiserver.log" >&2; die "kube-apiserver of $CLUSTER exited"; }
    sleep 0.5
  done
  tail -n 30 "$d/apiserver.log" >&2
  die "kube-apiserver of $CLUSTER not ready after ${SWG_CP_READY_TIMEOUT:-180} s"
}

# Signals a process of ours (its command line names D) and waits for it to go; KILL after 15 s.
stop_process() {
  local d="$1" pidfile="$2" sig="$3" pid i
  pid=$(pid_of "$pidfile")
  rm -f "$pidfile"
  [[ -n "$pid" ]] || return 0
  if ! alive "$pid" || ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$d/"; then return 0; fi
  kill -s "$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  kill -s KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  info "process $pid did not exit"
}

stop_apiserver() {
  local d="$1" sig="${2:-TERM}"
  stop_process "$d" "$d/apiserver.pid" "$sig"
  # shellcheck disable=SC1091
  source "$d/config"
  write_env "$d"
}

# stop_all DIR: stops every process under DIR and removes DIR (only a directory this script made).
stop_all() {
  local dir="$1" d
  if [[ -d "$dir" && ! -e "$dir/$MARKER" ]] && [[ -n "$(ls -A "$dir")" ]]; then
    die "$dir is not empty and was not made by scripts/control-plane; not touching it"
  fi
  for d in "$dir"/*/; do
    d="${d%/}"
    [[ -f "$d/config" ]] || continue
    stop_process "$d" "$d/apiserver.pid" TERM
  done
  for d in "$dir"/*/; do
    d="${d%/}"
    [[ -f "$d/config" ]] || continue
    stop_process "$d" "$d/etcd.pid" TERM
  done
  rm -rf "$dir"
  if [[ "${2:-}" == keep ]]; then mkdir -p "$dir" && : >"$dir/$MARKER"; fi
}
