"""The predictorapi operator: `kopf run -m predictorapi_operator --all-namespaces`.

Importing the package registers the kopf handlers (kopf's own convention: `kopf run -m` imports the
module and runs what it registered); registering does no I/O.
"""

from predictorapi_operator import handlers as handlers
