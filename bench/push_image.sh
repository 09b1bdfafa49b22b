#!/usr/bin/env bash
# Benchmark: `forge image push` against `skopeo copy oci:DIR docker://…` of the
# same layout into the same local registry (storage on tmpfs), for an image of
# ~300 MB in ~200 layers built from a Nix closure; plus rebuild-after-a-change,
# cold build throughput next to plain gzip/zstd, and peak memory.
# Needs: nix, docker-registry, skopeo, gzip, zstd, /usr/bin/time. Run as root.
set -euo pipefail
trap 'echo "bench failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsandbox = false\nbuild-users-group =\nsubstituters =\nwarn-dirty = false'
T=$(mktemp -d /tmp/forge-ibench.XXXXXX)
SHM=/dev/shm/forge-ibench-$$
REGPID=
stop_registry() { [ -n "$REGPID" ] && kill $REGPID 2>/dev/null && wait $REGPID 2>/dev/null || true; REGPID=; }
trap 'stop_registry; rm -rf "$T" "$SHM"' EXIT
PORT=15099
start_registry() {
  stop_registry; rm -rf $SHM; mkdir -p $SHM
  if curl -sf http://127.0.0.1:$PORT/v2/ >/dev/null; then echo "port $PORT is taken by another registry" >&2; exit 1; fi
  printf 'version: 0.1\nlog: { level: error }\nstorage: { filesystem: { rootdirectory: %s } }\nhttp: { addr: 127.0.0.1:%s }\n' $SHM $PORT > $T/reg.yml
  docker-registry serve $T/reg.yml >/dev/null 2>&1 & REGPID=$!
  for i in $(seq 100); do curl -sf http://127.0.0.1:$PORT/v2/ >/dev/null && kill -0 $REGPID && return; sleep 0.05; done
  echo "docker-registry did not start" >&2; exit 1
}

cargo build --release -q -p forge
FORGE=$PWD/target/release/forge
export FORGE_CACHE_DIR=$T/fcache

echo "preparing a closure of 200 paths, ~2.2 MB each..." >&2
mkdir -p $T/flake
write_flake() {
cat > $T/flake/flake.nix <<NIX
{ outputs = { self }: let
    system = "$(uname -m)-linux";
    sh = a: derivation (a // { inherit system; builder = "/bin/sh"; PATH = "/bin:/usr/bin"; });
    part = i: sh { name = "ibench-part-\${toString i}"; salt = if i == 7 then "$1" else "0";
      args = [ "-c" "mkdir -p \$out; head -c 1400000 /dev/urandom > \$out/random; seq 1 120000 > \$out/text; echo \$salt > \$out/salt" ]; };
  in {
    img = sh { name = "ibench-root"; args = [ "-c" "mkdir -p \$out/bin; echo \${toString (builtins.genList part 199)} > \$out/parts; printf '#!/bin/sh\\\\n' > \$out/bin/run" ]; };
  }; }
NIX
}
write_flake 0
ROOT=$(nix build --no-link --json -j4 "path:$T/flake#img" 2>/dev/null | sed 's/.*"out":"\([^"]*\)".*/\1/')

now() { date +%s.%N; }
# median VAR cmd...: runs cmd RUNS times (PREP before each, untimed, in this
# shell so that servers it starts are ours) and stores the median in VAR.
median() {
  local var=$1; shift
  local times=()
  for i in $(seq $RUNS); do
    [ -n "${PREP:-}" ] && eval "$PREP"
    local s=$(now); "$@" >/dev/null 2>$T/last.err || { echo "failed: $*" >&2; cat $T/last.err >&2; exit 1; }; local e=$(now)
    times+=("$(awk -v s=$s -v e=$e 'BEGIN {print e - s}')")
  done
  printf -v "$var" '%s' "$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}')"
}
ratio() { awk -v a=$1 -v b=$2 'BEGIN {printf "%.1fx", a / b}'; }
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

# --- cold build (empty layer cache), gzip and zstd
PREP='rm -rf $T/img $FORGE_CACHE_DIR'
median build_gzip $FORGE image build $ROOT --out oci:$T/img:v1 --max-layers 201
median build_zstd $FORGE image build $ROOT --out oci:$T/img:v1 --max-layers 201 --compression zstd
rm -rf $T/img $FORGE_CACHE_DIR; PREP=""
rss_build=$(rss $FORGE image build $ROOT --out oci:$T/img:v1 --max-layers 201)
img_mb=$(du -sm $T/img/blobs | cut -f1)
layers=$(skopeo inspect --raw oci:$T/img:v1 | grep -o '"mediaType":"application/vnd.oci.image.layer[^"]*"' | wc -l)
closure_mb=$(nix path-info -rS $ROOT | sort -k2 -n | tail -1 | awk '{printf "%d", $2/1048576}')
# Machine throughput of the compressors on the same bytes (one core each).
tar -cf $T/closure.tar $(nix-store -qR $ROOT) 2>/dev/null
tar_mb=$(du -m $T/closure.tar | cut -f1)
RUNS_SAVED=$RUNS; RUNS=1; median t_gzip bash -c "gzip -6 -c $T/closure.tar > /dev/null"; RUNS=$RUNS_SAVED
RUNS_SAVED=$RUNS; RUNS=1; median t_zstd bash -c "zstd -3 -q -c $T/closure.tar > /dev/null"; RUNS=$RUNS_SAVED
rm -f $T/closure.tar

# --- cold push: empty registry each run (forge's mount record cleared too)
SRC=oci:$T/img:v1
PREP='start_registry; rm -f $FORGE_CACHE_DIR/oci/known-blobs.json'
median skopeo_cold skopeo copy -q --dest-tls-verify=false $SRC docker://127.0.0.1:$PORT/s:v1
median forge_cold $FORGE image push $SRC --repo 127.0.0.1:$PORT/f --tag v1
# --- warm push: every blob already in the repository
PREP=''
median skopeo_warm skopeo copy -q --dest-tls-verify=false $SRC docker://127.0.0.1:$PORT/s:v1
median forge_warm $FORGE image push $SRC --repo 127.0.0.1:$PORT/f --tag v1
rss_push=$(rss $FORGE image push $SRC --repo 127.0.0.1:$PORT/f --tag v1)

# --- one small store path changed: rebuild + push, end to end
write_flake 1
s=$(now)
changed_json=$($FORGE --json image push "path:$T/flake#img" --repo 127.0.0.1:$PORT/f --tag v2 --max-layers 201 2>/dev/null)
e=$(now)
changed_t=$(awk -v s=$s -v e=$e 'BEGIN {printf "%.3f", e - s}')
changed_up=$(echo "$changed_json" | sed -n 's/.*"bytes_uploaded": \([0-9]*\).*/\1/p')
changed_total=$(echo "$changed_json" | sed -n 's/.*"image_bytes": \([0-9]*\).*/\1/p')
changed_blobs=$(echo "$changed_json" | grep -c '"uploaded"' || true)

echo
echo "forge image push vs skopeo $(skopeo --version | awk '{print $3}'), image of ${img_mb} MB in $layers layers (closure ${closure_mb} MB), median of $RUNS runs, $(nproc) cores, registry on tmpfs"
printf '| %-42s | %9s | %9s | %8s | %s\n' "scenario" "skopeo" "forge" "speed-up" "target"
printf '|%s|\n' "--------------------------------------------|-----------|-----------|----------|--------"
printf '| %-42s | %8ss | %8ss | %8s | %s\n' "cold push (empty registry)" $skopeo_cold $forge_cold "$(ratio $skopeo_cold $forge_cold)" ">= 3x"
printf '| %-42s | %8ss | %8ss | %8s | %s\n' "warm push (every blob present)" $skopeo_warm $forge_warm "$(ratio $skopeo_warm $forge_warm)" ">= 10x"
echo
echo "one store path changed, rebuild + push end to end: ${changed_t}s, uploaded $changed_up of $changed_total bytes ($changed_blobs blobs) (target < 2 s)"
echo "cold build from the closure: gzip $build_gzip s ($(awk -v m=$tar_mb -v t=$build_gzip 'BEGIN {printf "%.0f", m/t}') MB/s of tar), zstd $build_zstd s ($(awk -v m=$tar_mb -v t=$build_zstd 'BEGIN {printf "%.0f", m/t}') MB/s)"
echo "  this machine, one core: gzip -6 $(awk -v m=$tar_mb -v t=$t_gzip 'BEGIN {printf "%.0f", m/t}') MB/s, zstd -3 $(awk -v m=$tar_mb -v t=$t_zstd 'BEGIN {printf "%.0f", m/t}') MB/s"
echo "peak RSS: build $((rss_build/1024)) MB, push $((rss_push/1024)) MB (target < 200 MB)"
