# A lab of simulated clusters on one machine, for the daemon tests, the end-to-end tests and the demo.
# Source it, then:
#   lab_init DIR ID NET          state in DIR; ID (1-3 chars) names namespaces (swg-ID-*) and veths; NET is the
#                                underlay's /24 prefix, e.g. 192.168.240 (the lab's bridge is NET.1)
#   lab_start_clusters c1,c2 [--apiserver-flag C=--flag...]   real etcd + kube-apiserver per cluster, in the underlay on NET.1
#   lab_credentials CLUSTER      a ServiceAccount with least-privilege RBAC in CLUSTER (nodes get/list/watch/patch,
#                                nodes/status patch)
#                                and a token for it; writes DIR/creds/CLUSTER/{token,kubeconfig}
#   lab_serve_cas                an HTTPS server in the underlay that publishes each cluster's CA (remoteCAURL)
#   lab_add_node CLUSTER NODE POD_CIDR   a node: its own network namespace on the bridge, a pod address on its
#                                loopback, and the Node object (podCIDR, InternalIP) in CLUSTER
#   lab_config NODE MODE_FOR_REMOTE...   writes DIR/NODE/config.json (MODE: kubeconfig | token)
#   lab_start_daemon NODE [args] runs semaphore-wireguard in the node (its own mount namespace for wireguard-go)
#   lab_hand_peer NODE PRIV PEER_PUB PEER_ENDPOINT SUBNET   a WireGuard peer configured by hand in the node
#   lab_stop_daemon NODE [SIG]   lab_cleanup
#   lab_mirror_credentials CLUSTER   the mirror's ServiceAccount and RBAC (deploy/mirror) and a token for it
#   lab_mirror_config CLUSTER REMOTE[=CREDS]...   the clusters config of CLUSTER's mirrors
#   lab_start_mirror NAME CLUSTER [args]   `semaphore-wireguard mirror -identity NAME`, in the underlay namespace
#   lab_stop_mirror NAME [SIG]   lab_mirror_status NAME [args]   lab_mirror_http NAME PATH
#   lab_claim DIR                for labs at a fixed place (the demos): refuses, naming the pid, while another
#                                live run holds DIR, so that a second run does not clean up the first one's lab
# Everything lives in namespaces the lab creates; nothing is configured in the machine's own namespace.

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LAB_BIN="${LAB_BIN:-$LAB_ROOT/build/semaphore-wireguard}"

lab_log() { echo "lab: $*" >&2; }

lab_init() {
  LAB_DIR="$1" LAB_ID="$2" LAB_NET="$3"
  LAB_UL="swg-$LAB_ID-ul"
  mkdir -p "$LAB_DIR/nodes"
  LAB_DIR=$(cd "$LAB_DIR" && pwd)
  printf 'LAB_DIR=%q\nLAB_ID=%q\nLAB_NET=%q\nLAB_UL=%q\n' "$LAB_DIR" "$LAB_ID" "$LAB_NET" "$LAB_UL" >"$LAB_DIR/lab.env"
  echo 10 >"$LAB_DIR/next_host"
  ip netns add "$LAB_UL"
  ip -n "$LAB_UL" link set lo up
  ip -n "$LAB_UL" link add br0 type bridge
  ip -n "$LAB_UL" addr add "$LAB_NET.1/24" dev br0
  ip -n "$LAB_UL" link set br0 up
  # The underlay is a plain L2 segment between the nodes: no forwarding beyond it.
  ip netns exec "$LAB_UL" sysctl -qw net.ipv4.ip_forward=0
  KUBECTL=$("$LAB_ROOT/scripts/build-control-plane" | sed -n 's/^KUBECTL=//p')
}

lab_start_clusters() {
  "$LAB_ROOT/scripts/control-plane" start --dir "$LAB_DIR/cp" --clusters "$1" --netns "$LAB_UL" --address "$LAB_NET.1" "${@:2}"
}

# lab_kubectl CLUSTER args...: as the cluster's admin, from the underlay namespace.
lab_kubectl() {
  local c="$1"
  shift
  ip netns exec "$LAB_UL" "$KUBECTL" --kubeconfig "$LAB_DIR/cp/$c/kubeconfig" "$@"
}

# lab_second_apiserver CLUSTER: another kube-apiserver on the cluster's etcd, at its own port, so that tests
# can change the cluster while its main apiserver (the one the daemons use) is stopped. Sets
# LAB_SECOND_KUBECONFIG; `lab_kubectl CLUSTER-b ...` talks to it.
lab_second_apiserver() {
  local c="$1" d="$LAB_DIR/cp/$1" b="$LAB_DIR/cp/$1-b"
  mkdir -p "$b"
  ln -sfn "$d/pki" "$b/pki"
  cp "$d/tokens.csv" "$d/tokens" "$d/apiserver.flags" "$b/"
  (
    ROOT="$LAB_ROOT"
    # shellcheck source=scripts/control-plane-lib.sh
    source "$LAB_ROOT/scripts/control-plane-lib.sh"
    source "$d/config"
    NETNS="$LAB_UL" free_port port
    sed "s/^API_PORT=.*/API_PORT=$port/; s/^CLUSTER=.*/CLUSTER='$c-b'/" "$d/config" >"$b/config"
    sed "s#:$API_PORT\$#:$port#" "$d/kubeconfig" >"$b/kubeconfig"
    load_binaries
    start_apiserver "$b"
    wait_apiserver "$b"
  )
}

lab_server() { sed -n "s/^SERVER='\(.*\)'$/\1/p" "$LAB_DIR/cp/$1/env"; }

lab_credentials() {
  local c="$1" d="$LAB_DIR/creds/$1"
  mkdir -p "$d"
  lab_kubectl "$c" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ServiceAccount
metadata: {name: semaphore-wireguard, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: semaphore-wireguard}
rules:
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch, patch]
- apiGroups: [""]
  resources: [nodes/status]
  verbs: [patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: semaphore-wireguard}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: semaphore-wireguard}
subjects:
- {kind: ServiceAccount, name: semaphore-wireguard, namespace: kube-system}
YAML
  lab_kubectl "$c" -n kube-system create token semaphore-wireguard --duration=24h >"$d/token"
  lab_token_kubeconfig "$c" "$d" semaphore-wireguard
}

# lab_token_kubeconfig CLUSTER DIR USER: DIR/kubeconfig for CLUSTER with the token in DIR/token.
lab_token_kubeconfig() {
  local c="$1" d="$2" server ca
  server=$(lab_server "$c")
  ca=$(base64 -w0 <"$LAB_DIR/cp/$c/pki/ca.crt")
  cat >"$d/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: $c
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: $3
  user: {tokenFile: "$d/token"}
contexts:
- name: $c
  context: {cluster: $c, user: $3}
current-context: $c
YAML
}

# The agents' Role on the mirror's records in NAMESPACE of CLUSTER, as deploy/base grants it (get, list, watch
# only), bound to the lab's agent account.
lab_agent_records_role() {
  lab_kubectl "$1" apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: semaphore-wireguard, namespace: $2}
rules:
- apiGroups: [wireguard.semaphore.uw.io]
  resources: [wireguardpeers]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: semaphore-wireguard, namespace: $2}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: semaphore-wireguard}
subjects:
- {kind: ServiceAccount, name: semaphore-wireguard, namespace: kube-system}
YAML
}

# lab_mirror_credentials CLUSTER: the mirror's ServiceAccount, Role and RoleBinding as deploy/mirror/rbac.yaml
# has them (records and Leases in namespace semaphore-wireguard, nothing else), and a token for it; writes
# DIR/creds/mirror-CLUSTER/{token,kubeconfig}. The namespace must exist.
lab_mirror_credentials() {
  local c="$1" d="$LAB_DIR/creds/mirror-$1"
  mkdir -p "$d"
  lab_kubectl "$c" -n semaphore-wireguard apply -f - >/dev/null <"$LAB_ROOT/deploy/mirror/rbac.yaml" || return 1
  lab_kubectl "$c" -n semaphore-wireguard create token semaphore-wireguard-mirror --duration=24h >"$d/token" || return 1
  lab_token_kubeconfig "$c" "$d" semaphore-wireguard-mirror
}

# lab_mirror_config CLUSTER REMOTE[=CREDS]...: DIR/mirror-CLUSTER.json, the clusters config that CLUSTER's
# mirrors share (as the replicas of a Deployment share a ConfigMap): the local cluster with the mirror's
# credentials (lab_mirror_credentials), records in namespace semaphore-wireguard, and each remote with the
# reader credentials of cluster CREDS (default: the remote itself, lab_credentials) and its pod subnet from
# LAB_SUBNET_<remote>. Rewriting it changes what mirrors started afterwards do.
lab_mirror_config() {
  local c="$1" r creds subnet remotes=""
  shift
  for r in "$@"; do
    creds="${r#*=}" r="${r%%=*}"
    subnet="LAB_SUBNET_$r"
    remotes+="${remotes:+,}
    {\"name\": \"$r\", \"kubeConfigPath\": \"$LAB_DIR/creds/$creds/kubeconfig\", \"podSubnet\": \"${!subnet}\"}"
  done
  cat >"$LAB_DIR/mirror-$c.json" <<JSON
{"local": {"name": "$c", "kubeConfigPath": "$LAB_DIR/creds/mirror-$c/kubeconfig", "mirrorNamespace": "semaphore-wireguard"},
 "remotes": [$remotes
 ]}
JSON
}

# lab_start_mirror NAME CLUSTER [args]: `semaphore-wireguard mirror -identity NAME` for CLUSTER (its config from
# lab_mirror_config), unprivileged in spirit: no network namespace of its own, it runs in the underlay where the
# apiservers are, in its own session (a kill of its process group is a container's kill). Its HTTP server on
# 127.0.0.1:PORT of the underlay (lab_mirror_port), status via DIR/mirrors/NAME/control.sock, log
# DIR/mirrors/NAME/mirror.log.
lab_start_mirror() {
  local name="$1" c="$2" d="$LAB_DIR/mirrors/$1" port
  shift 2
  mkdir -p "$d"
  if [[ ! -f "$d/port" ]]; then
    port=$(cat "$LAB_DIR/next_mirror_port" 2>/dev/null || echo 7781)
    echo $((port + 1)) >"$LAB_DIR/next_mirror_port"
    echo "$port" >"$d/port"
  fi
  port=$(cat "$d/port")
  ip netns exec "$LAB_UL" setsid "$LAB_BIN" mirror -clusters-config "$LAB_DIR/mirror-$c.json" -identity "$name" \
    -listen-address "127.0.0.1:$port" -control-socket "$d/control.sock" -log-format text "$@" >>"$d/mirror.log" 2>&1 &
  echo $! >"$d/pid"
  disown $!
}

lab_mirror_pid() { cat "$LAB_DIR/mirrors/$1/pid" 2>/dev/null; }
lab_mirror_port() { cat "$LAB_DIR/mirrors/$1/port"; }

# lab_stop_mirror NAME [SIG]: TERM (default) to the mirror, as a Deployment's scale-down or rolling update sends
# it; KILL to its whole process group at once (supervisor and workers), as a container runtime kills a pod.
# Waits for every process of the group to be gone (KILL after 30 s).
lab_stop_mirror() {
  local pid sig="${2:-TERM}" i
  pid=$(lab_mirror_pid "$1")
  [[ -n "$pid" ]] || return 0
  if [[ "$sig" == KILL || "$sig" == 9 ]]; then kill -KILL -- "-$pid" 2>/dev/null; else kill -"$sig" "$pid" 2>/dev/null; fi
  for i in $(seq 300); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null
  rm -f "$LAB_DIR/mirrors/$1/pid"
}

# lab_mirror_status NAME [args]: `semaphore-wireguard status` against the mirror.
lab_mirror_status() {
  local name="$1"
  shift
  "$LAB_BIN" status -control-socket "$LAB_DIR/mirrors/$name/control.sock" "$@"
}

# lab_mirror_http NAME PATH: the body of GET PATH on the mirror's HTTP server (fails on a code other than 200).
lab_mirror_http() {
  ip netns exec "$LAB_UL" curl -sf --max-time 10 "http://127.0.0.1:$(lab_mirror_port "$1")$2"
}

# Publishes DIR/cp/<c>/pki/ca.crt at https://NET.1:PORT/<c>/ca.crt, with a certificate from a lab CA that the
# daemons trust through SSL_CERT_FILE (lab_start_daemon sets it).
lab_serve_cas() {
  local d="$LAB_DIR/caserver"
  mkdir -p "$d/www"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=swg lab CA" -keyout "$d/ca.key" -out "$d/ca.crt" \
    2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$LAB_NET.1" -keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s\n' "$LAB_NET.1" >"$d/ext"
  openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/ext" -out "$d/server.crt" 2>/dev/null
  for c in "$LAB_DIR"/cp/*/; do
    c=$(basename "$c")
    mkdir -p "$d/www/$c"
    cp "$LAB_DIR/cp/$c/pki/ca.crt" "$d/www/$c/ca.crt"
  done
  LAB_CA_PORT=8443
  (cd "$d/www" && exec ip netns exec "$LAB_UL" python3 -c '
import http.server, ssl, sys
srv = http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), http.server.SimpleHTTPRequestHandler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[3], sys.argv[4])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()' "$LAB_NET.1" "$LAB_CA_PORT" "$d/server.crt" "$d/server.key" >"$d/log" 2>&1) &
  echo $! >"$d/pid"
  disown $!
  echo "LAB_CA_PORT=$LAB_CA_PORT" >>"$LAB_DIR/lab.env"
  local i
  for i in $(seq 50); do
    ip netns exec "$LAB_UL" curl -sf --cacert "$d/ca.crt" "https://$LAB_NET.1:$LAB_CA_PORT/" >/dev/null && return 0
    sleep 0.1
  done
  lab_log "the CA server did not start"
  return 1
}

lab_node_ns() { echo "swg-$LAB_ID-$1"; }
lab_node_get() { sed -n "s/^$2=//p" "$LAB_DIR/nodes/$1.env"; }

# lab_add_node CLUSTER NODE POD_CIDR: the pod address is the CIDR's first host (x.y.z.1).
lab_add_node() {
  local c="$1" node="$2" cidr="$3"
  local ns host ip pod veth
  ns=$(lab_node_ns "$node")
  host=$(cat "$LAB_DIR/next_host")
  echo $((host + 1)) >"$LAB_DIR/next_host"
  ip="$LAB_NET.$host"
  pod="${cidr%.0/*}.1"
  veth="s$LAB_ID-$host"
  ip netns add "$ns"
  ip -n "$ns" link set lo up
  ip -n "$LAB_UL" link add "$veth" type veth peer name eth0 netns "$ns"
  ip -n "$LAB_UL" link set "$veth" master br0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  # The pod address lives on the node's loopback (this kernel has no dummy interfaces).
  ip -n "$ns" addr add "$pod/32" dev lo
  # The node's mount namespace, with its own /run/wireguard for wireguard-go's sockets, is held by an anchor
  # process so that it outlives daemon restarts, as the host's mount namespace does on a real node.
  mkdir -p /run/wireguard
  ip netns exec "$ns" unshare --mount --propagation private \
    sh -c 'mount -t tmpfs -o mode=0700 tmpfs /run/wireguard && exec sleep infinity' &
  local anchor=$!
  disown "$anchor"
  printf 'CLUSTER=%s\nNS=%s\nIP=%s\nPOD_CIDR=%s\nPOD_IP=%s\nANCHOR=%s\n' "$c" "$ns" "$ip" "$cidr" "$pod" "$anchor" \
    >"$LAB_DIR/nodes/$node.env"
  local i
  for i in $(seq 50); do
    [[ "$(readlink "/proc/$anchor/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]] &&
      grep -q ' /run/wireguard ' "/proc/$anchor/mounts" 2>/dev/null && break
    sleep 0.05
  done
  lab_kubectl "$c" create -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$node"},
 "spec":{"podCIDR":"$cidr","podCIDRs":["$cidr"]},
 "status":{"addresses":[{"type":"InternalIP","address":"$ip"},{"type":"Hostname","address":"$node"}]}}
JSON
}

# lab_config NODE c2=token c3=kubeconfig c4=mirror ...: the node's config with the given remotes; pod subnets from
# LAB_SUBNET_<cluster> (e.g. LAB_SUBNET_c2=10.4.0.0/16), listen ports 51821, 51822, ...; mirror: the remote's
# nodes from the mirror's records in the local cluster, stale after LAB_MIRROR_STALE_AFTER (default 2m).
lab_config() {
  local node="$1"
  shift
  local c mode remotes="" port=51820 r subnet
  c=$(lab_node_get "$node" CLUSTER)
  for r in "$@"; do
    mode="${r#*=}" r="${r%%=*}"
    port=$((port + 1))
    subnet="LAB_SUBNET_$r"
    local creds
    if [[ "$mode" == mirror ]]; then
      creds="\"peerSource\": \"mirror\", \"mirrorStaleAfter\": \"${LAB_MIRROR_STALE_AFTER:-2m}\""
    elif [[ "$mode" == token ]]; then
      creds="\"remoteAPIURL\": \"$(lab_server "$r")\", \"remoteCAURL\": \"https://$LAB_NET.1:8443/$r/ca.crt\", \"remoteSATokenPath\": \"$LAB_DIR/creds/$r/token\""
    else
      creds="\"kubeConfigPath\": \"$LAB_DIR/creds/$r/kubeconfig\""
    fi
    remotes+="${remotes:+,}
    {\"name\": \"$r\", $creds, \"podSubnet\": \"${!subnet}\", \"wgListenPort\": $port}"
  done
  mkdir -p "$LAB_DIR/$node"
  cat >"$LAB_DIR/$node/config.json" <<JSON
{"local": {"name": "$c", "kubeConfigPath": "$LAB_DIR/creds/$c/kubeconfig"},
 "remotes": [$remotes
 ]}
JSON
}

# Runs the daemon inside the node: its network namespace and its mount namespace (see lab_add_node). Logs to
# DIR/NODE/daemon.log; status via DIR/NODE/control.sock.
lab_start_daemon() {
  local node="$1"
  shift
  local d="$LAB_DIR/$node"
  mkdir -p "$d"
  nsenter -t "$(lab_node_get "$node" ANCHOR)" -n -m env SSL_CERT_FILE="$LAB_DIR/caserver/ca.crt" \
    "$LAB_BIN" -node-name "$node" -clusters-config "$d/config.json" -wg-key-path "$d/keys" \
    -listen-address 127.0.0.1:7773 -control-socket "$d/control.sock" -log-format text "$@" >>"$d/daemon.log" 2>&1 &
  echo $! >"$d/pid"
  disown $!
}

lab_daemon_pid() { cat "$LAB_DIR/$1/pid" 2>/dev/null; }

lab_stop_daemon() {
  local pid
  pid=$(lab_daemon_pid "$1")
  [[ -n "$pid" ]] || return 0
  kill -"${2:-TERM}" "$pid" 2>/dev/null
  local i
  for i in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$LAB_DIR/$1/pid"
}

# lab_hand_peer NODE PRIVATE_KEY PEER_PUBLIC_KEY PEER_ENDPOINT SUBNET: a real WireGuard peer configured by hand
# in NODE, independent of semaphore-wireguard: wireguard-go, interface wgr on port 51820, SUBNET routed to the
# peer at PEER_ENDPOINT (IP:port).
lab_hand_peer() {
  lab_ns_exec "$1" sh -c '
    wireguard-go wgr >/dev/null 2>&1
    (umask 077 && echo "$1" >/tmp/.wgrkey.$$) && wg set wgr private-key /tmp/.wgrkey.$$ listen-port 51820 \
      peer "$2" allowed-ips "$4" endpoint "$3" persistent-keepalive 25; rm -f /tmp/.wgrkey.$$
    ip link set wgr up
    ip route add "$4" dev wgr' sh "$2" "$3" "$4" "$5"
}

# lab_exec NODE cmd...: runs a command inside the node (its network namespace).
lab_exec() {
  local ns
  ns=$(lab_node_ns "$1")
  shift
  ip netns exec "$ns" "$@"
}

# lab_status NODE [args]: `semaphore-wireguard status` against the node's daemon.
lab_status() {
  local node="$1"
  shift
  "$LAB_BIN" status -control-socket "$LAB_DIR/$node/control.sock" "$@"
}

# lab_wg NODE args: `wg` inside the node, in its mount namespace (where wireguard-go's sockets are).
lab_wg() {
  local node="$1"
  shift
  nsenter -t "$(lab_node_get "$node" ANCHOR)" -n -m wg "$@"
}

# lab_ns_exec NODE cmd...: a command in the node's network and mount namespaces.
lab_ns_exec() {
  local node="$1"
  shift
  nsenter -t "$(lab_node_get "$node" ANCHOR)" -n -m "$@"
}

lab_claim() {
  local pid_file="$1.pid" holder
  # The check and the write happen under a short lock whose descriptor closes at once: a lock held for the
  # whole run would be inherited by the lab's daemons and outlive a run that was killed hard.
  {
    flock 9
    holder=$(cat "$pid_file" 2>/dev/null)
    if [[ -n $holder && $holder != "$$" ]] && kill -0 "$holder" 2>/dev/null &&
      tr '\0' ' ' <"/proc/$holder/cmdline" 2>/dev/null | grep -q "$(basename "$0")"; then
      echo "$(basename "$0"): another run (pid $holder) is using $1; stop it first (Ctrl-C there, or kill $holder)" >&2
      return 1
    fi
    echo $$ >"$pid_file"
  } 9>>"$1.lock"
}

lab_cleanup() {
  [[ -n "${LAB_DIR:-}" && -f "$LAB_DIR/lab.env" ]] || return 0
  local f ns n
  # Daemons first, gracefully, then everything left in each node (workers, wireguard-go, anchors).
  for f in "$LAB_DIR"/nodes/*.env; do
    [[ -f "$f" ]] || continue
    n=$(basename "$f" .env)
    lab_stop_daemon "$n" TERM
  done
  for f in "$LAB_DIR"/mirrors/*/pid; do
    [[ -f "$f" ]] || continue
    lab_stop_mirror "$(basename "$(dirname "$f")")" TERM
  done
  for f in "$LAB_DIR"/nodes/*.env; do
    [[ -f "$f" ]] || continue
    ns=$(sed -n 's/^NS=//p' "$f")
    # Everything running in the node: daemons, workers, wireguard-go.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  [[ -f "$LAB_DIR/caserver/pid" ]] && kill "$(cat "$LAB_DIR/caserver/pid")" 2>/dev/null
  "$LAB_ROOT/scripts/control-plane" stop --dir "$LAB_DIR/cp" >/dev/null 2>&1
  ip netns pids "$LAB_UL" 2>/dev/null | xargs -r kill -9 2>/dev/null
  ip netns del "$LAB_UL" 2>/dev/null
  rm -f "$LAB_DIR/lab.env"
}
