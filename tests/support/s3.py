"""A real S3 API on loopback: moto's server (ThreadedMotoServer), counting the object downloads it serves.

`s3_server()` starts one with credentials enforced: the IAM user it creates has the only valid key, so a
wrong key is refused with 403 as AWS would. `s3_server_process()` starts another, independent one (its own
process, so its own buckets) on another port: a second S3 endpoint.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import httpx
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from support.processes import free_port, stop, wait_ready

REGION = "us-east-1"
ALLOW_ALL = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}'


@dataclass
class S3:
    """A running loopback S3: its endpoint, a valid key pair, and the GETs of objects it answered."""

    endpoint: str
    access_key: str = ""
    secret_key: str = ""
    object_gets: Counter[str] = field(default_factory=Counter)
    """`/bucket/key` -> GET requests answered (object downloads, not listings)."""

    def env(self, **overrides: str) -> dict[str, str]:
        """The secretRef's keys for this endpoint (what the init container gets through envFrom)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_DEFAULT_REGION": REGION, **overrides}

    def client(self) -> Any:
        """A boto3 S3 client with the valid key."""
        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key)

    def put(self, bucket: str, files: dict[str, bytes]) -> None:
        """Create `bucket` (if needed) holding `files` (key -> content)."""
        client = self.client()
        if bucket not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
            client.create_bucket(Bucket=bucket)
        for key, content in files.items():
            client.put_object(Bucket=bucket, Key=key, Body=content)


class _CountingServer(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI app counts object GETs on the way in."""

    def __init__(self, port: int, counts: Counter[str]) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self._counts = counts
        self._lock = threading.Lock()

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)

        def counting(environ: dict[str, Any], start_response: Any) -> Any:
            path, query = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
            if environ["REQUEST_METHOD"] == "GET" and path.count("/") >= 2 and "list-type" not in query:
                with self._lock:
                    self._counts[path] += 1
            return app(environ, start_response)

        self._server = make_server(self._ip_address, self._port, counting, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


@contextmanager
def s3_server() -> Iterator[S3]:
    """A loopback S3 with one IAM user allowed everything; other keys get 403 once it is set up. One at a time
    per process (moto keeps its state in the process)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise
    counts: Counter[str] = Counter()
    port = free_port()
    server = _CountingServer(port, counts)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        # moto's backends and its auth switch are global to the process: start from a clean, open state
        httpx.post(f"{endpoint}/moto-api/reset").raise_for_status()
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"inf").raise_for_status()
        iam = boto3.client("iam", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="setup",
                           aws_secret_access_key="setup")
        iam.create_user(UserName="models")
        iam.put_user_policy(UserName="models", PolicyName="all", PolicyDocument=ALLOW_ALL)
        key = iam.create_access_key(UserName="models")["AccessKey"]
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()  # enforce keys from now on
        yield S3(endpoint, key["AccessKeyId"], key["SecretAccessKey"], counts)
    finally:
        server.stop()


@contextmanager
def s3_server_process() -> Iterator[S3]:
    """Another loopback S3, independent of `s3_server()`'s: moto's server in a process of its own (any key)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{endpoint}/moto-api/data.json", proc)
        yield S3(endpoint, "other-key", "other-secret")
    finally:
        stop(proc)
