# Real kubelets on the lab of scripts/lab-lib.sh (which this sources): a node is a network namespace on the
# lab's underlay with its own mount and UTS namespaces, running containerd and a kubelet; each cluster gets a
# kube-controller-manager (service accounts and their tokens, the DaemonSet controller, node IPAM) and, when
# asked, a kube-scheduler. No registry: images are OCI archives imported into each node's containerd.
#   kl_init DIR ID NET               lab_init, the binaries, the pause and busybox images (lab.local/busybox:1)
#   kl_start_clusters c1,c2          apiservers (lab_start_clusters) that reach kubelets; kubelets may register
#   kl_start_controllers CLUSTER POD_SUBNET|- [scheduler]   controller manager (node IPAM unless "-")
#   kl_add_node CLUSTER NODE         a kubelet node; returns once the Node is Ready
#   kl_import NODE ARCHIVE           an OCI image archive into the node's containerd
#   kl_node_exec NODE cmd...         a command in the node's network, mount and UTS namespaces
#   kl_cleanup                       every node (by cgroup and mount-namespace membership), controllers, lab_cleanup
# What a node sees as /var/lib, /var/log and /run is its own directory: kubelet, containerd, CNI state, pod
# logs and hostPath volumes (/var/lib/semaphore-wireguard) never touch the machine's, and nothing is created
# outside the lab's directory but cgroups named swg-ID-NODE, which kl_cleanup removes.

# shellcheck source=scripts/lab-lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lab-lib.sh"

# The cgroup v1 hierarchies a kubelet wants its cgroupRoot in (cgroupfs driver on this hybrid host).
KL_CGROUPS=$(awk '$3 == "cgroup" {print $2}' /proc/self/mounts | xargs -rn1 basename | tr '\n' ' ')

kl_init() {
  lab_init "$1" "$2" "$3" || return 1
  KL_DIR="$LAB_DIR/kubelet"
  mkdir -p "$KL_DIR/img"
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      KUBELET) KL_KUBELET="$value" ;;
      KUBE_CONTROLLER_MANAGER) KL_KCM="$value" ;;
      KUBE_SCHEDULER) KL_SCHEDULER="$value" ;;
    esac
  done < <("$LAB_ROOT/scripts/build-control-plane")
  [[ -x "${KL_KUBELET:-}" && -x "${KL_KCM:-}" && -x "${KL_SCHEDULER:-}" ]] ||
    { lab_log "scripts/build-control-plane gave no kubelet, kube-controller-manager or kube-scheduler"; return 1; }
  # kubectl's discovery cache goes to the lab, not to ~/.kube.
  export KUBECACHEDIR="$LAB_DIR/kube-cache"
  kl_base_images
  # containerd writes each node's CNI config from this, with the podCIDR the kubelet passes. No ipMasq: pod
  # traffic to other clusters leaves through wireguard.<remote> with the pod's own address (the interface has
  # none to masquerade to), and the remote cluster sees who sent it.
  cat >"$KL_DIR/cni-template.json" <<'JSON'
{"cniVersion": "0.4.0", "name": "swg-lab", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "{{.PodCIDR}}"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
JSON
}

# kl_oci_archive ROOTFS REF ENTRYPOINT_JSON OUT: a one-layer OCI image layout in a tar, which
# `ctr images import` names REF (from the io.containerd.image.name annotation).
kl_oci_archive() {
  local rootfs="$1" ref="$2" entrypoint="$3" out="$4" w layer config manifest
  w=$(mktemp -d "$KL_DIR/oci.XXXXXX")
  mkdir -p "$w/blobs/sha256"
  tar -C "$rootfs" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$w/layer" .
  layer=$(kl_blob "$w" layer)
  printf '{"architecture":"amd64","os":"linux","config":{"Entrypoint":%s,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$entrypoint" "${layer% *}" >"$w/config"
  config=$(kl_blob "$w" config)
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "${config% *}" "${config#* }" "${layer% *}" "${layer#* }" >"$w/manifest"
  manifest=$(kl_blob "$w" manifest)
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"io.containerd.image.name":"%s","org.opencontainers.image.ref.name":"%s"}}]}' \
    "${manifest% *}" "${manifest#* }" "$ref" "${ref##*:}" >"$w/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' >"$w/oci-layout"
  tar -C "$w" -cf "$out" oci-layout index.json blobs
  rm -rf "$w"
}
# kl_blob DIR FILE: moves DIR/FILE to DIR/blobs/sha256/<digest>; prints "digest size".
kl_blob() {
  local digest size
  digest=$(sha256sum "$1/$2" | cut -d' ' -f1)
  size=$(stat -c %s "$1/$2")
  mv "$1/$2" "$1/blobs/sha256/$digest"
  echo "$digest $size"
}

# The sandbox ("pause") image, a static program that sleeps and reaps, and a busybox image for test pods.
kl_base_images() {
  local w="$KL_DIR/img"
  mkdir -p "$w/pause/rootfs" "$w/busybox/rootfs"/{bin,etc,proc,sys,dev,tmp}
  cat >"$w/pause/pause.c" <<'C'
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void Stop(int sig) { (void)sig; _exit(0); }
static void Reap(int sig) { (void)sig; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction stop = {.sa_handler = Stop}, reap = {.sa_handler = Reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGTERM, &stop, 0);
  sigaction(SIGINT, &stop, 0);
  sigaction(SIGCHLD, &reap, 0);
  for (;;) pause();
}
C
  gcc -O2 -static -s -o "$w/pause/rootfs/pause" "$w/pause/pause.c" || return 1
  kl_oci_archive "$w/pause/rootfs" lab.local/pause:1 '["/pause"]' "$w/pause.tar"
  cp /bin/busybox "$w/busybox/rootfs/bin/busybox"
  local a
  for a in $(/bin/busybox --list); do [[ "$a" == busybox ]] || ln -sf busybox "$w/busybox/rootfs/bin/$a"; done
  echo 'root:x:0:0:root:/root:/bin/sh' >"$w/busybox/rootfs/etc/passwd"
  echo 'root:x:0:' >"$w/busybox/rootfs/etc/group"
  kl_oci_archive "$w/busybox/rootfs" lab.local/busybox:1 '["/bin/sh"]' "$w/busybox.tar"
}

# kl_start_clusters c1,c2,...: the apiservers reach kubelets at their InternalIP with the admin client
# certificate (its path is known before the start), and kubelets' client certificates (group system:nodes)
# get the node role: these apiservers run RBAC only, without the Node authorizer.
kl_start_clusters() {
  local c flags=()
  for c in ${1//,/ }; do
    flags+=(--apiserver-flag "$c=--kubelet-client-certificate=$LAB_DIR/cp/$c/pki/admin.crt"
      --apiserver-flag "$c=--kubelet-client-key=$LAB_DIR/cp/$c/pki/admin.key"
      --apiserver-flag "$c=--kubelet-preferred-address-types=InternalIP")
  done
  lab_start_clusters "$1" "${flags[@]}" || return 1
  for c in ${1//,/ }; do
    lab_kubectl "$c" create clusterrolebinding swg-lab-nodes --clusterrole=system:node --group=system:nodes \
      >/dev/null || return 1
  done
}

# kl_start_controllers CLUSTER POD_SUBNET|- [scheduler]: in the underlay, next to the apiserver, without
# serving ports (so that clusters do not clash). With a subnet, nodes get a /24 of it as their podCIDR.
kl_start_controllers() {
  local c="$1" d="$LAB_DIR/cp/$1" ipam=()
  [[ "$2" != - ]] && ipam=(--allocate-node-cidrs=true "--cluster-cidr=$2" --node-cidr-mask-size=24)
  ip netns exec "$LAB_UL" setsid "$KL_KCM" --kubeconfig "$d/kubeconfig" --leader-elect=false --secure-port=0 \
    --cluster-name="$c" --service-cluster-ip-range=10.0.0.0/24 "${ipam[@]}" --root-ca-file="$d/pki/ca.crt" \
    --service-account-private-key-file="$d/pki/sa.key" --flex-volume-plugin-dir="$KL_DIR/flexvolume" \
    </dev/null >"$KL_DIR/kcm-$c.log" 2>&1 &
  echo $! >"$KL_DIR/kcm-$c.pid"
  if [[ "${3:-}" == scheduler ]]; then
    ip netns exec "$LAB_UL" setsid "$KL_SCHEDULER" --kubeconfig "$d/kubeconfig" --leader-elect=false \
      --secure-port=0 </dev/null >"$KL_DIR/scheduler-$c.log" 2>&1 &
    echo $! >"$KL_DIR/scheduler-$c.pid"
  fi
  # Pods can be created once the service account controller made "default" (about a second).
  local i
  for i in $(seq 600); do
    lab_kubectl "$c" -n default get serviceaccount default >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  lab_log "kube-controller-manager of $c made no default service account in 60 s"
  tail -n 20 "$KL_DIR/kcm-$c.log" >&2
  return 1
}

kl_node_dir() { echo "$KL_DIR/$1"; }
kl_node_get() { sed -n "s/^$2=//p" "$KL_DIR/$1/node.env"; }
kl_node_exec() {
  local anchor
  anchor=$(kl_node_get "$1" ANCHOR)
  shift
  nsenter -t "$anchor" -n -m -u "$@"
}
kl_import() { kl_node_exec "$1" ctr -n k8s.io images import "$2" >/dev/null; }

# kl_add_node CLUSTER NODE: see kubelet-lab.md for why each setting is there.
kl_add_node() {
  local c="$1" n="$2" d="$KL_DIR/$2" host ip ns veth x
  ns=$(lab_node_ns "$n")
  host=$(cat "$LAB_DIR/next_host")
  echo $((host + 1)) >"$LAB_DIR/next_host"
  ip="$LAB_NET.$host" veth="s$LAB_ID-$host"
  mkdir -p "$d"/{var-lib,var-log,cni,sysctl,pki}
  printf 'CLUSTER=%s\nNS=%s\nIP=%s\nCGROUP=swg-%s-%s\n' "$c" "$ns" "$ip" "$LAB_ID" "$n" >"$d/node.env"
  ip netns add "$ns" || return 1
  ip -n "$ns" link set lo up
  ip -n "$LAB_UL" link add "$veth" type veth peer name eth0 netns "$ns"
  ip -n "$LAB_UL" link set "$veth" master br0 up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  # A node routes for its pods; strict reverse-path filtering, as many distributions set it, must not drop
  # the traffic of remote pods arriving on wireguard.<remote>.
  ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
  # One cgroupRoot per node: kubelets that share one remove each other's pod cgroups.
  for x in $KL_CGROUPS; do mkdir -p "/sys/fs/cgroup/$x/swg-$LAB_ID-$n"; done
  cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/swg-$LAB_ID-$n/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/swg-$LAB_ID-$n/cpuset.mems"
  # The kubelet sets these host-wide sysctls; in the node they are files of the lab, bind-mounted over /proc/sys.
  local sysctls="vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1
    kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000" s binds=""
  for s in $sysctls; do
    mkdir -p "$d/sysctl/$(dirname "${s%=*}")"
    echo "${s#*=}" >"$d/sysctl/${s%=*}"
    binds+="mount --bind $d/sysctl/${s%=*} /proc/sys/${s%=*}; "
  done
  # The anchor holds the node's mount and UTS namespaces, in a session of its own (a Ctrl-C of the demo must not
  # end it before the teardown). nsenter --net, not `ip netns exec`, which remounts /sys and hides the cgroup
  # hierarchies from the kubelet and runc.
  setsid nsenter --net="/run/netns/$ns" unshare --mount --uts --propagation private sh -ec "
    hostname $n
    mount --bind $d/var-lib /var/lib
    mount --bind $d/var-log /var/log
    mount -t tmpfs -o mode=0755 tmpfs /run
    $binds
    touch $d/anchored
    exec sleep infinity" </dev/null >"$d/anchor.log" 2>&1 &
  local anchor=$! i
  disown "$anchor"
  echo "ANCHOR=$anchor" >>"$d/node.env"
  for i in $(seq 100); do [[ -f "$d/anchored" ]] && break; sleep 0.05; done
  [[ -f "$d/anchored" ]] || { cat "$d/anchor.log" >&2; return 1; }
  echo "MNT=$(stat -L -c %i "/proc/$anchor/ns/mnt")" >>"$d/node.env"  # the inode of its mount namespace
  kl_containerd "$n" && kl_kubeconfig "$c" "$n" && kl_kubelet "$c" "$n" || return 1
  for i in $(seq 600); do
    [[ $(lab_kubectl "$c" get node "$n" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' \
      2>/dev/null) == True ]] && return 0
    sleep 0.1
  done
  lab_log "node $n is not Ready after 60 s"
  tail -n 20 "$d/kubelet.log" >&2
  return 1
}

kl_containerd() {
  local n="$1" d="$KL_DIR/$1" i
  # restrict_oom_score_adj: this machine's bounding set lacks CAP_SYS_RESOURCE, so runc cannot set the
  # negative oom_score_adj the CRI asks for sandboxes.
  cat >"$d/containerd.toml" <<TOML
version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "/var/lib/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "lab.local/pause:1"
  stream_server_address = "127.0.0.1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$d/cni"
    conf_template = "$KL_DIR/cni-template.json"
TOML
  kl_node_exec "$n" setsid containerd --config "$d/containerd.toml" </dev/null >"$d/containerd.log" 2>&1 &
  echo $! >"$d/containerd.pid"
  for i in $(seq 100); do
    kl_node_exec "$n" ctr version >/dev/null 2>&1 && break
    sleep 0.1
  done
  kl_import "$n" "$KL_DIR/img/pause.tar" && kl_import "$n" "$KL_DIR/img/busybox.tar"
}

# The kubelet's client certificate: CN system:node:NODE in group system:nodes, from the cluster's CA.
kl_kubeconfig() {
  local c="$1" n="$2" d="$KL_DIR/$2" pki="$LAB_DIR/cp/$1/pki"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/O=system:nodes/CN=system:node:$n" \
    -keyout "$d/pki/kubelet.key" -out "$d/pki/kubelet.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$d/pki/ext"
  openssl x509 -req -in "$d/pki/kubelet.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile "$d/pki/ext" -out "$d/pki/kubelet.crt" 2>/dev/null || return 1
  cat >"$d/kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: $c
  cluster: {server: "$(lab_server "$c")", certificate-authority: "$pki/ca.crt"}
users:
- name: $n
  user: {client-certificate: "$d/pki/kubelet.crt", client-key: "$d/pki/kubelet.key"}
contexts:
- name: $c
  context: {cluster: $c, user: $n}
current-context: $c
YAML
}

kl_kubelet() {
  local c="$1" n="$2" d="$KL_DIR/$2"
  # failCgroupV1: this host is cgroup v1. oomScoreAdj 0: see restrict_oom_score_adj. No eviction and no image
  # garbage collection: the lab shares the machine's disk, and an image removed here cannot be pulled again.
  # Only clients with a certificate from the cluster CA (the apiserver) may use the kubelet's API.
  cat >"$d/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /$(kl_node_get "$n" CGROUP)
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
address: $(kl_node_get "$n" IP)
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: $LAB_DIR/cp/$c/pki/ca.crt}
authorization: {mode: AlwaysAllow}
failSwapOn: false
oomScoreAdj: 0
evictionHard: {memory.available: "0%", nodefs.available: "0%", imagefs.available: "0%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
volumePluginDir: /var/lib/kubelet/volume-plugins
YAML
  kl_node_exec "$n" setsid "$KL_KUBELET" --config "$d/kubelet.yaml" --kubeconfig "$d/kubeconfig" \
    --hostname-override "$n" --node-ip "$(kl_node_get "$n" IP)" --root-dir /var/lib/kubelet \
    </dev/null >"$d/kubelet.log" 2>&1 &
  echo $! >"$d/kubelet.pid"
}

# kl_ours PIDFILE: the pid in it, if that process is still one of the lab's (its command line names the lab's
# directory), so that a stale pid file never leads to another process.
kl_ours() {
  local pid
  pid=$(cat "$1" 2>/dev/null)
  [[ -n "$pid" ]] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$LAB_DIR/" && echo "$pid"
}

# The processes of a node: those in its mount namespace (kubelet, containerd, the shims) and those in its
# cgroups (containers: runc gives them namespaces of their own, and they outlive containerd and their shim).
# The namespace is known by its inode, which the kernel reuses once the namespace is gone: it is used only while
# the anchor, the namespace's first process, is alive, and the anchor is killed last.
kl_node_pids() {
  local n="$1" mnt anchor cg x
  mnt=$(kl_node_get "$n" MNT) anchor=$(kl_node_get "$n" ANCHOR) cg=$(kl_node_get "$n" CGROUP)
  if [[ -n "$mnt" && $(stat -L -c %i "/proc/$anchor/ns/mnt" 2>/dev/null) == "$mnt" ]]; then
    # One stat for every process: a readlink per process takes seconds on a busy machine.
    stat -L -c '%i %n' /proc/[0-9]*/ns/mnt 2>/dev/null |
      awk -v mnt="$mnt" -v anchor="$anchor" '$1 == mnt {split($2, a, "/"); if (a[3] != anchor) print a[3]}'
  fi
  for x in $KL_CGROUPS; do
    [[ -d "/sys/fs/cgroup/$x/$cg" ]] && find "/sys/fs/cgroup/$x/$cg" -name cgroup.procs -exec cat {} + 2>/dev/null
  done
  kl_ours "$KL_DIR/$n/kubelet.pid"
  kl_ours "$KL_DIR/$n/containerd.pid"
  return 0
}

# A subshell without errexit: a kill of a process that has just exited must not stop the teardown.
kl_node_down() (
  set +e
  local n="$1" i x cg pids anchor
  cg=$(kl_node_get "$n" CGROUP) anchor=$(kl_node_get "$n" ANCHOR)
  # Nothing of a node is kept: everything is killed at once, containers included; the anchor last.
  for i in $(seq 20); do
    pids=$(kl_node_pids "$n" | sort -u)
    [[ -z "$pids" ]] && break
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null
    sleep 0.2
  done
  [[ $(stat -L -c %i "/proc/$anchor/ns/mnt" 2>/dev/null) == "$(kl_node_get "$n" MNT)" ]] && kill -9 "$anchor"
  # Mounts go with the mount namespace. Cgroups (runc also makes them in the cgroup2 hierarchy) are removed
  # leaves first, again while the last processes are being reaped.
  for i in $(seq 20); do
    for x in $KL_CGROUPS unified; do
      [[ -d "/sys/fs/cgroup/$x/$cg" ]] && find "/sys/fs/cgroup/$x/$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    compgen -G "/sys/fs/cgroup/*/$cg" >/dev/null || break
    sleep 0.2
  done
  ip netns del "$(kl_node_get "$n" NS)" 2>/dev/null
  rm -f "$KL_DIR/$n/node.env"
  return 0
)

# Every node at once, the controllers, then the rest of the lab (lab_cleanup).
kl_cleanup() (
  set +e
  [[ -n "${LAB_DIR:-}" && -f "$LAB_DIR/lab.env" ]] || return 0
  KL_DIR="$LAB_DIR/kubelet"
  local f p
  for f in "$KL_DIR"/*/node.env; do [[ -f "$f" ]] && kl_node_down "$(basename "$(dirname "$f")")" & done
  wait
  for p in "$KL_DIR"/*.pid; do
    [[ -f "$p" ]] || continue
    kill "$(kl_ours "$p")" 2>/dev/null
    rm -f "$p"
  done
  lab_cleanup
  return 0
)
