"""Load the user's predictor class from a file and learn, once, what its `predict` asks for."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREDICT_PARAMS = ("payload", "query_params", "headers")


class PredictorLoadError(Exception):
    """The predictor cannot be loaded; the message says why in one line."""


@dataclass(frozen=True)
class PredictorInterface:
    """What the runtime learned from the predictor's signature."""

    wants: frozenset[str]
    is_async: bool
    streams: bool = False
    """`predict` is a generator function (sync or async, i.e. `def`/`async def` with `yield`)."""


def load_class(path: str | Path, class_name: str, python_path: str | None = None,
               packages_path: str | None = None) -> type:
    """Import `path` as a module and return its `class_name`; the predictor's folder and `python_path` come first
    on `sys.path`, its installed requirements (`packages_path`) last, after the runtime's own packages."""
    file = Path(path).resolve()
    if not file.is_file():
        raise PredictorLoadError(f"predictor file not found: {file}")
    for entry in (python_path, str(file.parent)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    if packages_path and packages_path not in sys.path:
        sys.path.append(packages_path)
    spec = importlib.util.spec_from_file_location(f"predictorapi_user_{file.stem}", file)
    if spec is None or spec.loader is None:
        raise PredictorLoadError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    cls = getattr(module, class_name, None)
    if not inspect.isclass(cls):
        raise PredictorLoadError(f"class {class_name!r} not found in {file}")
    return cls


def inspect_predictor(cls: type) -> PredictorInterface:
    """Check `cls.predict`'s parameters; an unknown name is an error that names it."""
    predict = getattr(cls, "predict", None)
    if not callable(predict):
        raise PredictorLoadError(f"{cls.__name__} has no predict method")
    params = list(inspect.signature(predict).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    wants: set[str] = set()
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name not in PREDICT_PARAMS:
            raise PredictorLoadError(
                f"{cls.__name__}.predict has unknown parameter {param.name!r}; "
                f"it may ask for any of {', '.join(PREDICT_PARAMS)}"
            )
        wants.add(param.name)
    streams = inspect.isgeneratorfunction(predict) or inspect.isasyncgenfunction(predict)
    return PredictorInterface(frozenset(wants), inspect.iscoroutinefunction(predict) or
                              inspect.isasyncgenfunction(predict), streams)


def with_model_path(config: dict[str, Any], model_path: str | None) -> dict[str, Any]:
    """The predictor's config, with `model_path` (the downloaded `spec.model`) when there is one."""
    return {**config, "model_path": model_path} if model_path else config


def construct(cls: type, config: dict[str, Any]) -> object:
    """Instantiate the predictor, passing `config` when `__init__` takes it."""
    if cls.__init__ is object.__init__:  # no __init__ of its own: object's (self, *args) takes nothing
        return cls()
    init_params = inspect.signature(cls.__init__).parameters
    if "config" in init_params:
        return cls(config=config)
    accepts_one = len(init_params) > 1 and list(init_params.values())[1].kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_POSITIONAL
    )
    return cls(config) if accepts_one else cls()
