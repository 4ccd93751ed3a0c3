"""The cache: starts sharing a cache folder (replicas on one cache claim) download an artifact once; a start
that finds it complete downloads nothing; a download that died half-way is redone, never served."""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from support.artifact_servers import Files, file_server
from support.s3 import S3

from predictorapi.artifacts import cache
from predictorapi.artifacts.uri import cache_key

from .conftest import MODEL_FILES, fetch_model, folder, start_fetch_model

BODY = b"weights " * 4096


def _wait(check, what: str, timeout: float = 120) -> None:
    """Hang guard only: poll `check` until true."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _lines_until(proc: subprocess.Popen, text: str, seen: list[str]) -> threading.Event:
    """Read `proc`'s output into `seen` in a thread; the event is set once a line contains `text`."""
    found = threading.Event()

    def read() -> None:
        for line in proc.stdout:
            seen.append(line)
            if text in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    return found


def test_two_concurrent_starts_download_once_and_a_third_downloads_nothing(tmp_path: Path) -> None:
    files = Files({"/m.bin": BODY}, stalls={"/m.bin"})  # the first download holds until released
    with file_server(files) as url:
        args = ("--uri", f"{url}/m.bin", "--cache-dir", str(tmp_path / "cache"))
        first = start_fetch_model(*args, env={}, termination_log=tmp_path / "first")
        _wait(lambda: files.gets["/m.bin"] == 1, "the first start's download to begin")
        second = start_fetch_model(*args, env={}, termination_log=tmp_path / "second")
        second_output: list[str] = []
        waiting = _lines_until(second, "another start is downloading", second_output)
        assert waiting.wait(120), second_output
        files.release.set()
        assert first.wait(120) == 0 and second.wait(120) == 0, second_output
        third = fetch_model(*args, env={}, termination_log=tmp_path / "third")
    assert third.returncode == 0 and third.stdout.splitlines()[-1].startswith("cached: ")
    assert files.gets["/m.bin"] == 1
    folders = {folder(tmp_path / name) for name in ("first", "second", "third")}
    assert len(folders) == 1 and (folders.pop() / "m.bin").read_bytes() == BODY


def test_concurrent_starts_against_s3_download_each_object_once(s3: S3, tmp_path: Path) -> None:
    args = ("--uri", "s3://models/sentiment/v3/", "--revision", "concurrent", "--cache-dir", str(tmp_path))
    before = sum(s3.object_gets.values())
    starts = [start_fetch_model(*args, env=s3.env(), termination_log=tmp_path / f"log-{n}") for n in range(2)]
    assert [proc.wait(120) for proc in starts] == [0, 0]
    assert sum(s3.object_gets.values()) - before == len(MODEL_FILES)
    again = fetch_model(*args, env=s3.env(), termination_log=tmp_path / "log-2")
    assert again.returncode == 0 and sum(s3.object_gets.values()) - before == len(MODEL_FILES)


def test_a_different_revision_is_a_different_folder() -> None:
    assert cache_key("s3://models/m/", "1") != cache_key("s3://models/m/", "2") != cache_key("s3://models/m/", None)
    assert cache_key("s3://models/m/", "1") == cache_key("s3://models/m/", "1")


def test_a_download_that_died_half_way_is_redone(tmp_path: Path) -> None:
    key = "http-m-bin-0123"
    (tmp_path / f".{key}.partial").mkdir()
    (tmp_path / f".{key}.partial" / "m.bin").write_bytes(b"half")

    def download(folder: Path) -> dict[str, object]:
        assert list(folder.iterdir()) == []  # the leftover was cleared
        (folder / "m.bin").write_bytes(BODY)
        return {"bytes": len(BODY)}

    found = cache.cached(tmp_path, key, download)
    assert found.downloaded and (found.path / "m.bin").read_bytes() == BODY
    assert not (tmp_path / f".{key}.partial").exists()
    assert cache.cached(tmp_path, key, download) == cache.Cached(found.path, False)


def test_a_failed_download_leaves_no_folder_to_serve_and_no_partial_folder(tmp_path: Path) -> None:
    """Issue 25, point 10: what a failed download wrote is removed at once."""
    def failing(folder: Path) -> dict[str, object]:
        (folder / "m.bin").write_bytes(b"half")
        raise OSError("connection reset")

    with pytest.raises(OSError):
        cache.cached(tmp_path, "key", failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".key.lock"]


def _partial(root: Path, key: str, age_seconds: float) -> Path:
    """A partial folder of `key` holding one file, both last changed `age_seconds` ago."""
    folder = cache.partial_folder(root, key)
    folder.mkdir(parents=True)
    (folder / "weights.bin").write_bytes(b"half")
    when = time.time() - age_seconds
    for path in (folder / "weights.bin", folder):
        os.utime(path, (when, when))
    return folder


def test_partial_folders_of_dead_downloads_are_swept(tmp_path: Path) -> None:
    """Issue 25, point 10: a download sweeps other keys' partial folders that nobody holds and that have not
    changed for STALE_PARTIAL_SECONDS; a recent one, or one whose lock is held, stays."""
    old = cache.STALE_PARTIAL_SECONDS + 60
    dead, recent = _partial(tmp_path, "dead", old), _partial(tmp_path, "recent", 60)
    held = _partial(tmp_path, "held", old)
    with (tmp_path / ".held.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a download of `held` in progress (another process in a pod)
        found = cache.cached(tmp_path, "new", lambda folder: {})
    assert found.downloaded
    assert not dead.exists() and recent.exists() and held.exists()
