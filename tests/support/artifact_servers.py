"""Loopback servers a model download talks to: plain HTTP files, a Hugging Face Hub, a Cloud Storage bucket.

Each is a real `http.server` server on 127.0.0.1 that counts the file downloads (GETs) it answers, and
implements only the endpoints the real client calls.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Files:
    """What the HTTP file server serves: path -> content; a path in `stalls` sends its first bytes, then
    the rest once `release` is set (never, for a stall)."""

    files: dict[str, bytes]
    stalls: set[str] = field(default_factory=set)
    release: threading.Event = field(default_factory=threading.Event)
    gets: Counter[str] = field(default_factory=Counter)
    authorizations: list[str | None] = field(default_factory=list)


@dataclass
class HubRepo:
    """A Hugging Face model repository at one commit, also reachable by `main` and `tags`."""

    repo_id: str
    commit: str
    files: dict[str, bytes]
    tags: tuple[str, ...] = ()
    gets: Counter[str] = field(default_factory=Counter)

    def resolves(self, revision: str) -> bool:
        return revision in (self.commit, "main", *self.tags)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    served: Any = None

    def log_message(self, *args: Any) -> None:  # quiet test output
        pass

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _FilesHandler(_Handler):
    def do_GET(self) -> None:
        files: Files = self.served
        files.authorizations.append(self.headers.get("Authorization"))
        path = self.path.split("?")[0]
        if path not in files.files:
            return self._send(404, b"not found")
        files.gets[path] += 1
        body = files.files[path]
        if path not in files.stalls:  # a path ending in / is a listing: an HTML page (a PEP 503 index page)
            return self._send(200, body, {"Content-Type": "text/html"} if path.endswith("/") else None)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:16])
        self.wfile.flush()
        if files.release.wait(120):
            self.wfile.write(body[16:])


class _HubHandler(_Handler):
    """The endpoints `huggingface_hub.snapshot_download` calls: the model info at a revision, and each file."""

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        repo: HubRepo = self.served
        info = re.fullmatch(rf"/api/models/{re.escape(repo.repo_id)}/revision/([^/?]+)(\?.*)?", self.path)
        file = re.fullmatch(rf"/{re.escape(repo.repo_id)}/resolve/([^/]+)/([^?]+)(\?.*)?", self.path)
        if info is None and file is None and (escaping := self._escaping_file()) is None:
            return self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
        revision, name = (info[1], "") if info else (file[1], unquote(file[2])) if file else escaping
        if not repo.resolves(revision):
            return self._send(404, b'{"error": "Invalid rev id"}', {"X-Error-Code": "RevisionNotFound"})
        if info is not None:
            body = json.dumps({"id": repo.repo_id, "modelId": repo.repo_id, "sha": repo.commit, "private": False,
                               "siblings": [{"rfilename": name} for name in repo.files]}).encode()
            return self._send(200, body, {"Content-Type": "application/json"})
        if name not in repo.files:
            return self._send(404, b"", {"X-Error-Code": "EntryNotFound"})
        if self.command == "GET":
            repo.gets[name] += 1
        body = repo.files[name]
        self._send(200, body, {"X-Repo-Commit": repo.commit, "ETag": f'"{hashlib.sha256(body).hexdigest()}"'})


    def _escaping_file(self) -> tuple[str, str] | None:
        """(revision, name) of a listed name with `..` segments, asked for at the URL an HTTP client makes of it
        (urllib3 removes dot segments): `/ORG/NAME/resolve/REV/../../x` arrives as `/ORG/x`."""
        repo: HubRepo = self.served
        path = self.path.split("?")[0]
        for revision in (repo.commit, "main", *repo.tags):
            for name in repo.files:
                if posixpath.normpath(f"/{repo.repo_id}/resolve/{revision}/{name}") == path:
                    return revision, name
        return None


@contextmanager
def _serving(handler: type[_Handler], served: Any) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Bound", (handler,), {"served": served}))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        if isinstance(served, Files):
            served.release.set()
        server.shutdown()
        server.server_close()


@contextmanager
def file_server(files: Files) -> Iterator[str]:
    """Serve `files` on loopback; yields the base URL."""
    with _serving(_FilesHandler, files) as url:
        yield url


@contextmanager
def hub_server(repo: HubRepo) -> Iterator[str]:
    """Serve one Hugging Face repository on loopback; yields the endpoint (`HF_ENDPOINT`)."""
    with _serving(_HubHandler, repo) as url:
        yield url


@dataclass
class Bucket:
    """A Google Cloud Storage bucket for the loopback JSON API (`STORAGE_EMULATOR_HOST`); every request is
    answered 403 while `forbidden` is set."""

    name: str
    objects: dict[str, bytes]
    forbidden: bool = False
    gets: Counter[str] = field(default_factory=Counter)

    def metadata(self, name: str) -> dict[str, Any]:
        return {"kind": "storage#object", "bucket": self.name, "name": name, "generation": "1",
                "size": str(len(self.objects[name])), "id": f"{self.name}/{name}/1"}


class _StorageHandler(_Handler):
    """The JSON API calls of google-cloud-storage's `get_blob`, `list_blobs` and `download_to_filename`."""

    def _json(self, status: int, document: dict[str, Any]) -> None:
        self._send(status, json.dumps(document).encode(), {"Content-Type": "application/json"})

    def do_GET(self) -> None:
        bucket: Bucket = self.served
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if bucket.forbidden:
            return self._json(403, {"error": {"code": 403, "message": "caller does not have storage.objects.get"}})
        listing = re.fullmatch(rf"/storage/v1/b/{re.escape(bucket.name)}/o", url.path)
        one = re.fullmatch(rf"(/download)?/storage/v1/b/{re.escape(bucket.name)}/o/(.+)", url.path)
        if listing:
            prefix = query.get("prefix", [""])[0]
            return self._json(200, {"kind": "storage#objects", "items": [
                bucket.metadata(name) for name in sorted(bucket.objects) if name.startswith(prefix)]})
        name = unquote(one[2]) if one else None
        if name not in bucket.objects:
            return self._json(404, {"error": {"code": 404, "message": "No such object"}})
        if query.get("alt") == ["media"]:
            bucket.gets[name] += 1
            return self._send(200, bucket.objects[name], {"Content-Type": "application/octet-stream"})
        self._json(200, bucket.metadata(name))


@contextmanager
def storage_server(bucket: Bucket) -> Iterator[str]:
    """Serve one GCS bucket on loopback; yields the endpoint (`STORAGE_EMULATOR_HOST`)."""
    with _serving(_StorageHandler, bucket) as url:
        yield url
