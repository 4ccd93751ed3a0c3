"""Load the user's predictor class from a file and learn, once, what its `predict` asks for."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREDICT_PARAMS = ("payload", "query_params", "headers")
POST_PREDICT_PARAMS = ("response", *PREDICT_PARAMS)
"""What Cortex's optional `post_predict(self, response, payload, query_params, headers)` may ask for, by name."""


class PredictorLoadError(Exception):
    """The predictor cannot be loaded; the message says why in one line."""


@dataclass(frozen=True)
class PredictorInterface:
    """What the runtime learned from the predictor's signature."""

    wants: frozenset[str]
    is_async: bool
    streams: bool = False
    """`predict` is a generator function (sync or async, i.e. `def`/`async def` with `yield`)."""
    post_predict_wants: frozenset[str] | None = None
    """What `post_predict` asks for (of POST_PREDICT_PARAMS); None when the predictor has no `post_predict`."""

    @property
    def gathers(self) -> frozenset[str]:
        """What the runtime takes from a request: what `predict` asks for, and `post_predict` (but `response`)."""
        return self.wants | ((self.post_predict_wants or frozenset()) - {"response"})


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
    """Check `cls.predict`'s parameters (and `post_predict`'s, when it has one); an unknown name is an error that
    names it."""
    predict = getattr(cls, "predict", None)
    if not callable(predict):
        raise PredictorLoadError(f"{cls.__name__} has no predict method")
    wants = _wanted(cls, "predict", PREDICT_PARAMS)
    post_predict = getattr(cls, "post_predict", None)
    if post_predict is not None and not callable(post_predict):
        raise PredictorLoadError(f"{cls.__name__}.post_predict is not a method")
    post_wants = None if post_predict is None else _wanted(cls, "post_predict", POST_PREDICT_PARAMS)
    if post_predict is not None and (inspect.isgeneratorfunction(post_predict) or
                                     inspect.isasyncgenfunction(post_predict)):
        raise PredictorLoadError(f"{cls.__name__}.post_predict must not be a generator (it returns nothing)")
    streams = inspect.isgeneratorfunction(predict) or inspect.isasyncgenfunction(predict)
    return PredictorInterface(wants, inspect.iscoroutinefunction(predict) or
                              inspect.isasyncgenfunction(predict), streams, post_wants)


def _wanted(cls: type, method: str, allowed: tuple[str, ...]) -> frozenset[str]:
    """The parameters `cls.method` asks for, each one of `allowed` (chosen by name, like `predict`'s)."""
    params = list(inspect.signature(getattr(cls, method)).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    wants: set[str] = set()
    for param in params:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name not in allowed:
            raise PredictorLoadError(
                f"{cls.__name__}.{method} has unknown parameter {param.name!r}; "
                f"it may ask for any of {', '.join(allowed)}"
            )
        wants.add(param.name)
    return frozenset(wants)


def check_models(cls: type) -> None:
    """With `spec.models` the predictor must define `load_model(self, model_path)`: what `python_client.get_model`
    returns is what it returned for the version's local folder."""
    load_model = getattr(cls, "load_model", None)
    if not callable(load_model):
        raise PredictorLoadError(f"{cls.__name__} has no load_model(self, model_path) method: spec.models needs one "
                                 "(python_client.get_model returns what it returns for a model version's folder)")
    try:
        inspect.signature(load_model).bind(None, "model_path")
    except TypeError:
        raise PredictorLoadError(f"{cls.__name__}.load_model must take one argument besides self: "
                                 "load_model(self, model_path)") from None


def with_model_path(config: dict[str, Any], model_path: str | None) -> dict[str, Any]:
    """The predictor's config, with `model_path` (the downloaded `spec.model`) when there is one."""
    return {**config, "model_path": model_path} if model_path else config


def construct(cls: type, config: dict[str, Any], python_client: object | None = None) -> object:
    """Instantiate the predictor, passing `config` when `__init__` takes it, and `python_client` (with
    `spec.models`) when `__init__` names it, as Cortex did."""
    if cls.__init__ is object.__init__:  # no __init__ of its own: object's (self, *args) takes nothing
        return cls()
    init_params = inspect.signature(cls.__init__).parameters
    kwargs: dict[str, Any] = {}
    if "python_client" in init_params:
        if python_client is not None:
            kwargs["python_client"] = python_client
        elif init_params["python_client"].default is inspect.Parameter.empty:
            raise PredictorLoadError(f"{cls.__name__}.__init__ asks for python_client, which only spec.models "
                                     "gives (many models behind one API)")
    if "config" in init_params:
        kwargs["config"] = config
    if kwargs:
        return cls(**kwargs)
    accepts_one = len(init_params) > 1 and list(init_params.values())[1].kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.VAR_POSITIONAL
    )
    return cls(config) if accepts_one else cls()
