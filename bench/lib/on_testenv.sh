# Sourced by the benchmarks that run on the Kubernetes + Flux test
# environment: the release build of forge ($FORGE), a temp dir ($T) removed
# with the test environment at exit, the environment's exports
# (KUBECONFIG, PATH with kubectl, FORGE_TESTENV_GIT), Forge's caches and
# ledger under $T, and the test flake in $T/flake.
set -euo pipefail
trap 'echo "bench failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
ROOT=$PWD
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsandbox = false\nbuild-users-group =\nsubstituters =\nwarn-dirty = false'
if [ -n "${BENCH_BIN:-}" ]; then FORGE=$BENCH_BIN; else cargo build --release -q -p forge; FORGE=$PWD/target/release/forge; fi
T=$(mktemp -d "/tmp/forge-bench.XXXXXX")
export FORGE_TESTENV_STATE_DIR=$T/testenv
trap 'bash "$ROOT/scripts/testenv" down >/dev/null 2>&1 || true; rm -rf "$T"' EXIT
echo "starting the test environment..." >&2
eval "$(bash scripts/testenv up)"
export FORGE_CACHE_DIR=$T/layers FORGE_GIT_SHA=0123456789abcdef0123456789abcdef01234567 FORGE_LEDGER=$T/ledger.db
mkdir -p "$T/flake"
sed "s/@SYSTEM@/$(uname -m)-linux/" crates/forge/tests/fixtures/flakes/basic/flake.nix > "$T/flake/flake.nix"
now() { date +%s.%N; }
