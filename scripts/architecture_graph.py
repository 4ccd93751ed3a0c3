"""Draw the import graph of predictorapi's modules from the source, into docs/architecture.md.

    python scripts/architecture_graph.py          # rewrite the Mermaid block in docs/architecture.md
    python scripts/architecture_graph.py --check  # exit 1 when the block is out of date (a test runs this)

The graph is read with grimp (import-linter's engine), function-level imports included, so it is the
same graph the import contracts in pyproject.toml are checked on. Each node is a module, or a
subpackage drawn as one node (`contracts`, `commands`, `builders`); an edge A --> B means A imports B.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grimp

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"
BEGIN, END = "<!-- import-graph:begin -->", "<!-- import-graph:end -->"
COLLAPSED = ("predictorapi.contracts", "predictorapi.commands", "predictorapi.templates",
             "predictorapi_operator.builders", "predictorapi_operator.commands")
DISTRIBUTIONS = {"predictorapi": "runtime distribution (runtime/)",
                 "predictorapi_operator": "operator distribution (operator/)"}


def _node(module: str) -> str:
    """The node a module is drawn as: its collapsed subpackage, else itself."""
    for package in COLLAPSED:
        if module == package or module.startswith(package + "."):
            return package
    return module


def edges() -> list[tuple[str, str]]:
    """(importer, imported) node pairs between predictorapi's own modules, sorted."""
    graph = grimp.build_graph(*DISTRIBUTIONS)
    found = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            a, b = _node(module), _node(imported)
            if a != b and b.split(".")[0] in DISTRIBUTIONS and b not in DISTRIBUTIONS:
                found.add((a, b))
    return sorted(found)


def mermaid() -> str:
    """The graph as a Mermaid flowchart, one subgraph per distribution."""
    pairs = edges()
    nodes = sorted({n for pair in pairs for n in pair})
    lines = ["```mermaid", "flowchart LR"]
    for root, title in DISTRIBUTIONS.items():
        lines.append(f'  subgraph {root}["{title}"]')
        lines += [f'    {n.replace(".", "_")}["{n.removeprefix(root + ".")}"]' for n in nodes
                  if n.split(".")[0] == root]
        lines.append("  end")
    lines += [f"  {a.replace('.', '_')} --> {b.replace('.', '_')}" for a, b in pairs]
    lines.append("```")
    return "\n".join(lines)


def render(text: str) -> str:
    """`text` with the block between the markers replaced by the current graph."""
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{mermaid()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/architecture.md is out of date")
    args = parser.parse_args(argv)
    current = DOC.read_text()
    wanted = render(current)
    if args.check:
        if wanted != current:
            print(f"{DOC} is out of date: run `python scripts/architecture_graph.py`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
