"""Credentials are never sent over plain http unless the spec says so (`spec.model.allowInsecureHttp`), as
`predictorapi fetch` refuses a git token over http.

s3:// is left out: a request is signed, the secret key itself is never sent.
"""

from __future__ import annotations

from collections.abc import Mapping

from predictorapi.artifacts.errors import DownloadFailed
from predictorapi.artifacts.uri import ModelURI
from predictorapi.contracts.env import MODEL_ENV_PREFIX

AUTHORIZATION_KEY = "HTTP_AUTHORIZATION"
"""The secretRef key sent as the `Authorization` header of an http(s):// download."""
OPT_IN = (f"set spec.model.allowInsecureHttp: true ({MODEL_ENV_PREFIX}ALLOW_INSECURE_HTTP=true, "
          "--allow-insecure-http) on a network you trust")


def clear_text_secret(uri: ModelURI, env: Mapping[str, str]) -> tuple[str, str] | None:
    """(secretRef key, endpoint) of a credential this download would send over plain http, if any."""
    if uri.scheme == "http" and env.get(AUTHORIZATION_KEY):
        return AUTHORIZATION_KEY, f"http://{uri.authority}"
    endpoint = env.get("HF_ENDPOINT") or ""
    if uri.scheme == "hf" and env.get("HF_TOKEN") and endpoint.lower().startswith("http://"):
        return "HF_TOKEN", endpoint
    return None


def check_transport(uri: ModelURI, env: Mapping[str, str], allow_insecure_http: bool) -> None:
    """Raise :class:`DownloadFailed` when a credential would go over plain http without the opt-in."""
    found = clear_text_secret(uri, env)
    if found is not None and not allow_insecure_http:
        key, endpoint = found
        raise DownloadFailed(f"refusing to send {key} over plain http to {endpoint}: use https://, or {OPT_IN}")
