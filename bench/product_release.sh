#!/usr/bin/env bash
# Benchmark: `forge product-release` of 6 services in 2 dependency levels
# (s4..s6 each after one of s1..s3) across 2 environments on the Kubernetes
# + Flux test environment, against the sum of the 12 sequential
# `forge deploy` runs it replaces and against its critical path (per
# environment, the slowest first-level deploy plus the slowest second-level
# one, measured from the sequential deploys). Target: within 1.3x of the
# critical path. One warm-up deploy first, so the Nix build and the image
# layers are cached for both.
# Usage: bench/product_release.sh   (BENCH_BIN=path/to/forge skips the build)
# Needs what scripts/test needs (nix, git, Go for the first testenv build).
. "$(dirname "$0")/lib/on_testenv.sh"
names=(s1 s2 s3 s4 s5 s6)
envs=(staging production)

n=0
# Two namespaces with their Flux objects over one branch, deploy.yaml in $cfg.
setup() {
  n=$((n + 1))
  local branch=bench-$n-$$ seed=$T/seed-$n e ns
  git init -q "$seed"
  for e in "${envs[@]}"; do
    ns=$e-$n-$$
    kubectl create namespace "$ns" >/dev/null
    until kubectl get serviceaccount default -n "$ns" >/dev/null 2>&1; do sleep 0.2; done
    mkdir -p "$seed/$e"
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s]\n' "$(IFS=,; echo "${names[*]}")" > "$seed/$e/kustomization.yaml"
    for s in "${names[@]}"; do
      mkdir -p "$seed/$e/$s"
      printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources: [deployment.yaml]\nimages:\n  - name: %s\n    newName: registry.forge.test/%s\n    newTag: v0\n' "$ns" "$s" "$s" > "$seed/$e/$s/kustomization.yaml"
      printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: %s}\n  template:\n    metadata:\n      labels: {app: %s}\n    spec:\n      containers:\n      - name: %s\n        image: %s\n' "$s" "$s" "$s" "$s" "$s" > "$seed/$e/$s/deployment.yaml"
    done
  done
  git -C "$seed" add -A
  git -C "$seed" -c user.name=bench -c user.email=bench@localhost commit -q -m seed
  git -C "$seed" push -q "$FORGE_TESTENV_GIT/gitops.git" "HEAD:refs/heads/$branch"
  for e in "${envs[@]}"; do
    ns=$e-$n-$$
    kubectl apply -f - >/dev/null <<YAML
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: gitops, namespace: $ns}
spec: {interval: 1h, url: "$FORGE_TESTENV_GIT/gitops.git", ref: {branch: $branch}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: $ns}
spec: {interval: 1h, path: ./$e, prune: true, sourceRef: {kind: GitRepository, name: gitops}}
YAML
    until kubectl get deployment s6 -n "$ns" >/dev/null 2>&1; do sleep 0.5; done
  done
  {
    printf 'flake: path:%s\ncache:\n  url: file://%s/cache\ngitops:\n  repo: %s/gitops.git\n  branch: %s\n  clone_dir: %s/clone-%s\n' "$T/flake" "$T" "$FORGE_TESTENV_GIT" "$branch" "$T" "$n"
    printf 'environments:\n'
    for e in "${envs[@]}"; do
      printf '  %s:\n    kustomization: "%s/{service}/kustomization.yaml"\n    flux: {namespace: %s, source: gitops, kustomization: apps}\n    kube: {namespace: %s}\n' "$e" "$e" "$e-$n-$$" "$e-$n-$$"
    done
    printf 'services:\n'
    for s in "${names[@]}"; do
      printf '  %s:\n    attr: app\n    image: {repository: "oci:%s/images/registry.forge.test/%s", name: %s}\n' "$s" "$T" "$s" "$s"
      case $s in s4) echo "    depends_on: [s1]" ;; s5) echo "    depends_on: [s2]" ;; s6) echo "    depends_on: [s3]" ;; esac
    done
    printf 'products:\n  shop:\n    services: [%s]\n    environments: [staging, production]\n' "$(IFS=,; echo "${names[*]}")"
  } > "$T/deploy-$n.yaml"
  cfg=$T/deploy-$n.yaml
}

max() { echo "if ($1 > $2) $1 else $2" | bc; }

echo "warm-up deploy..." >&2
setup
"$FORGE" -q deploy s1 --env staging --config "$cfg" >/dev/null

echo "twelve sequential deploys..." >&2
setup
seq_start=$(now); critical=0
for e in "${envs[@]}"; do
  level1=0; level2=0
  for s in "${names[@]}"; do
    t0=$(now)
    "$FORGE" -q deploy "$s" --env "$e" --config "$cfg" >/dev/null
    t=$(echo "$(now) - $t0" | bc)
    case $s in s1|s2|s3) level1=$(max "$t" "$level1") ;; *) level2=$(max "$t" "$level2") ;; esac
  done
  critical=$(echo "$critical + $level1 + $level2" | bc)
done
seq_took=$(echo "$(now) - $seq_start" | bc)

echo "one product-release through both environments..." >&2
setup
par_start=$(now)
"$FORGE" -q product-release shop --config "$cfg" --jobs 8 > "$T/release.out" || { cat "$T/release.out" >&2; exit 1; }
par_took=$(echo "$(now) - $par_start" | bc)

echo "product-release of 6 services (2 levels) across 2 environments on the Kubernetes + Flux test environment, $(nproc) cores"
echo "| run | wall time |"
echo "|---|---|"
printf '| 12 sequential `forge deploy` | %.1f s |\n' "$seq_took"
printf '| critical path (per environment: slowest level-1 + slowest level-2 deploy) | %.1f s |\n' "$critical"
printf '| `forge product-release` | %.1f s |\n' "$par_took"
printf '| sequential / product-release | %sx |\n' "$(echo "scale=2; $seq_took / $par_took" | bc)"
ratio=$(echo "scale=2; $par_took / $critical" | bc)
printf '| product-release / critical path (target <= 1.3x) | %sx %s |\n' "$ratio" "$(echo "$ratio <= 1.3" | bc | sed 's/1/ok/;s/0/NO/')"
