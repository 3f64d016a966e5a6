# Helpers for the runs that put the daemon in the qemu VM (scripts/vm-run) against apiservers on this host.
# Source it.

# vm_kubeconfigs CP_DIR OUT_DIR CLUSTER...: an admin kubeconfig per cluster started by scripts/control-plane
# under CP_DIR, written to OUT_DIR/CLUSTER.kubeconfig for use inside the VM: there the host's loopback is
# 10.0.2.2 (qemu's user network), and the apiserver certificates name localhost.
vm_kubeconfigs() {
  local cp="$1" out="$2" c
  shift 2
  mkdir -p "$out"
  for c in "$@"; do
    (
      # shellcheck disable=SC1090
      source "$cp/$c/env"
      cat >"$out/$c.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: $c
  cluster: {server: "https://10.0.2.2:$API_PORT", tls-server-name: localhost, certificate-authority-data: "$(base64 -w0 <"$CA_FILE")"}
users:
- name: admin
  user: {token: "$ADMIN_TOKEN"}
contexts:
- name: $c
  context: {cluster: $c, user: admin}
current-context: $c
YAML
    )
  done
}

# vm_kubectl CP_DIR CLUSTER args...: kubectl ($KUBECTL) as the admin of a cluster started under CP_DIR.
vm_kubectl() {
  local cp="$1" c="$2"
  shift 2
  "$KUBECTL" --kubeconfig "$cp/$c/kubeconfig" "$@"
}

# vm_node CP_DIR CLUSTER NAME POD_CIDR INTERNAL_IP ANNOTATIONS_JSON: creates a Node object.
vm_node() {
  vm_kubectl "$1" "$2" create -f - >/dev/null <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$3","annotations":$6},
 "spec":{"podCIDR":"$4","podCIDRs":["$4"]},"status":{"addresses":[{"type":"InternalIP","address":"$5"}]}}
JSON
}
