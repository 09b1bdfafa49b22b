#!/usr/bin/env bash
# Benchmark: forge serve under load while a writer uses the same ledger.
# 200 requests/s for 30 s against /api/v1/status and /metrics (open loop,
# bench/serve_load.py) on loopback, while the ledger benchmark's writer moves
# steps through the same SQLite ledger; prints p50/p99/max latency and
# errors, and the writer's per-transition latency without and with the
# load. Targets: p99 under 20 ms, zero errors, the writer no slower.
# Usage: bench/serve.sh     (RATE=200 SECONDS=30 SERVICES=20 STEPS=5000; BENCH_BIN=path/to/forge and
#                            BENCH_LEDGER_BIN=path/to/bench skip the release builds)
set -euo pipefail
trap 'echo "bench failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
RATE="${RATE:-200}"
SECONDS_="${SECONDS:-30}"
SERVICES="${SERVICES:-20}"
# Step transitions the writer makes (two per step), alone and under the load.
STEPS="${STEPS:-5000}"

target_dir() { cargo metadata -q --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'; }
if [ -n "${BENCH_BIN:-}" ]; then BIN="$BENCH_BIN"; else
  cargo build -q --release -p forge --bin forge; BIN="$(target_dir)/release/forge"; fi
if [ -n "${BENCH_LEDGER_BIN:-}" ]; then WRITER="$BENCH_LEDGER_BIN"; else
  cargo build -q --release -p forge-ledger --example bench; WRITER="$(target_dir)/release/examples/bench"; fi

T="$(mktemp -d /tmp/forge-serve-bench-XXXXXX)"
SERVER=""
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT

# A GitOps repository with a kustomization per service, and deploy.yaml.
git init -q --bare "$T/gitops.git"
mkdir -p "$T/seed"
for i in $(seq 1 "$SERVICES"); do
  mkdir -p "$T/seed/apps/svc-$i"
  printf 'images:\n  - name: svc-%s\n    newTag: v1\n    digest: sha256:%064d\n' "$i" "$i" > "$T/seed/apps/svc-$i/kustomization.yaml"
done
git -C "$T/seed" init -q
git -C "$T/seed" add -A
git -C "$T/seed" -c user.name=bench -c user.email=bench@example.invalid commit -q -m seed
git -C "$T/seed" push -q "$T/gitops.git" HEAD:refs/heads/main
{
  echo "flake: path:$T/no-flake"
  echo "gitops: {repo: ./gitops.git, branch: main, clone_dir: ./clone}"
  echo "ledger: {path: ./ledger.db}"
  echo "environments:"
  echo "  dev: {cluster: false, kustomization: 'apps/{service}/kustomization.yaml'}"
  echo "services:"
  for i in $(seq 1 "$SERVICES"); do echo "  svc-$i: {image: {repository: registry.example/svc-$i, name: svc-$i}}"; done
} > "$T/deploy.yaml"

# The writer's baseline, on a ledger of its own on the same disk.
echo "writer alone:      $("$WRITER" --steps "$STEPS" "$T/alone.db")   (backend median_ms p95_ms transitions)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" serve --listen "127.0.0.1:$PORT" --refresh 1s --config "$T/deploy.yaml" 2>"$T/serve.log" &
SERVER=$!
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null

# The same writer on the served ledger, during the load.
"$WRITER" --steps "$STEPS" "$T/ledger.db" > "$T/writer" &
WRITER_PID=$!
python3 bench/serve_load.py 127.0.0.1 "$PORT" "$RATE" "$SECONDS_" /api/v1/status /metrics
wait "$WRITER_PID"
echo "writer under load: $(cat "$T/writer")"
