"""API key: prediction needs it (Bearer or X-API-Key); probes and metrics never do."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from support.runtimes import runtime_in

KEY = "s3cret-key-0123"


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    with runtime_in(tmp_path_factory.mktemp("auth"), api_key=KEY, api_name="auth") as runtime:
        yield runtime.url


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": f"Basic {KEY}"},
    {"Authorization": "Bearer"},
    {"Authorization": f"Bearer {KEY}x"},
    {"X-API-Key": "wrong"},
    {"X-API-Key": KEY[:-1]},
    {"X-API-Key": ""},
    {"Authorization": "Bearer é"},
], ids=["none", "wrong-bearer", "basic", "empty-bearer", "longer", "wrong-x-api-key", "prefix", "empty", "non-ascii"])
@pytest.mark.parametrize("path", ["/", "/predict"])
def test_prediction_without_the_key_is_401_json(url: str, path: str, headers: dict[str, str]) -> None:
    encoded = [(k.encode(), v.encode()) for k, v in headers.items()]
    response = httpx.post(f"{url}{path}", json={"x": 1}, headers=encoded)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("www-authenticate") == "Bearer"
    assert set(response.json()) == {"error", "request_id"}
    assert KEY not in response.text


@pytest.mark.parametrize("headers", [
    {"Authorization": f"Bearer {KEY}"},
    {"Authorization": f"bearer {KEY}"},
    {"X-API-Key": KEY},
], ids=["bearer", "bearer-lower", "x-api-key"])
def test_prediction_with_the_key_is_200(url: str, headers: dict[str, str]) -> None:
    response = httpx.post(f"{url}/predict", json={"x": 1}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"type": "dict", "size": 1}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_need_no_key(url: str, path: str) -> None:
    assert httpx.get(f"{url}{path}").status_code == 200


def test_401s_are_counted(url: str) -> None:
    httpx.post(url, json={})
    assert 'predictorapi_requests_total{api="auth",code="401"}' in httpx.get(f"{url}/metrics").text
