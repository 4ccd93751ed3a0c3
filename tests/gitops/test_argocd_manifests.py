"""The Argo CD install (argocd/): valid Application/AppProject objects, safe ordering, real paths."""

from __future__ import annotations

import fnmatch
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from gitops.argocd_schema import SCHEMAS

jsonschema = pytest.importorskip("jsonschema")

REPO = Path(__file__).resolve().parents[2]
ARGOCD = REPO / "argocd"
REPO_URL = "https://github.com/predictorapi/predictorapi.git"


def argo_objects() -> list[tuple[Path, dict[str, Any]]]:
    """Every Argo CD object under argocd/ (the health-check test data and argocd-cm excluded)."""
    found = []
    for path in sorted(ARGOCD.rglob("*.yaml")):
        if "resource_customizations" in path.parts or path.name == "argocd-cm.yaml":
            continue
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


OBJECTS = argo_objects()
APPS = {doc["metadata"]["name"]: doc for _, doc in OBJECTS if doc["kind"] == "Application"}


def wave(doc: dict[str, Any]) -> int:
    return int(doc["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


def app_with_path(path: str) -> dict[str, Any]:
    (app,) = [a for a in APPS.values() if a["spec"]["source"]["path"] == path]
    return app


@pytest.mark.parametrize("path,doc", OBJECTS, ids=[f"{p.relative_to(ARGOCD)}:{d['kind']}" for p, d in OBJECTS])
def test_matches_argo_cd_schema(path: Path, doc: dict[str, Any]) -> None:
    schema = SCHEMAS[doc["kind"]]
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_schema_refuses_typos() -> None:
    schema = SCHEMAS["Application"]
    bad = yaml.safe_load(yaml.safe_dump(app_with_path("examples")))
    bad["spec"]["syncPolicy"]["syncOption"] = bad["spec"]["syncPolicy"].pop("syncOptions")
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad)
    bad = yaml.safe_load(yaml.safe_dump(app_with_path("crds")))
    bad["spec"]["syncPolicy"]["syncOptions"] = ["ServerSideApply=yes"]
    assert not jsonschema.Draft202012Validator(schema).is_valid(bad)


def test_expected_objects() -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for _, d in OBJECTS)
    assert ("AppProject", "predictorapi") in kinds
    assert {"crds", "operator/deploy", "examples", "monitoring", "argocd/apps"} == {
        a["spec"]["source"]["path"] for a in APPS.values()
    }


def test_sync_waves_order_crd_operator_predictors() -> None:
    project = next(d for _, d in OBJECTS if d["kind"] == "AppProject")
    crds, operator, examples = app_with_path("crds"), app_with_path("operator/deploy"), app_with_path("examples")
    assert wave(project) < wave(crds) < wave(operator) < wave(examples)


def test_project_admits_every_cluster_scoped_object_the_apps_install() -> None:
    project = next(d for _, d in OBJECTS if d["kind"] == "AppProject")
    allowed = {(r["group"], r["kind"]) for r in project["spec"]["clusterResourceWhitelist"]}
    rendered = subprocess.run(["kubectl", "kustomize", str(REPO / "operator" / "deploy")], capture_output=True,
                              text=True, check=True).stdout
    cluster_scoped = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                      "ClusterKopfPeering"}
    for doc in yaml.safe_load_all(rendered):
        if doc["kind"] in cluster_scoped:
            group = doc["apiVersion"].rpartition("/")[0]
            assert (group, doc["kind"]) in allowed, f"the AppProject refuses {doc['kind']}"


def test_every_application_uses_the_project_and_this_repo() -> None:
    project = next(d for _, d in OBJECTS if d["kind"] == "AppProject")
    allowed = {(d.get("server"), d["namespace"]) for d in project["spec"]["destinations"]}
    for app in APPS.values():
        assert app["spec"]["project"] == project["metadata"]["name"]
        assert app["spec"]["source"]["repoURL"] in project["spec"]["sourceRepos"]
        assert app["spec"]["source"]["repoURL"] == REPO_URL
        dest = app["spec"]["destination"]
        assert (dest.get("server"), dest.get("namespace")) in allowed, f"{app['metadata']['name']}: destination"


@pytest.mark.parametrize("name", sorted(APPS))
def test_source_path_exists_in_this_repo(name: str) -> None:
    source = APPS[name]["spec"]["source"]
    path = REPO / source["path"]
    assert path.is_dir(), f"{name}: source path {source['path']} does not exist in this repository"
    pattern = "**/*.yaml" if source.get("directory", {}).get("recurse") else "*.yaml"
    assert (path / "kustomization.yaml").is_file() or any(path.glob(pattern)), (
        f"{name}: source path {source['path']} holds no manifest"
    )


def test_crd_application_is_safe() -> None:
    app = app_with_path("crds")
    options = app["spec"]["syncPolicy"]["syncOptions"]
    assert "ServerSideApply=true" in options
    assert app["spec"]["syncPolicy"]["automated"]["prune"] is False and "Prune=false" in options
    assert "finalizers" not in app["metadata"], "deleting the Application must not delete the CRD (and all APIs)"


def test_operator_application_creates_its_namespace() -> None:
    assert "CreateNamespace=true" in app_with_path("operator/deploy")["spec"]["syncPolicy"]["syncOptions"]


def test_predictors_application_syncs_only_predictorapi_manifests() -> None:
    app = app_with_path("examples")
    source = app["spec"]["source"]
    assert source["directory"]["recurse"] is True
    assert {"SkipDryRunOnMissingResource=true", "CreateNamespace=true"} <= set(app["spec"]["syncPolicy"]["syncOptions"])
    assert "ignoreDifferences" not in app["spec"], "nothing but git owns a PredictorAPI's spec"
    # Argo CD matches `include` against the path relative to the source path; `*` also crosses '/'.
    root = REPO / source["path"]
    manifests = [p for p in root.rglob("*") if p.suffix in (".yaml", ".yml", ".json")
                 and fnmatch.fnmatchcase(p.relative_to(root).as_posix(), source["directory"]["include"])]
    assert manifests, "the include pattern matches no file"
    for manifest in manifests:
        for doc in yaml.safe_load_all(manifest.read_text()):
            assert doc["kind"] == "PredictorAPI", manifest
    example_dirs = {p.parent for p in root.glob("*/predictor.py")}
    assert example_dirs <= {m.parent for m in manifests}, "an example's manifest is not synced"


OPTIONAL = ARGOCD / "optional"


def test_apps_folder_holds_the_children_and_root_points_at_it() -> None:
    root = app_with_path("argocd/apps")
    assert wave(root) == 0 and root["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    children = {d["metadata"]["name"] for p, d in OBJECTS if p.parent == ARGOCD / "apps"}
    optional = {d["metadata"]["name"] for p, d in OBJECTS if p.parent == OPTIONAL}
    assert children == {n for n in APPS if n != root["metadata"]["name"]} - optional | {"predictorapi"}


def test_monitoring_is_an_opt_in_the_root_does_not_sync() -> None:
    """The monitoring Application needs the Prometheus Operator's CRDs: the default install leaves it out."""
    monitoring = app_with_path("monitoring")
    (path,) = [p for p, d in OBJECTS if d is monitoring]
    assert path.parent == OPTIONAL, "argocd/apps/ is synced by the root: monitoring must not be in it"
    assert f"kubectl apply -n argocd -f {path.relative_to(REPO)}" in path.read_text()
    docs = (REPO / "docs" / "gitops.md").read_text()
    assert f"`{path.relative_to(REPO)}`" in docs and f"kubectl apply -n argocd -f {path.relative_to(REPO)}" in docs


def test_app_of_apps_waits_on_child_health() -> None:
    """Argo CD >= 1.8 does not assess Application health unless argocd-cm restores it (waves would not wait)."""
    cm = yaml.safe_load((ARGOCD / "argocd-cm.yaml").read_text())
    assert "resource.customizations.health.argoproj.io_Application" in cm["data"]


def test_pre_commit_hook() -> None:
    import re

    from predictorapi.cli import COMMANDS

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "predictorapi-validate"]
    assert hook["entry"].split()[:2] == ["predictorapi", "validate"] and "validate" in COMMANDS
    assert hook["language"] == "python"
    pattern = re.compile(hook["files"])
    for manifest in (REPO / "examples").glob("*/predictorapi.yaml"):
        assert pattern.search(manifest.relative_to(REPO).as_posix())
    for other in ("examples/x/predictor.py", "argocd/apps/crds.yaml", ".pre-commit-hooks.yaml"):
        assert not pattern.search(other)


def test_docs_name_only_files_that_exist() -> None:
    import re

    docs = (REPO / "docs" / "gitops.md").read_text()
    for path in set(re.findall(r"`((?:argocd|crds|operator|examples)/[\w./-]*)`", docs)):
        assert (REPO / path.rstrip("/")).exists() or path == "operator/deploy", f"docs/gitops.md names {path}"
