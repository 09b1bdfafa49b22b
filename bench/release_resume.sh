#!/usr/bin/env bash
# Benchmark: `forge release resume` of a run of 101 steps (25 services ×
# build, cache, image, pin, and one verification) whose last step failed:
# the time from starting `forge release resume` until the step that has
# not happened yet starts (its `running` transition, recorded right before
# its side effect), i.e. the cost of reading the run back, re-planning,
# taking 25 leases and skipping 100 finished steps. Target: under 0.5 s.
# Median, min and max over RUNS resumes (each resume fails the same check
# again, so the run stays resumable).
# Usage: bench/release_resume.sh   (RUNS=5; SERVICES=25; BENCH_BIN=path/to/forge skips the build)
# Needs: nix (nix-bin), git, python3.
set -euo pipefail
trap 'echo "bench failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
SERVICES=${SERVICES:-25}
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsandbox = false\nbuild-users-group =\nsubstituters =\nwarn-dirty = false'
if [ -n "${BENCH_BIN:-}" ]; then FORGE=$BENCH_BIN; else cargo build --release -q -p forge; FORGE=$PWD/target/release/forge; fi
T=$(mktemp -d /tmp/forge-resume-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
export FORGE_CACHE_DIR=$T/layers FORGE_GIT_SHA=0123456789abcdef0123456789abcdef01234567
unset FORGE_LEDGER

mkdir -p "$T/flake"
sed "s/@SYSTEM@/$(uname -m)-linux/" crates/forge/tests/fixtures/flakes/basic/flake.nix > "$T/flake/flake.nix"

git init -q --bare "$T/gitops.git"
git init -q "$T/seed"
names=()
for i in $(seq -w 1 "$SERVICES"); do
  s=s$i; names+=("$s")
  mkdir -p "$T/seed/apps/$s"
  printf 'resources: [deployment.yaml]\nimages:\n  - name: ./images/%s\n    newTag: v0\n' "$s" > "$T/seed/apps/$s/kustomization.yaml"
done
git -C "$T/seed" add -A
git -C "$T/seed" -c user.name=bench -c user.email=bench@localhost commit -q -m seed
git -C "$T/seed" push -q "$T/gitops.git" HEAD:refs/heads/main

last=${names[-1]}
{
  printf 'flake: path:%s\ncache:\n  url: file://./cache\nregistry: oci:./images\ngitops:\n  repo: ./gitops.git\n  clone_dir: ./clone\nledger:\n  path: ./ledger.db\n' "$T/flake"
  printf 'environments:\n  dev:\n    cluster: false\n    kustomization: apps/{service}/kustomization.yaml\nservices:\n'
  for s in "${names[@]}"; do
    printf '  %s:\n    attr: app\n' "$s"
  done
  printf '    verify:\n      - command: [test, -e, %s/never]\n' "$T"
} > "$T/deploy.yaml"

echo "first run: $SERVICES services, $((SERVICES * 4 + 1)) steps (fails at $last/dev/verify on purpose)..." >&2
"$FORGE" -q orchestrate-release "${names[@]}" --env dev --config "$T/deploy.yaml" --lease-ttl 2s >/dev/null 2>&1 || true
RUN=$("$FORGE" --json release list --config "$T/deploy.yaml" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
# What the ledger holds of it: steps in all, and those already done.
COUNTS=$("$FORGE" --json release show "$RUN" --config "$T/deploy.yaml" | python3 -c '
import json,sys; s=json.load(sys.stdin)["steps"]; print(len(s), sum(x["state"]=="succeeded" for x in s))')

python3 - "$FORGE" "$T/deploy.yaml" "$RUN" "$last/dev/verify" "$RUNS" $COUNTS <<'PY'
import statistics, subprocess, sys, time
forge, config, run, step, runs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
steps, done = sys.argv[6], sys.argv[7]
took = []
for _ in range(runs):
    started = time.monotonic()
    p = subprocess.Popen([forge, "--progress", "plain", "release", "resume", run, "--config", config],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if f"{step}: running" in line:
            took.append(time.monotonic() - started)
            break
    p.wait()
    if len(took) < _ + 1:
        sys.exit(f"resume never started {step}")
med = statistics.median(took)
print(f"forge release resume: time until the next side effect starts, {runs} resumes")
print("| steps | done before | median | min | max | target | ok |")
print("|---|---|---|---|---|---|---|")
print(f"| {steps} | {done} | {med*1000:.0f} ms | {min(took)*1000:.0f} ms | {max(took)*1000:.0f} ms | < 500 ms | {'yes' if med < 0.5 else 'NO'} |")
PY
