"""`python -m predictorapi_operator`: run the operator with settings from `PREDICTORAPI_OPERATOR_*`."""

from __future__ import annotations

import kopf

from predictorapi_operator.settings import OperatorSettings


def main() -> None:
    """Run kopf: cluster-wide or the listed namespaces, kopf peering unless standalone, a /healthz."""
    import predictorapi_operator.handlers  # noqa: F401  (registers the handlers)

    settings = OperatorSettings()
    standalone = settings.standalone
    # As `kopf run` does before running: INFO logs to stderr (kopf.run() alone leaves logging unconfigured,
    # so `kubectl logs` would show only warnings).
    kopf.configure(debug=False, verbose=False, quiet=False, log_prefix=True)  # `[namespace/name]` on object lines
    kopf.run(
        clusterwide=not settings.namespaces,
        namespaces=settings.namespaces,
        standalone=standalone,
        peering_name=None if standalone else settings.peering,
        liveness_endpoint=f"http://0.0.0.0:{settings.liveness_port}/healthz",
    )


if __name__ == "__main__":
    main()
