"""The predictorapi operator: `kopf run -m predictorapi_operator.handlers --all-namespaces`.

Importing this package does nothing; `predictorapi_operator.handlers` is the module that registers the
kopf handlers (kopf's convention: `kopf run -m` imports it and runs what it registered).
`python -m predictorapi_operator` runs the same with settings from `PREDICTORAPI_OPERATOR_*`.
"""
