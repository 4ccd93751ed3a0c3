#!/usr/bin/env bash
# Install everything predictorapi needs to serve and to run its tests: the Python side into ./.venv,
# and the system tools the tests run (promtool/prometheus, shellcheck, npm, and the container tier's podman,
# runc and mmdebstrap from Debian/Ubuntu packages; kubectl, the official binary). System tools are installed when this runs as root or with passwordless
# sudo; otherwise a missing one stops the script with a message naming it, before anything else.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
KUBECTL_VERSION=${KUBECTL_VERSION:-v1.32.4}

SUDO=
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=sudo  # e.g. a GitHub Actions runner
fi
may_install() { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }
have() { command -v "$1" >/dev/null 2>&1; }

# Debian/Ubuntu packages: promtool and prometheus (alert rules, real scrape tests), shellcheck
# (scripts/*.sh), npm (the Prometheus Operator's ServiceMonitor schema, for the builder tests).
packages=()
have promtool || packages+=(prometheus)
have shellcheck || packages+=(shellcheck)
have npm || packages+=(npm)
# The container tier (tests/containers): podman builds the Dockerfiles and plays rendered pods, on runc
# (crun refuses some kernels' hybrid cgroups), with catatonit as the pods' init; mmdebstrap makes the base
# image from Debian packages where no container registry is reachable.
have podman || packages+=(podman)
have runc || packages+=(runc)
[ -x /usr/libexec/podman/catatonit ] || have catatonit || packages+=(catatonit)
have mmdebstrap || packages+=(mmdebstrap)
if [ ${#packages[@]} -gt 0 ] && have apt-get && may_install; then
  echo "setup.sh: installing ${packages[*]} (apt-get)"
  $SUDO apt-get update -qq >/dev/null
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# kubectl (the tests render every kustomization with it, as `kubectl apply -k` does): Debian has no
# current package, so the release binary from dl.k8s.io, checked against its published SHA-256.
if ! have kubectl && may_install; then
  case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac
  url="https://dl.k8s.io/release/$KUBECTL_VERSION/bin/linux/$arch/kubectl"
  tmp=$(mktemp -d)
  echo "setup.sh: installing kubectl $KUBECTL_VERSION from $url"
  if "$PY" -c 'import sys, urllib.request; [urllib.request.urlretrieve(u, f) for u, f in zip(sys.argv[1::2], sys.argv[2::2])]' \
      "$url" "$tmp/kubectl" "$url.sha256" "$tmp/kubectl.sha256" \
    && echo "$(cat "$tmp/kubectl.sha256")  $tmp/kubectl" | sha256sum --check --quiet; then
    $SUDO install -m 0755 "$tmp/kubectl" /usr/local/bin/kubectl
  fi
  rm -rf "$tmp"
fi

missing=()
have promtool || missing+=("promtool and prometheus: the Debian/Ubuntu package 'prometheus'")
have shellcheck || missing+=("shellcheck: the Debian/Ubuntu package 'shellcheck'")
have npm || missing+=("npm (Node.js 18 or newer): the Debian/Ubuntu package 'npm'")
have kubectl || missing+=("kubectl $KUBECTL_VERSION or newer: https://kubernetes.io/docs/tasks/tools/")
have podman || missing+=("podman (the container tests): the Debian/Ubuntu package 'podman'")
have runc || missing+=("runc (podman's runtime in the container tests): the Debian/Ubuntu package 'runc'")
have mmdebstrap || missing+=("mmdebstrap (the container tests' base image): the Debian/Ubuntu package 'mmdebstrap'")
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: the test suite needs these tools, which are missing and were not installed" >&2
  echo "(run this script as root or with passwordless sudo to install them, or install them yourself):" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch first and pinned: the CPU wheel (an unpinned torch pulls GBs of CUDA packages).
.venv/bin/python -m pip install -q torch==2.13.0
# The two distributions (runtime/, operator/) editable, and the development entry point (.) that needs both.
.venv/bin/python -m pip install -q -e ./runtime -e ./operator -e '.[ml,test]'
# The Prometheus Operator's ServiceMonitor schema (npm), for the builder tests.
(cd tests/support/node && npm ci --no-audit --no-fund --silent)
