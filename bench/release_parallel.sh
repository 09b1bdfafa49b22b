#!/usr/bin/env bash
# Benchmark: `forge orchestrate-release` of 6 independent services on the
# Kubernetes + Flux test environment (scripts/testenv) against six
# sequential `forge deploy` runs of the same services: wall time of each,
# their ratio (target: at least 3x), and how close the parallel run gets to
# the slowest single deploy. Each measurement gets a fresh namespace and
# GitOps branch; one warm-up deploy first, so both start with the Nix build
# and the image layers cached.
# Usage: bench/release_parallel.sh   (SERVICES=6; BENCH_BIN=path/to/forge skips the build)
# Needs what scripts/test needs (nix, git, Go for the first testenv build).
SERVICES=${SERVICES:-6}
. "$(dirname "$0")/lib/on_testenv.sh"
names=(); for i in $(seq 1 "$SERVICES"); do names+=("s$i"); done

n=0
# A namespace, a branch with one kustomization per service, the Flux objects,
# and deploy.yaml, whose path goes to $cfg.
setup() {
  n=$((n + 1))
  local ns=bench-$n-$$ branch=bench-$n-$$ seed=$T/seed-$n
  kubectl create namespace "$ns" >/dev/null
  until kubectl get serviceaccount default -n "$ns" >/dev/null 2>&1; do sleep 0.2; done
  git init -q "$seed"
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [%s]\n' "$(IFS=,; echo "${names[*]}")" > "$seed/kustomization.yaml"
  for s in "${names[@]}"; do
    mkdir -p "$seed/$s"
    printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: %s\nresources: [deployment.yaml]\nimages:\n  - name: %s\n    newName: registry.forge.test/%s\n    newTag: v0\n' "$ns" "$s" "$s" > "$seed/$s/kustomization.yaml"
    printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: %s\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {app: %s}\n  template:\n    metadata:\n      labels: {app: %s}\n    spec:\n      containers:\n      - name: %s\n        image: %s\n' "$s" "$s" "$s" "$s" "$s" > "$seed/$s/deployment.yaml"
  done
  git -C "$seed" add -A
  git -C "$seed" -c user.name=bench -c user.email=bench@localhost commit -q -m seed
  git -C "$seed" push -q "$FORGE_TESTENV_GIT/gitops.git" "HEAD:refs/heads/$branch"
  kubectl apply -f - >/dev/null <<YAML
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: gitops, namespace: $ns}
spec: {interval: 1h, url: "$FORGE_TESTENV_GIT/gitops.git", ref: {branch: $branch}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: $ns}
spec: {interval: 1h, path: ./, prune: true, sourceRef: {kind: GitRepository, name: gitops}}
YAML
  until kubectl get deployment "${names[-1]}" -n "$ns" >/dev/null 2>&1; do sleep 0.5; done
  {
    printf 'flake: path:%s\ncache:\n  url: file://%s/cache\ngitops:\n  repo: %s/gitops.git\n  branch: %s\n  clone_dir: %s/clone-%s\n' "$T/flake" "$T" "$FORGE_TESTENV_GIT" "$branch" "$T" "$n"
    printf 'environments:\n  e2e:\n    kustomization: "{service}/kustomization.yaml"\n    flux: {namespace: %s, source: gitops, kustomization: apps}\n    kube: {namespace: %s}\n' "$ns" "$ns"
    printf 'services:\n'
    for s in "${names[@]}"; do printf '  %s:\n    attr: app\n    image: {repository: "oci:%s/images/registry.forge.test/%s", name: %s}\n' "$s" "$T" "$s" "$s"; done
  } > "$T/deploy-$n.yaml"
  cfg=$T/deploy-$n.yaml
}


echo "warm-up deploy..." >&2
setup
"$FORGE" -q deploy s1 --env e2e --config "$cfg" >/dev/null

echo "six sequential deploys..." >&2
setup
seq_start=$(now); slowest=0
for s in "${names[@]}"; do
  t0=$(now)
  "$FORGE" -q deploy "$s" --env e2e --config "$cfg" >/dev/null
  t=$(echo "$(now) - $t0" | bc)
  slowest=$(echo "if ($t > $slowest) $t else $slowest" | bc)
done
seq_took=$(echo "$(now) - $seq_start" | bc)

echo "one orchestrate-release of all six..." >&2
setup
par_start=$(now)
"$FORGE" -q orchestrate-release "${names[@]}" --env e2e --config "$cfg" --jobs 8 > "$T/release.out" || { cat "$T/release.out" >&2; exit 1; }
par_took=$(echo "$(now) - $par_start" | bc)
# Where the parallel run spent its time, step by step (stderr).
"$FORGE" release show "$("$FORGE" --json release list --limit 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" >&2

ratio=$(echo "scale=2; $seq_took / $par_took" | bc)
close=$(echo "scale=2; $par_took / $slowest" | bc)
echo "$SERVICES independent services on the Kubernetes + Flux test environment, $(nproc) cores"
echo "| run | wall time |"
echo "|---|---|"
printf '| %d sequential `forge deploy` | %.1f s |\n' "$SERVICES" "$seq_took"
printf '| slowest single deploy | %.1f s |\n' "$slowest"
printf '| `forge orchestrate-release` of all %d | %.1f s |\n' "$SERVICES" "$par_took"
printf '| speed-up (target >= 3x) | %sx %s |\n' "$ratio" "$(echo "$ratio >= 3" | bc | sed 's/1/ok/;s/0/NO/')"
printf '| parallel / slowest single | %sx |\n' "$close"
