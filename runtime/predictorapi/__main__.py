"""`python -m predictorapi`: the container entry point, configured by `PREDICTORAPI_*` variables."""

import sys

from predictorapi.runtime.server import serve
from predictorapi.runtime.settings import RuntimeSettings

if __name__ == "__main__":
    sys.exit(serve(RuntimeSettings()))
