"""`https://` / `http://` artifacts against a loopback file server: the sha256 `revision`, 404, a stall."""

from __future__ import annotations

import hashlib
from pathlib import Path

from support.artifact_servers import Files, file_server

from .conftest import fetch_model, folder

BODY = b"onnx-ish bytes " * 1000
DIGEST = hashlib.sha256(BODY).hexdigest()


def test_the_file_is_checked_against_its_sha256(tmp_path: Path) -> None:
    files = Files({"/models/sentiment.onnx": BODY})
    with file_server(files) as url:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", f"{url}/models/sentiment.onnx", "--revision", DIGEST, "--cache-dir",
                             str(tmp_path), env={"HTTP_AUTHORIZATION": "Bearer s3cret",
                                                 "PREDICTORAPI_MODEL_ALLOW_INSECURE_HTTP": "true"}, termination_log=log)
    assert result.returncode == 0, result.stderr
    assert (folder(log) / "sentiment.onnx").read_bytes() == BODY
    assert files.authorizations == ["Bearer s3cret"]


def test_credentials_over_plain_http_are_refused_without_the_opt_in(tmp_path: Path) -> None:
    """Issue 25, point 8: `HTTP_AUTHORIZATION` is never sent to an http:// URI unless allowInsecureHttp is set."""
    files = Files({"/m.bin": BODY})
    with file_server(files) as url:
        log = tmp_path / "termination-log"
        refused = fetch_model("--uri", f"{url}/m.bin", "--cache-dir", str(tmp_path / "cache"),
                              env={"HTTP_AUTHORIZATION": "Bearer s3cret"}, termination_log=log)
        message = log.read_text()
        allowed = fetch_model("--uri", f"{url}/m.bin", "--cache-dir", str(tmp_path / "cache"), "--allow-insecure-http",
                              env={"HTTP_AUTHORIZATION": "Bearer s3cret"}, termination_log=log)
    print(message)
    assert refused.returncode == 1
    assert message == (f"ModelDownloadFailed: {url}/m.bin: refusing to send HTTP_AUTHORIZATION over plain http to "
                       f"{url}: use https://, or set spec.model.allowInsecureHttp: true "
                       "(PREDICTORAPI_MODEL_ALLOW_INSECURE_HTTP=true, --allow-insecure-http) on a network you trust")
    assert "s3cret" not in refused.stdout + refused.stderr
    assert allowed.returncode == 0, allowed.stderr
    assert files.authorizations == ["Bearer s3cret"]  # only the opted-in download sent it


def test_a_digest_mismatch_fails_and_keeps_nothing(tmp_path: Path) -> None:
    files = Files({"/m.bin": BODY})
    with file_server(files) as url:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", f"{url}/m.bin", "--revision", "0" * 64, "--cache-dir", str(tmp_path),
                             env={}, termination_log=log)
    assert result.returncode == 1
    assert log.read_text() == (f"ModelDownloadFailed: {url}/m.bin: sha256 mismatch: expected {'0' * 64}, "
                               f"got {DIGEST}")
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == ["termination-log"]  # no .partial


def test_a_missing_file_is_a_404(tmp_path: Path) -> None:
    with file_server(Files({})) as url:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", f"{url}/gone.bin", "--cache-dir", str(tmp_path), env={}, termination_log=log)
    assert result.returncode == 1
    assert log.read_text().startswith(f"ModelDownloadFailed: {url}/gone.bin: HTTP 404")


def test_a_stalled_download_fails_after_the_stall_timeout(tmp_path: Path) -> None:
    files = Files({"/big.bin": BODY}, stalls={"/big.bin"})
    with file_server(files) as url:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", f"{url}/big.bin", "--stall-timeout", "1", "--cache-dir", str(tmp_path / "cache"),
                             env={}, termination_log=log)
    assert result.returncode == 1
    assert log.read_text().startswith(f"ModelDownloadFailed: {url}/big.bin: stalled: no data for 1 s")
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock")] == []  # no .partial


def test_query_values_are_redacted_in_the_message(tmp_path: Path) -> None:
    with file_server(Files({})) as url:
        log = tmp_path / "termination-log"
        result = fetch_model("--uri", f"{url}/gone.bin?X-Amz-Signature=abcdef", "--cache-dir", str(tmp_path),
                             env={}, termination_log=log)
    assert result.returncode == 1
    assert "abcdef" not in log.read_text() and "X-Amz-Signature=***" in log.read_text()
