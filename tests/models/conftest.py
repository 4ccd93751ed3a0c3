"""Model downloads against real servers on loopback: moto's S3, an HTTP file server, a Hugging Face Hub."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.processes import CLI, REPO
from support.s3 import S3, s3_server

from predictorapi.contracts.termination import ModelFetched, parse_model_fetched

MODEL_FILES = {"sentiment/v3/weights.json": b'{"positive": ["good", "great"], "negative": ["bad"]}',
               "sentiment/v3/vocab/words.txt": b"good\ngreat\nbad\n"}
"""A small 'model' in bucket `models`: a folder of two files, one in a subfolder."""


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with s3_server() as server:
        server.put("models", MODEL_FILES)
        yield server


def _environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without credentials or settings of its own, plus `env`."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "HF_", "PREDICTORAPI_"))}, **env}


def fetch_model(*args: str, env: dict[str, str], termination_log: Path) -> subprocess.CompletedProcess:
    """`predictorapi fetch-model` as the init container runs it: settings and credentials from the environment."""
    return subprocess.run([*CLI, "fetch-model", "--termination-log", str(termination_log), *args], cwd=REPO,
                          env=_environment(env), capture_output=True, text=True, timeout=300)


def start_fetch_model(*args: str, env: dict[str, str], termination_log: Path) -> subprocess.Popen:
    """`predictorapi fetch-model` started in the background (stdout and stderr together, line by line)."""
    return subprocess.Popen([*CLI, "fetch-model", "--termination-log", str(termination_log), *args], cwd=REPO,
                            env=_environment(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            bufsize=1)


def fetched(termination_log: Path) -> ModelFetched:
    """What a successful `fetch-model` wrote to its termination log: the folder and the resolved revision."""
    found = parse_model_fetched(termination_log.read_text())
    assert found is not None, termination_log.read_text()
    return found


def folder(termination_log: Path) -> Path:
    """The model folder a successful `fetch-model` wrote to its termination log."""
    return Path(fetched(termination_log).path)
