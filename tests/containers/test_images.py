"""Every Dockerfile builds (runtime, operator, each example) from a base made of Debian packages, and each
image starts what it is for, as the unprivileged user of its pods."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from support.containers import EXAMPLES, Podman


def _run(podman: Podman, image: str, *command: str) -> str:
    """Run `command` in a throwaway container of `image` as uid 10001 with a read-only root filesystem."""
    out = podman.run("run", "--rm", "--network", "host", "--user", "10001:10001", "--read-only", image, *command)
    return out.stdout


def test_the_runtime_image_serves_and_fetches(podman: Podman, runtime_image: str) -> None:
    out = _run(podman, runtime_image, "predictorapi", "--help")
    assert "fetch-model" in out and "serve" in out
    versions = _run(podman, runtime_image, "python", "-c",
                    "import torch, transformers, predictorapi.runtime.server; "
                    "print(torch.__version__, transformers.__version__, torch.cuda.is_available())")
    torch_version, transformers_version, cuda = versions.split()
    assert torch_version.startswith("2.13.0") and transformers_version.startswith("4.57") and cuda == "False"
    assert _run(podman, runtime_image, "git", "--version").startswith("git version")


def test_the_operator_image_has_the_operator_and_nothing_of_a_model_pod(podman: Podman, operator_image: str) -> None:
    out = _run(podman, operator_image, "python", "-c",
               "import importlib.util as u, kopf, predictorapi_operator.handlers; "
               "print([m for m in ('torch', 'fastapi', 'uvicorn', 'git') if u.find_spec(m)])")
    assert out.strip() == "[]"
    assert _run(podman, operator_image, "id", "-u").strip() == "10001"


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_example_image_builds_with_its_predictor(podman: Podman, example_image: Callable[[str], str],
                                                      example: str) -> None:
    image = example_image(example)
    out = _run(podman, image, "python", "-c",
               "import ast, pathlib; ast.parse(pathlib.Path('predictor.py').read_text()); print(pathlib.Path.cwd())")
    assert out.strip() == "/app"
