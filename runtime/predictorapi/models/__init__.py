"""Many models behind one API (`spec.models`, issue 27), as Cortex v0.30's multi-model caching and live reloading.

- `listing`: the models and their versions under `uri` / `paths` / `dir` (s3, gs, hf, pvc).
- `store` / `store_server`: the model store (`predictorapi model-store`, the `model-store` container): the listing
  (every `pollSeconds`, and on demand), the disk tier (an LRU of `diskCacheSize` version folders, downloaded with
  `predictorapi.artifacts`), and its pod-local HTTP API (`predictorapi.contracts.models`).
- `client`: a runtime process's memory tier (`ModelCache`, an LRU of `cacheSize` loaded objects with single-flight
  loads, request pins and live reloading) and the predictor's `python_client` (`PythonClient.get_model`).
- `errors`: `ModelNotFound` (a 404 naming the model and version) and `ModelUnavailable`.
"""
