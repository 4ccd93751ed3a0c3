"""Soak and overload runs against a real runtime process (`python -m predictorapi`); prints numbers.

    python bench/soak.py                      # 20,000 requests at concurrency 64 (sleeps 5-20 ms,
                                              # maxConcurrency 16, maxQueueLength 64), RSS start/end
    python bench/soak.py --requests 2000      # shorter
    python bench/soak.py overload             # 4x (maxConcurrency + maxQueueLength): 503 latency

Every non-503 error (other status, connection error, timeout) is counted and printed; the exit code
is 1 when there was any. The harness (`Runtime`, `hammer`, `soak`, `overload`) is tests/support/soak.py, shared with
tests/reliability.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from support.soak import overload, soak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", choices=["soak", "overload"], default="soak")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-concurrency", type=int, default=None)
    parser.add_argument("--max-queue-length", type=int, default=None)
    parser.add_argument("--duration", type=float, default=6.0, help="overload: seconds under overload")
    args = parser.parse_args(argv)
    if args.mode == "soak":
        result = soak(args.requests, args.concurrency, args.max_concurrency or 16, args.max_queue_length or 64)
        failed = result["non_503_errors"] > 0
    else:
        result = overload(max_concurrency=args.max_concurrency or 4, max_queue_length=args.max_queue_length or 4,
                          duration=args.duration)
        failed = result["overload"]["non_503_errors"] > 0
    print(json.dumps(result, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    random.seed()
    sys.exit(main())
