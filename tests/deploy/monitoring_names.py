#!/usr/bin/env python3
"""Checks that every metric name the monitoring of deploy/monitoring queries (the dashboard's panels and
variables, the PrometheusRule's alerts) is one the daemon exports, as seen in a real scrape, and that every label
they group by, match on or show in a legend is on one of the queried series (or added by the scrape).

usage: monitoring_names.py [--only-prefix P | --skip-prefix P] DEPLOY_MONITORING_DIR SCRAPE_FILE

Some names are exported only in one mode: semaphore_wg_mirror_* only by an agent with a remote in mirror mode.
The daemon test checks its direct-mode scrape with --skip-prefix semaphore_wg_mirror_, and the mirror_agent test
checks a mirror-mode agent's scrape with --only-prefix semaphore_wg_mirror_, so every name is checked by one of
them. A query is checked when one of its names is in scope.
"""
import argparse
import json
import re
import sys

import yaml

PROMQL_FUNCTIONS = {
    "sum", "min", "max", "count", "avg", "rate", "increase", "time", "histogram_quantile", "label_values",
    "by", "without", "and", "or", "unless", "on", "ignoring",
}


# Labels that Prometheus and the PodMonitor's relabeling add to every scraped series.
SCRAPE_LABELS = {"agent_node", "namespace", "pod", "job", "instance", "container", "endpoint_name"}


def exported(scrape):
    """Returns {metric name: set of label names seen on its samples}."""
    names = {}
    for line in scrape.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            name, kind = m.groups()
            names.setdefault(name, set())
            if kind == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    names.setdefault(name + suffix, set())
        elif line and not line.startswith("#"):
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            labels = re.match(r"[^{ ]*(?:\{(.*)\})?", line).group(1) or ""
            names.setdefault(name, set()).update(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="', labels))
    return names


def labels_used(expr, legend=""):
    used = set()
    for group in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr):
        used.update(x.strip() for x in group.split(",") if x.strip())
    for matchers in re.findall(r"\{([^}]*)\}", re.sub(r'"[^"]*"', '""', expr)):
        used.update(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers))
    used.update(re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", legend))
    return used


def queried(expr):
    # Drop strings, label matchers and range selectors, then take the identifiers that are not PromQL words.
    expr = re.sub(r"label_values\(([^,()]+),[^)]*\)", r"\1", expr)  # label_values(METRIC, LABEL)
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    idents = re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr)
    return {i for i in idents if i not in PROMQL_FUNCTIONS and "_" in i and not i.startswith("__")}


def main():
    parser = argparse.ArgumentParser()
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--only-prefix", default="")
    scope.add_argument("--skip-prefix", default="")
    parser.add_argument("directory")
    parser.add_argument("scrape_file")
    args = parser.parse_args()

    def in_scope(name):
        if args.only_prefix:
            return name.startswith(args.only_prefix)
        return not (args.skip_prefix and name.startswith(args.skip_prefix))

    directory = args.directory
    have = exported(open(args.scrape_file).read())
    exprs = []  # (where, expr, legend)
    dashboard = json.load(open(f"{directory}/dashboard.json"))
    for panel in dashboard["panels"]:
        exprs += [(f"dashboard panel '{panel['title']}'", t["expr"], t.get("legendFormat", ""))
                  for t in panel["targets"]]
    for var in dashboard["templating"]["list"]:
        if var.get("type") == "query":
            exprs.append((f"dashboard variable {var['name']}", var["definition"], ""))
    rule = yaml.safe_load(open(f"{directory}/prometheusrule.yaml"))
    for group in rule["spec"]["groups"]:
        exprs += [(f"alert {r['alert']}", r["expr"], "") for r in group["rules"]]
    missing = []
    checked = 0
    for where, expr, legend in exprs:
        names = queried(expr)
        if names and not any(in_scope(n) for n in names):
            continue
        checked += 1
        if not names:
            missing.append(f"{where}: no metric name found in {expr!r}")
        missing += [f"{where}: {n} is not exported by the daemon" for n in sorted(names - have.keys())]
        labels = set(SCRAPE_LABELS) | {"le"}
        for n in names & have.keys():
            labels |= have[n]
        missing += [f"{where}: label {label} is on none of {', '.join(sorted(names))}"
                    for label in sorted(labels_used(expr, legend) - labels)]
    for m in missing:
        print(m)
    print(f"{checked} of {len(exprs)} queries checked against {len(have)} exported names")
    if checked == 0:
        print("no query is in scope: nothing was checked")
        sys.exit(1)
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
