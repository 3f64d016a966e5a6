#!/usr/bin/env python3
"""The benchmark's own apiserver clients, run inside the lab's underlay namespace with the admin token:

  kube.py churn ENV_FILE RATE SECONDS N  status-only updates (a condition's heartbeat) of random nodes r00000..
                                          r(N-1) at RATE a second for SECONDS; prints the number sent

  kube.py endpoints ENV_FILE LOG LIST GAP_MS PORT_BASE
                                          one endpoint change at a time for each "node key" line of LIST, over one
                                          kept-alive connection, each sent GAP_MS after the last one was applied:
                                          PATCH sent, PATCH answered, and the timestamp of the daemon's "peer
                                          updated" line for it in LOG; prints "ms_to_device ms_to_answer endpoint"
                                          per change (ms from the PATCH sent; ports from PORT_BASE + 1)

ENV_FILE is a cluster's env file from scripts/control-plane (SERVER, CA_FILE, ADMIN_TOKEN).
"""
import http.client
import json
import random
import ssl
import sys
import time
import urllib.parse
from datetime import datetime


def connect(env_file, user_agent=None):
    env = {}
    for line in open(env_file):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            env[k] = v.strip("'")
    url = urllib.parse.urlparse(env["SERVER"])
    ctx = ssl.create_default_context(cafile=env["CA_FILE"])
    conn = http.client.HTTPSConnection(url.hostname, url.port, context=ctx, timeout=60)
    headers = {"Authorization": "Bearer " + env["ADMIN_TOKEN"], "Accept": "application/json"}
    if user_agent:
        headers["User-Agent"] = user_agent
    return conn, headers


def patch_endpoint(conn, headers, node, endpoint, who):
    """PATCHes NODE's c1 endpoint annotation on a kept-alive connection: (ms when sent, ms when answered)."""
    patch = {"metadata": {"annotations": {"c1.wireguard.semaphore.uw.io/endpoint": endpoint}}}
    sent = time.time() * 1000
    conn.request("PATCH", f"/api/v1/nodes/{node}", body=json.dumps(patch), headers=headers)
    resp = conn.getresponse()
    resp.read()
    answered = time.time() * 1000
    if resp.status != 200:
        sys.exit(f"{who}: PATCH {node}: HTTP {resp.status}")
    return sent, answered


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


def applied_at(log, offset, key, endpoint):
    """Scans LOG from `offset` for the daemon's line applying `endpoint` to `key`: (ms since the epoch, offset)."""
    want = f'peer="{key}" endpoint={endpoint}'
    with open(log, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1  # a line still being written is read again next time
    for line in data[:end].decode(errors="replace").splitlines():
        if "peer updated" in line and want in line:
            stamp = datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00"))
            return stamp.timestamp() * 1000, offset + end
    return None, offset + end


def endpoints(env_file, log, list_file, gap_ms, port_base):
    conn, headers = connect(env_file)
    headers = dict(headers, **{"Content-Type": "application/merge-patch+json"})
    conn.connect()  # the TLS handshake is not part of what is measured
    offset = 0
    for i, line in enumerate(open(list_file), start=1):
        node, key = line.split()
        endpoint = f"192.168.250.{i}:{port_base + i}"
        time.sleep(gap_ms / 1000)
        sent, answered = patch_endpoint(conn, headers, node, endpoint, "kube.py")
        deadline = time.monotonic() + 60
        while True:
            at, offset = applied_at(log, offset, key, endpoint)
            if at is not None:
                break
            if time.monotonic() > deadline:
                sys.exit(f"kube.py: the endpoint change of {node} was not applied within 60 s")
            time.sleep(0.005)
        print(f"{at - sent:.0f} {answered - sent:.0f} {endpoint}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "churn":
        churn(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] == "endpoints":
        endpoints(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]), int(sys.argv[6]))
    else:
        sys.exit(__doc__)
