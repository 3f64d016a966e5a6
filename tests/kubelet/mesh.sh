# The Kubernetes mesh of tests/kubelet/kubelet_test.sh and `scripts/demo --kubernetes` (source it after
# scripts/kubelet-lab-lib.sh): clusters c1 and c2 with two real kubelet nodes each, semaphore-wireguard
# deployed the way the README tells users, and a test pod on each node's CNI bridge. Optionally c3, a cluster
# with one plain lab node running the binary (scripts/lab-lib.sh), which c1 peers with too: so c1's nodes
# have two remotes and one can fail while the other works. Optionally c1 mirrors c2: deploy/example/c1-mirror,
# the agents with c2 in mirror mode and the mirror's Deployment (only the mirror holds c2's token).
#   mesh_lab DIR ID NET [c3] [mirror]   the lab, the clusters, their controllers, the nodes; the image is built
#                               meanwhile
#   mesh_deploy                 deploy/remote-reader everywhere, the token step, deploy/example/<c> (lab overlay;
#                               c1-mirror for c1 with "mirror")
#   mesh_pods                   a busybox pod "ping-<node>" on every kubelet node; MESH_POD_IP[node]
#   mesh_ping NODE DST_IP       one ping from the test pod on NODE
#   mesh_cleanup                everything, also after a failure
# MESH_PROGRESS, when set, is a command called with a line for each step (the demo prints them).
# Pod subnets as in deploy/example: c1 10.2.0.0/16, c2 10.4.0.0/16; c3 10.6.0.0/16.

declare -A MESH_SUBNET=([c1]=10.2.0.0/16 [c2]=10.4.0.0/16 [c3]=10.6.0.0/16)
declare -A MESH_POD_IP=()
MESH_KNODES=(c1n1 c1n2 c2n1 c2n2)
MESH_C3=0
MESH_MIRROR=0

# Everything, also when a step failed half-way: the image build, the kubelet nodes, the lab.
mesh_cleanup() {
  # Only the shell that built the lab: a child forked just before a signal may run its parent's traps.
  [[ -z "${MESH_MAIN:-}" || $BASHPID == "$MESH_MAIN" ]] || return 0
  local session
  session=$(cat "${KL_DIR:-/nonexistent}/image-build.session" 2>/dev/null)
  [[ -n "$session" ]] && kill -- "-$session" 2>/dev/null
  kl_cleanup
}

mesh_progress() { if [[ -n "${MESH_PROGRESS:-}" ]]; then "$MESH_PROGRESS" "$*"; fi; }
mesh_cluster() { echo "${1:0:2}"; }
mesh_k() { lab_kubectl "$(mesh_cluster "$1")" "${@:2}"; }  # mesh_k NODE args: kubectl on NODE's cluster

mesh_lab() {
  MESH_MAIN=$BASHPID
  local opt
  for opt in "${@:4}"; do
    case "$opt" in
      c3) MESH_C3=1 ;;
      mirror) MESH_MIRROR=1 ;;
      *) lab_log "mesh_lab: unknown option $opt"; return 1 ;;
    esac
  done
  kl_init "$1" "$2" "$3" || return 1
  # The image (deploy/Dockerfile's, made by scripts/build-image) is built while the lab starts, in a session
  # of its own so that mesh_cleanup can stop all of it. Its default name is the one deploy/base pins, so the
  # DaemonSet runs it as it is: the nodes find it in their containerd and pull nothing.
  mesh_progress "building the image with scripts/build-image, in the background"
  setsid "${MESH_BUILD_IMAGE:-$LAB_ROOT/scripts/build-image}" --out "$KL_DIR/image.oci.tar" \
    </dev/null >"$KL_DIR/image.out" 2>"$KL_DIR/image.log" &
  MESH_IMAGE_PID=$!
  echo "$MESH_IMAGE_PID" >"$KL_DIR/image-build.session"
  mesh_progress "starting the control planes (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)"
  local clusters=c1,c2
  ((MESH_C3)) && clusters+=,c3
  kl_start_clusters "$clusters" || return 1
  kl_start_controllers c1 "${MESH_SUBNET[c1]}" scheduler && kl_start_controllers c2 "${MESH_SUBNET[c2]}" scheduler ||
    return 1
  if ((MESH_C3)); then
    # c3's node is a Node object with its podCIDR (lab_add_node); the controller manager makes tokens.
    kl_start_controllers c3 - && lab_credentials c3 && lab_add_node c3 c3n1 10.6.1.0/24 || return 1
  fi
  lab_serve_cas || return 1
  local n
  for n in "${MESH_KNODES[@]}"; do
    mesh_progress "starting node $n of cluster $(mesh_cluster "$n"): network namespace, containerd, kubelet"
    kl_add_node "$(mesh_cluster "$n")" "$n" || return 1
  done
  local waited=0
  # Until it exits (it stays a zombie, which kill -0 still finds, until `wait`).
  while [[ -e "/proc/$MESH_IMAGE_PID" ]] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$MESH_IMAGE_PID/stat" 2>/dev/null; do
    ((waited % 30 == 0)) && mesh_progress "waiting for scripts/build-image (${waited} s so far)"
    sleep 1
    waited=$((waited + 1))
  done
  wait "$MESH_IMAGE_PID" || { tail -n 30 "$KL_DIR/image.log" >&2; lab_log "scripts/build-image failed"; return 1; }
  rm -f "$KL_DIR/image-build.session"
  local archive image
  archive=$(sed -n 's/^IMAGE_ARCHIVE=//p' "$KL_DIR/image.out")
  image=$(sed -n 's/^IMAGE=//p' "$KL_DIR/image.out")
  [[ -f "$archive" ]] || { lab_log "scripts/build-image gave no IMAGE_ARCHIVE"; return 1; }
  mesh_progress "importing $image into every node's containerd"
  for n in "${MESH_KNODES[@]}"; do kl_import "$n" "$archive" || return 1; done
}

# The README's steps, on a copy of deploy/ (tokens never go into the repository) next to a copy of the lab
# overlay, which refers to it as ../../../../deploy.
mesh_deploy() {
  local src="$LAB_DIR/src" ov="$LAB_DIR/src/tests/kubelet/overlay" c
  mkdir -p "$src/tests/kubelet"
  cp -r "$LAB_ROOT/deploy" "$src/"
  cp -r "$LAB_ROOT/tests/kubelet/overlay" "$src/tests/kubelet/"
  local clusters=(c1 c2)
  ((MESH_C3)) && clusters+=(c3)
  mesh_progress "kubectl apply -k deploy/remote-reader on ${clusters[*]}"
  for c in "${clusters[@]}"; do lab_kubectl "$c" apply -k "$src/deploy/remote-reader" >/dev/null || return 1; done
  mesh_progress "copying each cluster's remote-reader token to the clusters that peer with it"
  local c1_example=c1 c1_overlay=c1
  ((MESH_MIRROR)) && c1_example=c1-mirror c1_overlay=c1-mirror
  ((MESH_C3)) && c1_overlay+=-c3
  mesh_token c2 >"$src/deploy/example/$c1_example/tokens/c2-token" &&
    mesh_token c1 >"$src/deploy/example/c2/tokens/c1-token" || return 1
  if ((MESH_C3)); then
    mkdir -p "$ov/$c1_overlay/tokens" "$LAB_DIR/c3n1"
    mesh_token c3 >"$ov/$c1_overlay/tokens/c3-token" && mesh_token c1 >"$LAB_DIR/c3n1/c1-token" || return 1
  fi
  # What only the lab has: its CA server's certificate, the apiserver addresses, the lab's URLs.
  cp "$LAB_DIR/caserver/ca.crt" "$ov/lab/ca.crt"
  local base
  for c in c1 c2; do
    base=$c
    [[ $c == c1 ]] && base=$c1_example
    printf 'KUBERNETES_SERVICE_HOST=%s\nKUBERNETES_SERVICE_PORT=%s\n' "$LAB_NET.1" "$(mesh_api_port "$c")" \
      >"$ov/$base/apiserver.env"
    mesh_lab_config "$src/deploy/example/$base/clusters.json" >"$ov/$base/clusters.json" || return 1
  done
  if ((MESH_MIRROR)); then
    # The mirror's config: c2 only (c3 stays a direct remote of the agents).
    mesh_lab_config "$src/deploy/example/c1-mirror/mirror-clusters.json" no-c3 >"$ov/c1-mirror/mirror-clusters.json" ||
      return 1
    mesh_pod_routes c1 || return 1
  fi
  mesh_progress "kubectl apply -k deploy/example/$c1_example and c2 (through the lab overlay)"
  lab_kubectl c1 apply -k "$ov/$c1_overlay" >/dev/null && lab_kubectl c2 apply -k "$ov/c2" >/dev/null || return 1
  if ((MESH_C3)); then mesh_c3_daemon || return 1; fi
}

mesh_api_port() { sed -n "s/^API_PORT='\(.*\)'$/\1/p" "$LAB_DIR/cp/$1/env"; }

# The README's token step; waits for the controller manager to fill the token Secret in.
mesh_token() {
  local i token
  for i in $(seq 300); do
    token=$(lab_kubectl "$1" -n semaphore-wireguard get secret semaphore-wireguard-remote-reader \
      -o jsonpath='{.data.token}' 2>/dev/null | base64 -d)
    [[ -n "$token" ]] && { echo "$token"; return 0; }
    sleep 0.2
  done
  lab_log "no remote-reader token in $1 after 60 s"
  return 1
}

# mesh_lab_config EXAMPLE_CLUSTERS_JSON [no-c3]: the example's config with the lab's apiserver and CA URLs (not
# for a remote in mirror mode: it has none), and c3 as another remote of c1 when the lab has it (same MTU as the
# example's remote, the next listen port), unless no-c3.
mesh_lab_config() {
  local c3=''
  ((MESH_C3)) && [[ "${2:-}" != no-c3 ]] && c3=$(printf '{"name":"c3","remoteAPIURL":"%s","remoteCAURL":"%s","remoteSATokenPath":"/etc/semaphore-wireguard/tokens/c3","podSubnet":"%s","wgDeviceMTU":1380,"wgListenPort":51822}' \
    "$(lab_server c3)" "https://$LAB_NET.1:$LAB_CA_PORT/c3/ca.crt" "${MESH_SUBNET[c3]}")
  jq --arg c1 "$(lab_server c1)" --arg c2 "$(lab_server c2)" --arg ca "https://$LAB_NET.1:$LAB_CA_PORT" \
    --argjson c3 "${c3:-null}" '
    .remotes |= map(if .peerSource == "mirror" then . else
                      .remoteAPIURL = (if .name == "c1" then $c1 else $c2 end) | .remoteCAURL = "\($ca)/\(.name)/ca.crt"
                    end)
    | if $c3 != null and .local.name == "c1" then .remotes += [$c3] else . end' "$1"
}

# mesh_pod_routes CLUSTER: the underlay routes each node's podCIDR to the node, as a cloud network routes pod
# subnets, so that pods on the CNI bridge (the mirror, which runs without the host network) reach the apiservers
# on the underlay: the lab masquerades nothing. Only in the lab's own underlay namespace.
mesh_pod_routes() {
  local n cidr
  for n in "${MESH_KNODES[@]}"; do
    [[ $(mesh_cluster "$n") == "$1" ]] || continue
    cidr=$(lab_kubectl "$1" get node "$n" -o jsonpath='{.spec.podCIDR}')
    [[ -n "$cidr" ]] || { lab_log "node $n has no podCIDR"; return 1; }
    ip -n "$LAB_UL" route replace "$cidr" via "$(kl_node_get "$n" IP)" || return 1
  done
}

# c3n1 runs the binary in its namespaces (lab_start_daemon), peered with c1 through c1's remote-reader token.
mesh_c3_daemon() {
  cat >"$LAB_DIR/c3n1/config.json" <<JSON
{"local": {"name": "c3", "kubeConfigPath": "$LAB_DIR/creds/c3/kubeconfig"},
 "remotes": [{"name": "c1", "remoteAPIURL": "$(lab_server c1)", "remoteCAURL": "https://$LAB_NET.1:$LAB_CA_PORT/c1/ca.crt",
              "remoteSATokenPath": "$LAB_DIR/c3n1/c1-token", "podSubnet": "${MESH_SUBNET[c1]}", "wgDeviceMTU": 1380,
              "wgListenPort": 51822}]}
JSON
  lab_start_daemon c3n1
}

# A busybox pod on each kubelet node, on the node's CNI bridge (not the host network).
mesh_pods() {
  local n i ip
  for n in "${MESH_KNODES[@]}"; do
    mesh_k "$n" apply -f - >/dev/null <<YAML || return 1
apiVersion: v1
kind: Pod
metadata: {name: ping-$n, namespace: default, labels: {app: ping}}
spec:
  nodeName: $n
  dnsPolicy: Default
  terminationGracePeriodSeconds: 1
  tolerations: [{operator: Exists}]
  containers:
  - {name: ping, image: lab.local/busybox:1, imagePullPolicy: Never, command: [sleep, "1000000"]}
YAML
  done
  for n in "${MESH_KNODES[@]}"; do
    for i in $(seq 600); do
      ip=$(mesh_k "$n" get pod "ping-$n" -o jsonpath='{.status.podIP}' 2>/dev/null)
      [[ -n "$ip" ]] && break
      sleep 0.1
    done
    [[ -n "$ip" ]] || { lab_log "pod ping-$n has no address after 60 s"; return 1; }
    MESH_POD_IP[$n]=$ip
  done
}

mesh_ping() { mesh_k "$1" exec "ping-$1" -- ping -c 1 -W 2 "$2"; }
