"""`python -m predictorapi.activator`: the activator of one API, configured by `PREDICTORAPI_ACTIVATOR_*`."""

import sys

from predictorapi.activator.server import main

if __name__ == "__main__":
    sys.exit(main())
