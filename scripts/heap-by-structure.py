#!/usr/bin/env python3
"""Live heap by structure, from a dhat profile of the operator (`--features heap-profile`).

    scripts/heap-by-structure.py dhat-heap.json [--at end|peak] [--others N]

Each allocation site's bytes (live at the snapshot, `end`, or at the global peak, `peak`) go to
the first structure whose pattern matches a frame of its call stack; the rest is "other", whose
largest sites are listed with --others. Prints a Markdown table.
"""
import json
import sys
from collections import defaultdict

# (structure, every pattern must appear somewhere in the call stack), first match wins.
RULES = [
    ("FeedSource cache (reflector store, watch)", ["FeedSource", "watcher"]),
    ("CuratorWorker caches (two reflector stores)", ["CuratorWorker", "watcher"]),
    ("Deployment/PDB watches (metadata)", ["PartialObjectMeta"]),
    ("event recorder cache (kube-runtime)", ["events::Recorder"]),
    ("schedule listing cache", ["list_all"]),
    ("schedule listing cache", ["feedsource::listing::listed"]),
    ("schedule listing cache", ["TtlCache"]),
    ("per-FeedSource maps (verified, created)", ["feedsource::context"]),
    ("backoff", ["backoff"]),
    ("metrics", ["prometheus_client"]),
    ("controller queues (kube-runtime scheduler, runner)", ["kube_runtime::controller"]),
    ("controller queues (kube-runtime scheduler, runner)", ["kube_runtime::scheduler"]),
    ("watch streams (kube-runtime watcher, other)", ["kube_runtime::watcher"]),
    ("Temporal connections (tonic, h2)", ["tonic"]),
    ("Kubernetes client (hyper connections, TLS)", ["hyper"]),
    ("Kubernetes client (hyper connections, TLS)", ["rustls"]),
    ("HTTP/2 (h2)", ["h2::"]),
    ("tokio runtime", ["tokio::"]),
    # Last: every reconcile runs inside a tracing span (`Instrumented`), so "tracing" is in the
    # stack of nearly everything allocated while reconciling.
    ("tracing (spans, and what reconciles allocate that no rule above names)", ["tracing"]),
]


def main():
    args = sys.argv[1:]
    path = args[0]
    at = "end"
    others = 0
    if "--at" in args:
        at = args[args.index("--at") + 1]
    if "--others" in args:
        others = int(args[args.index("--others") + 1])
    key = {"end": "eb", "peak": "gb"}[at]
    d = json.load(open(path))
    frames = d["ftbl"]
    by = defaultdict(int)
    rest = []
    for pp in d["pps"]:
        b = pp.get(key, 0)
        if not b:
            continue
        stack = [frames[i] for i in pp["fs"]]
        text = "\n".join(stack)
        for name, pats in RULES:
            if all(p in text for p in pats):
                by[name] += b
                break
        else:
            by["other"] += b
            rest.append((b, stack))
    total = sum(by.values())
    print(f"| structure | live bytes ({at}) | share |")
    print("|---|---|---|")
    for name, b in sorted(by.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {b / 1048576:.1f} MiB | {100 * b / max(total, 1):.0f}% |")
    print(f"| **total** | **{total / 1048576:.1f} MiB** | |")
    for b, stack in sorted(rest, key=lambda r: -r[0])[:others]:
        print(f"\n{b / 1048576:.2f} MiB")
        for f in stack[:14]:
            print("   ", f[:160])


if __name__ == "__main__":
    main()
