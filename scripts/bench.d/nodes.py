#!/usr/bin/env python3
# N small Node objects with the annotations of cluster c1, as scripts/bench makes them.
import base64, json, os, sys
n = int(sys.argv[1])
items = []
for i in range(n):
    key = base64.b64encode(os.urandom(32)).decode()
    cidr = f"10.{4 + (i >> 14)}.{(i >> 6) & 255}.{(i & 63) * 4}/30"
    items.append({"apiVersion": "v1", "kind": "Node",
                  "metadata": {"name": f"r{i:05d}", "labels": {"burst": "yes" if i < 100 else "no"},
                               "annotations": {"c1.wireguard.semaphore.uw.io/pubKey": key,
                                               "c1.wireguard.semaphore.uw.io/endpoint": f"192.168.{200 + i % 50}.{1 + i % 250}:51820"}},
                  "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}})
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
