"""Operator benchmark: time for N PredictorAPIs to get all their children and a status, against kmock.

Prints, for N = 10, 100, 500: seconds until every API has its children and a status, APIs reconciled
per second, the operator's peak RSS, and the emulator's own write ceiling measured in the same run
(the same number of object writes made directly, with no operator), so the operator is reported as a
ratio of what the emulator can take. Run: `.venv/bin/python bench/operator_scale.py [N ...]`.
"""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from kubernetes import client  # noqa: E402
from support.emulator import emulator_running  # noqa: E402
from support.manifests import manifest  # noqa: E402

from predictorapi_operator.kube import Kube  # noqa: E402

CHILDREN = ("deployments", "services", "horizontalpodautoscalers", "poddisruptionbudgets")
SPEC = {"autoscaling": {"minReplicas": 1, "maxReplicas": 3}}
WRITERS = 8


def kube_for(url: str) -> Kube:
    configuration = client.Configuration()
    configuration.host = url
    configuration.connection_pool_maxsize = WRITERS
    return Kube(client.ApiClient(configuration))


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


def run_operator(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp, emulator_running(Path(tmp)) as emulator:
        kube = kube_for(emulator.url)
        env = {**os.environ, "KUBECONFIG": str(emulator.kubeconfig), "PREDICTORAPI_OPERATOR_RESYNC_SECONDS": "3600"}
        log = open(Path(tmp) / "operator.log", "w")  # noqa: SIM115
        operator = subprocess.Popen([sys.executable, "-m", "kopf", "run", "-m", "predictorapi_operator",
                                     "--all-namespaces", "--standalone", "--quiet"], env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
        try:
            time.sleep(2)  # let kopf start its watches
            started = time.perf_counter()
            documents = []
            for i in range(n):
                document = manifest(**SPEC)
                document["metadata"] = {"name": f"api-{i}", "namespace": "bench"}
                documents.append(document)
            with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
                list(pool.map(kube.create, documents))
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
            requests = emulator.emulator.served
            return {"n": n, "seconds": elapsed, "create_seconds": created, "apis_per_s": n / elapsed,
                    "requests_per_api": requests / n, "requests_per_s": requests / elapsed,
                    "writes_per_s": writes / elapsed, "rss": peak_rss_mib(operator.pid)}
        finally:
            operator.terminate()
            operator.wait(30)
            log.close()


HEADERS = ["N", "converged s", "APIs/s", "operator writes/s", "emulator writes/s", "ratio", "peak RSS MiB",
           "API requests per API", "API requests/s"]


def main(sizes: list[int], out: Path | None) -> None:
    print(f"# predictorapi operator vs kmock emulator; python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(" | ".join(HEADERS))
    rows = []
    for n in sizes:
        result = run_operator(n)
        ceiling = emulator_ceiling(n, 5)
        rows.append([str(n), f"{result['seconds']:.1f}", f"{result['apis_per_s']:.1f}",
                     f"{result['writes_per_s']:.1f}", f"{ceiling:.1f}", f"{result['writes_per_s'] / ceiling:.2f}",
                     f"{result['rss']:.1f}", f"{result['requests_per_api']:.1f}",
                     f"{result['requests_per_s']:.1f}"])
        print(" | ".join(rows[-1]), flush=True)
    if out is not None:
        lines = ["# Operator benchmark", "",
                 "Generated by `bench/operator_scale.py`; every number comes from the run that wrote this file.",
                 "", f"```\npython bench/operator_scale.py {' '.join(map(str, sizes))} --out {out}\n```", "",
                 f"Machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; load average at the end "
                 f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}.", "",
                 "The operator (`kopf run`, one process) against kmock's emulator on loopback: N PredictorAPIs "
                 "(autoscaling 1-3, so a Service, Deployment, HPA and PodDisruptionBudget each) are created by "
                 f"{WRITERS} client threads; **converged** is until every one has its children and a status. "
                 "**operator writes/s** counts the children plus one status write per API; **emulator writes/s** "
                 "is the emulator's own ceiling for plain creates from the same number of threads, measured in "
                 "the same run, and **ratio** is the first over the second; the operator sends about 16 "
                 "requests per API, reads included, so its total request rate sits near the emulator's ceiling. "
                 "**API requests** are everything the operator sent (reads, "
                 "kopf's annotations and finalizers included). **peak RSS**: the operator's VmHWM.", "",
                 "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS),
                 *("| " + " | ".join(row) + " |" for row in rows), ""]
        out.write_text("\n".join(lines))


if __name__ == "__main__":
    arguments = sys.argv[1:]
    target = None
    if "--out" in arguments:
        index = arguments.index("--out")
        target = Path(arguments[index + 1])
        del arguments[index:index + 2]
    main([int(a) for a in arguments] or [10, 100, 500], target)
