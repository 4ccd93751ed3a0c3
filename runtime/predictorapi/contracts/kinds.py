"""The kinds the operator reads and writes, and where the Kubernetes API serves them."""

from __future__ import annotations

from dataclasses import dataclass

from predictorapi import spec


@dataclass(frozen=True)
class Kind:
    """One kind of object: its group, version and plural (all namespaced here)."""

    kind: str
    group: str
    version: str
    plural: str

    @property
    def api_version(self) -> str:
        """`apps/v1`, or `v1` for the core group."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def path_prefix(self) -> str:
        """`/apis/apps/v1`, or `/api/v1` for the core group."""
        return f"/apis/{self.api_version}" if self.group else f"/api/{self.version}"


SERVICE = Kind("Service", "", "v1", "services")
DEPLOYMENT = Kind("Deployment", "apps", "v1", "deployments")
HPA = Kind("HorizontalPodAutoscaler", "autoscaling", "v2", "horizontalpodautoscalers")
PDB = Kind("PodDisruptionBudget", "policy", "v1", "poddisruptionbudgets")
INGRESS = Kind("Ingress", "networking.k8s.io", "v1", "ingresses")
SERVICE_MONITOR = Kind("ServiceMonitor", "monitoring.coreos.com", "v1", "servicemonitors")
POD = Kind("Pod", "", "v1", "pods")
ROLLOUT = Kind("Rollout", "argoproj.io", "v1alpha1", "rollouts")
ANALYSIS_TEMPLATE = Kind("AnalysisTemplate", "argoproj.io", "v1alpha1", "analysistemplates")
ANALYSIS_RUN = Kind("AnalysisRun", "argoproj.io", "v1alpha1", "analysisruns")
SCALED_OBJECT = Kind("ScaledObject", "keda.sh", "v1alpha1", "scaledobjects")
PREDICTORAPI = Kind(spec.KIND, spec.GROUP, spec.VERSION, spec.PLURAL)

CHILDREN = (SERVICE, DEPLOYMENT, HPA, PDB, INGRESS, SERVICE_MONITOR)
"""Every kind of child a PredictorAPI can have."""
OPTIONAL_CHILDREN = (HPA, PDB, INGRESS, SERVICE_MONITOR)
"""Children that only some specs have: deleted (when ours) once the spec no longer asks for them."""
WATCHED_CHILDREN = (SERVICE, DEPLOYMENT, HPA, PDB, INGRESS)
"""Children whose changes re-reconcile their PredictorAPI at once (ServiceMonitors wait for the resync)."""
ROLLOUTS_API = ROLLOUT.api_version
"""Argo Rollouts' API (`argoproj.io/v1alpha1`): a canary is built only where the cluster serves it."""
CANARY_CHILDREN = (ROLLOUT, ANALYSIS_TEMPLATE)
"""Children of a canary API (`spec.rollout.strategy: Canary`), in place of the Deployment."""
ROLLOUT_KINDS = (ROLLOUT, ANALYSIS_TEMPLATE, ANALYSIS_RUN)
"""Every Argo Rollouts kind the operator reads or writes (AnalysisRuns are only read, for the failing measurement)."""
KEDA_API = SCALED_OBJECT.api_version
"""KEDA's API (`keda.sh/v1alpha1`): scale to zero (`autoscaling.minReplicas: 0`) is built only where the cluster
serves it; the ScaledObject then takes the HPA's place."""
BY_KIND = {k.kind: k for k in (*CHILDREN, POD, PREDICTORAPI, *ROLLOUT_KINDS, SCALED_OBJECT)}
