#!/usr/bin/env python3
"""API server CPU per request of the kinds the operator sends for a new FeedSource.

    scripts/apiserver-write-cost.py KUBECONFIG FEEDSOURCE_JSON [N]

Against a control plane of its own (`../shared/k8s/cluster up DIR`, the CRDs applied, nothing
else running), 16 requests at a time, N (2,000) of each: create, the finalizer's JSON patch, the
status written by server-side apply and by a JSON merge patch, an Event, a GET. Reads the
kube-apiserver's CPU time from /proc before and after each kind (the API server listening on the
kubeconfig's port), and prints milliseconds per request. FEEDSOURCE_JSON is one FeedSource with
a status, e.g. `kubectl get feedsource NAME -o json` of a Ready one. Needs requests and PyYAML.
"""
import base64
import concurrent.futures as cf
import copy
import json
import os
import subprocess
import sys
import tempfile
import time

import requests
import urllib3
import yaml


def session(kubeconfig):
    kc = yaml.safe_load(open(kubeconfig))
    cluster, user = kc["clusters"][0]["cluster"], kc["users"][0]["user"]
    d = tempfile.mkdtemp()

    def pem(name, data):
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    s = requests.Session()
    s.trust_env = False
    # Loopback to a test cluster: the client certificate authenticates, the CA is not checked.
    s.verify = False
    urllib3.disable_warnings()
    s.cert = (pem("cert", user["client-certificate-data"]), pem("key", user["client-key-data"]))
    s.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=16))
    return s, cluster["server"]


def apiserver_pid(server):
    port = server.rsplit(":", 1)[1]
    for pid in subprocess.check_output(["pgrep", "-x", "kube-apiserver"]).split():
        cmdline = open(f"/proc/{int(pid)}/cmdline").read()
        if f"--secure-port={port}" in cmdline:
            return int(pid)
    sys.exit(f"no kube-apiserver with --secure-port={port}")


def main():
    kubeconfig, example = sys.argv[1], json.load(open(sys.argv[2]))
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    s, base = session(kubeconfig)
    pid = apiserver_pid(base)

    def ticks():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    hz = os.sysconf("SC_CLK_TCK")
    ns = "write-cost"
    s.post(f"{base}/api/v1/namespaces", json={"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    col = f"{base}/apis/curator.buun.dev/v1alpha1/namespaces/{ns}/feedsources"
    api_version = example["apiVersion"]

    def run(label, send):
        before, start = ticks(), time.time()
        with cf.ThreadPoolExecutor(16) as ex:
            codes = list(ex.map(send, range(n)))
        cpu = (ticks() - before) / hz
        failed = sum(1 for c in codes if c >= 300)
        print(f"| {label} | {cpu * 1000 / n:.1f} ms | {time.time() - start:.1f} s | {failed} |", flush=True)

    def status(i, round_):
        st = copy.deepcopy(example["status"])
        st["conditions"][0]["message"] = f"schedule {i} matches the spec (round {round_})"
        st["nextRuns"][0] = f"2026-12-0{round_}T14:00:00Z"
        return st

    def apply(round_):
        return lambda i: s.patch(
            f"{col}/f{i:05}/status?fieldManager=curator-operator&force=true",
            data=json.dumps({"apiVersion": api_version, "kind": "FeedSource", "status": status(i, round_)}),
            headers={"Content-Type": "application/apply-patch+yaml"},
        ).status_code

    def merge(round_):
        return lambda i: s.patch(
            f"{col}/f{i:05}/status?fieldManager=curator-operator",
            data=json.dumps({"status": status(i, round_)}),
            headers={"Content-Type": "application/merge-patch+json"},
        ).status_code

    print(f"| request ({n}, 16 at a time) | API server CPU each | wall | failed |")
    print("|---|---|---|---|")
    run("create FeedSource", lambda i: s.post(col, json={
        "apiVersion": api_version, "kind": "FeedSource",
        "metadata": {"name": f"f{i:05}"}, "spec": example["spec"],
    }).status_code)
    run("finalizer (JSON patch)", lambda i: s.patch(
        f"{col}/f{i:05}",
        data=json.dumps([{"op": "add", "path": "/metadata/finalizers", "value": ["curator.buun.dev/schedule"]}]),
        headers={"Content-Type": "application/json-patch+json"},
    ).status_code)
    run("status, server-side apply (first)", apply(1))
    run("status, server-side apply (changed)", apply(2))
    run("status, JSON merge patch (changed)", merge(3))
    run("status, JSON merge patch (changed again)", merge(4))
    run("status, server-side apply (changed again)", apply(5))
    run("create Event", lambda i: s.post(f"{base}/api/v1/namespaces/{ns}/events", json={
        "apiVersion": "v1", "kind": "Event", "metadata": {"generateName": "f."},
        "involvedObject": {"kind": "FeedSource", "namespace": ns, "name": f"f{i:05}"},
        "reason": "ScheduleCreated", "message": "created schedule", "type": "Normal",
        "source": {"component": "curator-operator"},
    }).status_code)
    run("GET FeedSource", lambda i: s.get(f"{col}/f{i:05}").status_code)


if __name__ == "__main__":
    main()
