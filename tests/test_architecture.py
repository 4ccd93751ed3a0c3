"""The architecture holds: import contracts (pyproject.toml [tool.importlinter]), the generated import
graph in docs/architecture.md, and product functions short enough to read."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from support.processes import REPO

BIN = Path(sys.executable).parent
PRODUCT = (REPO / "runtime" / "predictorapi", REPO / "operator" / "predictorapi_operator")
MAX_FUNCTION_LINES = 50


def test_import_contracts_are_kept() -> None:
    result = subprocess.run([BIN / "lint-imports", "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " broken" in result.stdout and "0 broken" in result.stdout


def test_architecture_picture_is_generated_from_source() -> None:
    result = subprocess.run([sys.executable, REPO / "scripts" / "architecture_graph.py", "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_no_product_function_is_longer_than_the_limit() -> None:
    long = []
    for root in PRODUCT:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, long
