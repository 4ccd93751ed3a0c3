"""The pod the operator builds and the runtime image serves in: names, port, paths, image."""

from __future__ import annotations

DEFAULT_RUNTIME_IMAGE = "ghcr.io/predictorapi/runtime:0.1.0"
"""The runtime base image (runtime/Dockerfile): serves git-sourced predictors, runs `predictorapi fetch`."""
HTTP_PORT = 8080
HTTP_PORT_NAME = "http"
RUNTIME_CONTAINER = "runtime"
FETCH_CONTAINER = "fetch-code"
"""The init container that checks out `spec.predictor.source.git` (`predictorapi fetch`)."""
CODE_DIR = "/srv/code"
"""Where the fetched code lies, shared by the fetch and runtime containers."""
GIT_CREDENTIALS_DIR = "/etc/predictorapi/git-credentials"
"""Where the git credentials Secret is mounted in the fetch container."""
TERMINATION_LOG = "/dev/termination-log"
"""Kubernetes' default termination message file."""
