"""The Argo CD health check of PredictorAPI, run as Argo CD runs it: Lua 5.1 in a sandbox.

Argo CD (gopher-lua) opens only the base, table, package and a reduced os library, sets the
resource as the global `obj` and takes the script's return value. Here lupa's Lua 5.1 runs every
case of `health_test.yaml` with the string, math, io, os, debug libraries and every way of
loading code removed, and the status and message must match exactly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

lupa = pytest.importorskip("lupa.lua51")

REPO = Path(__file__).resolve().parents[2]
CHECK_DIR = REPO / "argocd" / "resource_customizations" / "serving.predictorapi.dev" / "PredictorAPI"
HEALTH_LUA = CHECK_DIR / "health.lua"
CM_KEY = "resource.customizations.health.serving.predictorapi.dev_PredictorAPI"

# Globals Argo CD's sandbox does not offer (or that would reach outside it).
FORBIDDEN = ("io", "os", "debug", "string", "math", "coroutine", "package", "require",
             "dofile", "loadfile", "load", "loadstring", "module", "getfenv", "setfenv",
             "rawset", "rawget", "collectgarbage", "newproxy", "print")
ARGO_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

CASES = yaml.safe_load((CHECK_DIR / "health_test.yaml").read_text())["tests"]


def _to_lua(runtime: Any, value: Any) -> Any:
    """Python YAML data → Lua values, as Argo CD decodes JSON (null fields simply absent)."""
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items() if v is not None})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value if v is not None])
    return value


def run_health_check(obj: dict[str, Any], script: str | None = None) -> dict[str, Any]:
    """Run the health check on `obj` in an Argo-like sandbox; returns `{"status", "message"}`."""
    runtime = lupa.LuaRuntime(unpack_returned_tuples=False, register_eval=False, register_builtins=False)
    # No string methods either (`("x"):sub(1)`): Argo CD never opens the string library.
    runtime.execute("debug.setmetatable('', nil)")
    env = runtime.globals()
    for name in FORBIDDEN:
        env[name] = None
    env["python"] = None
    env["obj"] = _to_lua(runtime, obj)
    result = runtime.execute(script if script is not None else HEALTH_LUA.read_text())
    assert result is not None and lupa.lua_type(result) == "table", "the script must return a table"
    return {"status": result["status"], "message": result["message"] if result["message"] is not None else ""}


def test_script_uses_no_library_argo_cd_lacks() -> None:
    code = "\n".join(line.split("--", 1)[0] for line in HEALTH_LUA.read_text().splitlines())
    used = {name for name in FORBIDDEN if re.search(rf"(?<![\w.]){name}\s*[.(:\[]", code)}
    assert not used, f"health.lua uses {sorted(used)}, which Argo CD's Lua sandbox does not provide"
    assert not re.search(r"[\"')\]]\s*:\s*\w+\s*\(", code), "string methods need the string library"


def test_sandbox_really_lacks_the_libraries() -> None:
    for probe in ("return io.open('/etc/passwd')", "return os.getenv('HOME')", "return require('os')",
                  "return ('abc'):upper()", "return string.len('a')", "return loadstring('return 1')"):
        with pytest.raises(lupa.LuaError):
            run_health_check({}, probe)


@pytest.mark.parametrize("case", CASES, ids=[Path(c["inputPath"]).stem for c in CASES])
def test_health_test_yaml_case(case: dict[str, Any]) -> None:
    obj = yaml.safe_load((CHECK_DIR / case["inputPath"]).read_text())
    expected = case["healthStatus"]
    assert expected["status"] in ARGO_STATUSES
    assert run_health_check(obj) == {"status": expected["status"], "message": expected.get("message", "")}


def test_every_testdata_file_has_a_case() -> None:
    listed = {Path(c["inputPath"]).name for c in CASES}
    assert listed == {p.name for p in (CHECK_DIR / "testdata").glob("*.yaml")}


@pytest.mark.parametrize("path", sorted((CHECK_DIR / "testdata").glob("*.yaml")), ids=lambda p: p.stem)
def test_testdata_are_valid_predictorapis(path: Path) -> None:
    """The inputs use the real spec and status field names (drift between Lua and the model)."""
    from predictorapi.spec import PredictorAPI, PredictorAPIStatus

    obj = yaml.safe_load(path.read_text())
    PredictorAPI.model_validate(obj)
    if "status" in obj:
        PredictorAPIStatus.model_validate(obj["status"])


def test_argocd_cm_embeds_the_same_lua_byte_for_byte() -> None:
    cm = yaml.safe_load((REPO / "argocd" / "argocd-cm.yaml").read_text())
    assert cm["kind"] == "ConfigMap" and cm["metadata"]["name"] == "argocd-cm"
    assert cm["data"][CM_KEY] == HEALTH_LUA.read_text(), (
        "argocd/argocd-cm.yaml is out of date: copy health.lua into its "
        f"{CM_KEY} block (indented by four spaces)"
    )


def test_argocd_cm_application_health_check_reports_child_health() -> None:
    """The restored Application health check, which lets the app-of-apps waves wait for each child."""
    cm = yaml.safe_load((REPO / "argocd" / "argocd-cm.yaml").read_text())
    script = cm["data"]["resource.customizations.health.argoproj.io_Application"]
    degraded = {"status": {"health": {"status": "Degraded", "message": "boom"}}}
    assert run_health_check(degraded, script) == {"status": "Degraded", "message": "boom"}
    assert run_health_check({"status": {}}, script) == {"status": "Progressing", "message": ""}


def test_generation_message_has_no_decimal_point() -> None:
    """Lua 5.1 numbers are doubles: the generation must still print as an integer."""
    obj = {"metadata": {"name": "x", "generation": 12}, "status": {"observedGeneration": 11}}
    assert run_health_check(obj)["message"] == "Waiting for the operator to observe generation 12"
