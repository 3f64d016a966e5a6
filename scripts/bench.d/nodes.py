#!/usr/bin/env python3
"""Remote Node objects shaped like a real kubelet's (about 12 KB of JSON each: labels, addresses, conditions,
capacity, nodeInfo, about 40 images), carrying the annotations that a semaphore-wireguard agent of cluster
`c1` reads. Written as kubectl List files of CHUNK nodes each, so that they can be created in parallel.

usage: nodes.py N OUT_DIR [--first I] [--chunk CHUNK] [--subnet-base B]
  pod CIDRs are /30s in 10.B.0.0/14 (B=4: 10.4.0.0/14), endpoints in 192.168.200-249.x
"""
import argparse
import base64
import hashlib
import json
import os

ZONES = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
IMAGES = ["registry.k8s.io/kube-proxy", "quay.io/prometheus/node-exporter", "docker.io/calico/node",
          "docker.io/calico/cni", "registry.k8s.io/pause", "quay.io/jetstack/cert-manager-controller",
          "docker.io/library/nginx", "docker.io/grafana/grafana", "ghcr.io/utilitywarehouse/semaphore-wireguard",
          "docker.io/fluent/fluent-bit"]
CONDITIONS = [("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
              ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
              ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
              ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
              ("NetworkUnavailable", "False", "CalicoIsUp", "Calico is running on this node")]


def digest(seed):
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def node(i, subnet_base):
    name = f"r{i:05d}"
    ip = f"10.{100 + (i >> 16)}.{(i >> 8) & 255}.{i & 255}"
    cidr = f"10.{subnet_base + (i >> 14)}.{(i >> 6) & 255}.{(i & 63) * 4}/30"
    key = base64.b64encode(os.urandom(32)).decode()
    stamp = "2026-12-01T08:00:00Z"
    images = []
    for j in range(40):
        base = IMAGES[j % len(IMAGES)]
        tag = f"v1.{j}.{i % 7}"
        images.append({"names": [f"{base}@{digest(base + tag)}", f"{base}:{tag}"], "sizeBytes": 10_000_000 + 7919 * j})
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": "m6i.2xlarge",
                "topology.kubernetes.io/region": "eu-west-1", "topology.kubernetes.io/zone": ZONES[i % 3],
                "failure-domain.beta.kubernetes.io/region": "eu-west-1",
                "failure-domain.beta.kubernetes.io/zone": ZONES[i % 3],
                "role": "worker", "team": f"team-{i % 12}", "pool": f"pool-{i % 5}",
                "node.example.com/lifecycle": "on-demand", "node.example.com/generation": "7",
                "burst": "yes" if i < 100 else "no",
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                "projectcalico.org/IPv4Address": f"{ip}/16",
                "projectcalico.org/IPv4IPIPTunnelAddr": f"10.{subnet_base}.{(i >> 6) & 255}.{(i & 63) * 4 + 1}",
                "c1.wireguard.semaphore.uw.io/pubKey": key,
                "c1.wireguard.semaphore.uw.io/endpoint": f"192.168.{200 + i % 50}.{1 + i % 250}:51820",
            },
        },
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr], "providerID": f"aws:///{ZONES[i % 3]}/i-{i:017x}"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name},
                          {"type": "InternalDNS", "address": f"{name}.eu-west-1.compute.internal"}],
            "capacity": {"cpu": "8", "ephemeral-storage": "104845292Ki", "hugepages-1Gi": "0",
                         "hugepages-2Mi": "0", "memory": "32386048Ki", "pods": "110"},
            "allocatable": {"cpu": "7910m", "ephemeral-storage": "95551679124", "hugepages-1Gi": "0",
                            "hugepages-2Mi": "0", "memory": "31369216Ki", "pods": "110"},
            "conditions": [{"type": t, "status": s, "reason": r, "message": m, "lastHeartbeatTime": stamp,
                            "lastTransitionTime": stamp} for t, s, r, m in CONDITIONS],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": hashlib.md5(name.encode()).hexdigest(),
                         "systemUUID": hashlib.md5(("u" + name).encode()).hexdigest(),
                         "bootID": hashlib.md5(("b" + name).encode()).hexdigest(),
                         "kernelVersion": "6.1.0-28-cloud-amd64", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "containerRuntimeVersion": "containerd://1.7.24", "kubeletVersion": "v1.36.3",
                         "kubeProxyVersion": "v1.36.3", "operatingSystem": "linux", "architecture": "amd64"},
            "images": images,
        },
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--subnet-base", type=int, default=4)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    total = 0
    for start in range(a.first, a.first + a.n, a.chunk):
        items = [node(i, a.subnet_base) for i in range(start, min(start + a.chunk, a.first + a.n))]
        text = json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, separators=(",", ":"))
        total += len(text)
        with open(f"{a.out}/nodes-{start:06d}.json", "w") as f:
            f.write(text)
    print(f"{a.n} nodes, {total / a.n / 1024:.1f} KiB of JSON each")


if __name__ == "__main__":
    main()
