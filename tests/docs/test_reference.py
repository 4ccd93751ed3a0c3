"""The generated reference pages: current with their sources, and complete."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import yaml
from docs.doc_pages import REPO, headings

from predictorapi.cli import build_parser

RESOURCE = REPO / "docs" / "reference" / "predictorapi.md"
CLI = REPO / "docs" / "reference" / "cli.md"


def test_reference_pages_are_what_the_generator_writes() -> None:
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "docs_reference.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr  # names the page and `python scripts/docs_reference.py`


def _paths(node: dict[str, Any], path: str) -> Iterator[str]:
    """Every field path under `node` of a CRD schema: `a.b`, `a.list[].c`, `a.map.*.c`."""
    for name, child in node.get("properties", {}).items():
        yield f"{path}.{name}"
        items, values = child.get("items", {}), child.get("additionalProperties")
        if "properties" in items:
            yield from _paths(items, f"{path}.{name}[]")
        elif isinstance(values, dict) and "properties" in values:
            yield from _paths(values, f"{path}.{name}.*")
        else:
            yield from _paths(child, f"{path}.{name}")


def test_resource_reference_has_every_field_of_the_committed_crd() -> None:
    """Each field of crds/predictorapi.yaml (what the cluster enforces) has a section, in the CRD's order."""
    crd = yaml.safe_load((REPO / "crds" / "predictorapi.yaml").read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
    wanted = [f"`{p}`" for section in ("spec", "status") for p in _paths(schema[section], section)]
    sections = [h for h in headings(RESOURCE.read_text()) if h.startswith("`")]
    assert sections == wanted
    assert len(wanted) > 300


def test_resource_reference_says_type_default_bounds_and_rules() -> None:
    page = RESOURCE.read_text()
    (min_replicas,) = re.findall(r"^### `spec\.autoscaling\.minReplicas`\n(.*?)(?=^##)", page, re.M | re.S)
    assert "**Type:** integer" in min_replicas and "**Default:** `1`" in min_replicas
    assert "**Bounds:** 0 to 2147483647" in min_replicas and "scales to zero on KEDA" in min_replicas
    (autoscaling,) = re.findall(r"^## `spec\.autoscaling`\n(.*?)(?=^##)", page, re.M | re.S)
    assert ("**Rule:** autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas "
            "(CEL: `self.minReplicas <= self.maxReplicas`)") in autoscaling
    (metric,) = re.findall(r"^### `spec\.autoscaling\.metric`\n(.*?)(?=^##)", page, re.M | re.S)
    assert '**One of:** `"concurrency"`, `"cpu"`' in metric


def test_cli_reference_has_every_command() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert [h for h in headings(CLI.read_text()) if h.startswith("`")] == [
        "`predictorapi`", *(f"`predictorapi {name}`" for name in commands)]
    assert "usage: predictorapi serve [-h]" in CLI.read_text()
