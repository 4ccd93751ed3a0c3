"""Suite-wide options."""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kube-config",
        default=None,
        help="run the operator end-to-end tests against the real cluster of this kubeconfig instead of the "
        "emulator (the CRD must be installed; tests that play the Deployment controller are skipped)",
    )
