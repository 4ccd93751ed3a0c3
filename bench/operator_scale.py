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
        operator = subprocess.Popen([sys.executable, "-m", "kopf", "run", "-m", "predictorapi_operator.handlers",
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


def main(sizes: list[int]) -> None:
    print(f"# predictorapi operator vs kmock emulator; python {sys.version.split()[0]}, {os.cpu_count()} cores")
    print(f"{'N':>5} {'converged s':>12} {'APIs/s':>8} {'op writes/s':>12} {'emu writes/s':>13} "
          f"{'ratio':>6} {'peak RSS MiB':>13} {'API reqs/API':>13} {'API reqs/s':>11}")
    for n in sizes:
        result = run_operator(n)
        ceiling = emulator_ceiling(n, 5)
        print(f"{n:>5} {result['seconds']:>12.1f} {result['apis_per_s']:>8.1f} {result['writes_per_s']:>12.1f} "
              f"{ceiling:>13.1f} {result['writes_per_s'] / ceiling:>6.2f} {result['rss']:>13.1f} "
              f"{result['requests_per_api']:>13.1f} {result['requests_per_s']:>11.1f}", flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [10, 100, 500])
