"""`python -m predictorapi`: the container entry point, configured by `PREDICTORAPI_*` variables."""

import sys

from predictorapi.runtime.settings import RuntimeSettings


def main() -> int:
    """Serve; with `PREDICTORAPI_PROCESSES` > 1, supervise that many workers (without importing the server)."""
    settings = RuntimeSettings()
    if settings.processes > 1:
        from predictorapi.runtime.supervisor import supervise

        return supervise(settings)
    from predictorapi.runtime.server import serve

    return serve(settings)


if __name__ == "__main__":
    sys.exit(main())
