"""Typed settings read from environment variables, without a settings library.

The runtime reads its settings at every start, and a start from zero (scale to zero) waits for it: pydantic and
pydantic-settings took longer to import than the rest of the server did. A settings class declares annotated
fields (`str`, `int`, `float`, `bool`, `dict[...]`, each optionally `| None`) with :func:`setting`; its
constructor takes keyword values first, then `PREFIX<FIELD>` variables (any case), then the defaults, and checks
every value and bound, naming the field or variable in a :class:`SettingsError`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_NO_DEFAULT = object()


class SettingsError(ValueError):
    """A setting's value is of the wrong type or out of its bounds."""


@dataclass(frozen=True)
class Setting:
    """One field's default, bounds and description."""

    default: Any = _NO_DEFAULT
    description: str = ""
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    pattern: str | None = None
    default_factory: Callable[[], Any] | None = None


def setting(default: Any = _NO_DEFAULT, *, description: str, ge: float | None = None, gt: float | None = None,
            le: float | None = None, pattern: str | None = None,
            default_factory: Callable[[], Any] | None = None) -> Any:
    """Declare a field: its default (or `default_factory`), its bounds, what it is for."""
    return Setting(default, description, ge, gt, le, pattern, default_factory)


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str  # str, int, float, bool or dict
    optional: bool
    spec: Setting


class EnvSettings:
    """Base of a settings class (see the module's docstring); `env_prefix` names its variables."""

    env_prefix: ClassVar[str] = ""
    _fields: ClassVar[tuple[_Field, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._fields = tuple(_field(name, annotation, value) for name, annotation in cls.__annotations__.items()
                            if isinstance(value := cls.__dict__.get(name), Setting))

    def __init__(self, **values: Any) -> None:
        env = {key.lower(): value for key, value in os.environ.items()}
        prefix = self.env_prefix.lower()
        for field in self._fields:
            if field.name in values:
                value = _coerce(field, values[field.name], field.name, from_env=False)
            elif (variable := prefix + field.name) in env:
                value = _coerce(field, env[variable], variable.upper(), from_env=True)
            elif field.spec.default_factory is not None:
                value = field.spec.default_factory()
            elif field.spec.default is _NO_DEFAULT:
                raise SettingsError(f"{field.name} (or {variable.upper()}) is required")
            else:
                value = field.spec.default
            setattr(self, field.name, value)
        self.check()

    def check(self) -> None:
        """Check what involves several fields (override; raise :class:`SettingsError`)."""

    def as_dict(self) -> dict[str, Any]:
        """Every field's value, by name."""
        return {field.name: getattr(self, field.name) for field in self._fields}

    def replace(self, **update: Any) -> Self:
        """A copy with `update`'s values, checked as a new instance's."""
        return type(self)(**{**self.as_dict(), **update})

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.as_dict() == self.as_dict()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  (mutable, like the dataclasses it stands for)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.as_dict().items())})"


def _field(name: str, annotation: str, spec: Setting) -> _Field:
    """A field from its annotation (a string: annotations are not evaluated)."""
    base, _, rest = str(annotation).partition("|")
    kind = base.strip().split("[")[0]
    if kind not in ("str", "int", "float", "bool", "dict"):
        raise TypeError(f"setting {name}: unsupported type {annotation}")
    return _Field(name, kind, rest.strip() == "None", spec)


def _coerce(field: _Field, raw: Any, source: str, from_env: bool) -> Any:
    """`raw` (a variable's text, or a value given) as the field's type, within its bounds."""
    if raw is None or (from_env and field.optional and field.kind == "dict" and raw.strip() == "null"):
        if field.optional:
            return None
        raise SettingsError(f"{source}: a value is required, got None")
    try:
        value = _PARSERS[field.kind](raw.strip() if from_env and field.kind != "str" else raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{source}: {exc}") from None
    _check_bounds(field.spec, value, source)
    return value


def _check_bounds(spec: Setting, value: Any, source: str) -> None:
    if spec.ge is not None and value < spec.ge:
        raise SettingsError(f"{source}: must be at least {spec.ge:g}, got {value!r}")
    if spec.gt is not None and value <= spec.gt:
        raise SettingsError(f"{source}: must be greater than {spec.gt:g}, got {value!r}")
    if spec.le is not None and value > spec.le:
        raise SettingsError(f"{source}: must be at most {spec.le:g}, got {value!r}")
    if spec.pattern is not None and not re.match(spec.pattern, value):
        raise SettingsError(f"{source}: must match {spec.pattern}, got {value!r}")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"must be an integer, got {value!r}")
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"must be a number, got {value!r}")
    return float(value)


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise ValueError(f"must be a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def _dict(value: Any) -> dict[str, Any]:
    parsed = json.loads(value) if isinstance(value, str) else value
    if not isinstance(parsed, Mapping):
        raise TypeError(f"must be a JSON object, got {value!r}")
    return dict(parsed)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"must be a string, got {value!r}")
    return value


_PARSERS: dict[str, Callable[[Any], Any]] = {"str": _str, "int": _int, "float": _float, "bool": _bool, "dict": _dict}
