"""Wrap monitoring/rules/predictorapi-rules.yaml into monitoring/prometheusrule.yaml.

The rule file (Prometheus rule-file format, checked and unit-tested by promtool) is the one source of
truth; the PrometheusRule kustomize installs carries the same groups. Run after editing the rules:

    python monitoring/generate_prometheusrule.py          # rewrite prometheusrule.yaml
    python monitoring/generate_prometheusrule.py --check  # exit 1 when it is stale

tests/observability checks the two files hold the same groups.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE / "rules" / "predictorapi-rules.yaml"
TARGET = HERE / "prometheusrule.yaml"
HEADER = "# Generated from rules/predictorapi-rules.yaml by generate_prometheusrule.py; do not edit.\n"


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def render() -> str:
    """The PrometheusRule manifest, as YAML text."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    manifest = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "predictorapi",
            "labels": {"app.kubernetes.io/name": "predictorapi", "app.kubernetes.io/component": "monitoring"},
        },
        "spec": {"groups": groups},
    }
    return HEADER + yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, width=120)


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.is_file() or TARGET.read_text() != text:
            print(f"{TARGET} is stale: run python {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
