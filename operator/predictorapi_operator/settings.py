"""Operator settings, from `PREDICTORAPI_OPERATOR_*` environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from predictorapi.contracts.pod import DEFAULT_RUNTIME_IMAGE


class OperatorSettings(BaseSettings):
    """How the operator runs; see the README's "Running the operator"."""

    model_config = SettingsConfigDict(env_prefix="PREDICTORAPI_OPERATOR_")

    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated namespaces to watch; empty means cluster-wide.",
    )
    runtime_image: str = Field(DEFAULT_RUNTIME_IMAGE, description="Runtime base image for source.git predictors.")
    resync_seconds: float = Field(
        60.0, gt=0, description="How often every PredictorAPI is re-applied (restores hand-edited children)."
    )
    cluster_domain: str = Field("cluster.local", description="DNS domain of in-cluster URLs.")
    prometheus_url: str = Field(
        "http://prometheus-operated.monitoring.svc:9090",
        description="Prometheus that canary analyses query (the AnalysisTemplates' provider address).")
    peering: str = Field("predictorapi-operator", description="kopf peering object (two replicas, one active).")
    standalone: bool = Field(False, description="Run without kopf peering (a single replica only).")
    liveness_port: int = Field(8081, description="Port of the operator's own /healthz.")

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        """`a,b` from the environment → `["a", "b"]`."""
        return [n.strip() for n in value.split(",") if n.strip()] if isinstance(value, str) else value
