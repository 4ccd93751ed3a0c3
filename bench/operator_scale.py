"""Operator benchmark: time for N PredictorAPIs to get all their children and a status, against kmock.

Prints, for N = 10, 100, 500: seconds until every API has its children and a status, APIs reconciled
per second, the operator's peak RSS, and the emulator's own write ceiling measured in the same run
(the same number of object writes made directly, with no operator), so the operator is reported as a
ratio of what the emulator can take; and the API requests the operator sent per API, in total and by
verb and resource (the emulator counts every request by user agent, so the benchmark's own creates are
left out, and kopf's watch streams are reported apart). Run: `.venv/bin/python bench/operator_scale.py [N ...]`.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from kubernetes import client  # noqa: E402
from support.emulator import emulator_running  # noqa: E402
from support.manifests import manifest  # noqa: E402

from predictorapi import spec  # noqa: E402
from predictorapi.validation import check_document  # noqa: E402
from predictorapi_operator.builders import BuildOptions, build_children  # noqa: E402
from predictorapi_operator.kube import Kube, with_last_applied  # noqa: E402

CHILDREN = ("deployments", "services", "horizontalpodautoscalers", "poddisruptionbudgets")
SPEC = {"autoscaling": {"minReplicas": 1, "maxReplicas": 3}}
WRITERS = 8


BENCH_AGENT = "predictorapi-bench"
"""The benchmark's own requests (creating the PredictorAPIs) carry this user agent and are not counted."""
KOPF_AGENT = "kopf/"


def kube_for(url: str) -> Kube:
    configuration = client.Configuration()
    configuration.host = url
    configuration.connection_pool_maxsize = WRITERS
    api_client = client.ApiClient(configuration)
    api_client.user_agent = BENCH_AGENT
    return Kube(api_client)


def operator_requests(counts: Counter, before: Counter) -> tuple[Counter, int]:
    """(requests the operator sent since `before` by "verb resource", except its watch streams; the
    watch streams' requests: kopf's lists and watches, one pair per watched resource, not per API)."""
    per_api: Counter = Counter()
    streams = 0
    for (agent, group, resource, verb), count in (counts - before).items():
        if agent == BENCH_AGENT:
            continue
        if agent.startswith(KOPF_AGENT) and verb in ("list", "watch"):
            streams += count
            continue
        per_api[f"{verb} {resource}" + (f".{group}" if group and verb != "discovery" else "")] += count
    return per_api, streams


def wait_for_watches(emulator: Any) -> None:
    """Until kopf has opened its watch of PredictorAPIs (it starts after discovery and the other lists)."""
    deadline = time.monotonic() + 120
    while not any(agent.startswith(KOPF_AGENT) and resource == "predictorapis" and verb == "watch"
                  for agent, _, resource, verb in list(emulator.counts)):
        if time.monotonic() > deadline:
            raise TimeoutError("kopf did not start watching PredictorAPIs")
        time.sleep(0.1)
    time.sleep(1)  # the other watches open at the same time


def settled_requests(emulator: Any, before: Counter) -> tuple[Counter, int]:
    """`operator_requests` once the operator has sent nothing for a second (what a reconcile sends after its
    status is its too), at most 30 s after convergence."""
    last = None
    for _ in range(30):
        now = operator_requests(emulator.counts, before)
        if now == last:
            return now
        last = now
        time.sleep(1)
    return last


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def emulator_ceiling(n: int, writes_per_api: int) -> float:
    """Writes/s the emulator sustains for `n * writes_per_api` creates from WRITERS threads."""
    with tempfile.TemporaryDirectory() as tmp, emulator_running(Path(tmp)) as emulator:
        kube = kube_for(emulator.url)
        objects = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}", "namespace": "bench"},
                    "spec": {"ports": [{"port": 80}]}} for i in range(n * writes_per_api)]
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(kube.create, objects))
        return len(objects) / (time.perf_counter() - started)


def _converge_directly(kube: Kube, document: dict[str, Any], status: dict[str, Any]) -> None:
    """What the emulator must store for one converged API, written by a client that knows it: the
    PredictorAPI, its children (the operator's own builders) and one status."""
    created = kube.create(document)
    api, problems = check_document(document)
    assert api is not None, problems
    owner = {"apiVersion": created["apiVersion"], "kind": created["kind"], "name": created["metadata"]["name"],
             "uid": created["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
    for child in build_children(api, BuildOptions()):
        child["metadata"]["ownerReferences"] = [owner]
        kube.create(with_last_applied(child))
    kube.patch(spec.KIND, "bench", created["metadata"]["name"], {"status": status}, subresource="status")


def same_writes_ceiling(n: int, status: dict[str, Any]) -> float:
    """Writes/s (children + one status per API) of the emulator alone doing what N converged APIs need,
    PredictorAPI creates included, from WRITERS threads: the operator's run does the same writes."""
    with tempfile.TemporaryDirectory() as tmp, emulator_running(Path(tmp)) as emulator:
        kube = kube_for(emulator.url)
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
            list(pool.map(lambda d: _converge_directly(kube, d, status), documents(n)))
        elapsed = time.perf_counter() - started
        return (sum(len(emulator.objects(p)) for p in CHILDREN) + n) / elapsed


def documents(n: int) -> list[dict[str, Any]]:
    """The N PredictorAPIs of a run."""
    out = []
    for i in range(n):
        document = manifest(**SPEC)
        document["metadata"] = {"name": f"api-{i}", "namespace": "bench"}
        out.append(document)
    return out


def run_operator(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, emulator_running(Path(tmp)) as emulator:
        kube = kube_for(emulator.url)
        env = {**os.environ, "KUBECONFIG": str(emulator.kubeconfig), "PREDICTORAPI_OPERATOR_RESYNC_SECONDS": "3600"}
        log = open(Path(tmp) / "operator.log", "w")  # noqa: SIM115
        operator = subprocess.Popen([sys.executable, "-m", "kopf", "run", "-m", "predictorapi_operator.handlers",
                                     "--all-namespaces", "--standalone", "--quiet"], env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
        try:
            wait_for_watches(emulator.emulator)
            before = Counter(emulator.emulator.counts)
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
                list(pool.map(kube.create, documents(n)))
            created = time.perf_counter() - started
            while True:
                done = all(len([o for o in emulator.objects(p)]) >= n for p in CHILDREN)
                if done and sum(bool(o.get("status")) for o in emulator.objects("predictorapis")) >= n:
                    break
                if time.perf_counter() - started > 1800:
                    raise TimeoutError(f"N={n}: not converged in 30 minutes")
                time.sleep(0.25)
            elapsed = time.perf_counter() - started
            writes = sum(len(emulator.objects(p)) for p in CHILDREN) + n  # children + one status each
            per_api, streams = settled_requests(emulator.emulator, before)
            status = emulator.objects("predictorapis")[0]["status"]
            requests = sum(per_api.values())
            return {"n": n, "seconds": elapsed, "create_seconds": created, "apis_per_s": n / elapsed,
                    "requests_per_api": requests / n, "requests_per_s": requests / elapsed,
                    "writes_per_s": writes / elapsed, "rss": peak_rss_mib(operator.pid),
                    "breakdown": {key: count / n for key, count in per_api.most_common()}, "streams": streams,
                    "status": status}
        finally:
            operator.terminate()
            operator.wait(30)
            log.close()


HEADERS = ["N", "converged s", "APIs/s", "operator writes/s", "emulator writes/s (same writes)", "ratio",
           "emulator writes/s (Service creates)", "ratio to Service creates", "peak RSS MiB",
           "API requests per API", "API requests/s", "watch-stream requests"]


def row(result: dict[str, Any], same: float, plain: float) -> list[str]:
    """One line of the table."""
    writes = result["writes_per_s"]
    return [str(result["n"]), f"{result['seconds']:.1f}", f"{result['apis_per_s']:.1f}", f"{writes:.1f}",
            f"{same:.1f}", f"{writes / same:.2f}", f"{plain:.1f}", f"{writes / plain:.2f}", f"{result['rss']:.1f}",
            f"{result['requests_per_api']:.2f}", f"{result['requests_per_s']:.1f}", str(result["streams"])]


def breakdown(results: list[dict[str, Any]]) -> list[str]:
    """Markdown table: requests per API by verb and resource, one column per N."""
    keys = sorted({key for result in results for key in result["breakdown"]},
                  key=lambda key: -max(result["breakdown"].get(key, 0) for result in results))
    header = ["request (verb resource)", *(f"per API, N = {result['n']}" for result in results)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key in keys:
        lines.append("| " + " | ".join([f"`{key}`", *(f"{result['breakdown'].get(key, 0):.2f}" for result in results)])
                     + " |")
    return lines


TEXT = ("The operator (`kopf run`, one process) against kmock's emulator on loopback: N PredictorAPIs "
        "(autoscaling 1-3, so a Service, Deployment, HPA and PodDisruptionBudget each) are created by "
        f"{WRITERS} client threads; **converged** is until every one has its children and a status. **operator"
        " writes/s** counts the children plus one status write per API. **emulator writes/s (same writes)** "
        "is the emulator's own ceiling for this work, measured in the same run: a client that knows the "
        "answer creates the N PredictorAPIs, their children (built by the operator's own builders) and one "
        "status each, from the same number of threads, with nothing else; **ratio** is the first over the "
        "second. The strict emulator admits a Deployment or a PredictorAPI (official schemas, the CRD's CEL "
        "rules) far more slowly than a Service, so the earlier definition, plain Service creates (**emulator "
        "writes/s (Service creates)**, **ratio to Service creates**), is kept beside it for comparison with "
        "earlier runs, but it is not the ceiling of this work. **API requests** are every request the "
        "operator sent from the moment the PredictorAPIs were created until it went quiet (reads, discovery, "
        "kopf's own patches and Events included), counted by the emulator by verb and resource (the table "
        "below); **watch-stream requests** are kopf's lists and watches (one pair per watched resource, not "
        "per API; re-opened watches included), not counted in the per-API figures. **peak RSS**: the "
        "operator's VmHWM. What a reconcile reads (its children, their pods, a Rollout left to hand over "
        "from, the owner of a changed child) comes from kopf's watch-stream indexes, so what is left per API "
        "is its writes: the four creates, one status PATCH, and kopf's finalizer (kopf puts one on every "
        "object a timer runs for: the resync); kopf keeps the last handled spec in memory, not in an "
        "annotation.")


def report(sizes: list[int], out: Path, rows: list[list[str]], results: list[dict[str, Any]]) -> None:
    """Write the Markdown report of one run."""
    lines = ["# Operator benchmark", "",
             "Generated by `bench/operator_scale.py`; every number comes from the run that wrote this file.",
             "", f"```\npython bench/operator_scale.py {' '.join(map(str, sizes))} --out {out}\n```", "",
             f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average at the end "
             f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}.", "", TEXT, "",
             "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS),
             *("| " + " | ".join(r) + " |" for r in rows), "", "Requests per API:", "", *breakdown(results), ""]
    out.write_text("\n".join(lines))


def main(sizes: list[int], out: Path | None) -> None:
    print(f"# predictorapi operator vs kmock emulator; python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(" | ".join(HEADERS))
    rows, results = [], []
    for n in sizes:
        result = run_operator(n)
        same, plain = same_writes_ceiling(n, result["status"]), emulator_ceiling(n, 5)
        results.append(result)
        rows.append(row(result, same, plain))
        print(" | ".join(rows[-1]), flush=True)
        print("  per API: " + ", ".join(f"{key} {count:.2f}" for key, count in result["breakdown"].items()), flush=True)
    if out is not None:
        report(sizes, out, rows, results)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    target = None
    if "--out" in arguments:
        index = arguments.index("--out")
        target = Path(arguments[index + 1])
        del arguments[index:index + 2]
    main([int(a) for a in arguments] or [10, 100, 500], target)
