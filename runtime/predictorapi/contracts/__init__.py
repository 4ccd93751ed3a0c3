"""What two parts of predictorapi must agree on, defined once and imported by both sides.

- `env`: the `PREDICTORAPI_*` environment variable names (operator → runtime and fetch containers).
- `metrics`: metric names (runtime → HPA, ServiceMonitor, alert rules).
- `labels`: labels and annotations on children (operator → operator, kubectl, tests).
- `kinds`: the kinds of children and where the API serves them (operator ↔ the tests' emulator).
- `pod`: container names, port, paths and the default runtime image (builders ↔ runtime image).
- `termination`: the `fetch-code`, `install-packages` and `fetch-model` init containers' termination message
  (fetch, install-packages, fetch-model → operator status).

Pure constants and functions: no I/O.
"""
