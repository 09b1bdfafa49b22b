#!/usr/bin/env bash
# Benchmark: `forge status` over 50 services × 3 environments on the
# Kubernetes + Flux test environment (scripts/testenv): one GitOps branch
# with a kustomization per service and environment, applied by one Flux
# Kustomization per environment namespace (150 Deployments, their pods on
# kwok). Prints the wall time of each `forge status --json` (one git fetch,
# one list per kind per namespace) and the median. Target: under 2 s.
# Usage: bench/status.sh      (SERVICES=50 RUNS=5; BENCH_BIN=path/to/forge
#                              skips the release build)
set -euo pipefail
trap 'echo "bench failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
SERVICES="${SERVICES:-50}"
RUNS="${RUNS:-5}"
ENVS="dev staging prod"

if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
else
  cargo build -q --release -p forge --bin forge
  BIN="$(cargo metadata -q --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/forge"
fi

T="$(mktemp -d /tmp/forge-status-bench-XXXXXX)"
export FORGE_TESTENV_STATE_DIR="$T/testenv"
cleanup() { scripts/testenv down >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
eval "$(scripts/testenv up)"
URL="$(scripts/testenv repo status-bench)"

digest() { printf 'sha256:%064d' "$1"; }
seed="$T/seed"
mkdir -p "$seed"
for env in $ENVS; do
  {
    echo "apiVersion: kustomize.config.k8s.io/v1beta1"
    echo "kind: Kustomization"
    echo "resources:"
    for i in $(seq 1 "$SERVICES"); do echo "  - svc-$i"; done
  } > "$seed/kustomization-$env.yaml"
  mkdir -p "$seed/envs/$env"
  mv "$seed/kustomization-$env.yaml" "$seed/envs/$env/kustomization.yaml"
  for i in $(seq 1 "$SERVICES"); do
    d="$seed/envs/$env/svc-$i"
    mkdir -p "$d"
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: bench-%s\nresources: [deployment.yaml]\nimages:\n  - name: svc-%s\n    newName: registry.forge.test/svc-%s\n    newTag: v1\n    digest: %s\n' \
      "$env" "$i" "$i" "$(digest "$i")" > "$d/kustomization.yaml"
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: svc-%s\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: svc-%s}\n  template:\n    metadata:\n      labels: {app: svc-%s}\n    spec:\n      containers:\n      - name: app\n        image: svc-%s\n' \
      "$i" "$i" "$i" "$i" > "$d/deployment.yaml"
  done
done
git -C "$seed" init -q
git -C "$seed" add -A
git -C "$seed" -c user.name=bench -c user.email=bench@example.invalid commit -q -m seed
git -C "$seed" push -q "$URL" HEAD:refs/heads/main

for env in $ENVS; do
  kubectl create namespace "bench-$env" >/dev/null
  kubectl apply -f - >/dev/null <<YAML
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: gitops, namespace: bench-$env}
spec: {interval: 1h, url: "$URL", ref: {branch: main}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: bench-$env}
spec: {interval: 1h, path: ./envs/$env, prune: true, sourceRef: {kind: GitRepository, name: gitops}}
YAML
done
for env in $ENVS; do
  kubectl wait -n "bench-$env" kustomization/apps --for=condition=Ready --timeout=300s >/dev/null
  kubectl wait -n "bench-$env" deployment --all --for=condition=Available --timeout=300s >/dev/null
done

{
  echo "flake: path:$T/no-flake"
  echo "gitops:"
  echo "  repo: $URL"
  echo "  branch: main"
  echo "  clone_dir: ./clone"
  echo "ledger:"
  echo "  path: ./ledger.db"
  echo "environments:"
  for env in $ENVS; do
    echo "  $env:"
    echo "    kustomization: envs/$env/{service}/kustomization.yaml"
    echo "    flux: {namespace: bench-$env, source: gitops, kustomization: apps}"
    echo "    kube: {namespace: bench-$env}"
  done
  echo "services:"
  for i in $(seq 1 "$SERVICES"); do
    echo "  svc-$i:"
    echo "    image: {repository: registry.forge.test/svc-$i, name: svc-$i}"
  done
} > "$T/deploy.yaml"

"$BIN" status --config "$T/deploy.yaml" --json > "$T/first.json"   # warms the clone
python3 - "$T/first.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"targets: {len(r['targets'])}; " + ", ".join(f"{n} {d}" for d, n in r["summary"].items() if n))
PY
times=()
for run in $(seq 1 "$RUNS"); do
  start=$(date +%s%N)
  "$BIN" status --config "$T/deploy.yaml" --json > "$T/run.json"
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  inner=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["took_ms"])' "$T/run.json")
  echo "run $run: ${ms} ms wall (gathering ${inner} ms)"
  times+=("$ms")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "forge status, $SERVICES services x 3 environments: median ${median} ms (target < 2000 ms)"
