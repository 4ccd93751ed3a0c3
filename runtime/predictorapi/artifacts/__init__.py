"""Model artifacts (`spec.model`): download an `s3://`, `gs://`, `https://`, `http://` or `hf://` URI into a
cache folder once (`predictorapi fetch-model`, the `fetch-model` init container, and `predictorapi serve`),
or find a `pvc://` claim's folder. One module per scheme; `fetch` ties them to the cache.

Each scheme's client is imported only when a URI of that scheme is fetched.
"""
