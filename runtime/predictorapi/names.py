"""Kubernetes' naming rules that a PredictorAPI's fields must follow."""

from __future__ import annotations

import re

DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
"""A DNS-1035 label (at most 63 characters): what a Service, and so a PredictorAPI, may be named."""
DNS1035_LABEL_MAX = 63


def dns1035_label_problem(name: str) -> str | None:
    """Why `name` is not a DNS-1035 label, or None when it is."""
    if len(name) > DNS1035_LABEL_MAX:
        return f"must be at most {DNS1035_LABEL_MAX} characters"
    if not re.match(DNS1035_LABEL, name):
        return ("must consist of lower case letters, digits and '-', start with a letter "
                "and end with a letter or digit (a DNS-1035 label)")
    return None
