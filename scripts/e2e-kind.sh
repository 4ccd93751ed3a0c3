#!/usr/bin/env bash
# End-to-end on a real cluster (kind), as a new user goes from a clone to a served API:
#   1. build the runtime, operator and example images from their Dockerfiles, load them into kind;
#   2. install the CRD and the operator in one step (`kubectl apply -k .`), then switch to two
#      operator replicas with kopf peering (`kubectl apply -k operator/deploy`);
#   3. apply examples/sentence-similarity, wait until it is Ready, call it;
#   4. change its config as a commit would, see the Deployment roll, call it again;
#   5. delete it and see its children garbage-collected.
# Needs docker, kind and kubectl (and python3, curl). .github/workflows/e2e.yml runs it; locally:
#   bash scripts/e2e-kind.sh                 # creates (and afterwards deletes) the kind cluster
#   KEEP_CLUSTER=1 bash scripts/e2e-kind.sh  # keeps it; CLUSTER=name reuses an existing one
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER=${CLUSTER:-predictorapi-e2e}
TIMEOUT=${TIMEOUT:-600s}
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' runtime/pyproject.toml)
REGISTRY=ghcr.io/predictorapi          # the names operator/deploy and examples/*/predictorapi.yaml use
EXAMPLE=sentence-similarity              # offline: its model ships in the image
NS=predictorapi-e2e
OPERATOR_NS=predictorapi-system
RUNTIME_IMAGE=$REGISTRY/runtime:$VERSION
OPERATOR_IMAGE=$REGISTRY/operator:$VERSION
EXAMPLE_IMAGE=$REGISTRY/examples-$EXAMPLE:$VERSION
PORT=${PORT:-18080}
created=0

step() { printf '\n=== %s\n' "$*"; }
fail() { echo "e2e: FAILED: $*" >&2; exit 1; }

diagnostics() {
  set +e
  step "diagnostics"
  kubectl get predictorapis,deployments,replicasets,pods,services,hpa -A -o wide
  kubectl -n "$NS" get predictorapi "$EXAMPLE" -o yaml
  kubectl -n "$OPERATOR_NS" logs deployment/predictorapi-operator --all-containers --tail=200
  kubectl -n "$NS" describe pods
  kubectl -n "$NS" logs -l "serving.predictorapi.dev/api=$EXAMPLE" --all-containers --tail=100
  kubectl get events -A --sort-by=.lastTimestamp | tail -n 60
}

on_exit() {
  rc=$?
  [ -n "${PF_PID:-}" ] && kill "$PF_PID" 2>/dev/null
  [ "$rc" -ne 0 ] && diagnostics
  if [ "$created" = 1 ] && [ -z "${KEEP_CLUSTER:-}" ]; then
    kind delete cluster --name "$CLUSTER"
  fi
  exit "$rc"
}
trap on_exit EXIT

# POST a JSON body to the example through a port-forward to its Service; prints the response body.
call() {
  kubectl -n "$NS" port-forward "service/$EXAMPLE" "$PORT:80" >/dev/null 2>&1 &
  PF_PID=$!
  local answer
  answer=$(curl -sS --fail --retry 20 --retry-connrefused --retry-delay 1 --max-time 60 \
    -H 'Content-Type: application/json' -d "$1" "http://127.0.0.1:$PORT/") || echo "e2e: POST $1 failed" >&2
  kill "$PF_PID" 2>/dev/null || true
  wait "$PF_PID" 2>/dev/null || true
  PF_PID=
  printf '%s' "$answer"
}

# The embeddings answer holds `count` vectors of 384 numbers.
check_embeddings() {
  python3 -c 'import json, sys
answer = json.loads(sys.argv[1])
vectors = answer["embeddings"]
assert len(vectors) == int(sys.argv[2]) and all(len(v) == 384 for v in vectors), answer
print(f"{len(vectors)} embeddings of 384 dimensions")' "$1" "$2"
}

step "build images ($VERSION)"
docker build -f runtime/Dockerfile -t "$RUNTIME_IMAGE" .
docker build -f operator/Dockerfile -t "$OPERATOR_IMAGE" .
docker build --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" -t "$EXAMPLE_IMAGE" "examples/$EXAMPLE"

step "kind cluster $CLUSTER"
if ! kind get clusters | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --wait 180s
  created=1
fi
kubectl config use-context "kind-$CLUSTER"
kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE" "$EXAMPLE_IMAGE"

step "one-step install: kubectl apply -k ."
kubectl apply -k .
kubectl wait --for=condition=Established --timeout=60s crd/predictorapis.serving.predictorapi.dev
kubectl -n "$OPERATOR_NS" rollout status deployment/predictorapi-operator --timeout="$TIMEOUT"

step "two operator replicas with kopf peering: kubectl apply -k operator/deploy"
kubectl apply -k operator/deploy
kubectl -n "$OPERATOR_NS" rollout status deployment/predictorapi-operator --timeout="$TIMEOUT"
[ "$(kubectl -n "$OPERATOR_NS" get deployment predictorapi-operator -o jsonpath='{.status.readyReplicas}')" = 2 ] \
  || fail "the operator does not run two ready replicas"
kubectl get clusterkopfpeering predictorapi-operator

step "deploy examples/$EXAMPLE"
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" apply -f "examples/$EXAMPLE/predictorapi.yaml"
kubectl -n "$NS" wait --for=condition=Ready --timeout="$TIMEOUT" "predictorapi/$EXAMPLE"
kubectl -n "$NS" get predictorapi "$EXAMPLE" -o wide
url=$(kubectl -n "$NS" get predictorapi "$EXAMPLE" -o jsonpath='{.status.url}')
[ "$url" = "http://$EXAMPLE.$NS.svc.cluster.local" ] || fail "status.url is '$url'"

step "call it"
check_embeddings "$(call '{"sentences": ["hello world", "bonjour"]}')" 2
ranked=$(call '{"query": "How do I deploy a model?", "documents": ["Bananas are yellow", "Ship it with a PredictorAPI manifest"]}')
python3 -c 'import json, sys; top = json.loads(sys.argv[1])["results"][0]["document"]; assert top.startswith("Ship it"), top; print("top:", top)' "$ranked"

step "change its config (as a commit would) and see the rollout"
generation=$(kubectl -n "$NS" get predictorapi "$EXAMPLE" -o jsonpath='{.metadata.generation}')
revision=$(kubectl -n "$NS" get deployment "$EXAMPLE" -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')
old_pods=$(kubectl -n "$NS" get pods -l "serving.predictorapi.dev/api=$EXAMPLE" -o jsonpath='{.items[*].metadata.name}')
sed 's/normalize: true/normalize: false/' "examples/$EXAMPLE/predictorapi.yaml" | kubectl -n "$NS" apply -f -
new_generation=$((generation + 1))
[ "$(kubectl -n "$NS" get predictorapi "$EXAMPLE" -o jsonpath='{.metadata.generation}')" = "$new_generation" ] \
  || fail "the config change did not make a new generation"
kubectl -n "$NS" wait --timeout="$TIMEOUT" --for=jsonpath='{.status.observedGeneration}'="$new_generation" \
  "predictorapi/$EXAMPLE"
kubectl -n "$NS" rollout status "deployment/$EXAMPLE" --timeout="$TIMEOUT"
kubectl -n "$NS" wait --for=condition=Ready --timeout="$TIMEOUT" "predictorapi/$EXAMPLE"
new_revision=$(kubectl -n "$NS" get deployment "$EXAMPLE" -o jsonpath='{.metadata.annotations.deployment\.kubernetes\.io/revision}')
[ "$new_revision" -gt "$revision" ] || fail "the Deployment did not roll (revision $revision -> $new_revision)"
config=$(kubectl -n "$NS" get deployment "$EXAMPLE" \
  -o jsonpath='{.spec.template.spec.containers[0].env[?(@.name=="PREDICTORAPI_PREDICTOR_CONFIG")].value}')
[ "$config" = '{"normalize": false}' ] || fail "the pods run config '$config'"
for pod in $old_pods; do
  kubectl -n "$NS" wait --for=delete --timeout=120s "pod/$pod" 2>/dev/null || true
  if kubectl -n "$NS" get pod "$pod" >/dev/null 2>&1; then fail "old pod $pod is still there"; fi
done
echo "rolled: revision $revision -> $new_revision, pods replaced"
check_embeddings "$(call '{"sentences": ["after the rollout"]}')" 1

step "delete it: the operator's children go with it"
kubectl -n "$NS" delete predictorapi "$EXAMPLE" --timeout=120s
for _ in $(seq 1 60); do
  left=$(kubectl -n "$NS" get deployments,services,hpa,pdb -l "serving.predictorapi.dev/api=$EXAMPLE" -o name)
  [ -z "$left" ] && break
  sleep 2
done
[ -z "$left" ] || fail "children left after the delete: $left"

step "e2e passed"
