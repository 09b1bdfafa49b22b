#!/usr/bin/env bash
# Benchmark: planning a product of 50 services (each after the one ten
# before it, so the graph has 5 dependency levels) across 3 environments
# with gates: `forge product-release P --dry-run` as a whole process (read
# and check deploy.yaml, build the graph, print it), median of RUNS.
# Target: under 50 ms.
# Usage: bench/product_plan.sh   (RUNS=20; SERVICES=50; BENCH_BIN=path/to/forge skips the build)
set -euo pipefail
trap 'echo "bench failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
RUNS=${RUNS:-20}
SERVICES=${SERVICES:-50}
if [ -n "${BENCH_BIN:-}" ]; then FORGE=$BENCH_BIN; else cargo build --release -q -p forge; FORGE=$PWD/target/release/forge; fi
T=$(mktemp -d /tmp/forge-plan-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
{
  printf 'registry: registry.example.com/shop\ngitops:\n  repo: https://git.example.com/gitops.git\nenvironments:\n'
  for e in dev staging production; do printf '  %s:\n    kustomization: %s/{service}/kustomization.yaml\n' "$e" "$e"; done
  printf 'services:\n'
  for i in $(seq 1 "$SERVICES"); do
    printf '  s%d:\n    verify:\n      - http: {url: "https://s%d.{env}.example.com/health"}\n' "$i" "$i"
    [ "$i" -gt 10 ] && printf '    depends_on: [s%d]\n' $((i - 10))
  done
  printf 'products:\n  shop:\n    services: [%s]\n    environments: [dev, staging, production]\n' "$(seq -s, -f 's%g' 1 "$SERVICES")"
  printf '    gates:\n      staging: {soak: 10m}\n      production: {soak: 1h, approvals: 2}\n'
} > "$T/deploy.yaml"
steps=$("$FORGE" --json product-release shop --dry-run --config "$T/deploy.yaml" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["plan"]["steps"]))')
python3 - "$FORGE" "$T/deploy.yaml" "$RUNS" "$SERVICES" "$steps" <<'PY'
import statistics, subprocess, sys, time
forge, config, runs, services, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
took = []
for _ in range(runs):
    t = time.monotonic()
    subprocess.run([forge, "--json", "product-release", "shop", "--dry-run", "--config", config], check=True, stdout=subprocess.DEVNULL)
    took.append(time.monotonic() - t)
med = statistics.median(took)
print(f"forge product-release --dry-run (whole process), {runs} runs")
print("| services | environments | steps | median | min | max | target | ok |")
print("|---|---|---|---|---|---|---|---|")
print(f"| {services} | 3 | {steps} | {med*1000:.1f} ms | {min(took)*1000:.1f} ms | {max(took)*1000:.1f} ms | < 50 ms | {'yes' if med < 0.05 else 'NO'} |")
PY
