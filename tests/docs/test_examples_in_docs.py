"""The examples in README.md and the docs pages work as written.

- A ```yaml block holding a `PredictorAPI` passes `predictorapi validate`; so does a `spec:` fragment (a block
  whose one key is `spec`), completed into a manifest (with a predictor image when it shows none).
- Every other ```yaml block parses (kustomizations, Argo CD Applications, pre-commit configs).
- A ```python block is a predictor the runtime loads, checks and constructs with an empty config (and, when its
  `__init__` asks, a `python_client`), unless `<!-- excerpt -->` is the line before it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from docs.doc_pages import Block, blocks, pages
from prometheus_client import CollectorRegistry

from predictorapi import cli, spec
from predictorapi.contracts.models import RuntimeModels
from predictorapi.models.client import ModelCache
from predictorapi.runtime.loader import check_models, construct, inspect_predictor, load_class
from predictorapi.runtime.state import ModelLoader

BLOCKS = [block for page in pages() for block in blocks(page)]
HEADER = f"apiVersion: {spec.API_VERSION}\nkind: {spec.KIND}\nmetadata:\n  name: docs-example\n"
PREDICTOR = "  predictor: {image: registry.example/predictor:1.0, path: predictor.py}\n"


def _as_manifest(block: Block) -> str | None:
    """The block's text as a PredictorAPI manifest to validate: as written, or a `spec:` fragment completed; None
    for other YAML."""
    try:
        documents = [d for d in yaml.safe_load_all(block.text) if d is not None]
    except yaml.YAMLError as exc:
        raise AssertionError(f"{block.where}: not YAML: {exc}") from None
    if any(isinstance(d, dict) and d.get("kind") == spec.KIND for d in documents):
        return block.text
    if len(documents) != 1 or not isinstance(documents[0], dict) or set(documents[0]) != {"spec"}:
        return None
    assert block.text.startswith("spec:\n"), f"{block.where}: write a fragment as a `spec:` block"
    body = block.text.removeprefix("spec:\n")
    return HEADER + "spec:\n" + ("" if "predictor" in (documents[0]["spec"] or {}) else PREDICTOR) + body


def test_yaml_examples_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files, others = [], 0
    for block in (b for b in BLOCKS if b.lang == "yaml"):
        manifest = _as_manifest(block)
        if manifest is None:
            others += 1
            continue
        files.append(tmp_path / f"{block.where.replace('/', '_').replace(':', '_L')}.yaml")
        files[-1].write_text(manifest)
    code = cli.main(["validate", "--quiet", *map(str, files)])
    problems = capsys.readouterr().out
    assert code == 0 and not problems, problems
    assert len(files) >= 10 and others >= 2
    with capsys.disabled():
        print(f"\ndocs: {len(files)} PredictorAPI manifests and fragments validated, {others} other YAML blocks parsed")


def _predictor_class(block: Block) -> str:
    """The name of the block's one class that defines `predict`."""
    (name,) = [node.name for node in ast.parse(block.text).body if isinstance(node, ast.ClassDef) and any(
        isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) and f.name == "predict" for f in node.body)]
    return name


def _load_and_construct(block: Block, file: Path) -> object:
    """Load the block's predictor from `file` as the runtime does at start-up, and construct it."""
    file.write_text(block.text)
    cls = load_class(file, _predictor_class(block))
    inspect_predictor(cls)
    if not callable(getattr(cls, "load_model", None)):
        return construct(cls, {})
    check_models(cls)
    cache = ModelCache("http://127.0.0.1:9", RuntimeModels(), ModelLoader(), "docs", CollectorRegistry())
    try:
        return construct(cls, {}, cache.client())
    finally:
        cache.stop()


def test_python_examples_load_and_construct(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Each predictor is imported by the runtime's loader, its signature checked as at start-up, and constructed."""
    snippets = [b for b in BLOCKS if b.lang == "python"]
    loaded = [b for b in snippets if not b.excerpt]
    failures = []
    for number, block in enumerate(loaded):
        try:
            _load_and_construct(block, tmp_path / f"docs_predictor_{number}.py")
        except Exception as exc:
            failures.append(f"{block.where}: {type(exc).__name__}: {exc}")
    assert not failures, failures
    assert len(loaded) >= 5
    with capsys.disabled():
        print(f"\ndocs: {len(loaded)} predictors loaded and constructed, {len(snippets) - len(loaded)} excerpts")
