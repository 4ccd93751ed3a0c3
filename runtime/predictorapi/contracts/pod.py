"""The pod the operator builds and the runtime image serves in: names, port, paths, image."""

from __future__ import annotations

from predictorapi.contracts.models import MODELS_DIR, MODELS_VOLUME

DEFAULT_RUNTIME_IMAGE = "ghcr.io/predictorapi/runtime:0.1.0"
"""The runtime base image (runtime/Dockerfile): serves git-sourced predictors, runs `predictorapi fetch`."""
HTTP_PORT = 8080
HTTP_PORT_NAME = "http"
RUNTIME_CONTAINER = "runtime"
FETCH_CONTAINER = "fetch-code"
"""The init container that checks out `spec.predictor.source.git` (`predictorapi fetch`)."""
MODEL_CONTAINER = "fetch-model"
"""The init container that downloads `spec.model` (`predictorapi fetch-model`)."""
INSTALL_CONTAINER = "install-packages"
"""The init container, after `fetch-code`, that pip-installs the predictor's requirements (`predictorapi
install-packages`): no credentials, only this API's packages folder writable."""
FAILING_INIT_CONTAINERS = (FETCH_CONTAINER, INSTALL_CONTAINER, MODEL_CONTAINER)
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
"""Where `install-packages` pip-installs the predictor's requirements (one folder per cache key), read-only in the
runtime container: an emptyDir, or this API's own folder of the model cache claim (a subPath)."""
PACKAGES_CACHE_FOLDER = "python-packages"
"""Folder of the model cache claim holding the installs, when the spec has one: each API mounts only its own
`python-packages/<namespace>/<name>` there (at PACKAGES_DIR)."""
PACKAGES_LINK_NAME = ".predictorapi-packages"
PACKAGES_LINK = f"{CODE_DIR}/{PACKAGES_LINK_NAME}"
"""Symlink, written by `install-packages`, to this pod's installed requirements: the runtime's `packages_path`
(`PREDICTORAPI_PACKAGES_PATH`), appended to `sys.path` after its own packages."""
MODEL_CACHE_FOLDER = "models"
"""Folder of the model cache claim holding the downloaded models: the only part of the claim that `fetch-model`
(read-write) and the runtime (read-only) mount (`subPath`); the claim's other folders are other APIs'."""
MODEL_VOLUME = "model"
"""The `spec.model` volume (mounted at MODEL_DIR)."""
MODEL_LINK_VOLUME = "model-link"
MODEL_LINK_DIR = "/srv/model-link"
"""A pod's own emptyDir where `fetch-model` links the folder it resolved (its cache key, known only once the
store has said which version it serves); read-only in the runtime container."""
MODEL_LINK = f"{MODEL_LINK_DIR}/model"
"""The symlink to this pod's model folder: the runtime container's `PREDICTORAPI_MODEL_PATH` for a download."""
MODEL_CLAIMS_DIR = "/srv/model-claims"
"""`spec.models` from `pvc://CLAIM/PATH`: each claim is mounted read-only at MODEL_CLAIMS_DIR/CLAIM in the
`model-store` and runtime containers (the store's `PVC_ROOT`; its versions are served from there, not copied)."""
MODEL_CLAIM_VOLUME_PREFIX = "predictorapi-models-"
"""The volumes of those claims: `predictorapi-models-0`, `-1`, ... (the reserved prefix)."""
RESERVED_VOLUMES = (TMP_VOLUME, CODE_VOLUME, GIT_CREDENTIALS_VOLUME, SHM_VOLUME, PACKAGES_VOLUME,
                    MODEL_VOLUME, MODEL_LINK_VOLUME, MODELS_VOLUME)
"""Volume names the operator uses; `spec.volumes` may not take them (nor any starting with `predictorapi-`)."""
RESERVED_VOLUME_PREFIX = "predictorapi-"
RESERVED_MOUNT_PATHS = ("/tmp", CODE_DIR, SHM_DIR, PACKAGES_DIR, MODEL_DIR, MODEL_LINK_DIR, MODELS_DIR,
                        MODEL_CLAIMS_DIR)
"""Mount paths the operator uses in the runtime container; `spec.volumeMounts` may not take them (nor any path
under MODEL_CLAIMS_DIR)."""
ACTIVATOR_SUFFIX = "-activator"
"""An API that scales to zero has a Deployment and a Service `NAME-activator` (`python -m predictorapi.activator`
in the runtime image): the longest child name suffix, which the API's name must leave room for."""
REPLICAS_SUFFIX = "-replicas"
"""... and a Service `NAME-replicas` of its runtime pods, where the activator forwards the requests it held."""
ACTIVATOR_CONTAINER = "activator"
