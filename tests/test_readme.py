"""The README's set-up promises hold: its serve command answers its curl."""

from __future__ import annotations

import json
import re
import shlex
import subprocess

import pytest
from support.processes import REPO, free_port, running

pytestmark = pytest.mark.slow

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```bash\n(.*?)```", README, re.S)


def test_readme_set_up_has_the_two_commands_ci_runs() -> None:
    install_and_serve, _curl, test_command = BLOCKS[:3]
    assert install_and_serve.startswith("bash scripts/setup.sh && ")
    assert test_command.strip() in (REPO / ".ci" / "run").read_text().splitlines()


def test_readme_serve_answers_readme_curl() -> None:
    serve = BLOCKS[0].strip().split(" && ", 1)[1]
    curl = BLOCKS[1].strip()
    port = free_port()
    args = [part.replace(".venv/bin/predictorapi", str(REPO / ".venv/bin/predictorapi"))
            for part in shlex.split(serve)] + ["--port", str(port)]
    with running(args, port, env={"HF_HUB_OFFLINE": "1"}):
        out = subprocess.run(shlex.split(curl.replace("localhost:8080", f"127.0.0.1:{port}")),
                             capture_output=True, text=True, timeout=60, check=True).stdout
    answer = json.loads(out)
    assert answer["results"][0]["document"] == "Ship it with a PredictorAPI manifest"
