#!/usr/bin/env bash
# Install everything predictorapi needs to serve and to run its tests, into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# System tools the test suite uses: promtool/prometheus (alert rules, real scrape tests).
if ! command -v promtool >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: the CPU wheel (an unpinned torch pulls GBs of CUDA packages).
.venv/bin/python -m pip install -q torch==2.13.0
# The two distributions (runtime/, operator/) editable, and the development entry point (.) that needs both.
.venv/bin/python -m pip install -q -e ./runtime -e ./operator -e '.[ml,test]'
# The Prometheus Operator's ServiceMonitor schema (npm), for the builder tests.
if command -v npm >/dev/null 2>&1; then
  (cd tests/support/node && npm ci --no-audit --no-fund --silent)
fi
