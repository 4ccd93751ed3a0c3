"""How the init-container commands (`fetch`, `fetch-model`) report: Kubernetes' termination log and stderr."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from predictorapi.contracts.pod import TERMINATION_LOG
from predictorapi.contracts.termination import MAX_LENGTH


def termination_log(configured: str | None) -> Path | None:
    """The explicit file, or Kubernetes' `/dev/termination-log` only where it exists (never create it)."""
    if configured:
        return Path(configured)
    default = Path(TERMINATION_LOG)
    return default if default.is_file() else None


def write(log: Path | None, text: str) -> None:
    """Write `text` (cut to what Kubernetes keeps) to the termination log, when there is one."""
    if log is None:
        return
    with contextlib.suppress(OSError):  # not writable: the message is on stderr anyway
        log.write_text(text[:MAX_LENGTH])


def fail(log: Path | None, line: str, code: int) -> int:
    """Report the one failure line (termination log and stderr); returns `code`."""
    write(log, line)
    print(line, file=sys.stderr, flush=True)
    return code
