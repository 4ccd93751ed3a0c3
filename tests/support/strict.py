"""What a real API server refuses, for the tests' emulator: admission of built-in objects and custom resources.

Built-in kinds (Deployment, Service, Pod, HorizontalPodAutoscaler autoscaling/v2, PodDisruptionBudget
policy/v1, Ingress networking.k8s.io/v1) are checked against the official OpenAPI schemas that
`kubernetes_validate` ships (the newest Kubernetes it knows, strict: unknown fields refused), walked by
hand so that each problem names its field the way the API server does, plus what those schemas do not
encode and the API server's validation code does: quantity syntax and signs, object names (DNS-1035
labels for Services, DNS-1123 subdomains for the rest), label keys and values, annotation keys and
their total size, int32 bounds, environment variable names, selectors, ports, probes, volumes,
tolerations, rollout parameters, HPA targets, PDB budgets, Ingress hosts and paths. Updates are checked
on the merged result; a Deployment's `spec.selector` is immutable. Resource quantities are stored in
their canonical form (`1.5` → `1500m`, `0.5Gi` → `512Mi`), as the API server stores them.

Custom resources are checked from the CRD files themselves (read when an `Admission` is made, never
copied): OpenAPI defaults are applied, then the structural schema (types, bounds, patterns, enums,
required fields, list types; unknown fields refused except under `x-kubernetes-preserve-unknown-fields`),
then every `x-kubernetes-validations` CEL rule (`cel`), on create and on update, with the API server's
ratcheting on update (an unchanged value is not re-checked). ServiceMonitors, whose CRD is not in this
repository, are checked with the Prometheus Operator's published schema when `tests/support/node` has it
installed (types and patterns; that schema does not refuse unknown fields).

Status is checked on writes to the `status` subresource only: a write to the object itself leaves the status
alone on a real API server (this emulator still stores it, so that tests can play the kubelet or a controller).
The schemas' `required` lists are not enforced for built-ins (the API server decodes a missing field as its zero
value); its validation code's required fields are.

Everything refused is reported as the API server reports it: `FieldError`s, turned into a 422 `Status`
by :func:`invalid_status`. Where Kubernetes versions differ, the stricter rule is kept (environment variable names as
before 1.34, see `RELAXED_ENV_VAR_NAMES`). Where the real API server silently drops
unknown fields (no `fieldValidation=Strict`), this refuses them, so that a field the server would lose is
a failing test rather than an endless re-apply.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import math
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import cel
import kubernetes_validate
import yaml
from cel.stdlib import add_stdlib_to_context

REPO = Path(__file__).resolve().parents[2]
CRD_DIR = REPO / "crds"
NODE_DIR = Path(__file__).resolve().parent / "node"
KUBERNETES_VERSION = kubernetes_validate.utils.latest_version()
"""The Kubernetes version whose schemas are used (the newest `kubernetes_validate` ships)."""
RELAXED_ENV_VAR_NAMES = False
"""False: environment variable names as API servers before 1.34 want them (`[-._a-zA-Z][-._a-zA-Z0-9]*`, what
the CRD asks too), so a child that an older cluster refuses fails a test. True: 1.34+ (RelaxedEnvironmentVariable
Validation), any printable ASCII but `=`."""
ANNOTATIONS_LIMIT = 256 * 1024
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)

# --- field errors and the Status the API server answers with -------------------------------------------------

OMIT = object()
_BODY_WITHOUT_VALUE = {"FieldValueRequired": "Required value", "FieldValueForbidden": "Forbidden",
                       "FieldValueTooLong": "Too long", "InternalError": "Internal error"}
_TYPE_WORDS = {"FieldValueNotFound": "Not found", "FieldValueDuplicate": "Duplicate value",
               "FieldValueInvalid": "Invalid value", "FieldValueNotSupported": "Unsupported value",
               "FieldValueTooMany": "Too many", "FieldValueTypeInvalid": "Invalid value"}


class GoRepr:
    """A bad value Go prints with `%#v` (a struct or map): shown verbatim, unquoted."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def go_value(value: Any) -> str:
    """A bad value as Go's field errors print it: strings quoted, numbers and booleans bare."""
    if isinstance(value, GoRepr):
        return value.text
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) and not value.is_integer() else str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class FieldError:
    """One refused field, as apimachinery's `field.Error`: its path, type, bad value and detail."""

    field: str
    type: str = "FieldValueInvalid"
    value: Any = OMIT
    detail: str = ""

    def body(self) -> str:
        """`field.Error.ErrorBody()`: e.g. `Invalid value: "lots": quantities must match ...`."""
        if self.type in _BODY_WITHOUT_VALUE or self.value is OMIT:
            text = _BODY_WITHOUT_VALUE.get(self.type) or _TYPE_WORDS.get(self.type, self.type)
        else:
            text = f"{_TYPE_WORDS.get(self.type, self.type)}: {go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "FieldValueInvalid", value, detail)


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "FieldValueRequired", OMIT, detail)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "FieldValueForbidden", OMIT, detail)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, "FieldValueDuplicate", value)


def not_supported(path: str, value: Any, supported: Iterable[str]) -> FieldError:
    return FieldError(path, "FieldValueNotSupported", value,
                      "supported values: " + ", ".join(json.dumps(s) for s in sorted(supported)))


def not_found(path: str, value: Any) -> FieldError:
    return FieldError(path, "FieldValueNotFound", value)


def qualified_kind(kind: str, group: str) -> str:
    """`Deployment.apps`, or `Service` for the core group."""
    return f"{kind}.{group}" if group else kind


def invalid_status(kind: str, group: str, name: str, errors: list[FieldError]) -> dict[str, Any]:
    """The 422 `Status` of `apierrors.NewInvalid`: message `<Kind>.<group> "<name>" is invalid: <errors>`."""
    listed = "; ".join(map(str, errors))
    if len(errors) > 1:
        listed = "[" + ", ".join(map(str, errors)) + "]"
    message = f"{qualified_kind(kind, group)} {json.dumps(name)} is invalid" + (f": {listed}" if errors else "")
    details: dict[str, Any] = {"name": name, **({"group": group} if group else {}), "kind": kind,
                               "causes": [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]}
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": "Invalid", "details": details, "code": 422}


REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed",
           406: "NotAcceptable", 409: "Conflict", 410: "Expired", 413: "RequestEntityTooLarge",
           415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
           503: "ServiceUnavailable", 504: "Timeout"}


def failure_status(code: int, message: str, reason: str | None = None,
                   details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `Status` of `Failure` with the reason the API server gives `code` (`Invalid` for 422)."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                            "message": message, "reason": reason or REASONS.get(code, "Unknown")}
    if details:
        body["details"] = details
    body["code"] = code
    return body


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# --- names, labels, ports (k8s.io/apimachinery/pkg/util/validation) -----------------------------------------

_DNS1123_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN = _DNS1123_LABEL + r"(\." + _DNS1123_LABEL + ")*"
_DNS1035_LABEL = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _QUALIFIED_NAME + ")?"
_ENV_VAR_NAME = "[-._a-zA-Z][-._a-zA-Z0-9]*"
_CONFIG_KEY = "[-._a-zA-Z0-9]+"
_PERCENT = "[0-9]+%"
_full = cache(lambda pattern: re.compile(f"^(?:{pattern})$"))

DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                     "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used "
                     f"for validation is '{_DNS1123_LABEL}')")
DNS1123_SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                         "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                         f"for validation is '{_DNS1123_SUBDOMAIN}')")
DNS1035_LABEL_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                     "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                     f"regex used for validation is '{_DNS1035_LABEL}')")
QUALIFIED_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                      "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                      f"validation is '{_QUALIFIED_NAME}')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
                   "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or "
                   f"'12345', regex used for validation is '{_LABEL_VALUE}')")
ENV_VAR_NAME_MSG = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or "
                    "'.', and must not start with a digit (e.g. 'my.env-name',  or 'MY_ENV.NAME',  or 'MyEnvName1', "
                    f"regex used for validation is '{_ENV_VAR_NAME}')")
RELAXED_ENV_VAR_NAME_MSG = ("a valid environment variable name must consist only of printable ASCII characters other "
                            "than '='")
CONFIG_KEY_MSG = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or "
                  f"'KEY_NAME',  or 'key-name', regex used for validation is '{_CONFIG_KEY}')")
PERCENT_MSG = ("a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', "
               f"regex used for validation is '{_PERCENT}')")


def _too_long(limit: int) -> str:
    return f"must be no more than {limit} characters"


def dns1123_label(value: str) -> list[str]:
    out = [_too_long(63)] if len(value) > 63 else []
    return out + ([] if _full(_DNS1123_LABEL).match(value) else [DNS1123_LABEL_MSG])


def dns1123_subdomain(value: str) -> list[str]:
    out = [_too_long(253)] if len(value) > 253 else []
    return out + ([] if _full(_DNS1123_SUBDOMAIN).match(value) else [DNS1123_SUBDOMAIN_MSG])


def dns1035_label(value: str) -> list[str]:
    out = [_too_long(63)] if len(value) > 63 else []
    return out + ([] if _full(_DNS1035_LABEL).match(value) else [DNS1035_LABEL_MSG])


def wildcard_dns1123_subdomain(value: str) -> list[str]:
    pattern = r"\*\." + _DNS1123_SUBDOMAIN
    out = [_too_long(253)] if len(value) > 253 else []
    return out + ([] if _full(pattern).match(value) else [
        "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist "
        "of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. "
        f"'*.example.com', regex used for validation is '{pattern}')"])


def qualified_name(value: str) -> list[str]:
    """IsQualifiedName: `[prefix/]name`, the name ≤ 63 characters, the prefix a DNS-1123 subdomain."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
        out = []
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            out = ["prefix part must be non-empty"]
        else:
            out = ["prefix part " + msg for msg in dns1123_subdomain(prefix)]
    else:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
                f"validation is '{_QUALIFIED_NAME}') with an optional DNS subdomain prefix and '/' (e.g. "
                "'example.com/MyName')"]
    if not name:
        return [*out, "name part must be non-empty"]
    if len(name) > 63:
        out.append("name part " + _too_long(63))
    if not _full(_QUALIFIED_NAME).match(name):
        out.append(QUALIFIED_NAME_MSG)
    return out


def label_value(value: str) -> list[str]:
    out = [_too_long(63)] if len(value) > 63 else []
    return out + ([] if _full(_LABEL_VALUE).match(value) else [LABEL_VALUE_MSG])


def env_var_name(value: str) -> list[str]:
    if not value:
        return ["environment variable name must be non-empty"]
    if RELAXED_ENV_VAR_NAMES:
        return [] if all(32 <= ord(c) <= 126 and c != "=" for c in value) else [RELAXED_ENV_VAR_NAME_MSG]
    return [] if _full(_ENV_VAR_NAME).match(value) else [ENV_VAR_NAME_MSG]


def config_key(value: str) -> list[str]:
    out = [_too_long(253)] if len(value) > 253 else []
    if not _full(_CONFIG_KEY).match(value):
        out.append(CONFIG_KEY_MSG)
    if value in (".", ".."):
        out.append(f"must not be '{value}'")
    elif value.startswith(".."):
        out.append("must not start with '..'")
    return out


def port_name(value: str) -> list[str]:
    """IsValidPortName (IANA_SVC_NAME)."""
    out = []
    if len(value) > 15:
        out.append(_too_long(15))
    if not re.fullmatch("[-a-z0-9]+", value):
        out.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        out.append("must contain at least one letter (a-z)")
    if "--" in value:
        out.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        out.append("must not begin or end with a hyphen")
    return out


def path_segment_name(value: str) -> list[str]:
    if value in (".", ".."):
        return [f"may not be '{value}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in value]


def port_number(value: Any) -> list[str]:
    return [] if isinstance(value, int) and 1 <= value <= 65535 else ["must be between 1 and 65535, inclusive"]


def percent(value: str) -> list[str]:
    return [] if _full(_PERCENT).match(value) else [PERCENT_MSG]


def errors_for(path: str, value: Any, messages: list[str]) -> list[FieldError]:
    return [invalid(path, value, msg) for msg in messages]


# --- quantities (k8s.io/apimachinery/pkg/api/resource) -----------------------------------------------------------

QUANTITY_REGEX = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
QUANTITY_FORMAT_MSG = f"quantities must match the regular expression '{QUANTITY_REGEX}'"
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIX = {v: k for k, v in _DECIMAL.items()}
_BINARY_SUFFIX = {v // 10: k for k, v in _BINARY.items()}
_NANO = 10**9


class QuantityError(ValueError):
    pass


@dataclass(frozen=True)
class Quantity:
    """A parsed quantity: its exact value and the format its suffix chose (as `resource.Quantity`)."""

    value: Fraction
    format: str  # DecimalSI, BinarySI or DecimalExponent

    @classmethod
    def parse(cls, raw: Any) -> Quantity:
        """`resource.ParseQuantity` (JSON numbers too, as the API server decodes them)."""
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise QuantityError(QUANTITY_FORMAT_MSG)
        text = str(raw) if isinstance(raw, int) else (repr(raw) if isinstance(raw, float) else raw)
        match = re.match(QUANTITY_REGEX, text)
        if not match:
            raise QuantityError(QUANTITY_FORMAT_MSG)
        number, suffix = match.groups()
        if not re.fullmatch(r"[+-]?[0-9]*(\.[0-9]*)?", number):
            raise QuantityError(QUANTITY_FORMAT_MSG)
        if not re.search("[0-9]", number):
            raise QuantityError("unable to parse numeric part of quantity")
        sign = -1 if number.startswith("-") else 1
        digits = number.lstrip("+-")
        whole, _, fraction = digits.partition(".")
        amount = Fraction(int(whole or "0")) + (Fraction(int(fraction), 10 ** len(fraction)) if fraction else 0)
        if suffix in _DECIMAL:
            amount *= Fraction(10) ** _DECIMAL[suffix]
            form = "DecimalSI"
        elif suffix in _BINARY:
            amount *= 2 ** _BINARY[suffix]
            form = "BinarySI"
        elif suffix[:1] in ("e", "E") and re.fullmatch(r"[-+]?[0-9]+", suffix[1:]):
            amount *= Fraction(10) ** int(suffix[1:])
            form = "DecimalExponent"
        else:
            raise QuantityError("unable to parse quantity's suffix")
        if amount:  # non-zero values round up to the nano (you asked for some, you get some)
            amount = Fraction(math.ceil(amount * _NANO), _NANO)
        if form == "BinarySI" and 0 < amount < 1:
            form = "DecimalSI"
        return cls(sign * amount, form)

    def sign(self) -> int:
        return (self.value > 0) - (self.value < 0)

    def canonical(self) -> str:
        """`Quantity.String()`: no precision lost, no fraction, the largest suffix (`1.5` → `1500m`)."""
        value, form = self.value, self.format
        if value == 0:
            return "0"
        if form == "BinarySI" and (-1024 < value < 1024 or value.denominator != 1):
            form = "DecimalSI"
        if form == "BinarySI":
            mantissa, power = int(value), 0
            while mantissa % 1024 == 0 and power < 6:
                mantissa, power = mantissa // 1024, power + 1
            return f"{mantissa}{_BINARY_SUFFIX.get(power, '')}"
        mantissa, exponent = int(value * _NANO), -9
        while mantissa % 10 == 0:
            mantissa, exponent = mantissa // 10, exponent + 1
        while exponent % 3:
            mantissa, exponent = mantissa * 10, exponent - 1
        if form == "DecimalExponent":
            return f"{mantissa}" + (f"e{exponent}" if exponent else "")
        if exponent > 18:
            mantissa, exponent = mantissa * 10 ** (exponent - 18), 18
        return f"{mantissa}{_DECIMAL_SUFFIX[exponent]}"

    def __str__(self) -> str:
        return self.canonical()


def canonical_quantity(raw: Any) -> str:
    """The form the API server stores a quantity in (`0.5Gi` → `512Mi`); `QuantityError` when unparsable."""
    return Quantity.parse(raw).canonical()


@cache
def go_regex(pattern: str) -> re.Pattern[str]:
    """A pattern compiled with Go's (RE2's) meaning: `$` is the end of the text (Python's also matches before a
    trailing newline), character classes are ASCII."""
    out, in_class, escaped = [], False, False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif char == "[" and not in_class:
            in_class = True
            out.append(char)
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        elif char == "$" and not in_class:
            out.append(r"\Z")
        else:
            out.append(char)
    return re.compile("".join(out), re.ASCII)


# --- the built-in schemas (kubernetes_validate), walked by hand ---------------------------------------------------

_SCHEMA_ROOT = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
QUANTITY_REF = "io.k8s.apimachinery.pkg.api.resource.Quantity"
INT_OR_STRING_REF = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"


@cache
def _definitions() -> dict[str, Any]:
    path = _SCHEMA_ROOT / f"v{KUBERNETES_VERSION}-local-strict" / "_definitions.json"
    return json.loads(path.read_text())["$defs"]


@cache
def builtin_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The strict schema of one built-in kind (its `$ref`s point into `_definitions()`)."""
    short = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    path = _SCHEMA_ROOT / f"v{KUBERNETES_VERSION}-local-strict" / f"{kind.lower()}-{short}.json"
    return json.loads(path.read_text())


def _deref(schema: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    ref = schema.get("$ref")
    if ref is None:
        return schema, None
    name = ref.rsplit("/", 1)[-1]
    return _definitions()[name], name


def _types(schema: dict[str, Any]) -> list[str]:
    kind = schema.get("type")
    return [t for t in (kind if isinstance(kind, list) else [kind] if kind else []) if t != "null"]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _type_ok(value: Any, kind: str, integral_floats: bool = False) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            integral_floats and isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def walk_builtin(schema: dict[str, Any], value: Any, path: str, errors: list[FieldError]) -> Any:
    """Check `value` against a built-in schema; returns it with its quantities canonical."""
    schema, ref = _deref(schema)
    if value is None:
        return None
    if ref == QUANTITY_REF:
        try:
            quantity = Quantity.parse(value)
        except QuantityError as exc:
            errors.append(invalid(path, value, str(exc)))
            return value
        return quantity.canonical()
    if ref == INT_OR_STRING_REF:
        if isinstance(value, bool) or not isinstance(value, int | str):
            errors.append(FieldError(path, "FieldValueTypeInvalid", value, "must be an integer or a string"))
        elif isinstance(value, int) and not INT32[0] <= value <= INT32[1]:
            errors.append(invalid(path, value, "must fit in a 32-bit integer (int32)"))
        return value
    types = _types(schema)
    if types and not any(_type_ok(value, t) for t in types):
        errors.append(FieldError(path, "FieldValueTypeInvalid", value, f"must be of type {' or '.join(types)}"))
        return value
    if "enum" in schema and value not in schema["enum"]:
        errors.append(not_supported(path, value, [e for e in schema["enum"] if e is not None]))
    fmt = schema.get("format")
    if fmt in ("int32", "int64") and isinstance(value, int):
        low, high = INT32 if fmt == "int32" else INT64
        if not low <= value <= high:
            errors.append(invalid(path, value, f"must fit in a {fmt[3:]}-bit integer ({fmt})"))
    if isinstance(value, dict):
        # The schemas' `required` is not checked: the API server decodes a missing field as its zero value and
        # only its validation code (below) refuses the ones that matter.
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in properties:
                value[key] = walk_builtin(properties[key], item, join(path, key), errors)
            elif isinstance(extra, dict):
                value[key] = walk_builtin(extra, item, f"{path}[{key}]", errors)
            elif extra is False or properties:
                errors.append(forbidden(join(path, key), f'unknown field "{join(path, key)}"'))
    elif isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            value[index] = walk_builtin(schema["items"], item, f"{path}[{index}]", errors)
    return value


# --- metadata (ValidateObjectMeta) -------------------------------------------------------------------------------


def validate_labels(labels: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    if not isinstance(labels, dict):
        return errors
    for key, value in labels.items():
        errors += errors_for(path, key, qualified_name(key))
        if isinstance(value, str):
            errors += errors_for(path, value, label_value(value))
    return errors


def validate_metadata(meta: Any, name_check: Callable[[str], list[str]], namespaced: bool = True,
                      path: str = "metadata") -> list[FieldError]:
    if not isinstance(meta, dict):
        return [required(path)]
    errors: list[FieldError] = []
    name = meta.get("name")
    if not name:
        errors.append(required(join(path, "name"), "name or generateName is required"))
    elif isinstance(name, str):
        errors += errors_for(join(path, "name"), name, name_check(name))
    namespace = meta.get("namespace")
    if namespaced and isinstance(namespace, str) and namespace:
        errors += errors_for(join(path, "namespace"), namespace, dns1123_label(namespace))
    errors += validate_labels(meta.get("labels"), join(path, "labels"))
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        total = 0
        for key, value in annotations.items():
            errors += errors_for(join(path, "annotations"), key, qualified_name(key.lower()))
            total += len(key.encode()) + len(str(value).encode())
        if total > ANNOTATIONS_LIMIT:
            errors.append(FieldError(join(path, "annotations"), "FieldValueTooLong", OMIT,
                                     f"must have at most {ANNOTATIONS_LIMIT} bytes"))
    controllers = 0
    for index, ref in enumerate(meta.get("ownerReferences") or []):
        where = f"{path}.ownerReferences[{index}]"
        if not isinstance(ref, dict):
            continue
        for key in ("apiVersion", "kind", "name"):
            if not ref.get(key):
                errors.append(invalid(f"{where}.{key}", ref.get(key, ""), f"{key} must not be empty"))
        if not ref.get("uid"):
            errors.append(invalid(f"{where}.uid", ref.get("uid", ""), "uid must not be empty"))
        controllers += bool(ref.get("controller"))
    if controllers > 1:
        errors.append(invalid(f"{path}.ownerReferences", meta.get("ownerReferences"),
                              "Only one reference can have Controller set to true"))
    for index, finalizer in enumerate(meta.get("finalizers") or []):
        if isinstance(finalizer, str):
            errors += errors_for(f"{path}.finalizers[{index}]", finalizer, qualified_name(finalizer))
    return errors


def validate_selector(selector: Any, path: str) -> list[FieldError]:
    """ValidateLabelSelector: matchLabels as labels, matchExpressions' keys, operators and values."""
    errors: list[FieldError] = []
    if not isinstance(selector, dict):
        return errors
    errors += validate_labels(selector.get("matchLabels"), join(path, "matchLabels"))
    for index, expression in enumerate(selector.get("matchExpressions") or []):
        where = f"{path}.matchExpressions[{index}]"
        operator, values = expression.get("operator"), expression.get("values") or []
        if operator in ("In", "NotIn") and not values:
            errors.append(required(f"{where}.values", "must be specified when `operator` is 'In' or 'NotIn'"))
        elif operator in ("Exists", "DoesNotExist") and values:
            errors.append(forbidden(f"{where}.values", "may not be specified when `operator` is 'Exists' or "
                                                       "'DoesNotExist'"))
        elif operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            errors.append(not_supported(f"{where}.operator", operator, ["In", "NotIn", "Exists", "DoesNotExist"]))
        if isinstance(expression.get("key"), str):
            errors += errors_for(f"{where}.key", expression["key"], qualified_name(expression["key"]))
    return errors


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        if (operator == "In" and labels.get(key) not in values) or (
                operator == "NotIn" and key in labels and labels[key] in values) or (
                operator == "Exists" and key not in labels) or (operator == "DoesNotExist" and key in labels):
            return False
    return True


# --- pods (ValidatePodSpec and what it calls) ------------------------------------------------------------------

STANDARD_CONTAINER_RESOURCES = {"cpu", "memory", "ephemeral-storage"}


def _is_extended(name: str) -> bool:
    if "/" not in name:
        return False
    domain = name.split("/", 1)[0]
    return not (domain == "kubernetes.io" or domain.endswith(".kubernetes.io") or name.startswith("requests."))


def _resource_name_errors(name: str, path: str) -> list[FieldError]:
    errors = errors_for(path, name, qualified_name(name))
    if errors:
        return errors
    if "/" not in name and name not in STANDARD_CONTAINER_RESOURCES and not name.startswith("hugepages-"):
        return [invalid(path, name, "must be a standard resource for containers")]
    return []


def validate_resources(resources: Any, path: str) -> list[FieldError]:
    """Container resources: names, non-negative (integer for extended) quantities, requests ≤ limits."""
    if not isinstance(resources, dict):
        return []
    errors: list[FieldError] = []
    parsed: dict[str, dict[str, Quantity]] = {"limits": {}, "requests": {}}
    for part in ("limits", "requests"):
        for name, raw in (resources.get(part) or {}).items():
            where = f"{path}.{part}[{name}]"
            errors += _resource_name_errors(name, where)
            try:
                quantity = Quantity.parse(raw)
            except QuantityError:
                continue  # the schema walk reported it
            if quantity.sign() < 0:
                errors.append(invalid(where, raw, "must be greater than or equal to 0"))
            elif _is_extended(name) and quantity.value.denominator != 1:
                errors.append(invalid(where, raw, "must be an integer"))
            parsed[part][name] = quantity
    limits, requests = parsed["limits"], parsed["requests"]
    for name, request in requests.items():
        where = f"{path}.requests[{name}]"
        limit = limits.get(name)
        if _is_extended(name):
            if limit is None:
                errors.append(forbidden(where, "Limit must be set for non overcommitable resources"))
            elif request.value != limit.value:
                errors.append(invalid(where, str(request), f"must be equal to {name} limit of {limit}"))
        elif limit is not None and request.value > limit.value:
            errors.append(invalid(where, str(request), f"must be less than or equal to {name} limit of {limit}"))
    return errors


_FIELD_REFS = {"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
               "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs"}
_RESOURCE_REFS = {"limits.cpu", "limits.memory", "limits.ephemeral-storage", "requests.cpu", "requests.memory",
                  "requests.ephemeral-storage"}


def validate_env(env: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, var in enumerate(env or []):
        where = f"{path}[{index}]"
        if not isinstance(var, dict):
            continue
        name = var.get("name")
        if not name:
            errors.append(required(f"{where}.name"))
        elif isinstance(name, str):
            errors += errors_for(f"{where}.name", name, env_var_name(name))
        source = var.get("valueFrom")
        if source is None:
            continue
        sources = [key for key in ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef",
                                   "fileKeyRef") if source.get(key) is not None]
        if var.get("value"):
            errors.append(invalid(f"{where}.valueFrom", "", "may not be specified when `value` is not empty"))
        if not sources:
            errors.append(invalid(f"{where}.valueFrom", "", "must specify one of: `fieldRef`, `resourceFieldRef`, "
                                                            "`configMapKeyRef` or `secretKeyRef`"))
        elif len(sources) > 1:
            errors.append(invalid(f"{where}.valueFrom", "", "may not have more than one field specified at a time"))
        for key in ("configMapKeyRef", "secretKeyRef"):
            ref = source.get(key)
            if not isinstance(ref, dict):
                continue
            ref_path = f"{where}.valueFrom.{key}"
            if not ref.get("name"):
                errors.append(required(f"{ref_path}.name"))
            else:
                errors += errors_for(f"{ref_path}.name", ref["name"], dns1123_subdomain(ref["name"]))
            if not ref.get("key"):
                errors.append(required(f"{ref_path}.key"))
            else:
                errors += errors_for(f"{ref_path}.key", ref["key"], config_key(ref["key"]))
        ref = source.get("fieldRef")
        if isinstance(ref, dict):
            field_path = ref.get("fieldPath", "")
            subscript = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", field_path)
            if not field_path:
                errors.append(required(f"{where}.valueFrom.fieldRef.fieldPath"))
            elif subscript:
                key = subscript.group(2)
                errors += errors_for(f"{where}.valueFrom.fieldRef.fieldPath", key, qualified_name(
                    key.lower() if subscript.group(1) == "annotations" else key))
            elif field_path not in _FIELD_REFS:
                errors.append(not_supported(f"{where}.valueFrom.fieldRef.fieldPath", field_path,
                                            sorted(_FIELD_REFS | {"metadata.annotations", "metadata.labels"})))
            if ref.get("apiVersion", "v1") != "v1":
                errors.append(invalid(f"{where}.valueFrom.fieldRef.apiVersion", ref["apiVersion"],
                                      f'error converting fieldPath: No field label conversion function found for '
                                      f'version: {ref["apiVersion"]}'))
        ref = source.get("resourceFieldRef")
        if isinstance(ref, dict):
            resource = ref.get("resource", "")
            if not resource:
                errors.append(required(f"{where}.valueFrom.resourceFieldRef.resource"))
            elif resource not in _RESOURCE_REFS and not re.fullmatch(r"(limits|requests)\.hugepages-.+", resource):
                errors.append(not_supported(f"{where}.valueFrom.resourceFieldRef.resource", resource,
                                            sorted(_RESOURCE_REFS)))
            errors += _divisor_errors(resource, ref.get("divisor"), f"{where}.valueFrom.resourceFieldRef.divisor")
    return errors


_CPU_DIVISORS = {Fraction(1, 1000), Fraction(1)}
_MEMORY_DIVISORS = {Fraction(base) ** power for base in (1000, 1024) for power in range(7)}


def _divisor_errors(resource: str, divisor: Any, path: str) -> list[FieldError]:
    """validateContainerResourceDivisor: 1m or 1 for cpu; 1, 1k...1E or 1Ki...1Ei for memory and storage."""
    if divisor is None:
        return []
    try:
        value = Quantity.parse(divisor).value
    except QuantityError:
        return []  # the schema walk reported it
    if resource.endswith(".cpu") and value not in _CPU_DIVISORS:
        return [invalid(path, divisor, "only divisor's values 1m and 1 are supported with the cpu resource")]
    if resource.endswith((".memory", ".ephemeral-storage")) and value not in _MEMORY_DIVISORS:
        kind = resource.split(".", 1)[1]
        return [invalid(path, divisor, f"only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, "
                                       f"1Ei are supported with the {kind} resource")]
    return []


def _handlers(action: dict[str, Any], kinds: tuple[str, ...]) -> list[str]:
    return [kind for kind in kinds if action.get(kind) is not None]


def _validate_handler(action: dict[str, Any], path: str, kinds: tuple[str, ...]) -> list[FieldError]:
    errors: list[FieldError] = []
    present = _handlers(action, kinds)
    if not present:
        errors.append(required(path, "must specify a handler type"))
    elif len(present) > 1:
        errors.append(forbidden(join(path, present[1]), "may not specify more than 1 handler type"))
    exec_ = action.get("exec")
    if isinstance(exec_, dict) and not exec_.get("command"):
        errors.append(required(f"{path}.exec.command"))
    http = action.get("httpGet")
    if isinstance(http, dict):
        errors += _port_num_or_name(http.get("port"), f"{path}.httpGet.port")
        if http.get("scheme") not in (None, "HTTP", "HTTPS"):
            errors.append(not_supported(f"{path}.httpGet.scheme", http["scheme"], ["HTTP", "HTTPS"]))
    tcp = action.get("tcpSocket")
    if isinstance(tcp, dict):
        errors += _port_num_or_name(tcp.get("port"), f"{path}.tcpSocket.port")
    return errors


def _port_num_or_name(port: Any, path: str) -> list[FieldError]:
    if port is None:
        return [required(path)]
    if isinstance(port, int):
        return errors_for(path, port, port_number(port))
    if isinstance(port, str):
        if not port:
            return [required(path)]
        return errors_for(path, port, port_name(port))
    return []


_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")


def validate_probe(probe: Any, path: str, single_success: bool) -> list[FieldError]:
    if not isinstance(probe, dict):
        return []
    errors = _validate_handler(probe, path, _PROBE_HANDLERS)
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        value = probe.get(key)
        if isinstance(value, int) and value < 0:
            errors.append(invalid(f"{path}.{key}", value, "must be greater than or equal to 0"))
    success = probe.get("successThreshold")
    if single_success and success not in (None, 0, 1):
        errors.append(invalid(f"{path}.successThreshold", success, "must be 1"))
    grace = probe.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace <= 0:
        errors.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be greater than 0"))
    return errors


def validate_container(container: dict[str, Any], path: str, volumes: set[str], init: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    name = container.get("name")
    if not name:
        errors.append(required(f"{path}.name"))
    elif isinstance(name, str):
        errors += errors_for(f"{path}.name", name, dns1123_label(name))
    if not container.get("image"):
        errors.append(required(f"{path}.image"))
    elif isinstance(container["image"], str) and container["image"].strip() != container["image"]:
        errors.append(invalid(f"{path}.image", container["image"], "must not have leading or trailing whitespace"))
    port_names: set[str] = set()
    for index, port in enumerate(container.get("ports") or []):
        where = f"{path}.ports[{index}]"
        errors += errors_for(f"{where}.containerPort", port.get("containerPort"),
                             port_number(port.get("containerPort")))
        if port.get("hostPort") not in (None, 0):
            errors += errors_for(f"{where}.hostPort", port["hostPort"], port_number(port["hostPort"]))
        if port.get("name"):
            errors += errors_for(f"{where}.name", port["name"], port_name(port["name"]))
            if port["name"] in port_names:
                errors.append(duplicate(f"{where}.name", port["name"]))
            port_names.add(port["name"])
        if port.get("protocol") not in (None, "TCP", "UDP", "SCTP"):
            errors.append(not_supported(f"{where}.protocol", port["protocol"], ["SCTP", "TCP", "UDP"]))
    errors += validate_env(container.get("env"), f"{path}.env")
    errors += validate_resources(container.get("resources"), f"{path}.resources")
    mount_paths: set[str] = set()
    for index, mount in enumerate(container.get("volumeMounts") or []):
        where = f"{path}.volumeMounts[{index}]"
        if not mount.get("name"):
            errors.append(required(f"{where}.name"))
        elif mount["name"] not in volumes:
            errors.append(not_found(f"{where}.name", mount["name"]))
        mount_path = mount.get("mountPath")
        if not mount_path:
            errors.append(required(f"{where}.mountPath"))
        elif mount_path in mount_paths:
            errors.append(invalid(f"{where}.mountPath", mount_path, "must be unique"))
        mount_paths.add(mount_path)
        sub_path = mount.get("subPath") or ""
        if sub_path.startswith("/") or ".." in sub_path.split("/"):
            errors.append(invalid(f"{where}.subPath", sub_path, "must be a relative path without '..'"))
    policy = container.get("restartPolicy")
    restartable = init and policy == "Always"
    if policy is not None and not init:
        errors.append(forbidden(f"{path}.restartPolicy", "may not be set for non-init containers"))
    elif policy is not None and policy != "Always":
        errors.append(not_supported(f"{path}.restartPolicy", policy, ["Always"]))
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if container.get(probe) is not None and init and not restartable:
            errors.append(forbidden(f"{path}.{probe}", "may not be set for init containers without restartPolicy "
                                                       "of 'Always'"))
        errors += validate_probe(container.get(probe), f"{path}.{probe}", probe != "readinessProbe")
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                errors += _validate_handler(lifecycle[hook], f"{path}.lifecycle.{hook}", _LIFECYCLE_HANDLERS)
    if container.get("terminationMessagePolicy") not in (None, "File", "FallbackToLogsOnError"):
        errors.append(not_supported(f"{path}.terminationMessagePolicy", container["terminationMessagePolicy"],
                                    ["FallbackToLogsOnError", "File"]))
    if container.get("imagePullPolicy") not in (None, "Always", "IfNotPresent", "Never"):
        errors.append(not_supported(f"{path}.imagePullPolicy", container["imagePullPolicy"],
                                    ["Always", "IfNotPresent", "Never"]))
    errors += _validate_security_context(container.get("securityContext"), f"{path}.securityContext")
    return errors


def _validate_security_context(context: Any, path: str) -> list[FieldError]:
    if not isinstance(context, dict):
        return []
    errors: list[FieldError] = []
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        value = context.get(key)
        if isinstance(value, int) and not 0 <= value <= INT32[1]:
            errors.append(invalid(f"{path}.{key}", value, f"must be between 0 and {INT32[1]}, inclusive"))
    seccomp = context.get("seccompProfile")
    if isinstance(seccomp, dict):
        kind = seccomp.get("type")
        if kind not in ("RuntimeDefault", "Unconfined", "Localhost"):
            errors.append(not_supported(f"{path}.seccompProfile.type", kind, ["Localhost", "RuntimeDefault",
                                                                               "Unconfined"]))
        elif kind == "Localhost" and not seccomp.get("localhostProfile"):
            errors.append(required(f"{path}.seccompProfile.localhostProfile", "must be set when seccomp type is "
                                                                              "Localhost"))
        elif kind != "Localhost" and seccomp.get("localhostProfile"):
            errors.append(invalid(f"{path}.seccompProfile.localhostProfile", seccomp["localhostProfile"],
                                  "can only be set when seccomp type is Localhost"))
    return errors


_VOLUME_SOURCES = ("hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
                   "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
                   "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
                   "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
                   "image")


def validate_volumes(volumes: Any, path: str) -> tuple[list[FieldError], set[str]]:
    errors: list[FieldError] = []
    names: set[str] = set()
    for index, volume in enumerate(volumes or []):
        where = f"{path}[{index}]"
        name = volume.get("name")
        if not name:
            errors.append(required(f"{where}.name"))
        else:
            errors += errors_for(f"{where}.name", name, dns1123_label(name))
            if name in names:
                errors.append(duplicate(f"{where}.name", name))
            names.add(name)
        sources = [key for key in _VOLUME_SOURCES if volume.get(key) is not None]
        if len(sources) > 1:  # none at all is defaulted to an emptyDir
            errors.append(forbidden(f"{where}.{sources[1]}", "may not specify more than 1 volume type"))
        secret = volume.get("secret")
        if isinstance(secret, dict):
            if not secret.get("secretName"):
                errors.append(required(f"{where}.secret.secretName"))
            else:
                errors += errors_for(f"{where}.secret.secretName", secret["secretName"],
                                     dns1123_subdomain(secret["secretName"]))
        for key, mode_holder in (("secret", secret), ("configMap", volume.get("configMap"))):
            mode = (mode_holder or {}).get("defaultMode") if isinstance(mode_holder, dict) else None
            if isinstance(mode, int) and not 0 <= mode <= 0o777:
                errors.append(invalid(f"{where}.{key}.defaultMode", mode, "must be a number between 0 and 0777 "
                                                                         "(octal), both inclusive"))
        config_map = volume.get("configMap")
        if isinstance(config_map, dict) and not config_map.get("name"):
            errors.append(required(f"{where}.configMap.name"))
    return errors, names


def validate_tolerations(tolerations: Any, path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    for index, toleration in enumerate(tolerations or []):
        where = f"{path}[{index}]"
        key, operator = toleration.get("key") or "", toleration.get("operator") or ""
        value, effect = toleration.get("value") or "", toleration.get("effect") or ""
        if key:
            errors += errors_for(f"{where}.key", key, qualified_name(key))
        if not key and operator != "Exists":
            errors.append(invalid(f"{where}.operator", operator, 'operator must be Exists when `key` is empty, which '
                                                                 'means "match all values and all keys"'))
        if toleration.get("tolerationSeconds") is not None and effect != "NoExecute":
            errors.append(invalid(f"{where}.effect", effect, "effect must be 'NoExecute' when `tolerationSeconds` "
                                                             "is set"))
        if operator in ("Equal", ""):
            messages = label_value(value)
            if messages:
                errors.append(invalid(f"{where}.operator", value, ";".join(messages)))
        elif operator == "Exists":
            if value:
                errors.append(invalid(f"{where}.operator", toleration, "value must be empty when `operator` is "
                                                                       "'Exists'"))
        else:
            errors.append(not_supported(f"{where}.operator", operator, ["Equal", "Exists"]))
        if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            errors.append(not_supported(f"{where}.effect", effect, ["NoExecute", "NoSchedule", "PreferNoSchedule"]))
    return errors


def validate_pod_spec(spec: Any, path: str, template: bool) -> list[FieldError]:
    if not isinstance(spec, dict):
        return [required(path)]
    volume_errors, volumes = validate_volumes(spec.get("volumes"), f"{path}.volumes")
    errors = list(volume_errors)
    containers = spec.get("containers") or []
    if not containers:
        errors.append(required(f"{path}.containers"))
    names: set[str] = set()
    for group, init in (("initContainers", True), ("containers", False)):
        for index, container in enumerate(spec.get(group) or []):
            where = f"{path}.{group}[{index}]"
            if not isinstance(container, dict):
                continue
            errors += validate_container(container, where, volumes, init)
            name = container.get("name")
            if name and name in names:
                errors.append(duplicate(f"{where}.name", name))
            names.add(name)
    restart = spec.get("restartPolicy")
    if template and restart not in (None, "Always"):
        errors.append(not_supported(f"{path}.restartPolicy", restart, ["Always"]))
    elif restart not in (None, "Always", "OnFailure", "Never"):
        errors.append(not_supported(f"{path}.restartPolicy", restart, ["Always", "Never", "OnFailure"]))
    if template and spec.get("activeDeadlineSeconds") is not None:
        errors.append(invalid(f"{path}.activeDeadlineSeconds", spec["activeDeadlineSeconds"],
                              "activeDeadlineSeconds in ReplicaSet is not Supported"))
    errors += validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector")
    errors += validate_tolerations(spec.get("tolerations"), f"{path}.tolerations")
    errors += _validate_security_context(spec.get("securityContext"), f"{path}.securityContext")
    grace = spec.get("terminationGracePeriodSeconds")
    if isinstance(grace, int) and grace < 0:
        errors.append(invalid(f"{path}.terminationGracePeriodSeconds", grace, "must be greater than or equal to 0"))
    if spec.get("dnsPolicy") not in (None, "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"):
        errors.append(not_supported(f"{path}.dnsPolicy", spec["dnsPolicy"],
                                    ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]))
    for key in ("serviceAccountName", "priorityClassName"):
        if spec.get(key):
            errors += errors_for(f"{path}.{key}", spec[key], dns1123_subdomain(spec[key]))
    if spec.get("hostname"):
        errors += errors_for(f"{path}.hostname", spec["hostname"], dns1123_label(spec["hostname"]))
    return errors


def _int_or_percent(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-9]+%", value):
        return int(value[:-1])
    return None


def validate_positive_int_or_percent(value: Any, path: str) -> list[FieldError]:
    """ValidatePositiveIntOrPercent plus IsNotMoreThan100Percent where asked."""
    if isinstance(value, str):
        return errors_for(path, value, percent(value))
    if isinstance(value, int) and value < 0:
        return [invalid(path, value, "must be greater than or equal to 0")]
    return []


def not_more_than_100_percent(value: Any, path: str) -> list[FieldError]:
    if isinstance(value, str) and (number := _int_or_percent(value)) is not None and number > 100:
        return [invalid(path, value, "must not be greater than 100%")]
    return []


# --- the kinds ---------------------------------------------------------------------------------------------------


def _go_selector(selector: Any) -> str:
    labels = (selector or {}).get("matchLabels") or {}
    expressions = (selector or {}).get("matchExpressions")
    pairs = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(labels.items()))
    return (f"v1.LabelSelector{{MatchLabels:map[string]string{{{pairs}}}, MatchExpressions:"
            f"[]v1.LabelSelectorRequirement{'(nil)' if not expressions else json.dumps(expressions)}}}")


def validate_deployment(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    errors: list[FieldError] = []
    for key in ("replicas", "revisionHistoryLimit", "minReadySeconds"):
        if isinstance(spec.get(key), int) and spec[key] < 0:
            errors.append(invalid(f"spec.{key}", spec[key], "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    if selector is None:
        errors.append(required("spec.selector"))
    elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
        errors.append(FieldError("spec.selector", "FieldValueInvalid", GoRepr(_go_selector(selector)),
                                 "empty selector is invalid for deployment"))
    else:
        errors += validate_selector(selector, "spec.selector")
        if not _selector_matches(selector, labels):
            pairs = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(labels.items()))
            errors.append(FieldError("spec.template.metadata.labels", "FieldValueInvalid",
                                     GoRepr(f"map[string]string{{{pairs}}}"),
                                     "`selector` does not match template `labels`"))
    template_meta = template.get("metadata") or {}
    errors += validate_labels(template_meta.get("labels"), "spec.template.metadata.labels")
    annotations = template_meta.get("annotations") or {}
    for key in annotations:
        errors += errors_for("spec.template.metadata.annotations", key, qualified_name(key.lower()))
    errors += validate_pod_spec(template.get("spec"), "spec.template.spec", template=True)
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type")
    rolling = strategy.get("rollingUpdate")
    if kind not in (None, "RollingUpdate", "Recreate"):
        errors.append(not_supported("spec.strategy.type", kind, ["Recreate", "RollingUpdate"]))
    elif kind == "Recreate" and rolling is not None:
        errors.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is "
                                                               "'Recreate'"))
    elif isinstance(rolling, dict):
        surge, unavailable = rolling.get("maxSurge", "25%"), rolling.get("maxUnavailable", "25%")
        where = "spec.strategy.rollingUpdate"
        errors += validate_positive_int_or_percent(unavailable, f"{where}.maxUnavailable")
        errors += validate_positive_int_or_percent(surge, f"{where}.maxSurge")
        if _int_or_percent(unavailable) == 0 and _int_or_percent(surge) == 0:
            errors.append(invalid(f"{where}.maxUnavailable", unavailable, "may not be 0 when `maxSurge` is 0"))
        errors += not_more_than_100_percent(unavailable, f"{where}.maxUnavailable")
    deadline, ready = spec.get("progressDeadlineSeconds"), spec.get("minReadySeconds") or 0
    if isinstance(deadline, int) and deadline <= ready:
        errors.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    if old is not None and (old.get("spec") or {}).get("selector") != selector:
        errors.append(FieldError("spec.selector", "FieldValueInvalid", GoRepr(_go_selector(selector)),
                                 "field is immutable"))
    return errors


def validate_pod(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    return validate_pod_spec(obj.get("spec"), "spec", template=False)


def validate_service(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    kind = spec.get("type") or "ClusterIP"
    if kind not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
        errors.append(not_supported("spec.type", kind, ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]))
    ports = spec.get("ports") or []
    headless = spec.get("clusterIP") == "None"
    if not ports and kind != "ExternalName" and not headless:
        errors.append(required("spec.ports"))
    names: set[str] = set()
    seen: set[tuple[Any, Any]] = set()
    for index, port in enumerate(ports):
        where = f"spec.ports[{index}]"
        name = port.get("name")
        if len(ports) > 1 and not name:
            errors.append(required(f"{where}.name"))
        elif name:
            errors += errors_for(f"{where}.name", name, dns1123_label(name))
            if name in names:
                errors.append(duplicate(f"{where}.name", name))
            names.add(name)
        errors += errors_for(f"{where}.port", port.get("port"), port_number(port.get("port")))
        protocol = port.get("protocol") or "TCP"
        if protocol not in ("TCP", "UDP", "SCTP"):
            errors.append(not_supported(f"{where}.protocol", protocol, ["SCTP", "TCP", "UDP"]))
        if (port.get("port"), protocol) in seen:
            errors.append(duplicate(f"{where}", {"port": port.get("port"), "protocol": protocol}))
        seen.add((port.get("port"), protocol))
        if port.get("targetPort") is not None:
            errors += _port_num_or_name(port["targetPort"], f"{where}.targetPort")
        if port.get("nodePort") not in (None, 0) and kind not in ("NodePort", "LoadBalancer"):
            errors.append(forbidden(f"{where}.nodePort", f"may not be used when `type` is '{kind}'"))
    errors += validate_labels(spec.get("selector"), "spec.selector")
    if spec.get("sessionAffinity") not in (None, "None", "ClientIP"):
        errors.append(not_supported("spec.sessionAffinity", spec["sessionAffinity"], ["ClientIP", "None"]))
    if old is not None:
        before = (old.get("spec") or {}).get("clusterIP")
        if before and spec.get("clusterIP") and before != spec["clusterIP"]:
            errors.append(invalid("spec.clusterIP", spec["clusterIP"], "field is immutable"))
    return errors


def _metric_target(target: Any, path: str) -> list[FieldError]:
    if not isinstance(target, dict):
        return [required(path)]
    errors: list[FieldError] = []
    kind = target.get("type")
    if not kind:
        errors.append(required(f"{path}.type", "must specify a metric target type"))
    elif kind not in ("Utilization", "Value", "AverageValue"):
        errors.append(invalid(f"{path}.type", kind, "must be either Utilization, Value, or AverageValue"))
    for key in ("value", "averageValue"):
        if target.get(key) is not None:
            try:
                if Quantity.parse(target[key]).sign() != 1:
                    errors.append(invalid(f"{path}.{key}", target[key], "must be positive"))
            except QuantityError:
                pass
    utilization = target.get("averageUtilization")
    if isinstance(utilization, int) and utilization < 1:
        errors.append(invalid(f"{path}.averageUtilization", utilization, "must be greater than 0"))
    return errors


_METRIC_SOURCES = {"Object": "object", "Pods": "pods", "Resource": "resource", "ContainerResource":
                   "containerResource", "External": "external"}


def _metric(metric: dict[str, Any], path: str) -> list[FieldError]:
    errors: list[FieldError] = []
    kind = metric.get("type")
    if not kind:
        return [required(f"{path}.type", "must specify a metric source type")]
    if kind not in _METRIC_SOURCES:
        return [not_supported(f"{path}.type", kind, list(_METRIC_SOURCES))]
    populated = [key for key in _METRIC_SOURCES.values() if metric.get(key) is not None]
    source = metric.get(_METRIC_SOURCES[kind])
    if source is None:
        return [required(f"{path}.{_METRIC_SOURCES[kind]}", "must populate information for the given metric "
                                                            "source")]
    if len(populated) > 1:
        errors.append(forbidden(path, "must populate the given metric source only"))
    where = f"{path}.{_METRIC_SOURCES[kind]}"
    target = source.get("target")
    if kind in ("Pods", "Object", "External"):
        identifier = source.get("metric") or {}
        if not identifier.get("name"):
            errors.append(required(f"{where}.metric.name", "must specify a metric name"))
        else:
            errors += errors_for(f"{where}.metric.name", identifier["name"], path_segment_name(identifier["name"]))
        errors += validate_selector(identifier.get("selector"), f"{where}.metric.selector")
        errors += _metric_target(target, f"{where}.target")
        if kind == "Pods" and isinstance(target, dict) and target.get("averageValue") is None:
            errors.append(required(f"{where}.target.averageValue", "must specify a positive target averageValue"))
    else:
        if not source.get("name"):
            errors.append(required(f"{where}.name", "must specify a resource name"))
        else:
            errors += _resource_name_errors(source["name"], f"{where}.name")
        errors += _metric_target(target, f"{where}.target")
        if isinstance(target, dict):
            has_value, has_utilization = target.get("averageValue") is not None, target.get(
                "averageUtilization") is not None
            if not has_value and not has_utilization:
                errors.append(required(f"{where}.target.averageUtilization", "must set either a target raw value "
                                                                             "or a target utilization"))
            elif has_value and has_utilization:
                errors.append(forbidden(f"{where}.target.averageValue", "may not set both a target raw value and a "
                                                                        "target utilization"))
    return errors


def _scaling_rules(rules: Any, path: str) -> list[FieldError]:
    if not isinstance(rules, dict):
        return []
    errors: list[FieldError] = []
    window = rules.get("stabilizationWindowSeconds")
    if isinstance(window, int) and window < 0:
        errors.append(invalid(f"{path}.stabilizationWindowSeconds", window, "must be greater than or equal to zero"))
    elif isinstance(window, int) and window > 3600:
        errors.append(invalid(f"{path}.stabilizationWindowSeconds", window, "must be less than or equal to 3600"))
    if rules.get("selectPolicy") not in (None, "Max", "Min", "Disabled"):
        errors.append(not_supported(f"{path}.selectPolicy", rules["selectPolicy"], ["Disabled", "Max", "Min"]))
    policies = rules.get("policies")
    if policies is not None and not policies:
        errors.append(required(f"{path}.policies", "must specify at least one Policy"))
    for index, policy in enumerate(policies or []):
        where = f"{path}.policies[{index}]"
        if policy.get("type") not in ("Pods", "Percent"):
            errors.append(not_supported(f"{where}.type", policy.get("type"), ["Percent", "Pods"]))
        period = policy.get("periodSeconds")
        if not isinstance(period, int) or period <= 0:
            errors.append(invalid(f"{where}.periodSeconds", period, "must be greater than zero"))
        elif period > 1800:
            errors.append(invalid(f"{where}.periodSeconds", period, "must be less than or equal to 1800"))
        value = policy.get("value")
        if not isinstance(value, int) or value <= 0:
            errors.append(invalid(f"{where}.value", value, "must be greater than zero"))
    return errors


def validate_hpa(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [required("spec")]
    errors: list[FieldError] = []
    low, high = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
    if isinstance(low, int) and low < 1:
        errors.append(invalid("spec.minReplicas", low, "must be greater than or equal to 1"))
    if isinstance(high, int):
        if high < 1:
            errors.append(invalid("spec.maxReplicas", high, "must be greater than 0"))
        if isinstance(low, int) and high < low:
            errors.append(invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`"))
    ref = spec.get("scaleTargetRef") or {}
    for key in ("kind", "name"):
        if not ref.get(key):
            errors.append(required(f"spec.scaleTargetRef.{key}"))
        else:
            errors += errors_for(f"spec.scaleTargetRef.{key}", ref[key], path_segment_name(ref[key]))
    for index, metric in enumerate(spec.get("metrics") or []):
        errors += _metric(metric, f"spec.metrics[{index}]")
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        for direction in ("scaleUp", "scaleDown"):
            errors += _scaling_rules(behavior.get(direction), f"spec.behavior.{direction}")
    return errors


def validate_pdb(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    low, high = spec.get("minAvailable"), spec.get("maxUnavailable")
    if low is not None and high is not None:
        errors.append(invalid("spec", GoRepr("policy.PodDisruptionBudgetSpec{...}"),
                              "minAvailable and maxUnavailable cannot be both set"))
    for key, value in (("minAvailable", low), ("maxUnavailable", high)):
        if value is not None:
            errors += validate_positive_int_or_percent(value, f"spec.{key}")
            errors += not_more_than_100_percent(value, f"spec.{key}")
    errors += validate_selector(spec.get("selector"), "spec.selector")
    policy = spec.get("unhealthyPodEvictionPolicy")
    if policy not in (None, "IfHealthyBudget", "AlwaysAllow"):
        errors.append(not_supported("spec.unhealthyPodEvictionPolicy", policy, ["AlwaysAllow", "IfHealthyBudget"]))
    return errors


def _host_errors(host: str, path: str, no_ip: bool) -> list[FieldError]:
    errors: list[FieldError] = []
    if no_ip:
        try:
            ipaddress.ip_address(host)
            errors.append(invalid(path, host, "must be a DNS name, not an IP address"))
        except ValueError:
            pass
    checks = wildcard_dns1123_subdomain(host) if "*" in host else dns1123_subdomain(host)
    return errors + errors_for(path, host, checks)


def _ingress_backend(backend: Any, path: str) -> list[FieldError]:
    if not isinstance(backend, dict):
        return [required(path)]
    errors: list[FieldError] = []
    service, resource = backend.get("service"), backend.get("resource")
    if service is not None and resource is not None:
        errors.append(invalid(path, "", "cannot set both resource and service backends"))
    elif service is None and resource is None:
        errors.append(invalid(path, "", "resource or service backend is required"))
    if isinstance(service, dict):
        if not service.get("name"):
            errors.append(required(f"{path}.service.name"))
        else:
            errors += errors_for(f"{path}.service.name", service["name"], dns1035_label(service["name"]))
        port = service.get("port") or {}
        name, number = port.get("name"), port.get("number")
        if name and number:
            errors.append(invalid(f"{path}.service.port", GoRepr("networking.ServiceBackendPort{...}"),
                                  "cannot set both port name & port number"))
        elif name:
            errors += errors_for(f"{path}.service.port.name", name, port_name(name))
        elif number:
            errors += errors_for(f"{path}.service.port.number", number, port_number(number))
        else:
            errors.append(required(f"{path}.service.port", "port name or number is required"))
    return errors


_BAD_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
_BAD_PATH_SUFFIXES = ("/..", "/.")


def validate_ingress(obj: dict[str, Any], old: dict[str, Any] | None) -> list[FieldError]:
    spec = obj.get("spec") or {}
    errors: list[FieldError] = []
    rules = spec.get("rules") or []
    if spec.get("defaultBackend") is None and not rules:
        errors.append(invalid("spec", GoRepr("networking.IngressSpec{...}"),
                              "either `defaultBackend` or `rules` must be specified"))
    if spec.get("defaultBackend") is not None:
        errors += _ingress_backend(spec["defaultBackend"], "spec.defaultBackend")
    if spec.get("ingressClassName"):
        errors += errors_for("spec.ingressClassName", spec["ingressClassName"],
                             dns1123_subdomain(spec["ingressClassName"]))
    for index, rule in enumerate(rules):
        where = f"spec.rules[{index}]"
        if rule.get("host"):
            errors += _host_errors(rule["host"], f"{where}.host", no_ip=True)
        http = rule.get("http")
        if http is None:
            continue
        paths = http.get("paths") or []
        if not paths:
            errors.append(required(f"{where}.http.paths"))
        for number, item in enumerate(paths):
            path_where = f"{where}.http.paths[{number}]"
            kind, path = item.get("pathType"), item.get("path") or ""
            if kind is None:
                errors.append(required(f"{path_where}.pathType", "pathType must be specified"))
            elif kind in ("Exact", "Prefix"):
                if not path.startswith("/"):
                    errors.append(invalid(f"{path_where}.path", path, "must be an absolute path"))
                errors += [invalid(f"{path_where}.path", path, f"must not contain '{seq}'")
                           for seq in _BAD_PATH_SEQUENCES if seq in path]
                errors += [invalid(f"{path_where}.path", path, f"cannot end with '{suffix}'")
                           for suffix in _BAD_PATH_SUFFIXES if path.endswith(suffix)]
            elif kind == "ImplementationSpecific":
                if path and not path.startswith("/"):
                    errors.append(invalid(f"{path_where}.path", path, "must be an absolute path"))
            else:
                errors.append(not_supported(f"{path_where}.pathType", kind, ["Exact", "ImplementationSpecific",
                                                                             "Prefix"]))
            errors += _ingress_backend(item.get("backend"), f"{path_where}.backend")
    for index, tls in enumerate(spec.get("tls") or []):
        where = f"spec.tls[{index}]"
        for number, host in enumerate(tls.get("hosts") or []):
            errors += _host_errors(host, f"{where}.hosts[{number}]", no_ip=False)
        if tls.get("secretName"):
            errors += errors_for(f"{where}.secretName", tls["secretName"], dns1123_subdomain(tls["secretName"]))
    return errors


@dataclass(frozen=True)
class BuiltinKind:
    api_version: str
    kind: str
    names: Callable[[str], list[str]]
    validate: Callable[[dict[str, Any], dict[str, Any] | None], list[FieldError]]


BUILTINS: dict[tuple[str, str, str], BuiltinKind] = {
    ("apps", "v1", "deployments"): BuiltinKind("apps/v1", "Deployment", dns1123_subdomain, validate_deployment),
    ("", "v1", "services"): BuiltinKind("v1", "Service", dns1035_label, validate_service),
    ("", "v1", "pods"): BuiltinKind("v1", "Pod", dns1123_subdomain, validate_pod),
    ("autoscaling", "v2", "horizontalpodautoscalers"): BuiltinKind("autoscaling/v2", "HorizontalPodAutoscaler",
                                                                   dns1123_subdomain, validate_hpa),
    ("policy", "v1", "poddisruptionbudgets"): BuiltinKind("policy/v1", "PodDisruptionBudget", dns1123_subdomain,
                                                          validate_pdb),
    ("networking.k8s.io", "v1", "ingresses"): BuiltinKind("networking.k8s.io/v1", "Ingress", dns1123_subdomain,
                                                          validate_ingress),
}
"""(group, version, plural) → the built-in kind the emulator validates."""


def admit_builtin(kind: BuiltinKind, obj: dict[str, Any], old: dict[str, Any] | None,
                  subresource: str | None = None) -> list[FieldError]:
    """Validate (and canonicalise, in place) one built-in object; `old` on update."""
    errors: list[FieldError] = []
    walk_builtin(builtin_schema(kind.api_version, kind.kind), obj, "", errors)
    errors += validate_metadata(obj.get("metadata"), kind.names)
    if subresource == "status":
        return _unique(for_status(errors))
    if not any(e.type == "FieldValueTypeInvalid" for e in errors):
        errors += kind.validate(obj, old)
    return _unique(not_status(errors))


def _is_status(error: FieldError) -> bool:
    return error.field == "status" or error.field.startswith(("status.", "status["))


def for_status(errors: list[FieldError]) -> list[FieldError]:
    """A write to the `status` subresource only changes (and is only checked for) status and metadata."""
    return [e for e in errors if _is_status(e) or e.field.startswith("metadata")]


def not_status(errors: list[FieldError]) -> list[FieldError]:
    """A write to the object itself leaves its status alone (the API server resets it): status is not checked."""
    return [e for e in errors if not _is_status(e)]


def _unique(errors: list[FieldError]) -> list[FieldError]:
    seen: set[str] = set()
    out = []
    for error in errors:
        text = str(error)
        if text not in seen:
            seen.add(text)
            out.append(error)
    return out


# --- custom resources from CRD files ------------------------------------------------------------------------------

MISSING = object()
_CEL_CONTEXT_FUNCTIONS: dict[str, Callable[..., Any]] = {}


def _cel_functions() -> dict[str, Callable[..., Any]]:
    if not _CEL_CONTEXT_FUNCTIONS:
        context = cel.Context()
        add_stdlib_to_context(context)
        _CEL_CONTEXT_FUNCTIONS.update(context.functions)
        _CEL_CONTEXT_FUNCTIONS["isQuantity"] = _is_quantity
    return _CEL_CONTEXT_FUNCTIONS


def _is_quantity(value: Any) -> bool:
    try:
        Quantity.parse(value)
    except QuantityError:
        return False
    return isinstance(value, str)


@cache
def _program(rule: str) -> Any:
    return cel.compile(rule)


@cache
def _functions_of(rule: str) -> dict[str, Callable[..., Any]]:
    """The extension functions a rule calls (a context without the others evaluates several times faster)."""
    return {name: function for name, function in _cel_functions().items()
            if re.search(r"(?<![\w.])" + re.escape(name) + r"\s*\(", rule) or re.search(
                r"\." + re.escape(name) + r"\s*\(", rule)}


def _execute(rule: str, variables: dict[str, Any]) -> Any:
    functions = _functions_of(rule)
    return _program(rule).execute(cel.Context(variables=variables, functions=functions) if functions else variables)


def _schema_type_name(schema: dict[str, Any]) -> str:
    return schema.get("type", "")


def _cel_value(schema: dict[str, Any], value: Any) -> Any:
    """The value as CEL sees it: `number` fields are doubles even when written as integers."""
    if value is None or (schema.get("x-kubernetes-preserve-unknown-fields") and "properties" not in schema):
        return value
    kind = schema.get("type")
    if kind == "number" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind == "object" and isinstance(value, dict):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {k: _cel_value(properties.get(k) or (extra if isinstance(extra, dict) else {}), v)
                for k, v in value.items()}
    if kind == "array" and isinstance(value, list):
        return [_cel_value(schema.get("items") or {}, v) for v in value]
    return value


@dataclass
class CRDKind:
    """One served version of a CRD: its schema (validated and defaulted from the file) and names."""

    group: str
    version: str
    plural: str
    kind: str
    schema: dict[str, Any]
    scope: str = "Namespaced"
    transition_rules: list[str] = field(default_factory=list)

    @classmethod
    def from_crd(cls, crd: dict[str, Any]) -> list[CRDKind]:
        spec = crd["spec"]
        out = []
        for version in spec["versions"]:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {"type": "object",
                                                                                "x-kubernetes-preserve-unknown-fields":
                                                                                    True}
            kind = cls(spec["group"], version["name"], spec["names"]["plural"], spec["names"]["kind"], schema,
                       spec.get("scope", "Namespaced"))
            kind._compile(schema)
            out.append(kind)
        return out

    def _compile(self, schema: Any) -> None:
        """Compile every CEL rule now, so that a rule that does not parse fails at emulator start."""
        if not isinstance(schema, dict):
            return
        for rule in schema.get("x-kubernetes-validations", []):
            _program(rule["rule"])
            if rule.get("messageExpression"):
                _program(rule["messageExpression"])
        for child in (schema.get("properties") or {}).values():
            self._compile(child)
        for key in ("items", "additionalProperties"):
            self._compile(schema.get(key))

    # -- defaults --------------------------------------------------------------------------------------------------

    def default(self, schema: dict[str, Any], value: Any) -> Any:
        """Structural defaulting: each absent property with a `default` gets it (then its own defaults)."""
        if isinstance(value, dict):
            for name, child in (schema.get("properties") or {}).items():
                if name not in value and "default" in child:
                    value[name] = copy.deepcopy(child["default"])
                if name in value:
                    value[name] = self.default(child, value[name])
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                for key in list(value):
                    if key not in (schema.get("properties") or {}):
                        value[key] = self.default(extra, value[key])
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            return [self.default(schema["items"], item) for item in value]
        return value

    # -- the structural schema ----------------------------------------------------------------------------------

    def check(self, schema: dict[str, Any], value: Any, old: Any, path: str, errors: list[FieldError],
              root: bool = False) -> None:
        """kube-openapi's validation of one value; an unchanged value (ratcheting) is not checked again."""
        if old is not MISSING and old == value and type(old) is type(value):
            return
        if value is None:
            if not schema.get("nullable"):
                errors.append(FieldError(path, "FieldValueTypeInvalid", "null",
                                         f"{path} in body must be of type {schema.get('type') or 'object'}: \"null\""))
            return
        int_or_string = schema.get("x-kubernetes-int-or-string")
        kind = schema.get("type")
        if int_or_string:
            if isinstance(value, bool) or not isinstance(value, int | str):
                errors.append(FieldError(path, "FieldValueTypeInvalid", _json_type(value),
                                         f"{path} in body must be of type integer-or-string: "
                                         f"{go_value(_json_type(value))}"))
                return
        elif kind and not _type_ok(value, kind, integral_floats=True):
            errors.append(FieldError(path, "FieldValueTypeInvalid", _json_type(value),
                                     f"{path} in body must be of type {kind}: {go_value(_json_type(value))}"))
            return
        if schema.get("format") in ("int32", "int64") and isinstance(value, int):
            low, high = INT32 if schema["format"] == "int32" else INT64
            if not low <= value <= high:
                errors.append(invalid(path, value, f"{path} in body must be of type {schema['format']}"))
        self._scalar_checks(schema, value, path, errors)
        if isinstance(value, dict):
            self._check_object(schema, value, old if isinstance(old, dict) else {}, path, errors, root)
        elif isinstance(value, list):
            self._check_array(schema, value, old if isinstance(old, list) else None, path, errors)

    def _scalar_checks(self, schema: dict[str, Any], value: Any, path: str, errors: list[FieldError]) -> None:
        if "enum" in schema and value not in schema["enum"]:
            errors.append(not_supported(path, value, [str(e) for e in schema["enum"]]))
        if isinstance(value, int | float) and not isinstance(value, bool):
            low, high = schema.get("minimum"), schema.get("maximum")
            if low is not None:
                if schema.get("exclusiveMinimum") and value <= low:
                    errors.append(invalid(path, value, f"{path} in body should be greater than {low}"))
                elif value < low:
                    errors.append(invalid(path, value, f"{path} in body should be greater than or equal to {low}"))
            if high is not None:
                if schema.get("exclusiveMaximum") and value >= high:
                    errors.append(invalid(path, value, f"{path} in body should be less than {high}"))
                elif value > high:
                    errors.append(invalid(path, value, f"{path} in body should be less than or equal to {high}"))
            step = schema.get("multipleOf")
            if step and (Fraction(str(value)) / Fraction(str(step))).denominator != 1:
                errors.append(invalid(path, value, f"{path} in body should be a multiple of {step}"))
        if isinstance(value, str):
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                errors.append(FieldError(path, "FieldValueTooLong", OMIT,
                                         f"may not be more than {schema['maxLength']} bytes"))
            if "minLength" in schema and len(value) < schema["minLength"]:
                errors.append(invalid(path, value, f"{path} in body should be at least {schema['minLength']} "
                                                   "chars long"))
            if "pattern" in schema and not go_regex(schema["pattern"]).search(value):
                errors.append(invalid(path, value, f"{path} in body should match '{schema['pattern']}'"))
        if isinstance(value, list | dict):
            size, noun = len(value), "items" if isinstance(value, list) else "properties"
            low = schema.get("minItems" if isinstance(value, list) else "minProperties")
            high = schema.get("maxItems" if isinstance(value, list) else "maxProperties")
            if low is not None and size < low:
                errors.append(invalid(path, size, f"{path} in body should have at least {low} {noun}"))
            if high is not None and size > high:
                errors.append(FieldError(path, "FieldValueTooMany", size, f"must have at most {high} {noun}"))

    def _check_object(self, schema: dict[str, Any], value: dict[str, Any], old: dict[str, Any], path: str,
                      errors: list[FieldError], root: bool) -> None:
        properties = schema.get("properties") or {}
        for name in schema.get("required", []):
            if name not in value:
                errors.append(required(join(path, name)))
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        for key, item in value.items():
            where = join(path, key)
            if root and key in ("apiVersion", "kind", "metadata"):
                continue  # the API server's own (metadata is checked as ObjectMeta)
            if key in properties:
                self.check(properties[key], item, old.get(key, MISSING), where, errors)
            elif isinstance(extra, dict):
                self.check(extra, item, old.get(key, MISSING), where, errors)
            elif not preserve and not (extra is True and not properties):
                errors.append(forbidden(where, f'unknown field "{where}"'))

    def _check_array(self, schema: dict[str, Any], value: list[Any], old: list[Any] | None, path: str,
                     errors: list[FieldError]) -> None:
        items = schema.get("items") or {}
        list_type = schema.get("x-kubernetes-list-type")
        keys = schema.get("x-kubernetes-list-map-keys") or []
        old_by_key = {}
        if list_type == "map" and old:
            old_by_key = {tuple(o.get(k) for k in keys): o for o in old if isinstance(o, dict)}
        seen: list[Any] = []
        for index, item in enumerate(value):
            where = f"{path}[{index}]"
            previous = MISSING
            if list_type == "map" and isinstance(item, dict):
                previous = old_by_key.get(tuple(item.get(k) for k in keys), MISSING)
            self.check(items, item, previous, where, errors)
            if list_type == "map" and isinstance(item, dict):
                marker = tuple(item.get(k) for k in keys)
                if marker in seen:
                    errors.append(duplicate(where, {k: item.get(k) for k in keys}))
                seen.append(marker)
            elif list_type == "set":
                if item in seen:
                    errors.append(duplicate(where, item))
                seen.append(item)

    # -- CEL --------------------------------------------------------------------------------------------------

    def rules(self, schema: dict[str, Any], value: Any, old: Any, path: str, errors: list[FieldError]) -> None:
        """Every `x-kubernetes-validations` rule, depth first, `self` bound to the value of its node."""
        if value is None or not isinstance(schema, dict):
            return
        if isinstance(value, dict):
            properties = schema.get("properties") or {}
            extra = schema.get("additionalProperties")
            previous = old if isinstance(old, dict) else {}
            for key, item in value.items():
                child = properties.get(key) or (extra if isinstance(extra, dict) else None)
                if child is not None:
                    self.rules(child, item, previous.get(key, MISSING), join(path, key), errors)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            keys = schema.get("x-kubernetes-list-map-keys") or []
            by_key = {}
            if schema.get("x-kubernetes-list-type") == "map" and isinstance(old, list):
                by_key = {tuple(o.get(k) for k in keys): o for o in old if isinstance(o, dict)}
            for index, item in enumerate(value):
                previous = by_key.get(tuple(item.get(k) for k in keys), MISSING) if by_key and isinstance(
                    item, dict) else MISSING
                self.rules(schema["items"], item, previous, f"{path}[{index}]", errors)
        validations = schema.get("x-kubernetes-validations") or []
        if not validations:
            return
        unchanged = old is not MISSING and old == value
        current = _cel_value(schema, value)
        previous = _cel_value(schema, old) if old is not MISSING else MISSING
        for rule in validations:
            transition = bool(re.search(r"\boldSelf\b", rule["rule"]))
            if transition and previous is MISSING and not rule.get("optionalOldSelf"):
                continue
            if unchanged and not transition:
                continue  # ratcheting: an unchanged value is not checked again
            variables = {"self": current}
            if transition:
                variables["oldSelf"] = None if previous is MISSING else previous
            error = self._evaluate(rule, variables, schema, value, path)
            if error is not None:
                errors.append(error)

    def _evaluate(self, rule: dict[str, Any], variables: dict[str, Any], schema: dict[str, Any], value: Any,
                  path: str) -> FieldError | None:
        where = path + _field_path_suffix(rule.get("fieldPath", ""))
        bad = _schema_type_name(schema)
        try:
            result = _execute(rule["rule"], variables)
        except Exception as exc:
            message = rule.get("message") or f"failed rule: {rule['rule']}"
            return invalid(where, bad, f"{message}: rule evaluation error: {exc}")
        if result is True:
            return None
        if result is not False:
            return invalid(where, bad, f"rule did not evaluate to a bool: {rule['rule']}")
        message = rule.get("message") or f"failed rule: {rule['rule']}"
        if rule.get("messageExpression"):
            try:
                produced = _execute(rule["messageExpression"], variables)
                if isinstance(produced, str) and produced.strip():
                    message = produced
            except Exception:
                pass
        reason = rule.get("reason") or "FieldValueInvalid"
        if reason == "FieldValueRequired":
            return required(where, message)
        if reason == "FieldValueForbidden":
            return forbidden(where, message)
        if reason == "FieldValueDuplicate":
            return FieldError(where, "FieldValueDuplicate", bad, message)
        return invalid(where, bad, message)

    # -- the whole object ----------------------------------------------------------------------------------

    def admit(self, obj: dict[str, Any], old: dict[str, Any] | None, subresource: str | None = None
              ) -> list[FieldError]:
        """Default (in place), then validate a custom resource as the API server does; `old` on update
        (defaulted too, as the API server defaults what it reads from storage: a default added since an
        object was stored does not count as a change, and ratcheting still applies)."""
        self.default(self.schema, obj)
        if old is not None:
            old = self.default(self.schema, copy.deepcopy(old))
        errors = validate_metadata(obj.get("metadata"), dns1123_subdomain, self.scope == "Namespaced")
        self.check(self.schema, obj, old if old is not None else MISSING, "", errors, root=True)
        if not any(e.type == "FieldValueTypeInvalid" for e in errors):
            self.rules(self.schema, obj, old if old is not None else MISSING, "", errors)
        elif not any(e.type != "FieldValueTypeInvalid" for e in errors):
            errors.append(FieldError("<nil>", "InternalError", OMIT, "some validation rules were not checked "
                                     "because the object was invalid; correct the existing errors to complete "
                                     "validation"))
        return _unique(for_status(errors) if subresource == "status" else not_status(errors))


def _field_path_suffix(field_path: str) -> str:
    """A rule's `fieldPath` (`.a.b`, `['key']`) as the suffix of a field path."""
    return re.sub(r"\['([^']*)'\]", r"[\1]", field_path)


def load_crds(directory: Path = CRD_DIR) -> dict[tuple[str, str, str], CRDKind]:
    """Every CRD under `directory` (read now), by (group, version, plural)."""
    out: dict[tuple[str, str, str], CRDKind] = {}
    for path in sorted(directory.glob("*.yaml")):
        for document in yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
            if isinstance(document, dict) and document.get("kind") == "CustomResourceDefinition":
                for kind in CRDKind.from_crd(document):
                    out[(kind.group, kind.version, kind.plural)] = kind
    return out


# --- ServiceMonitors: the Prometheus Operator's published schema, in a long-lived node process ---------------------

_SERVICE_MONITOR_SCRIPT = r"""
import { createInterface } from "node:readline";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  let errors = [];
  try { new ServiceMonitor(JSON.parse(line)).validate(); }
  catch (e) { errors = (e.errors || [{ instancePath: "", message: String(e.message || e) }])
                .map((x) => ({ path: x.instancePath || "", message: x.message || "" })); }
  process.stdout.write(JSON.stringify(errors) + "\n");
}
"""


class NodeSchema:
    """Validate objects with a published schema package under tests/support/node, in a long-lived node
    process running `script` (one JSON object per line in, its errors as one JSON line out)."""

    script: str
    package: Path

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    @classmethod
    def available(cls) -> bool:
        """Whether node and the schema package are installed (`cd tests/support/node && npm install`)."""
        return shutil.which("node") is not None and cls.package.is_dir()

    def errors(self, obj: dict[str, Any]) -> list[FieldError]:
        """The published schema's complaints about `obj`, each naming its field (none when not installed)."""
        if not self.available():
            return []
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = subprocess.Popen(["node", "--input-type=module", "-e", self.script], cwd=NODE_DIR,
                                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
            assert self._process.stdin is not None and self._process.stdout is not None
            self._process.stdin.write(json.dumps(obj) + "\n")
            self._process.stdin.flush()
            answer = json.loads(self._process.stdout.readline() or "[]")
        out = []
        for item in answer:
            parts = [p for p in item["path"].split("/") if p]
            where = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts).lstrip(".")
            out.append(invalid(where or "<root>", _lookup(obj, parts), item["message"]))
        return out

    def close(self) -> None:
        """Stop the node process."""
        if self._process is not None and self._process.poll() is None:
            self._process.stdin.close()  # type: ignore[union-attr]
            self._process.wait(5)
        self._process = None


class ServiceMonitorSchema(NodeSchema):
    """Validate ServiceMonitors with `@kubernetes-models/prometheus-operator` (when installed)."""

    script = _SERVICE_MONITOR_SCRIPT
    package = NODE_DIR / "node_modules" / "@kubernetes-models" / "prometheus-operator"


def _lookup(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            return None
    return obj


SERVICE_MONITOR = ("monitoring.coreos.com", "v1", "servicemonitors")


# --- the admission the emulator runs ------------------------------------------------------------------------------


def strip_nulls(value: Any) -> Any:
    """JSON nulls in objects are absent fields to the API server (they decode to nothing)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


@dataclass(frozen=True)
class Refusal:
    """What to answer instead of writing: the kind, group and name of the object, and its errors."""

    kind: str
    group: str
    name: str
    errors: list[FieldError]

    def status(self) -> dict[str, Any]:
        return invalid_status(self.kind, self.group, self.name, self.errors)


class Admission:
    """The API server's admission of writes: built-ins, the CRDs of `crd_dir` (read now), ServiceMonitors."""

    def __init__(self, crd_dir: Path = CRD_DIR, service_monitors: bool = True) -> None:
        self.crds = load_crds(crd_dir)
        self.service_monitors = ServiceMonitorSchema() if service_monitors else None

    def kind_of(self, group: str, version: str, plural: str) -> tuple[str, str] | None:
        """(apiVersion, kind) of a resource the admission knows, else None."""
        key = (group, version, plural)
        api_version = f"{group}/{version}" if group else version
        if key in BUILTINS:
            return BUILTINS[key].api_version, BUILTINS[key].kind
        if key in self.crds:
            return api_version, self.crds[key].kind
        if key == SERVICE_MONITOR:
            return api_version, "ServiceMonitor"
        return None

    def admit(self, group: str, version: str, plural: str, obj: dict[str, Any], old: dict[str, Any] | None,
              subresource: str | None = None) -> Refusal | None:
        """Validate the object a write would store (defaulting and canonicalising it in place)."""
        key = (group, version, plural)
        known = self.kind_of(group, version, plural)
        if known is None or subresource not in (None, "status"):
            return None
        api_version, kind = known
        obj.setdefault("apiVersion", api_version)
        obj.setdefault("kind", kind)
        if key in BUILTINS:
            errors = admit_builtin(BUILTINS[key], obj, old, subresource)
        elif key in self.crds:
            errors = self.crds[key].admit(obj, old, subresource)
        else:
            errors = validate_metadata(obj.get("metadata"), dns1123_subdomain)
            if self.service_monitors is not None:
                errors += self.service_monitors.errors(obj)
        if not errors:
            return None
        return Refusal(kind, group, str((obj.get("metadata") or {}).get("name", "")), errors)

    def resource_of(self, obj: dict[str, Any]) -> tuple[str, str, str] | None:
        """(group, version, plural) of an object by its apiVersion and kind, when the admission knows it."""
        group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
        for key in (*BUILTINS, *self.crds, SERVICE_MONITOR):
            if key[:2] == (group, version) and self.kind_of(*key) == (obj.get("apiVersion"), obj.get("kind")):
                return key
        return None

    def validate(self, obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[FieldError]:
        """What the API server would refuse in a write of `obj` (a copy is checked; `old` on update)."""
        key = self.resource_of(obj)
        if key is None:
            raise KeyError(f"no admission for {obj.get('apiVersion')} {obj.get('kind')}")
        refusal = self.admit(*key, copy.deepcopy(obj), old)
        return [] if refusal is None else refusal.errors

    def close(self) -> None:
        if self.service_monitors is not None:
            self.service_monitors.close()
