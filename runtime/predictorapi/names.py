"""Kubernetes' naming and value rules that a PredictorAPI's fields must follow.

Each rule is written once here, as a regular expression the CRD's schema carries (`pattern`, checked
by the API server with Go's RE2 and by `predictorapi validate` with Python's `re`: only the syntax
both share) or as a function for the checks `predictorapi validate` adds where a CRD cannot express
them. The sources are Kubernetes' own validators (`k8s.io/apimachinery/pkg/util/validation`,
`pkg/api/resource` for quantities, `pkg/apis/core/validation` for pods).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

INT32_MAX = 2**31 - 1
"""Largest value of a Kubernetes int32 field (replicas, ports, seconds, percents of an IntOrString)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
"""A DNS-1035 label (at most 63 characters): what a Service, and so a PredictorAPI, may be named."""
DNS1035_LABEL_MAX = 63

DNS1123_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
"""A DNS-1123 label (at most 63 characters): a namespace or a container name."""
DNS1123_LABEL_MAX = 63

_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS1123_SUBDOMAIN = rf"^{_SUBDOMAIN}$"
"""A DNS-1123 subdomain (at most 253 characters): what a Secret, ConfigMap or IngressClass may be named."""
DNS1123_SUBDOMAIN_MAX = 253

WILDCARD_DNS1123_SUBDOMAIN = rf"^([*][.])?{_SUBDOMAIN}$"
"""An Ingress host: a DNS-1123 subdomain, optionally with a leading `*.` wildcard."""

_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]"  # the name part of a qualified name: <= 63
QUALIFIED_NAME = rf"^({_SUBDOMAIN}/)?{_NAME}$"
"""A qualified name (label key, taint key): an optional DNS-subdomain prefix and `/`, then a name of at
most 63 alphanumerics, `-`, `_` or `.`, starting and ending with an alphanumeric."""
OPTIONAL_QUALIFIED_NAME = f"^$|{QUALIFIED_NAME}"
"""A qualified name, or empty (a toleration's key)."""
QUALIFIED_NAME_PREFIX_MAX = 253
QUALIFIED_NAME_MAX = QUALIFIED_NAME_PREFIX_MAX + 1 + 63

LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
"""A label value (at most 63 characters, may be empty); also a toleration's value."""
LABEL_VALUE_MAX = 63

EXTENDED_RESOURCE_NAME = rf"^{_SUBDOMAIN}/{_NAME}$"
"""An extended resource name (`nvidia.com/gpu`): a qualified name that has a prefix. Kubernetes also
requires `requests.` + the name to be a qualified name, so the prefix is at most 244 characters."""
EXTENDED_RESOURCE_PREFIX_MAX = QUALIFIED_NAME_PREFIX_MAX - len("requests.")
EXTENDED_RESOURCE_NAME_MAX = EXTENDED_RESOURCE_PREFIX_MAX + 1 + 63

ENV_VAR_NAME = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
"""A container environment variable name (Kubernetes' portable form; no `=`, no leading digit)."""

CONFIG_MAP_KEY = r"^[-._a-zA-Z0-9]+$"
"""A key of a Secret or ConfigMap (at most 253 characters, not `.`, `..` or starting with `..`)."""
CONFIG_MAP_KEY_MAX = 253

QUANTITY = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
"""A Kubernetes resource quantity (`k8s.io/apimachinery/pkg/api/resource.ParseQuantity`): a signed
decimal number, then nothing, a binary suffix (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m k M G T P E)
or a decimal exponent (`e3`, `E-2`)."""
NONNEGATIVE_QUANTITY = QUANTITY.replace("[+-]?", "[+]?", 1)
"""A quantity without a minus sign: what a request, a limit or a divisor may be."""

IMAGE = r"^[^\s]+$"
"""A container image reference: not empty, no whitespace."""

IPV4 = r"^(0*(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])[.]){3}0*(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$"
"""An IPv4 address as Kubernetes' (sloppy) parser reads one: leading zeros allowed."""

ENV_FIELD_PATH = (
    r"^(metadata[.](name|namespace|uid)|spec[.](nodeName|serviceAccountName)|status[.](hostIP|hostIPs|podIP|podIPs)"
    rf"|metadata[.]labels\['({_SUBDOMAIN}/)?{_NAME}'\]"
    rf"|metadata[.]annotations\['({_SUBDOMAIN.replace('a-z', 'A-Za-z')}/)?{_NAME}'\])$"
)
"""The pod fields an environment variable may expose (`env[].valueFrom.fieldRef.fieldPath`)."""

ENV_RESOURCE = r"^(limits|requests)[.](cpu|memory|ephemeral-storage|hugepages-[0-9]+([KMGTPE]i|[kMGTPE])?)$"
"""The container resources an environment variable may expose (`env[].valueFrom.resourceFieldRef`)."""

MODELS_URI = r"^(s3|gs|hf|pvc)://\S+$"
"""A `spec.models` URI: a folder that can be listed (not http(s)://, a single file)."""
MODEL_NAME = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
"""A model's name in `spec.models.paths`: lower case, digits, `-`, `_`, `.`."""

PATTERN_MESSAGES = {
    DNS1123_LABEL: "must be a DNS-1123 label: lower case letters, digits and '-', starting and ending with "
    "a letter or digit, at most 63 characters",
    DNS1123_SUBDOMAIN: "must be a DNS-1123 subdomain: lower case letters, digits, '-' and '.', starting and "
    "ending with a letter or digit, at most 253 characters (e.g. demo-key)",
    WILDCARD_DNS1123_SUBDOMAIN: "must be a DNS name: lower case letters, digits, '-' and '.', starting and "
    "ending with a letter or digit, optionally starting with '*.' (e.g. api.example.com or *.example.com)",
    QUALIFIED_NAME: "must be a qualified name: an optional DNS subdomain prefix and '/', then at most 63 "
    "letters, digits, '-', '_' or '.', starting and ending with a letter or digit (e.g. example.com/pool)",
    OPTIONAL_QUALIFIED_NAME: "must be empty or a qualified name: an optional DNS subdomain prefix and '/', then "
    "at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit (e.g. nvidia.com/gpu)",
    LABEL_VALUE: "must be a label value: empty, or at most 63 letters, digits, '-', '_' or '.', starting and "
    "ending with a letter or digit",
    EXTENDED_RESOURCE_NAME: "must be an extended resource name: a DNS subdomain, '/', then at most 63 "
    "letters, digits, '-', '_' or '.' (e.g. nvidia.com/gpu or amd.com/gpu)",
    ENV_VAR_NAME: "must be an environment variable name: letters, digits, '_', '-' or '.', not starting with "
    "a digit (e.g. MY_SETTING); '=' and spaces are not allowed",
    CONFIG_MAP_KEY: "must be a Secret or ConfigMap key: letters, digits, '-', '_' or '.' (e.g. api-key)",
    QUANTITY: "must be a Kubernetes quantity: a number with an optional suffix (e.g. 500m, 2, 1.5Gi, 1e3)",
    NONNEGATIVE_QUANTITY: "must be a non-negative Kubernetes quantity: a number with an optional suffix "
    "(n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or an exponent like e3), e.g. 500m, 2, 1.5Gi",
    IMAGE: "must be a container image reference: not empty and without whitespace "
    "(e.g. registry.example.com/team/predictor:1.0)",
    ENV_FIELD_PATH: "must be a pod field an environment variable can expose: metadata.name, metadata.namespace, "
    "metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, "
    "spec.serviceAccountName, status.hostIP, status.hostIPs, status.podIP or status.podIPs",
    ENV_RESOURCE: "must be a container resource an environment variable can expose: limits.cpu, "
    "limits.memory, limits.ephemeral-storage, requests.cpu, requests.memory, requests.ephemeral-storage "
    "or limits./requests.hugepages-SIZE",
    MODELS_URI: "must be a folder of models that can be listed: s3://BUCKET/PREFIX/, gs://BUCKET/PREFIX/, "
    "hf://ORG/NAME or pvc://CLAIM/PATH (not http(s)://: one file, not a folder)",
    MODEL_NAME: "must be a model name: lower case letters, digits, '-', '_' or '.', starting and ending with a "
    "letter or digit, at most 63 characters",
}
"""What each pattern allows, in words: `predictorapi validate` prints this instead of the regex."""


def _match(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), value) is not None


def dns1035_label_problem(name: str) -> str | None:
    """Why `name` is not a DNS-1035 label, or None when it is."""
    if len(name) > DNS1035_LABEL_MAX:
        return f"must be at most {DNS1035_LABEL_MAX} characters"
    if not re.match(DNS1035_LABEL, name):
        return ("must consist of lower case letters, digits and '-', start with a letter "
                "and end with a letter or digit (a DNS-1035 label)")
    return None


def dns1123_label_problem(name: str) -> str | None:
    """Why `name` is not a DNS-1123 label (a namespace), or None when it is."""
    if len(name) > DNS1123_LABEL_MAX or not _match(DNS1123_LABEL, name):
        return PATTERN_MESSAGES[DNS1123_LABEL]
    return None


def qualified_name_problem(key: str) -> str | None:
    """Why `key` is not a qualified name (a label or annotation key, a taint key), or None."""
    prefix, _, name = key.rpartition("/")
    if not _match(QUALIFIED_NAME, key) or len(prefix) > QUALIFIED_NAME_PREFIX_MAX or len(name) > 63:
        return PATTERN_MESSAGES[QUALIFIED_NAME]
    return None


def label_value_problem(value: str) -> str | None:
    """Why `value` is not a label value, or None when it is."""
    if len(value) > LABEL_VALUE_MAX or not _match(LABEL_VALUE, value):
        return PATTERN_MESSAGES[LABEL_VALUE]
    return None


_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def parse_quantity(quantity: str | int) -> Decimal:
    """The value of a Kubernetes quantity, as `resource.ParseQuantity` reads it; ValueError if it is none.

    Stricter than the kubernetes client's `parse_quantity` where Go is (no spaces, `_`, `inf` or `nan`).
    """
    if isinstance(quantity, int) and not isinstance(quantity, bool):
        return Decimal(quantity)
    if not isinstance(quantity, str) or not _match(QUANTITY, quantity):
        raise ValueError(f"{quantity!r} is not a Kubernetes quantity (e.g. 500m, 2, 1.5Gi, 1e3)")
    number = re.match(r"[+-]?[0-9.]*", quantity)
    assert number is not None
    suffix = quantity[number.end():]
    try:
        value = Decimal(number.group())
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise ValueError(f"{quantity!r} is not a number") from None
    if suffix in _BINARY_SUFFIXES:
        return value * 2 ** _BINARY_SUFFIXES[suffix]
    if suffix in _DECIMAL_SUFFIXES:
        return value.scaleb(_DECIMAL_SUFFIXES[suffix])
    return value.scaleb(int(suffix[1:]))


def quantity_format(quantity: str | int) -> str:
    """`BinarySI`, `DecimalSI` or `DecimalExponent`: how Kubernetes writes a quantity back (its suffix)."""
    text = str(quantity)
    if text.endswith("i"):
        return "BinarySI"
    return "DecimalExponent" if re.search(r"[eE][+-]?[0-9]+$", text) else "DecimalSI"


_CPU_DIVISORS = {Decimal("0.001"), Decimal(1)}
_BYTE_DIVISORS_DECIMAL = {Decimal(10) ** e for e in (0, 3, 6, 9, 12, 15, 18)}
_BYTE_DIVISORS_BINARY = {Decimal(2) ** e for e in (0, 10, 20, 30, 40, 50, 60)}


def divisor_problem(resource: str, divisor: str | int) -> str | None:
    """Why `divisor` cannot divide the exposed container `resource` (Kubernetes' canonical divisors), or None."""
    value, form = parse_quantity(divisor), quantity_format(divisor)
    if value == 0 or value == 1:  # unset, or the canonical `1`
        return None
    if resource.endswith(".cpu"):
        if value in _CPU_DIVISORS and form == "DecimalSI":
            return None
        return "only 1m and 1 are supported as the divisor of a cpu resource"
    binary = form == "BinarySI" and value in _BYTE_DIVISORS_BINARY
    if binary or (form == "DecimalSI" and value in _BYTE_DIVISORS_DECIMAL):
        return None
    return (f"only 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi and 1Ei are supported as the divisor "
            f"of {resource}")
