"""End to end: the real runtime scraped by a real Prometheus that loads the shipped rules.

Four APIs run under `predictorapi serve` on loopback: `e2e` (a slow or failing predictor,
maxConcurrency 8, maxQueueLength 2), `batched` (server-side batching), `parked` (`minReplicas: 0`: the
activator, which started its runtime for one request) and `many` (`spec.models` on a loopback S3, caches of
one version: its runtime and its model store, scraped as the ServiceMonitor's two endpoints would be). A real
`prometheus` scrapes them every second with the `namespace`/`pod` target labels a ServiceMonitor adds, plus a
stand-in for kube-state-metrics (a static exposition of the Deployment/HPA series its dashboard panels read).
The test then asks Prometheus' HTTP API exactly what prometheus-adapter, the recording rules and Grafana
would ask.
"""

from __future__ import annotations

import math
import re
import subprocess
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import yaml
from observability.queries import (
    RULES_FILE,
    adapter_rules,
    dashboard_panel_queries,
    dashboard_variable_queries,
    substitute_adapter,
)
from support.processes import CLI, free_port, running
from support.s3 import s3_server

NAMESPACE = "models"
API, BATCHED, ZERO, MANY = "e2e", "batched", "parked", "many"
POD, BATCHED_POD = f"{API}-5d8c7b9f4-abcde", f"{BATCHED}-7c6b5a498-fghij"
ZERO_POD = f"{ZERO}-activator-6f7d8c9b5-klmno"
MANY_POD = f"{MANY}-6b5c4d3e2-pqrst"
MAX_CONCURRENCY, MAX_QUEUE = 8, 2

PREDICTOR = '''
import os
import time


class PythonPredictor:
    def __init__(self, config):
        self.config = config

    def predict(self, payload):
        if payload.get("fail"):
            raise RuntimeError("asked to fail")
        while payload.get("hold") and not os.path.exists(payload["hold"]):  # held until the test releases it
            time.sleep(0.01)
        return {"ok": True}
'''

BATCHED_PREDICTOR = '''
class PythonPredictor:
    def __init__(self, config):
        self.config = config

    def predict(self, payload):
        return [{"batch": len(payload)} for _ in payload]
'''


# Many models: each version's folder holds its answer; post_predict so that its outcomes are counted.
MANY_PREDICTOR = '''
import pathlib


class PythonPredictor:
    def __init__(self, config, python_client):
        self.client = python_client

    def load_model(self, model_path):
        return (pathlib.Path(model_path) / "answer.txt").read_text()

    def predict(self, query_params):
        return {"answer": self.client.get_model(query_params["model"])}

    def post_predict(self, response):
        pass
'''
MANY_MODELS = {"a": b"alpha", "b": b"beta"}


def manifest(name: str, extra: dict[str, Any]) -> str:
    return yaml.safe_dump({
        "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI", "metadata": {"name": name},
        "spec": {"predictor": {"image": "example.org/e2e:1", "path": "predictor.py"}, **extra},
    })


def kube_state_metrics() -> str:
    """What kube-state-metrics would say about both APIs' Deployments and HPAs."""
    lines = []
    for api in (API, BATCHED):
        dep = f'namespace="{NAMESPACE}",deployment="{api}"'
        hpa = f'namespace="{NAMESPACE}",horizontalpodautoscaler="{api}"'
        pod = POD if api == API else BATCHED_POD
        lines += [
            f"kube_deployment_spec_replicas{{{dep}}} 1",
            f"kube_deployment_status_replicas_ready{{{dep}}} 1",
            f"kube_deployment_status_replicas_available{{{dep}}} 1",
            f'kube_horizontalpodautoscaler_spec_target_metric{{{hpa},metric_name="predictorapi_in_flight_requests",'
            'metric_target_type="average"} 4',
            f"kube_horizontalpodautoscaler_status_desired_replicas{{{hpa}}} 1",
            f'kube_pod_container_status_restarts_total{{namespace="{NAMESPACE}",pod="{pod}",container="runtime"}} 0',
        ]
    dep = f'namespace="{NAMESPACE}",deployment="{ZERO}"'  # scaled to zero: wants no replica
    lines += [f"kube_deployment_spec_replicas{{{dep}}} 0", f"kube_deployment_status_replicas_ready{{{dep}}} 0",
              f"kube_deployment_status_replicas_available{{{dep}}} 0"]
    return "\n".join(lines) + "\n"


def model_store_port(proc: subprocess.Popen) -> int:
    """The port of the model store that `predictorapi serve` started in its process (it logs `model store on URL`);
    the rest of its output is drained, so that it never blocks on a full pipe."""
    assert proc.stdout is not None
    for line in proc.stdout:
        if match := re.search(r"model store on http://127\.0\.0\.1:(\d+)", line):
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return int(match[1])
    pytest.fail("predictorapi serve never said where its model store listens")


@contextmanager
def static_exporter(body: str) -> Iterator[int]:
    """Serve `body` as a Prometheus text exposition on a loopback port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def eventually(probe: Callable[[], Any], timeout: float = 20.0, interval: float = 0.25) -> Any:
    """Call `probe` until it returns something truthy; fail with its last answer after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"condition not met after {timeout}s; last answer: {last!r}")


class Prometheus:
    def __init__(self, url: str):
        self.url = url

    def query(self, expr: str) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10).json()
        assert answer["status"] == "success", (expr, answer)
        return answer["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The single sample `expr` returns, or None while it returns nothing."""
        result = self.query(expr)
        assert len(result) <= 1, (expr, result)
        return float(result[0]["value"][1]) if result else None

    def series(self, match: str) -> list[dict[str, str]]:
        answer = httpx.get(f"{self.url}/api/v1/series", params={"match[]": match}, timeout=10).json()
        assert answer["status"] == "success", (match, answer)
        return answer["data"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The runtimes (with some traffic already answered), the stand-in exporter, and Prometheus."""
    tmp = tmp_path_factory.mktemp("observability")
    apps = {}
    for name, code, spec in (
        (API, PREDICTOR, {"maxConcurrency": MAX_CONCURRENCY, "maxQueueLength": MAX_QUEUE}),
        (BATCHED, BATCHED_PREDICTOR, {"maxConcurrency": 2, "batching": {"maxBatchSize": 4,
                                                                         "batchTimeoutMilliseconds": 300}}),
        (ZERO, PREDICTOR, {"autoscaling": {"minReplicas": 0, "maxReplicas": 2, "idleSeconds": 300}}),
        # One version in memory and one on disk: asking for a, then b evicts a from both (pvc:// folders are read
        # in place: neither downloaded nor evicted from disk, hence S3).
        (MANY, MANY_PREDICTOR, {"models": {"dir": "s3://models/many/", "cacheSize": 1, "diskCacheSize": 1}}),
    ):
        folder = tmp / name
        folder.mkdir()
        (folder / "predictor.py").write_text(textwrap.dedent(code))
        (folder / "predictorapi.yaml").write_text(manifest(name, spec))
        apps[name] = (folder, free_port())

    with ExitStack() as stack:
        s3 = stack.enter_context(s3_server())
        s3.put("models", {f"many/{model}/1/answer.txt": answer for model, answer in MANY_MODELS.items()})
        envs = {MANY: {**s3.env(), "PREDICTORAPI_MODEL_CACHE_DIR": str(tmp / "model-cache")}}
        procs = {name: stack.enter_context(running([*CLI, "serve", str(folder), "--port", str(port)], port,
                                                   env=envs.get(name), timeout=60))
                 for name, (folder, port) in apps.items()}
        store_port = model_store_port(procs[MANY])
        many = f"http://127.0.0.1:{apps[MANY][1]}"
        for model in ("a", "b", "b"):  # a miss, a miss evicting a (memory and disk), a hit
            answer = httpx.post(many, params={"model": model}, json={}, timeout=60)
            assert answer.status_code == 200 and answer.json() == {"answer": MANY_MODELS[model].decode()}, answer.text
        runtime = f"http://127.0.0.1:{apps[API][1]}"
        # Answered before Prometheus starts, so both status codes' series exist from its first scrape
        # (then rate() over them is exact: same timestamps, no series appearing mid-window).
        for fail in (False, True) * 3:
            httpx.post(runtime, json={"fail": fail}, timeout=10)
        zero = f"http://127.0.0.1:{apps[ZERO][1]}"
        assert httpx.post(zero, json={}, timeout=60).status_code == 200  # a cold start: held, then forwarded
        ksm_port = stack.enter_context(static_exporter(kube_state_metrics()))
        prom_port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES_FILE)],
            "scrape_configs": [
                {"job_name": "predictorapi", "static_configs": [
                    {"targets": [f"127.0.0.1:{apps[API][1]}"], "labels": {"namespace": NAMESPACE, "pod": POD}},
                    {"targets": [f"127.0.0.1:{apps[BATCHED][1]}"],
                     "labels": {"namespace": NAMESPACE, "pod": BATCHED_POD}},
                    {"targets": [f"127.0.0.1:{apps[ZERO][1]}"], "labels": {"namespace": NAMESPACE, "pod": ZERO_POD}},
                    {"targets": [f"127.0.0.1:{apps[MANY][1]}"], "labels": {"namespace": NAMESPACE, "pod": MANY_POD}},
                ]},
                # The ServiceMonitor's second endpoint: the Service's `model-store` port, the same pod.
                {"job_name": "predictorapi-model-store", "static_configs": [
                    {"targets": [f"127.0.0.1:{store_port}"], "labels": {"namespace": NAMESPACE, "pod": MANY_POD}},
                ]},
                {"job_name": "kube-state-metrics", "honor_labels": True,
                 "static_configs": [{"targets": [f"127.0.0.1:{ksm_port}"]}]},
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        stack.enter_context(running(
            ["prometheus", f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            prom_port, ready_path="/-/ready", timeout=60))
        yield {"prometheus": Prometheus(f"http://127.0.0.1:{prom_port}"), "runtime": runtime,
               "batched": f"http://127.0.0.1:{apps[BATCHED][1]}", "zero": zero, "many": many}


def test_prometheus_is_installed():
    import shutil

    assert shutil.which("prometheus"), "prometheus is missing: install Debian's `prometheus` package"


def test_error_ratio_rule_gives_the_ratio_of_5xx(stack):
    prom, runtime = stack["prometheus"], stack["runtime"]
    total = f'sum(predictorapi_requests_total{{namespace="{NAMESPACE}", api="{API}"}})'
    eventually(lambda: prom.value(total) == 6)
    for fail in (False, False, True, False, False, True, False, False):  # 2 of 8 fail
        assert httpx.post(runtime, json={"fail": fail}, timeout=10).status_code == (500 if fail else 200)
    eventually(lambda: prom.value(total) == 14)
    ratio = f'namespace_api:predictorapi_error_ratio:rate5m{{namespace="{NAMESPACE}", api="{API}"}}'
    value = eventually(lambda: (v := prom.value(ratio)) is not None and abs(v - 0.25) < 1e-9 and v)
    assert value == pytest.approx(0.25)
    by_code = prom.query(f'namespace_api_code:predictorapi_requests:rate5m{{api="{API}"}}')
    assert {r["metric"]["code"] for r in by_code} == {"200", "500"}


def test_in_flight_reaches_prometheus_and_the_adapter(stack, tmp_path):
    prom, runtime = stack["prometheus"], stack["runtime"]
    release = tmp_path / "release"
    held = MAX_CONCURRENCY + MAX_QUEUE

    def runtime_in_flight() -> float:
        for line in httpx.get(f"{runtime}/metrics", timeout=5).text.splitlines():
            if line.startswith("predictorapi_in_flight_requests{"):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError("runtime exports no in-flight gauge")

    with ThreadPoolExecutor(held) as pool, ExitStack() as releasing:
        releasing.callback(release.touch)  # the held requests end however the checks end
        hold = {"hold": str(release)}
        slow = [pool.submit(httpx.post, runtime, json=hold, timeout=120) for _ in range(held)]
        eventually(lambda: runtime_in_flight() == held, timeout=30, interval=0.05)
        # Every slot and queue place is taken: the next request is refused at once.
        overloaded = httpx.post(runtime, json={}, timeout=10)
        assert overloaded.status_code == 503

        selector = f'namespace="{NAMESPACE}", api="{API}"'
        eventually(lambda: prom.value(f"predictorapi_in_flight_requests{{{selector}}}") == held, timeout=30)

        # What prometheus-adapter asks for `pods/predictorapi_in_flight_requests` of the HPA's pods.
        (rule,) = adapter_rules()
        discovered = prom.series(rule["seriesQuery"])
        assert {(s["namespace"], s["pod"]) for s in discovered} >= {(NAMESPACE, POD), (NAMESPACE, BATCHED_POD)}
        query = substitute_adapter(rule["metricsQuery"], "predictorapi_in_flight_requests",
                                   f'namespace="{NAMESPACE}",pod=~"{POD}|{BATCHED_POD}"', "pod")
        per_pod = {r["metric"]["pod"]: float(r["value"][1]) for r in prom.query(query)}
        assert per_pod == {POD: held, BATCHED_POD: 0}
        assert set(prom.query(query)[0]["metric"]) == {"pod"}

        assert prom.value(f"predictorapi_queue_length{{{selector}}}") == MAX_QUEUE
        saturation = f"namespace_api:predictorapi_saturation:ratio{{{selector}}}"
        eventually(lambda: prom.value(saturation) == held / MAX_CONCURRENCY, timeout=30)
        releasing.close()
        assert [f.result().status_code for f in slow] == [200] * held
    rejected = f'predictorapi_rejected_requests_total{{{selector}, reason="overloaded"}}'
    eventually(lambda: prom.value(rejected) == 1)


def test_dashboard_queries_return_data(stack):
    prom = stack["prometheus"]
    with ThreadPoolExecutor(8) as pool:  # fill a few batches
        assert all(r.status_code == 200 for r in pool.map(
            lambda i: httpx.post(stack["batched"], json={"i": i}, timeout=10), range(8)))
    for fail in (False, True):
        httpx.post(stack["runtime"], json={"fail": fail}, timeout=10)
    # The batch panels look at the batching API, the scale-to-zero ones at its activator, the many-models ones
    # (post_predict's too) at the many-models API and its store, every other panel at the slow/failing one.
    for query, batched, zero, many in zip(dashboard_panel_queries(namespace=NAMESPACE, api=API),
                                          dashboard_panel_queries(namespace=NAMESPACE, api=BATCHED),
                                          dashboard_panel_queries(namespace=NAMESPACE, api=ZERO),
                                          dashboard_panel_queries(namespace=NAMESPACE, api=MANY), strict=True):
        expr = (batched.expr if "predictorapi_batch_" in query.expr else
                zero.expr if "predictorapi_activator_" in query.expr else
                many.expr if re.search(r"predictorapi_models?_|predictorapi_post_predict", query.expr) else
                query.expr)
        result = eventually(lambda expr=expr: prom.query(expr), timeout=10)
        values = [float(r["value"][1]) for r in result]
        # A quantile or a ratio over a quiet window is NaN; plain series must have numbers.
        if "histogram_quantile" not in expr and " / " not in expr:
            assert not any(math.isnan(v) for v in values), f"{query.where}: NaN from {expr}"
    expected = {"namespace": {NAMESPACE}, "api": {API, BATCHED, ZERO, MANY}}  # ZERO: only its activator is scraped
    for query, label in dashboard_variable_queries(namespace=NAMESPACE):
        values = {s.get(label) for s in prom.series(query.expr)}
        assert expected[label] <= values, f"{query.where}: {values}"


def test_activator_metrics_reach_prometheus(stack):
    """The cold start of the fixture's request, as the dashboard's scale-to-zero row and the alert read it."""
    prom = stack["prometheus"]
    selector = f'namespace="{NAMESPACE}", api="{ZERO}"'
    eventually(lambda: prom.value(f"predictorapi_activator_cold_starts_total{{{selector}}}") == 1)
    outcomes = {r["metric"]["outcome"]: float(r["value"][1])
                for r in prom.query(f"predictorapi_activator_requests_total{{{selector}}}")}
    assert outcomes == {"forwarded": 1, "timed_out": 0, "refused": 0, "failed": 0, "abandoned": 0}
    assert prom.value(f"predictorapi_activator_held_requests{{{selector}}}") == 0
    assert prom.value(f"predictorapi_activator_first_request_wait_seconds_count{{{selector}}}") == 1
    assert prom.value(f'sum(predictorapi_activator_first_request_wait_seconds_bucket{{{selector}, le="+Inf"}})') == 1


def test_many_models_metrics_reach_prometheus(stack):
    """The fixture's a, b, b through caches of one version, as the dashboard's many-models row reads them: the
    memory tier from the runtime, the disk tier from the store (each `model` its own label value)."""
    prom = stack["prometheus"]
    selector = f'namespace="{NAMESPACE}", api="{MANY}"'

    def by(metric: str, *labels: str) -> dict[tuple[str, ...], float]:
        return {tuple(r["metric"][label] for label in labels): float(r["value"][1])
                for r in prom.query(f"{metric}{{{selector}}}")}

    eventually(lambda: by("predictorapi_post_predict_total", "outcome").get(("ok",)) == 3)
    assert by("predictorapi_model_cache_requests_total", "model", "result") == {
        ("a", "miss"): 1, ("b", "miss"): 1, ("b", "hit"): 1}
    assert by("predictorapi_model_loads_total", "model", "outcome") == {("a", "ok"): 1, ("b", "ok"): 1}
    assert by("predictorapi_model_load_seconds_count", "model") == {("a",): 1, ("b",): 1}
    assert by("predictorapi_model_evictions_total", "model") == {("a",): 1}
    assert by("predictorapi_model_downloads_total", "model", "outcome") == {("a", "ok"): 1, ("b", "ok"): 1}
    assert by("predictorapi_model_disk_evictions_total", "model") == {("a",): 1}
    assert prom.value(f"predictorapi_models_in_memory{{{selector}}}") == 1
    assert prom.value(f"predictorapi_models_on_disk{{{selector}}}") == 1
    assert prom.value(f"predictorapi_model_listing_errors_total{{{selector}}}") == 0
    # Both endpoints carry the pod's target labels, as the ServiceMonitor's two endpoints give them.
    assert {s["pod"] for s in prom.series(f'{{__name__=~"predictorapi_models_.*", {selector}}}')} == {MANY_POD}


def test_every_rule_evaluates_cleanly(stack):
    prom = stack["prometheus"]

    def groups() -> list[dict[str, Any]]:
        return httpx.get(f"{prom.url}/api/v1/rules", timeout=10).json()["data"]["groups"]

    eventually(lambda: all(r.get("lastEvaluation", "").startswith("2") and r["health"] != "unknown"
                           for g in groups() for r in g["rules"]), timeout=10)
    bad = [(r["name"], r.get("lastError")) for g in groups() for r in g["rules"] if r["health"] != "ok"]
    assert not bad
    names = {r["name"] for g in groups() for r in g["rules"]}
    assert "PredictorAPISaturated" in names
    assert "namespace_api:predictorapi_error_ratio:rate5m" in names
    # Every alert but the restart one waits minutes before firing: with this traffic (over 5% 5xx)
    # the error-ratio alert is pending for the API, and nothing fires.
    active = prom.query('ALERTS{alertname=~"PredictorAPI.*"}')
    assert {a["metric"]["alertstate"] for a in active} == {"pending"}, active
    assert ("PredictorAPIHighErrorRatio", API) in {(a["metric"]["alertname"], a["metric"]["api"]) for a in active}
