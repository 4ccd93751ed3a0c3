"""Fixtures of the container tier: podman, the images (built once per run, cached by content), played pods.

Nothing here is skipped: a machine without podman, runc or mmdebstrap fails these tests with the names of
what is missing (`scripts/setup.sh` installs them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import containers
from support.containers import REPO, Podman

RUNTIME_INPUTS = [REPO / "runtime"]
"""What runtime/Dockerfile copies: the files that decide the image."""
PREDICTORS = Path(__file__).parent / "predictors"
TEST_IMAGE = "example.com/test-predictors:1"
"""The tag the tests' manifests name for the test predictors' image (mapped to the local build when played)."""


@pytest.fixture(scope="session")
def container_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's scratch folder for builds and pods."""
    return tmp_path_factory.mktemp("containers")


@pytest.fixture(scope="session")
def podman(container_work: Path) -> Iterator[Podman]:
    """podman with the suite's containers.conf (runc, rlimits within the sandbox's)."""
    missing = containers.missing_tools()
    assert not missing, f"the container tests need {', '.join(missing)}: run scripts/setup.sh as root"
    session = containers.podman_session(container_work)
    yield session


@pytest.fixture(scope="session")
def base_image(podman: Podman, container_work: Path) -> str:
    """The python:3.11-slim stand-in made from Debian packages."""
    return containers.base_image(podman, container_work)


@pytest.fixture(scope="session")
def runtime_image(podman: Podman, container_work: Path, base_image: str) -> str:
    """runtime/Dockerfile (CPU torch from the local wheel), FROM the local base."""
    return containers.build(podman, container_work, "runtime", REPO / "runtime/Dockerfile", REPO, RUNTIME_INPUTS,
                            {"BASE_IMAGE": base_image, "TORCH_INDEX": "https://pypi.org/simple"})


@pytest.fixture(scope="session")
def operator_image(podman: Podman, container_work: Path, base_image: str) -> str:
    """operator/Dockerfile, FROM the local base."""
    return containers.build(podman, container_work, "operator", REPO / "operator/Dockerfile", REPO,
                            [*RUNTIME_INPUTS, REPO / "operator"],
                            {"BASE_IMAGE": base_image})


@pytest.fixture(scope="session")
def example_image(podman: Podman, container_work: Path, runtime_image: str) -> Callable[[str], str]:
    """`example_image(name)`: examples/NAME/Dockerfile FROM the local runtime image."""

    def build(name: str) -> str:
        folder = REPO / "examples" / name
        return containers.build(podman, container_work, f"examples-{name}", folder / "Dockerfile", folder,
                                [folder], {"RUNTIME_IMAGE": runtime_image})

    return build


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The images this run needed: built now (and how long it took) or found in the cache, and their sizes."""
    if containers.SEEN:
        terminalreporter.section("container images")
        for image in containers.SEEN:
            how = f"built in {image.seconds:.0f} s" if image.built else "cached"
            terminalreporter.write_line(f"{image.name:45} {image.size_mb:8.0f} MB  {how:16} {image.tag}")


@pytest.fixture(scope="session")
def predictors_image(podman: Podman, container_work: Path, runtime_image: str) -> str:
    """The test predictors (tests/containers/predictors) in a user's image FROM the runtime image."""
    return containers.build(podman, container_work, "test-predictors", PREDICTORS / "Dockerfile", PREDICTORS,
                            [PREDICTORS], {"RUNTIME_IMAGE": runtime_image})
