#!/usr/bin/env python
"""Time of the `fetch-code` init container (`predictorapi fetch`) with a requirements file: no requirements,
a first install (pip runs), and a cache hit (the same file's install already on the packages volume).

    .venv/bin/python bench/requirements_install.py [--runs 3]

The requirements are tiny wheels built here and installed offline (`--no-index --find-links`), so the
figures are predictorapi's and pip's own overhead, not a download; real packages add their download
and unpack time to the first install only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from support.packages import git_repo, write_wheel  # noqa: E402  (the tests' wheel and repository builders)

PACKAGES = [f"benchdep{n}" for n in range(5)]


def fetch_seconds(work: Path, dest: str, requirements: bool) -> float:
    """Wall time of one `predictorapi fetch` into `work/dest`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREDICTORAPI_", "PIP_"))}
    env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(work / "wheels"), PIP_CONFIG_FILE=os.devnull)
    args = [sys.executable, "-m", "predictorapi.cli", "fetch", "--repo", str(work / "repo"), "--revision", "main",
            "--path", "model", "--dest", str(work / dest), "--packages-dir", str(work / "packages")]
    if requirements:
        args += ["--requirements", "requirements.txt"]
    started = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    """Print the median of each case over `--runs` runs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    work = Path(tempfile.mkdtemp(prefix="bench-requirements-"))
    try:
        for name in PACKAGES:
            write_wheel(work / "wheels", name, "1.0", "VALUE = 1\n")
        git_repo(work / "repo", {"model/predictor.py": "class PythonPredictor: ...\n",
                                 "model/requirements.txt": "".join(f"{n}==1.0\n" for n in PACKAGES)})
        cases: dict[str, list[float]] = {"no requirements": [], "first install": [], "cache hit": []}
        for run in range(runs):
            cases["no requirements"].append(fetch_seconds(work, f"plain-{run}", requirements=False))
            shutil.rmtree(work / "packages", ignore_errors=True)
            cases["first install"].append(fetch_seconds(work, f"first-{run}", requirements=True))
            cases["cache hit"].append(fetch_seconds(work, f"hit-{run}", requirements=True))
        print(f"predictorapi fetch, {len(PACKAGES)} requirements (offline wheels), median of {runs} runs")
        for case, seconds in cases.items():
            print(f"  {case:16s} {statistics.median(seconds):6.2f} s")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
