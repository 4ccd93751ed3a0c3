"""`predictorapi init NAME`: scaffold a predictor folder that serves, validates and builds as is.

Creates `DIR/NAME/` with `predictor.py` (a working `PythonPredictor`), `predictorapi.yaml` (a valid
`PredictorAPI` named NAME), `requirements.txt`, a `Dockerfile` built FROM the runtime base image,
`.dockerignore` and a `README.md`. NAME must be a DNS-1035 label (it names the Kubernetes objects);
an existing folder is never touched.
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from predictorapi.contracts.pod import DEFAULT_RUNTIME_IMAGE as BASE_IMAGE
from predictorapi.names import dns1035_label_problem

FILES = {  # generated file -> template
    "predictor.py": "predictor.py.tmpl",
    "predictorapi.yaml": "predictorapi.yaml.tmpl",
    "requirements.txt": "requirements.txt.tmpl",
    "Dockerfile": "Dockerfile.tmpl",
    ".dockerignore": "dockerignore.tmpl",
    "README.md": "README.md.tmpl",
}


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register `init`."""
    parser = subparsers.add_parser("init", help="scaffold a new predictor folder", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="API name: lower-case letters, digits and '-', starting with a letter")
    parser.add_argument("--dir", default=".", help="folder to create NAME/ in (default: the current folder)")
    parser.set_defaults(func=run)


def name_error(name: str) -> str | None:
    """Why `name` is not a valid DNS-1035 label, or None when it is."""
    problem = dns1035_label_problem(name)
    return f"name {name!r} {problem}" if problem else None


def render(name: str) -> dict[str, str]:
    """The generated files' contents, by file name."""
    values = {"name": name, "image": f"registry.example.com/{name}:0.1.0", "base_image": BASE_IMAGE}
    folder = resources.files("predictorapi.templates.init")
    out = {}
    for target, template in FILES.items():
        text = folder.joinpath(template).read_text(encoding="utf-8")
        for key, value in values.items():
            text = text.replace("{{" + key + "}}", value)
        out[target] = text
    return out


def scaffold(name: str, parent: Path) -> Path:
    """Create `parent/name/` with the generated files; raises FileExistsError or ValueError."""
    error = name_error(name)
    if error:
        raise ValueError(error)
    files = render(name)
    target = parent / name
    target.mkdir(parents=False, exist_ok=False)
    for file_name, text in files.items():
        (target / file_name).write_text(text, encoding="utf-8")
    return target


def run(args: argparse.Namespace) -> int:
    """Scaffold; returns the exit code."""
    parent = Path(args.dir)
    try:
        target = scaffold(args.name, parent)
    except ValueError as exc:
        print(f"predictorapi init: {exc}", file=sys.stderr)
        return 2
    except FileExistsError:
        print(f"predictorapi init: {parent / args.name} already exists; choose another name or --dir",
              file=sys.stderr)
        return 1
    except FileNotFoundError:
        print(f"predictorapi init: folder {parent} does not exist", file=sys.stderr)
        return 1
    print(f"created {target}/ with {', '.join(FILES)}")
    print(f"next: predictorapi serve {target}")
    return 0
