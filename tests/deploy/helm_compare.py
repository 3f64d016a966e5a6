#!/usr/bin/env python3
"""helm_compare.py KUSTOMIZE.yaml HELM.yaml: the same objects, field for field (normalized JSON), once the
labels only Helm adds are removed from the chart's objects (metadata and pod template). Prints every other
difference (a missing or extra object, a field that differs, with its path) and exits 1 if there is any."""
import json
import sys

import yaml

HELM_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/instance",
               "app.kubernetes.io/version"}


def load(path, strip):
    objs = {}
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        meta = doc.get("metadata", {})
        key = f'{doc.get("kind")} {meta.get("namespace", "-")}/{meta.get("name")}'
        if key in objs:
            print(f"{path}: {key} twice")
            sys.exit(1)
        if strip:
            for m in (meta, doc.get("spec", {}).get("template", {}).get("metadata", {})):
                labels = m.get("labels")
                if labels is None:
                    continue
                for label in HELM_LABELS:
                    labels.pop(label, None)
                if not labels:
                    del m["labels"]
        objs[key] = json.loads(json.dumps(doc, sort_keys=True))
    return objs


def diff(a, b, path, out):
    if type(a) is not type(b):
        out.append(f"{path}: {json.dumps(a)} (kustomize) != {json.dumps(b)} (helm)")
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in b:
                out.append(f"{path}.{k}: only in kustomize: {json.dumps(a[k])[:200]}")
            elif k not in a:
                out.append(f"{path}.{k}: only in helm: {json.dumps(b[k])[:200]}")
            else:
                diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items (kustomize) != {len(b)} (helm)")
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: {json.dumps(a)[:200]} (kustomize) != {json.dumps(b)[:200]} (helm)")


def main():
    kust, helm = load(sys.argv[1], False), load(sys.argv[2], True)
    out = [f"{k}: only in kustomize" for k in sorted(set(kust) - set(helm))]
    out += [f"{k}: only in helm" for k in sorted(set(helm) - set(kust))]
    for k in sorted(set(kust) & set(helm)):
        diff(kust[k], helm[k], k, out)
    print("\n".join(out) if out else f"{len(kust)} objects, the same")
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
