"""The canary analysis' queries are real: the AnalysisTemplate's PromQL, evaluated by a real Prometheus.

Three runtimes of one API run under `predictorapi serve` on loopback, as three pods of two revisions would:
the stable revision, a bad canary whose predictor fails every fifth request (20%), and a good canary. A real
`prometheus` scrapes them every second through file-based service discovery, with the labels a
ServiceMonitor with `podTargetLabels: [rollouts-pod-template-hash]` gives each pod's series. The
AnalysisTemplate the operator builds is then evaluated as Argo Rollouts does (its `{{args.canary-hash}}`
replaced by the revision's hash) and judged by the same conditions: the bad canary fails on its error ratio,
the good one passes, and a revision with too few requests is inconclusive (the rollout waits). `promtool
test rules` checks the same queries on synthetic series, latency included.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from observability.test_prometheus_e2e import Prometheus, eventually
from support.processes import CLI, free_port, running

from predictorapi.contracts.labels import ROLLOUT_HASH_SERIES_LABEL
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders.analysis import (
    CANARY_HASH,
    ERROR_RATIO,
    LATENCY_P99,
    build_analysis_template,
    checks,
)

NAMESPACE, API = "models", "demo"
STABLE, BAD, GOOD, QUIET = "6d5f8c7b9", "7c9b4d6f8", "5b8f9c7d6", "4a7e8b6c5"
WARMUP, REQUESTS = 5, 100
PROMETHEUS = "http://prometheus.example:9090"
WINDOW = "1h"
"""The analysis interval here: longer than the whole test, so every request since Prometheus' first scrape is in
the window however slowly the machine sends them (a real canary measures the last `interval`)."""

PREDICTOR = '''
class PythonPredictor:
    def __init__(self, config):
        self.every = config.get("fail_every", 0)
        self.calls = 0

    def predict(self, payload):
        self.calls += 1
        if self.every and self.calls % self.every == 0:
            raise RuntimeError("a bad canary: every fifth request fails")
        return {"ok": True}
'''


def analysed_api(**analysis: Any) -> PredictorAPI:
    return PredictorAPI.model_validate({
        "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI",
        "metadata": {"name": API, "namespace": NAMESPACE},
        "spec": {"predictor": {"image": "registry.example/demo:2", "path": "predictor.py"},
                 "rollout": {"strategy": "Canary", "analysis": {"interval": WINDOW, **analysis}}},
    })


def template_queries(api: PredictorAPI, revision: str) -> dict[str, str]:
    """The AnalysisTemplate's queries for one revision, as Argo Rollouts substitutes the argument."""
    template = build_analysis_template(api, PROMETHEUS)
    return {m["name"]: m["provider"]["prometheus"]["query"].replace(CANARY_HASH, revision)
            for m in template["spec"]["metrics"]}


def judge(prom: Prometheus, api: PredictorAPI, revision: str) -> dict[str, tuple[str, list[float]]]:
    """(verdict, result) of every metric of the template for `revision`, judged by its own conditions."""
    queries = template_queries(api, revision)
    out = {}
    for check in checks(NAMESPACE, API, api.spec.rollout.analysis):
        result = [float(r["value"][1]) for r in prom.query(queries[check.name])]
        out[check.name] = (check.verdict(result), result)
    return out


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Three runtimes of `demo` (stable, bad canary, good canary) with traffic, scraped by a real Prometheus."""
    tmp = tmp_path_factory.mktemp("canary")
    pods = {STABLE: 0, BAD: 5, GOOD: 0}
    with ExitStack() as stack:
        targets, urls = [], {}
        for revision, fail_every in pods.items():
            folder = tmp / revision
            folder.mkdir()
            (folder / "predictor.py").write_text(textwrap.dedent(PREDICTOR))
            (folder / "predictorapi.yaml").write_text(yaml.safe_dump({
                "apiVersion": "serving.predictorapi.dev/v1alpha1", "kind": "PredictorAPI",
                "metadata": {"name": API}, "spec": {"predictor": {
                    "image": "registry.example/demo:2", "path": "predictor.py",
                    "config": {"fail_every": fail_every}}}}))
            port = free_port()
            stack.enter_context(running([*CLI, "serve", str(folder), "--port", str(port)], port, timeout=60))
            urls[revision] = f"http://127.0.0.1:{port}"
            targets.append({"targets": [f"127.0.0.1:{port}"], "labels": {
                "namespace": NAMESPACE, "pod": f"{API}-{revision}-x", ROLLOUT_HASH_SERIES_LABEL: revision}})
        for url in urls.values():  # both status codes' series exist from the first scrape (exact rates)
            for _ in range(WARMUP):
                httpx.post(url, json={}, timeout=10)
        (tmp / "targets.json").write_text(json.dumps(targets))
        config = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
                  "scrape_configs": [{"job_name": "predictorapi", "file_sd_configs": [
                      {"files": [str(tmp / "targets.json")], "refresh_interval": "1s"}]}]}
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config))
        prom_port = free_port()
        stack.enter_context(running(
            ["prometheus", f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
            prom_port, ready_path="/-/ready", timeout=60))
        prom = Prometheus(f"http://127.0.0.1:{prom_port}")
        total = f'sum by ({ROLLOUT_HASH_SERIES_LABEL}) (predictorapi_requests_total{{api="{API}"}})'
        eventually(lambda: len(prom.query(total)) == len(pods), timeout=60)  # every pod scraped once
        for url in urls.values():
            for _ in range(REQUESTS):
                httpx.post(url, json={}, timeout=10)
        eventually(lambda: {float(r["value"][1]) for r in prom.query(total)} == {WARMUP + REQUESTS}, timeout=60)
        yield prom


def test_the_template_runs_the_queries_defined_once() -> None:
    api = analysed_api()
    template = build_analysis_template(api, PROMETHEUS)
    for metric, check in zip(template["spec"]["metrics"], checks(NAMESPACE, API, api.spec.rollout.analysis),
                             strict=True):
        assert metric["provider"]["prometheus"]["query"] == check.query
        assert (metric["successCondition"], metric["failureCondition"]) == (check.success_condition,
                                                                             check.failure_condition)
        promql_parser.parse(check.query.replace(CANARY_HASH, BAD))


def test_the_bad_canary_fails_and_the_good_one_passes(prometheus, capsys) -> None:
    api = analysed_api(maxErrorRatio=0.01, maxLatencyP99="2s", minRequests=50)
    verdicts = {revision: judge(prometheus, api, revision) for revision in (BAD, GOOD, STABLE)}
    with capsys.disabled():
        for revision, measured in verdicts.items():
            print(f"\ncanary analysis of revision {revision}: " + ", ".join(
                f"{name} {verdict} {result}" for name, (verdict, result) in measured.items()))
    assert verdicts[BAD][ERROR_RATIO] == ("Failed", [pytest.approx(0.2)]), "20 of its 100 requests failed"
    assert verdicts[BAD][LATENCY_P99][0] == "Successful"
    for revision in (GOOD, STABLE):
        assert verdicts[revision][ERROR_RATIO] == ("Successful", [0.0])
        assert verdicts[revision][LATENCY_P99][0] == "Successful"


def test_too_few_requests_is_inconclusive(prometheus) -> None:
    api = analysed_api(minRequests=10 * (WARMUP + REQUESTS))
    for revision in (BAD, GOOD):
        assert {name: verdict for name, (verdict, _) in judge(prometheus, api, revision).items()} == {
            ERROR_RATIO: "Inconclusive", LATENCY_P99: "Inconclusive"}
    unknown = {name: verdict for name, (verdict, _) in judge(prometheus, analysed_api(), QUIET).items()}
    assert unknown == {ERROR_RATIO: "Inconclusive", LATENCY_P99: "Inconclusive"}, "a revision with no pods yet"


def test_a_tight_latency_limit_fails_the_canary(prometheus) -> None:
    api = analysed_api(maxLatencyP99="0ms")
    assert judge(prometheus, api, GOOD)[LATENCY_P99][0] == "Failed"


def _series(revision: str, ok: int, failed: int, buckets: dict[str, int]) -> list[dict[str, str]]:
    """promtool input series of one revision: per 15 s, `ok` 200s, `failed` 500s, latency bucket counts."""
    where = f'namespace="{NAMESPACE}", api="{API}", {ROLLOUT_HASH_SERIES_LABEL}="{revision}"'
    out = [{"series": f'predictorapi_requests_total{{{where}, code="{code}"}}', "values": f"0+{n}x40"}
           for code, n in (("200", ok), ("500", failed)) if n]
    return out + [{"series": f'predictorapi_request_duration_seconds_bucket{{{where}, le="{le}"}}',
                   "values": f"0+{n}x40"} for le, n in buckets.items()]


def test_promtool_unit_tests_the_queries(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: install Debian's `prometheus` package"
    analysis = analysed_api(maxErrorRatio=0.01, maxLatencyP99="2s", minRequests=50,
                            interval="1m").spec.rollout.analysis
    # 30 requests per 15 s: 2 per second, a power of two, so rates and ranks are exact floats; the p99 is
    # histogram_quantile's linear interpolation inside the bucket it falls in.
    fast = {"0.1": 30, "0.5": 30, "2.5": 30, "+Inf": 30}
    slow = {"0.1": 0, "0.5": 0, "2.5": 30, "+Inf": 30}
    series = (_series(BAD, 24, 6, fast) + _series(GOOD, 30, 0, fast) + _series("slow", 30, 0, slow)
              + _series(QUIET, 1, 0, {"0.1": 1, "+Inf": 1}))
    expected = {(BAD, ERROR_RATIO): 0.2, (GOOD, ERROR_RATIO): 0.0, (BAD, LATENCY_P99): 0.1 * 0.99,
                ("slow", LATENCY_P99): 0.5 + 2.0 * 0.99, (QUIET, ERROR_RATIO): None, (QUIET, LATENCY_P99): None}
    tests = []
    for (revision, name), value in expected.items():
        (check,) = [c for c in checks(NAMESPACE, API, analysis, revision) if c.name == name]
        samples = [] if value is None else [{"labels": "{}", "value": value}]
        tests.append({"expr": check.query, "eval_time": "10m", "exp_samples": samples})
        assert check.verdict([] if value is None else [value]) == (
            "Inconclusive" if value is None else "Failed" if value > check.limit else "Successful")
    (tmp_path / "analysis_test.yml").write_text(yaml.safe_dump({"rule_files": [], "evaluation_interval": "15s",
        "tests": [{"interval": "15s", "input_series": series, "promql_expr_test": tests}]}))
    result = subprocess.run([promtool, "test", "rules", "analysis_test.yml"], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
