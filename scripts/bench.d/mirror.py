#!/usr/bin/env python3
"""Helpers of scripts/bench --agents (scripts/bench.d/mirror.sh): apiserver metrics, agents' logs, the clock.

  mirror.py scrape ENV_FILE OUT          the apiserver's /metrics (admin token) into OUT (run it in the lab's underlay)
  mirror.py sum FILE NAME [LABEL=V|LABEL!=V ...]
                                          the sum of NAME's samples whose labels match (prints a number)
  mirror.py insync TIMEOUT_S START_MS LOG:OFFSET...
                                          waits until each LOG has, after byte OFFSET, the worker's "in sync with
                                          the remote cluster" line; prints "ms_from_START peers" per LOG (in order)
  mirror.py endpoints ENV_FILE LIST GAP_MS PORT_BASE LOG...
                                          one endpoint change at a time for each "node key" line of LIST (PATCH of
                                          the node's c1.../endpoint annotation over one kept-alive connection, each
                                          GAP_MS after the last one reached every LOG); prints per change
                                          "answered_ms endpoint ms_LOG1 ms_LOG2 ..." (ms from the PATCH sent to
                                          the "peer updated" line of that peer and endpoint in each agent's log)
  mirror.py stats FILE                   "p50 p99 max n" of the numbers in FILE (whitespace separated)
  mirror.py report FIGURES JSON          the table of scripts/bench --agents from its "key<TAB>value" lines; JSON=1
                                          adds them as one JSON line

ENV_FILE is a cluster's env file from scripts/control-plane (SERVER, CA_FILE, ADMIN_TOKEN).
"""
import json
import re
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import kube  # noqa: E402  (scripts/bench.d/kube.py: the connection and the timed PATCH, shared with scripts/bench)

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def connect(env_file):
    return kube.connect(env_file, user_agent="swg-bench")


def scrape(env_file, out):
    conn, headers = connect(env_file)
    conn.request("GET", "/metrics", headers=dict(headers, Accept="text/plain"))
    resp = conn.getresponse()
    body = resp.read()
    if resp.status != 200:
        sys.exit(f"mirror.py: GET /metrics: HTTP {resp.status}")
    with open(out, "wb") as f:
        f.write(body)


def metric_sum(path, name, filters):
    want = []
    for f in filters:
        neg = "!=" in f
        k, v = f.split("!=" if neg else "=", 1)
        want.append((k, v, neg))
    total = 0.0
    for line in open(path):
        m = SAMPLE.match(line)
        if not m or m.group(1) != name:
            continue
        labels = dict(LABEL.findall(m.group(2) or ""))
        if all((labels.get(k) != v) if neg else (labels.get(k) == v) for k, v, neg in want):
            total += float(m.group(3))
    return total


def stamp_ms(line):
    return datetime.fromisoformat(line.split(" ", 1)[0].replace("Z", "+00:00")).timestamp() * 1000


class Tail:
    """Reads a log's complete lines from an offset on."""

    def __init__(self, path, offset=0):
        self.path, self.offset = path, offset

    def lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self.offset += end
        return data[:end].decode(errors="replace").splitlines()


def insync(timeout_s, start_ms, specs):
    tails = []
    for s in specs:
        path, off = s.rsplit(":", 1)
        tails.append(Tail(path, int(off)))
    found = [None] * len(tails)
    deadline = time.monotonic() + timeout_s
    while None in found:
        for i, t in enumerate(tails):
            if found[i] is not None:
                continue
            for line in t.lines():
                if "in sync with the remote cluster" in line:
                    m = re.search(r"\bpeers=(\d+)", line)
                    found[i] = (stamp_ms(line) - start_ms, int(m.group(1)) if m else -1)
                    break
        if None in found:
            if time.monotonic() > deadline:
                missing = [tails[i].path for i, f in enumerate(found) if f is None]
                sys.exit(f"mirror.py: not in sync within {timeout_s} s: {' '.join(missing[:5])}")
            time.sleep(0.05)
    for ms, peers in found:
        print(f"{ms:.0f} {peers}")


def endpoints(env_file, list_file, gap_ms, port_base, logs):
    conn, headers = connect(env_file)
    headers = dict(headers, **{"Content-Type": "application/merge-patch+json"})
    conn.connect()  # the TLS handshake is not part of what is measured
    tails = [Tail(p) for p in logs]
    for t in tails:  # only lines written from now on
        t.lines()
    for i, line in enumerate(open(list_file), start=1):
        node, key = line.split()
        endpoint = f"192.168.251.{i}:{port_base + i}"
        want = f'peer="{key}" endpoint={endpoint}'
        want_bare = f"peer={key} endpoint={endpoint}"
        time.sleep(gap_ms / 1000)
        sent, answered = kube.patch_endpoint(conn, headers, node, endpoint, "mirror.py")
        at = [None] * len(tails)
        deadline = time.monotonic() + 60
        while None in at:
            for j, t in enumerate(tails):
                if at[j] is not None:
                    continue
                for ln in t.lines():
                    if "peer updated" in ln and (want in ln or want_bare in ln):
                        at[j] = stamp_ms(ln)
                        break
            if None in at:
                if time.monotonic() > deadline:
                    late = [logs[j] for j, a in enumerate(at) if a is None]
                    sys.exit(f"mirror.py: the endpoint change of {node} did not reach {len(late)} agent(s) "
                             f"within 60 s, e.g. {late[0]}")
                time.sleep(0.005)
        print(f"{answered - sent:.0f} {endpoint} " + " ".join(f"{a - sent:.0f}" for a in at), flush=True)


def stats(path):
    xs = sorted(float(x) for x in open(path).read().split())
    if not xs:
        sys.exit("mirror.py: no numbers")

    def pct(p):  # nearest rank
        return xs[max(0, min(len(xs) - 1, -(-p * len(xs) // 100) - 1))]

    print(f"{pct(50):.0f} {pct(99):.0f} {xs[-1]:.0f} {len(xs)}")


def human(b):
    b = float(b)
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b:.0f} B"


def report(path, want_json):
    fig = {}
    for line in open(path):
        k, _, v = line.rstrip("\n").partition("\t")
        try:
            fig[k] = int(v)
        except ValueError:
            try:
                fig[k] = float(v)
            except ValueError:
                fig[k] = v
    cfg = {k[4:]: v for k, v in fig.items() if k.startswith("cfg.")}
    a, u, c = cfg["agents"], cfg["status_updates"], cfg["endpoint_changes"]
    mirror = not cfg["direct_only"]
    d = lambda k: fig.get("direct." + k)
    m = lambda k: fig.get("mirror." + k)

    def ratio(x, y):
        if x is None or y is None or not isinstance(x, (int, float)) or not isinstance(y, (int, float)):
            return "", None
        if x == 0:
            return ("0" if y == 0 else "inf"), None
        return f"{y / x:.3g}", y / x

    rows, goals, why = [], {}, []

    def row(name, dv, mv, r="", goal="", met=None, key=None, reason=""):
        mark = "" if met is None else ("yes" if met else "NO")
        rows.append((name, dv, mv, r, goal, mark))
        if key and met is not None:
            goals[key] = met
            if not met:
                why.append(f"{name}: {reason}")

    have = lambda k: mirror and m(k) is not None
    # 1. watches
    r, _ = ratio(d("watches"), m("watches"))
    row("Node watches c2 holds for c1", f"{d('watches')}", f"{m('watches')}" if have("watches") else "-", r,
        "1, whatever the agents", m("watches") == 1 if have("watches") else None, "watches",
        f"{m('watches')} watches on c2's nodes beyond the baseline while the mirror phase ran (the standby, or "
        "agents still watching c2?)")
    # 2. bytes c2 sends for U status-only updates
    limit = d("status_c2_bytes") / (0.8 * a) if d("status_c2_bytes") else 0
    r, _ = ratio(d("status_c2_bytes"), m("status_c2_bytes"))
    met = have("status_c2_bytes") and m("status_c2_bytes") <= limit and m("status_c2_events") <= u
    row(f"bytes c2 sends for {u} status-only Node updates",
        f"{human(d('status_c2_bytes'))} ({d('status_c2_events')} events)",
        f"{human(m('status_c2_bytes'))} ({m('status_c2_events')} events)" if have("status_c2_bytes") else "-", r,
        f"one copy each, <= 1/{0.8 * a:g} of direct ({human(limit)})", met if mirror else None, "status_c2_bytes",
        f"{m('status_c2_events')} watch events for {u} updates, {human(m('status_c2_bytes') or 0)}")
    b = lambda k: fig.get("base." + k)
    row("  the same with no agent in c1 (subtracted above)", f"{human(b('status_c2_bytes'))} ({b('status_c2_events')} events)",
        "")
    # 3. requests to c2 when every agent restarts at once
    r, _ = ratio(d("restart_c2_requests"), m("restart_c2_requests"))
    row("requests to c2, all agents restart at once",
        f"{d('restart_c2_requests')} ({human(d('restart_c2_bytes'))} answered)",
        f"{m('restart_c2_requests')} ({human(m('restart_c2_bytes'))} answered)" if have("restart_c2_requests") else "-",
        r, "0", m("restart_c2_requests") == 0 if have("restart_c2_requests") else None, "restart_c2_requests",
        f"{m('restart_c2_reads')} reads and {m('restart_c2_watches')} new watches of c2's nodes during the restart "
        f"({m('restart_c2_all')} requests to c2 in all, the apiserver's own and the remote agents' included)")
    row("  requests to c1 for the records, the same restart", f"{d('restart_c1_requests')}",
        f"{m('restart_c1_requests')} ({human(m('restart_c1_bytes'))} answered)" if have("restart_c1_requests") else "-")
    # 4. bytes to each agent per peer change
    r, _ = ratio(d("change_bytes_per_event"), m("change_bytes_per_event"))
    row("bytes sent to each agent per peer change", f"{d('change_bytes_per_event')} B (c2, a Node's metadata)",
        f"{m('change_bytes_per_event')} B (c1, a record)" if have("change_bytes_per_event") else "-", r,
        "<= 1 KB (1024 B)", m("change_bytes_per_event") <= 1024 if have("change_bytes_per_event") else None,
        "change_bytes", f"{m('change_events')} record events for {c} changes x {a} agents, "
        f"{human(m('change_bytes') or 0)}")
    # 5. bytes c1 sends per status-only update
    row("bytes c1 sends per status-only update",
        f"{d('status_c2_bytes') / u:.0f} B (from c2 instead)",
        f"{m('status_c1_bytes') / u:.0f} B ({m('status_c1_events')} events)" if have("status_c1_bytes") else "-", "",
        "0", m("status_c1_bytes") == 0 if have("status_c1_bytes") else None, "status_c1_bytes",
        f"{m('status_c1_events')} record events during the updates; {m('status_writes')} writes to the records")
    # 6. start
    r, rv = ratio(d("start1_ms"), m("start1_ms"))
    row("agent start to all peers on its device (alone, median of 5)",
        f"{d('start1_ms')} ms ({d('start1_min')}..{d('start1_max')})",
        f"{m('start1_ms')} ms ({m('start1_min')}..{m('start1_max')})" if have("start1_ms") else "-",
        r, "<= 1/2 of direct", (rv <= 0.5) if have("start1_ms") else None, "start",
        f"{m('start1_ms')} ms against {d('start1_ms')} ms in direct mode: reading {cfg['nodes']} records instead of {cfg['nodes']} Nodes "
        "saves the transfer and parsing, not the part both modes share (the device's peers set in wireguard-go, the "
        "interface, the process start); see the restart at once below for where the saving shows")
    r, _ = ratio(d("startall_p50"), m("startall_p50"))
    row(f"  the other {a - 1} started at once, p50 / max", f"{d('startall_p50')} / {d('startall_max')} ms",
        f"{m('startall_p50')} / {m('startall_max')} ms" if have("startall_p50") else "-", r)
    r, _ = ratio(d("restart_p50"), m("restart_p50"))
    row(f"  all {a} restarted at once, p50 / max", f"{d('restart_p50')} / {d('restart_max')} ms",
        f"{m('restart_p50')} / {m('restart_max')} ms" if have("restart_p50") else "-", r)
    # 7. endpoint changes
    r, _ = ratio(d("ep_p50"), m("ep_p50"))
    met = have("ep_p50") and m("ep_p50") <= 150 and m("ep_p99") <= 500
    row(f"endpoint change to every agent ({c} x {a}), p50 / p99",
        f"{d('ep_p50')} / {d('ep_p99')} ms (max {d('ep_max')})",
        f"{m('ep_p50')} / {m('ep_p99')} ms (max {m('ep_max')})" if have("ep_p50") else "-", r,
        "p50 <= 150 ms, p99 <= 500 ms", met if mirror else None, "endpoint",
        f"p50 {m('ep_p50')} ms, p99 {m('ep_p99')} ms (the PATCH itself answered in p50 {m('ep_answered_p50')} ms)")
    row("  the PATCH answered (their floor), p50", f"{d('ep_answered_p50')} ms",
        f"{m('ep_answered_p50')} ms" if have("ep_answered_p50") else "-")
    # 8. failover
    met = have("failover_ms") and m("failover_ms") <= 20000 and m("failover_removed") == 0 and m("failover_agents_short") == 0
    row("leader failover (kill -9 of the holder's processes)", "-",
        f"{m('failover_ms') / 1000:.1f} s (Lease {m('failover_lease_ms') / 1000:.1f} s), {m('failover_removed')} peers removed"
        if have("failover_ms") else "-", "", "<= 20 s, no peer removed", met if mirror else None, "failover",
        f"{m('failover_ms')} ms to the new leader's marker, {m('failover_removed')} peers removed, "
        f"{m('failover_agents_short')} agents short of peers after it")
    # 9. mirror RSS
    if have("rss_big_worker_kib"):
        row(f"mirror RSS with {cfg['rss_nodes']} remote nodes", "-",
            f"worker {m('rss_big_worker_kib') / 1024:.1f} MiB (anon {m('rss_big_worker_anon_kib') / 1024:.1f}), "
            f"supervisor {m('rss_big_sup_kib') / 1024:.1f} MiB", "", "<= 25 MB a remote",
            m("rss_big_worker_kib") * 1024 <= 25e6, "mirror_rss",
            f"the worker of c2 holds {m('rss_big_worker_kib')} KiB")
    else:
        row("mirror RSS with 5000 remote nodes", "-", "not measured (--mirror-rss-nodes 5000)", "", "<= 25 MB a remote")
    if have("rss_worker_kib"):
        row(f"  mirror RSS with {cfg['nodes'] + cfg['remote_agents']} remote nodes", "-",
            f"worker {m('rss_worker_kib') / 1024:.1f} MiB, supervisor {m('rss_sup_kib') / 1024:.1f} MiB")
    if have("first_sync_ms"):
        row("  mirror's first complete sync", "-",
            f"{m('first_sync_ms')} ms, {m('records')} records, {m('first_sync_c1_writes')} creates (records and marker)")
    row("agent's worker RSS (one agent)", f"{(d('worker_rss_kib') or 0) / 1024:.1f} MiB",
        f"{(m('worker_rss_kib') or 0) / 1024:.1f} MiB" if have("worker_rss_kib") else "-")
    row(f"host, {a} agents running: RSS agents / wireguard-go", f"{d('rss_agents_mib')} / {d('rss_wggo_mib')} MiB",
        f"{m('rss_agents_mib')} / {m('rss_wggo_mib')} MiB" if have("rss_agents_mib") else "-")
    row("  CPU (of one core) when idle: agents / wireguard-go", f"{d('idle_cpu_agents_pct')} / {d('idle_cpu_wggo_pct')} %",
        f"{m('idle_cpu_agents_pct')} / {m('idle_cpu_wggo_pct')} %" if have("idle_cpu_agents_pct") else "-")

    print()
    print(f"semaphore-wireguard benchmark, direct and mirror mode: {a} agents in c1 (wireguard-go each), c2 with "
          f"{cfg['nodes']} simulated nodes ({cfg['node_kib']} KiB of JSON each) + {cfg['remote_agents']} real agents, "
          f"{cfg['cpus']} CPUs")
    widths = [max(len(r[i]) for r in rows + [("figure", "direct", "mirror", "ratio", "goal (mirror)", "met?")])
              for i in range(6)]
    for r in [("figure", "direct", "mirror", "ratio", "goal (mirror)", "met?")] + rows:
        print("  " + " | ".join(r[i].ljust(widths[i]) for i in range(6)).rstrip())
    if mirror:
        met = sum(goals.values())
        print(f"goals met: {met} of {len(goals)}")
        for w in why:
            print(f"  not met: {w}")
    if want_json:
        out = {"agents": a, "nodes": cfg["nodes"], "remote_agents": cfg["remote_agents"],
               "status_updates": u, "endpoint_changes": c, "rss_nodes": cfg["rss_nodes"],
               "direct": {k[7:]: v for k, v in fig.items() if k.startswith("direct.")},
               "mirror": {k[7:]: v for k, v in fig.items() if k.startswith("mirror.")},
               "baseline": {k[5:]: v for k, v in fig.items() if k.startswith("base.")}, "goals_met": goals}
        print(json.dumps(out, separators=(",", ":"), sort_keys=True))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "scrape":
        scrape(args[0], args[1])
    elif cmd == "sum":
        v = metric_sum(args[0], args[1], args[2:])
        print(int(v) if v == int(v) else f"{v:.3f}")
    elif cmd == "insync":
        insync(float(args[0]), float(args[1]), args[2:])
    elif cmd == "endpoints":
        endpoints(args[0], args[1], float(args[2]), int(args[3]), args[4:])
    elif cmd == "stats":
        stats(args[0])
    elif cmd == "report":
        report(args[0], args[1] == "1")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
