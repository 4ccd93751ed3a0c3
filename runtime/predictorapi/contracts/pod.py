"""The pod the operator builds and the runtime image serves in: names, port, paths, image."""

from __future__ import annotations

DEFAULT_RUNTIME_IMAGE = "ghcr.io/predictorapi/runtime:0.1.0"
"""The runtime base image (runtime/Dockerfile): serves git-sourced predictors, runs `predictorapi fetch`."""
HTTP_PORT = 8080
HTTP_PORT_NAME = "http"
RUNTIME_CONTAINER = "runtime"
FETCH_CONTAINER = "fetch-code"
"""The init container that checks out `spec.predictor.source.git` (`predictorapi fetch`)."""
MODEL_CONTAINER = "fetch-model"
"""The init container that downloads `spec.model` (`predictorapi fetch-model`)."""
FAILING_INIT_CONTAINERS = (FETCH_CONTAINER, MODEL_CONTAINER)
"""Init containers whose termination message on failure is `<Reason>: <detail>` (see `termination`)."""
MODEL_DIR = "/srv/model"
"""Where the model volume (the cache PVC, an emptyDir, or the `pvc://` claim) is mounted: read-write in the
`fetch-model` container, read-only in the runtime container."""
CODE_DIR = "/srv/code"
"""Where the fetched code lies, shared by the fetch and runtime containers."""
GIT_CREDENTIALS_DIR = "/etc/predictorapi/git-credentials"
"""Where the git credentials Secret is mounted in the fetch container."""
TERMINATION_LOG = "/dev/termination-log"
"""Kubernetes' default termination message file."""
TMP_VOLUME = "tmp"
CODE_VOLUME = "code"
GIT_CREDENTIALS_VOLUME = "git-credentials"
SHM_VOLUME = "dshm"
SHM_DIR = "/dev/shm"
"""`compute.sharedMemory`: an in-memory emptyDir mounted over the container's 64 MiB /dev/shm."""
PACKAGES_VOLUME = "python-packages"
PACKAGES_DIR = "/srv/python-packages"
"""Where `fetch-code` pip-installs the predictor's requirements, one folder per requirements file hash."""
PACKAGES_CACHE_FOLDER = "python-packages"
"""Folder of the model cache claim (mounted at PACKAGES_DIR) holding the installs, when the spec has one."""
PACKAGES_LINK_NAME = ".predictorapi-packages"
PACKAGES_LINK = f"{CODE_DIR}/{PACKAGES_LINK_NAME}"
"""Symlink, written by `fetch-code`, to this pod's installed requirements: on the runtime's PYTHONPATH."""
MODEL_VOLUME = "model"
"""The `spec.model` volume (mounted at MODEL_DIR)."""
RESERVED_VOLUMES = (TMP_VOLUME, CODE_VOLUME, GIT_CREDENTIALS_VOLUME, SHM_VOLUME, PACKAGES_VOLUME,
                    MODEL_VOLUME)
"""Volume names the operator uses; `spec.volumes` may not take them (nor any starting with `predictorapi-`)."""
RESERVED_VOLUME_PREFIX = "predictorapi-"
RESERVED_MOUNT_PATHS = ("/tmp", CODE_DIR, SHM_DIR, PACKAGES_DIR, MODEL_DIR)
"""Mount paths the operator uses in the runtime container; `spec.volumeMounts` may not take them."""
