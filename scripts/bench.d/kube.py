#!/usr/bin/env python3
"""The benchmark's own apiserver clients, run inside the lab's underlay namespace with the admin token:

  kube.py churn ENV_FILE RATE SECONDS N  status-only updates (a condition's heartbeat) of random nodes r00000..
                                          r(N-1) at RATE a second for SECONDS; prints the number sent

ENV_FILE is a cluster's env file from scripts/control-plane (SERVER, CA_FILE, ADMIN_TOKEN).
"""
import http.client
import json
import random
import ssl
import sys
import time
import urllib.parse


def connect(env_file):
    env = {}
    for line in open(env_file):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            env[k] = v.strip("'")
    url = urllib.parse.urlparse(env["SERVER"])
    ctx = ssl.create_default_context(cafile=env["CA_FILE"])
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=60)
    headers = {"Authorization": "Bearer " + env["ADMIN_TOKEN"], "Accept": "application/json"}
    return conn, headers


def churn(env_file, rate, seconds, n):
    conn, headers = connect(env_file)
    headers = dict(headers, **{"Content-Type": "application/strategic-merge-patch+json"})
    sent = 0
    start = time.monotonic()
    total = int(rate * seconds)
    rng = random.Random(7)
    for i in range(total):
        due = start + i / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        name = f"r{rng.randrange(n):05d}"
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        patch = {"status": {"conditions": [{"type": "Ready", "status": "True", "lastHeartbeatTime": stamp}]}}
        conn.request("PATCH", f"/api/v1/nodes/{name}/status", body=json.dumps(patch), headers=headers)
        resp = conn.getresponse()
        resp.read()
        if resp.status != 200:
            sys.exit(f"kube.py: PATCH {name}/status: HTTP {resp.status}")
        sent += 1
    print(sent)


if __name__ == "__main__":
    if sys.argv[1] == "churn":
        churn(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    else:
        sys.exit(__doc__)
