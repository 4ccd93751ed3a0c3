"""The access log cannot be forged: control characters in a request path never split a log line."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from support.soak import Runtime

PREDICTOR = """
class PythonPredictor:
    def predict(self, payload):
        return {"ok": True}
"""

# Raw request targets (percent-encoded as a client sends them): each decodes to something that would
# end a log line or hide in a terminal if written as is.
HOSTILE = [
    b"/x%0A2026-01-01 00:00:00,000 INFO predictorapi.access [forged] POST / 200 1.00ms",
    b"/x%0D%0AFORGED",
    b"/x%E2%80%A8FORGED",  # U+2028 LINE SEPARATOR
    b"/x%C2%85FORGED",  # U+0085 NEXT LINE
    b"/x%1B%5B2JFORGED",  # ESC [2J: clears a terminal
    b"/x%5Cn-FORGED",  # a literal backslash-n, which must stay distinguishable from an escaped newline
    b"/x%00FORGED",
]


def _send(port: int, target: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        target = target.replace(b" ", b"%20")
        sock.sendall(b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    return reply


def _access_lines(runtime: Runtime, count: int) -> list[str]:
    deadline = time.monotonic() + 60
    while True:
        lines = [line for line in runtime.log().split("\n") if "predictorapi.access" in line and "POST" in line]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


@pytest.mark.parametrize("log_json", [False, True], ids=["text", "json"])
def test_control_characters_in_the_path_never_split_a_log_line(tmp_path: Path, log_json: bool) -> None:
    predictor = tmp_path / "predictor.py"
    predictor.write_text(PREDICTOR)
    with Runtime(predictor, tmp_path / "runtime.log", log_json=log_json, api_name="logs") as runtime:
        runtime.wait_ready()
        for target in HOSTILE:
            assert _send(runtime.port, target).startswith(b"HTTP/1.1 404 ")
        lines = _access_lines(runtime, len(HOSTILE))
        log = runtime.log()
    assert len(lines) == len(HOSTILE), log
    # One record per line, whatever splits a reader uses (splitlines() also breaks on U+2028, U+0085, ...).
    assert len(log.splitlines()) == len(log.rstrip("\n").split("\n"))
    assert not any(line.startswith(("FORGED", "2026-01-01")) for line in log.split("\n"))
    assert "\x1b" not in log and "\x00" not in log
    if log_json:
        records = [json.loads(line) for line in lines]
        paths = [record["path"] for record in records]
        assert all(record["message"].startswith(f"POST {record['path']} 404") for record in records)
    else:
        paths = [line.split(" POST ", 1)[1].rsplit(" 404 ", 1)[0] for line in lines]
    assert paths == ["/x\\n2026-01-01 00:00:00,000 INFO predictorapi.access [forged] POST / 200 1.00ms",
                     "/x\\r\\nFORGED", "/x\\u2028FORGED", "/x\\x85FORGED", "/x\\x1b[2JFORGED", "/x\\\\n-FORGED",
                     "/x\\x00FORGED"]
