"""Rolling update under load, without losing a request; prints counts.

    python bench/rolling.py                   # 6,000 requests at concurrency 32 over 2 replicas
    python bench/rolling.py --requests 1500

How the update is driven and what counts as `ok`, `refused` or `lost`: tests/support/rolling.py, the
harness shared with tests/reliability. The exit code is 1 if any request was lost or a replica exited
non-zero.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.rolling import rolling


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)
    result = rolling(args.requests, args.concurrency)
    print(json.dumps(result, indent=2))
    clean = result["lost"] == 0 and all(code == 0 for code in result["exit_codes"].values())
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
