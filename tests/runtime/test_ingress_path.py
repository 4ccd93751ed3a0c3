"""The advertised `ingressUrl` reaches `predict`: an Ingress passes its path on unchanged (pathType
Prefix, no rewrite), so the runtime the operator deploys serves predict under that path too."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support.manifests import manifest
from support.runtime_threads import uvicorn_thread

from predictorapi.runtime.app import create_app
from predictorapi.runtime.settings import RuntimeSettings
from predictorapi.spec import PredictorAPI
from predictorapi_operator.builders import build_children
from predictorapi_operator.builders.meta import ingress_url


class Echo:
    def predict(self, payload, headers):
        return {"payload": payload}


def _built(path: str) -> tuple[dict, dict[str, str], str]:
    api = PredictorAPI.model_validate(manifest(networking={"ingress": {"host": "models.example.com", "path": path}}))
    children = {child["kind"]: child for child in build_children(api)}
    container = children["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    return children["Ingress"], env, ingress_url(api)


@pytest.mark.parametrize("path", ["/sentiment", "/team/sentiment/", "/"])
def test_requests_on_the_ingress_path_reach_predict(path: str, monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    ingress, env, url = _built(path)
    rule_path = ingress["spec"]["rules"][0]["http"]["paths"][0]
    assert rule_path["pathType"] == "Prefix" and rule_path["path"] == path
    for key, value in env.items():  # the runtime reads exactly what the operator puts on the container
        monkeypatch.setenv(key, value)
    settings = RuntimeSettings(predictor_path=str(tmp_path / "unused.py"))
    public_path = httpx.URL(url).path or "/"
    with uvicorn_thread(create_app(Echo(), settings)) as base, httpx.Client(base_url=base) as client:
        for request_path in (public_path, public_path.rstrip("/") + "/predict"):
            answer = client.post(request_path, json={"text": "hi"})
            assert answer.status_code == 200, (request_path, answer.text)
            assert answer.json() == {"payload": {"text": "hi"}}
        assert client.post("/predict", json={"text": "in-cluster"}).status_code == 200  # the Service URL too
        assert client.post(public_path.rstrip("/") + "/other", json={}).status_code in (404, 405)
