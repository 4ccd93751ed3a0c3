"""A JSON schema of the Argo CD `Application` and `AppProject` fields the manifests in argocd/ use.

Written from Argo CD's documented fields (argoproj.io/v1alpha1, docs/operator-manual/application.yaml
and project.yaml); unknown fields are refused so a typo (`syncOption`, `destination.cluster`) fails.
"""

from __future__ import annotations

from typing import Any

SYNC_OPTIONS = (
    r"^(Validate=false|CreateNamespace=true|PruneLast=true|ApplyOutOfSyncOnly=true|ServerSideApply=(true|false)"
    r"|Replace=true|FailOnSharedResource=true|RespectIgnoreDifferences=true|SkipDryRunOnMissingResource=true"
    r"|Prune=(false|confirm)|Delete=(false|confirm)|ClientSideApplyMigration=false"
    r"|PrunePropagationPolicy=(foreground|background|orphan))$"
)

_STR = {"type": "string", "minLength": 1}
_STR_LIST = {"type": "array", "items": _STR}


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


METADATA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": _STR,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {
            "type": "object",
            "properties": {"argocd.argoproj.io/sync-wave": {"type": "string", "pattern": r"^-?[0-9]+$"}},
            "additionalProperties": {"type": "string"},
        },
        "finalizers": {
            "type": "array",
            "items": {"enum": ["resources-finalizer.argocd.argoproj.io",
                               "resources-finalizer.argocd.argoproj.io/background"]},
        },
    },
    "required": ["name", "namespace"],
    "additionalProperties": False,
}

DESTINATION = {
    **_obj({"server": {"type": "string", "format": "uri", "pattern": "^https://"}, "name": _STR, "namespace": _STR}),
    "oneOf": [{"required": ["server"]}, {"required": ["name"]}],
}

SOURCE = _obj(
    {
        "repoURL": _STR,
        "path": {"type": "string"},
        "targetRevision": _STR,
        "directory": _obj({"recurse": {"type": "boolean"}, "include": _STR, "exclude": _STR,
                           "jsonnet": {"type": "object"}}),
        "kustomize": _obj({"namePrefix": _STR, "nameSuffix": _STR, "namespace": _STR, "images": _STR_LIST,
                           "commonLabels": {"type": "object"}, "commonAnnotations": {"type": "object"},
                           "version": _STR, "patches": {"type": "array"}}),
    },
    ("repoURL", "path", "targetRevision"),
)

SYNC_POLICY = _obj(
    {
        "automated": _obj({"prune": {"type": "boolean"}, "selfHeal": {"type": "boolean"},
                           "allowEmpty": {"type": "boolean"}}),
        "syncOptions": {"type": "array", "items": {"type": "string", "pattern": SYNC_OPTIONS}, "uniqueItems": True},
        "retry": _obj({"limit": {"type": "integer", "minimum": -1},
                       "backoff": _obj({"duration": _STR, "factor": {"type": "integer", "minimum": 1},
                                        "maxDuration": _STR})}),
        "managedNamespaceMetadata": _obj({"labels": {"type": "object"}, "annotations": {"type": "object"}}),
    }
)

IGNORE_DIFFERENCE = {
    **_obj({"group": {"type": "string"}, "kind": _STR, "name": _STR, "namespace": _STR,
            "jsonPointers": _STR_LIST, "jqPathExpressions": _STR_LIST, "managedFieldsManagers": _STR_LIST},
           ("kind",)),
    "anyOf": [{"required": ["jsonPointers"]}, {"required": ["jqPathExpressions"]},
              {"required": ["managedFieldsManagers"]}],
}

APPLICATION = _obj(
    {
        "apiVersion": {"const": "argoproj.io/v1alpha1"},
        "kind": {"const": "Application"},
        "metadata": METADATA,
        "spec": _obj(
            {
                "project": _STR,
                "source": SOURCE,
                "destination": DESTINATION,
                "syncPolicy": SYNC_POLICY,
                "ignoreDifferences": {"type": "array", "items": IGNORE_DIFFERENCE},
                "revisionHistoryLimit": {"type": "integer", "minimum": 0},
            },
            ("project", "source", "destination"),
        ),
    },
    ("apiVersion", "kind", "metadata", "spec"),
)

_GROUP_KIND = _obj({"group": {"type": "string"}, "kind": _STR}, ("group", "kind"))

APP_PROJECT = _obj(
    {
        "apiVersion": {"const": "argoproj.io/v1alpha1"},
        "kind": {"const": "AppProject"},
        "metadata": METADATA,
        "spec": _obj(
            {
                "description": {"type": "string"},
                "sourceRepos": {**_STR_LIST, "minItems": 1},
                "destinations": {"type": "array", "minItems": 1, "items": DESTINATION},
                "clusterResourceWhitelist": {"type": "array", "items": _GROUP_KIND},
                "clusterResourceBlacklist": {"type": "array", "items": _GROUP_KIND},
                "namespaceResourceWhitelist": {"type": "array", "items": _GROUP_KIND},
                "namespaceResourceBlacklist": {"type": "array", "items": _GROUP_KIND},
                "orphanedResources": _obj({"warn": {"type": "boolean"}, "ignore": {"type": "array"}}),
                "roles": {"type": "array"},
                "syncWindows": {"type": "array"},
            },
            ("sourceRepos", "destinations"),
        ),
    },
    ("apiVersion", "kind", "metadata", "spec"),
)

SCHEMAS = {"Application": APPLICATION, "AppProject": APP_PROJECT}
