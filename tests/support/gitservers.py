"""Real git servers on loopback, serving the bare repositories under a folder:

* `git daemon` (git://, anonymous);
* `git http-backend` behind a tiny threaded HTTP server that demands Basic auth (`USERNAME`, `TOKEN`), over
  plain http or, given an `ssl.SSLContext`, https (the https-token case);
* a second such server on another loopback address (127.0.0.2, another host to git) that records every
  `Authorization` header it is sent, and a server on 127.0.0.1 that redirects every request to it.

Used by the GitOps tests (`gitops.gitservers`, their repository and fixtures) and by the container tests (a pod
on the host network reaches them at 127.0.0.1).
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from support.processes import free_port, stop

USERNAME = "alice"
TOKEN = "s3cr3t-T0KEN-never-print-me"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
}


def git(cwd: Path, *args: str) -> str:
    """`git ARGS` in `cwd` with a fixed identity and no user or system configuration; its stdout."""
    return subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True,
                          capture_output=True, text=True).stdout.strip()


def wait_listening(port: int, proc: subprocess.Popen, limit: float = 30.0) -> None:
    """Wait until something accepts on 127.0.0.1:`port` (fails early if `proc` died)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


@contextmanager
def git_daemon_server(root: Path) -> Iterator[str]:
    """`git://127.0.0.1:PORT/` serving every repository under `root` (anonymous, read-only)."""
    port = free_port()
    proc = subprocess.Popen(
        ["git", "daemon", "--export-all", "--reuseaddr", f"--base-path={root}",
         "--listen=127.0.0.1", f"--port={port}", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        wait_listening(port, proc)
        yield f"git://127.0.0.1:{port}/"
    finally:
        stop(proc, timeout=10)


def http_backend_handler(project_root: Path, seen: list[str] | None = None) -> type[BaseHTTPRequestHandler]:
    """A handler running `git http-backend` for the repositories under `project_root`, to `USERNAME` with `TOKEN`
    only (Basic auth); every Authorization header it is sent is appended to `seen`, when given."""
    expected = "Basic " + base64.b64encode(f"{USERNAME}:{TOKEN}".encode()).decode()
    backend = shutil.which("git") or "git"

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _serve(self) -> None:
            if seen is not None:
                seen.append(self.headers.get("Authorization") or "")
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            path, _, query = self.path.partition("?")
            env = {
                **os.environ, "GIT_PROJECT_ROOT": str(project_root), "GIT_HTTP_EXPORT_ALL": "1",
                "REQUEST_METHOD": self.command, "PATH_INFO": path, "QUERY_STRING": query,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": USERNAME, "REMOTE_ADDR": "127.0.0.1",
                "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            }
            out = subprocess.run([backend, "http-backend"], input=body, env=env, capture_output=True).stdout
            head, _, payload = out.partition(b"\r\n\r\n")
            headers = [line.split(":", 1) for line in head.decode("latin-1").split("\r\n") if ":" in line]
            status = next((int(v.split()[0]) for k, v in headers if k.lower() == "status"), 200)
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "status":
                    self.send_header(key, value.strip())
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve

    return Handler


def serve_in_thread(server: ThreadingHTTPServer) -> threading.Thread:
    """Serve `server` from a daemon thread (stop it with `shutdown()` and `server_close()`)."""
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@contextmanager
def git_http_server(root: Path, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1",
                    seen: list[str] | None = None) -> Iterator[str]:
    """`http://HOST:PORT/` (`https://` with a server-side `tls` context) serving the repositories under `root` to
    `USERNAME` with `TOKEN` only; every Authorization header sent is appended to `seen`, when given."""
    server = ThreadingHTTPServer((host, 0), http_backend_handler(root, seen))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    serve_in_thread(server)
    try:
        yield f"{'https' if tls else 'http'}://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class OtherHost:
    """A git http server on another host (127.0.0.2), and every Authorization header it was sent."""

    url: str
    authorizations: list[str]


@contextmanager
def other_host_server(project_root: Path) -> Iterator[OtherHost]:
    """`http://127.0.0.2:PORT/`: the repositories under `project_root` to `alice` with TOKEN, recording
    every Authorization header."""
    seen: list[str] = []
    with git_http_server(project_root, host="127.0.0.2", seen=seen) as url:
        yield OtherHost(url, seen)


@contextmanager
def redirect_server(target: str) -> Iterator[str]:
    """`http://127.0.0.1:PORT/`: answers every request with a 301 to the same path under `target`."""
    base = target.rstrip("/")

    class Redirect(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _redirect(self) -> None:
            self.send_response(301)
            self.send_header("Location", base + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = _redirect
        do_POST = _redirect

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    serve_in_thread(server)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
