#!/usr/bin/env bash
# Benchmark: `forge cache push` against `nix copy --to` the same kind of cache
# with the same compression (zstd), on this machine, in one run.
#   closure A: 1,000 small paths (a few KB each) under one root
#   closure B: one path of 500 MB (half random, half text)
# Prints a table with medians of several runs, ratios and peak RSS.
# Needs: nix, nginx, zstd, /usr/bin/time (apt-get install time). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
export NIX_CONFIG=$'experimental-features = nix-command flakes\nsandbox = false\nbuild-users-group =\nsubstituters =\nwarn-dirty = false'
T=$(mktemp -d /tmp/forge-bench.XXXXXX)
# Caches (and nginx's document root) on tmpfs, for both tools alike, so that
# the machine's disk is not what is measured (as the image benchmark does).
C=$(mktemp -d /dev/shm/forge-bench.XXXXXX)
trap 'kill $(cat $T/nginx/nginx.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$T" "$C"' EXIT

cargo build --release -q -p forge
FORGE=$PWD/target/release/forge

echo "preparing closures (first run builds 1,000 derivations and a 500 MB path)..." >&2
mkdir -p $T/flake && cat > $T/flake/flake.nix <<NIX
{ outputs = { self }: let
    system = "$(uname -m)-linux";
    sh = a: derivation (a // { inherit system; builder = "/bin/sh"; PATH = "/bin:/usr/bin"; });
    leaf = i: sh { name = "bench-leaf-\${toString i}"; args = [ "-c" "mkdir -p \$out/bin; echo \${toString i} > \$out/id; head -c 3000 /dev/urandom > \$out/blob; printf '#!/bin/sh\\\\n' > \$out/bin/run; chmod +x \$out/bin/run" ]; };
  in {
    many = sh { name = "bench-many"; args = [ "-c" "echo \${toString (builtins.genList leaf 1000)} > \$out" ]; };
    big = sh { name = "bench-big"; args = [ "-c" "mkdir \$out; head -c 250000000 /dev/urandom > \$out/random; i=0; while [ \$i -lt 2500 ]; do seq \$i 40000 | head -c 100000; i=\$((i+1)); done > \$out/text" ]; };
  }; }
NIX
MANY=$(nix build --no-link --json -j4 "path:$T/flake#many" 2>/dev/null | sed 's/.*"out":"\([^"]*\)".*/\1/')
BIG=$(nix build --no-link --json "path:$T/flake#big" 2>/dev/null | sed 's/.*"out":"\([^"]*\)".*/\1/')
nix key generate-secret --key-name bench-1 > $T/k.sec

mkdir -p $T/nginx/{body,tmp,logs} $C/root
PORT=18090
cat > $T/nginx/nginx.conf <<NG
user root; worker_processes auto; daemon on; pid $T/nginx/nginx.pid; error_log $T/nginx/logs/error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/tmp; fastcgi_temp_path $T/nginx/tmp;
  uwsgi_temp_path $T/nginx/tmp; scgi_temp_path $T/nginx/tmp; client_max_body_size 0; keepalive_requests 100000;
  server { listen 127.0.0.1:$PORT; location / { root $C/root; dav_methods PUT; create_full_put_path on; } } }
NG
nginx -c $T/nginx/nginx.conf -p $T/nginx

now() { date +%s.%N; }
# median of the timings of "$@" run RUNS times; $PREP runs before each (untimed)
median() {
  local times=()
  for i in $(seq $RUNS); do
    [ -n "${PREP:-}" ] && eval "$PREP"
    local s=$(now); "$@" >/dev/null 2>&1; local e=$(now)
    times+=("$(awk -v s=$s -v e=$e 'BEGIN {print e - s}')")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]}'
}
clear_nix_cache() { rm -rf ~/.cache/nix/binary-cache-v*.sqlite*; }
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

# --- cold pushes: a new, empty cache each run
PREP='rm -rf $C/fcn $C/fcf; clear_nix_cache'
nix_file_cold=$(median bash -c 'nix copy --to "file://$0?compression=zstd&secret-key=$1" $2' "$C/fcn" $T/k.sec $MANY)
forge_file_cold=$(median $FORGE cache push --to file://$C/fcf --signing-key $T/k.sec $MANY)
PREP='rm -rf $C/root/n $C/root/f; clear_nix_cache'
nix_http_cold=$(median nix copy --to "http://127.0.0.1:$PORT/n?compression=zstd&secret-key=$T/k.sec" $MANY)
forge_http_cold=$(median $FORGE cache push --to http://127.0.0.1:$PORT/f --signing-key $T/k.sec $MANY)

# --- no-op pushes: everything present; nix's local narinfo cache cleared (a fresh CI runner)
nix copy --to "http://127.0.0.1:$PORT/n?compression=zstd" $MANY >/dev/null 2>&1
$FORGE cache push --to http://127.0.0.1:$PORT/f $MANY >/dev/null
nix copy --to "file://$C/fcn?compression=zstd" $MANY >/dev/null 2>&1
$FORGE cache push --to file://$C/fcf $MANY >/dev/null
PREP='clear_nix_cache'
nix_http_noop=$(median nix copy --to "http://127.0.0.1:$PORT/n?compression=zstd" $MANY)
forge_http_noop=$(median $FORGE cache push --to http://127.0.0.1:$PORT/f $MANY)
nix_file_noop=$(median nix copy --to "file://$C/fcn?compression=zstd" $MANY)
forge_file_noop=$(median $FORGE cache push --to file://$C/fcf $MANY)

# --- the 500 MB path: floor is `nix-store --dump | zstd -3` to a file
RUNS_BIG=${RUNS_BIG:-3}
PREP='rm -f $C/floor.zst'
floor_big=$(RUNS=$RUNS_BIG median bash -c 'nix-store --dump $0 | zstd -3 -q > $1' $BIG $C/floor.zst)
PREP='rm -rf $C/big-f'
forge_big=$(RUNS=$RUNS_BIG median $FORGE cache push --to file://$C/big-f $BIG)
PREP='rm -rf $C/big-n; clear_nix_cache'
nix_big=$(RUNS=$RUNS_BIG median nix copy --to "file://$C/big-n?compression=zstd" $BIG)
PREP=''

# --- peak memory
rm -rf $C/rss1 $C/rss2 $C/root/rss
rss_many=$(rss $FORGE cache push --to file://$C/rss1 $MANY)
rss_http=$(rss $FORGE cache push --to http://127.0.0.1:$PORT/rss $MANY)
rss_big=$(rss $FORGE cache push --to file://$C/rss2 $BIG)
rss_big_http=$(rss $FORGE cache push --to http://127.0.0.1:$PORT/rss $BIG)

ratio() { awk -v a=$1 -v b=$2 'BEGIN {printf "%.1fx", a / b}'; }
echo
echo "forge cache push vs nix copy ($(nix --version | head -1)), median of $RUNS runs ($RUNS_BIG for 500 MB), $(nproc) cores"
printf '| %-44s | %9s | %9s | %8s | %s\n' "scenario" "baseline" "forge" "speed-up" "target"
printf '|%s|\n' "----------------------------------------------|-----------|-----------|----------|--------"
printf '| %-44s | %8ss | %8ss | %8s | %s\n' "1,000 paths cold -> file:// (zstd)" $nix_file_cold $forge_file_cold "$(ratio $nix_file_cold $forge_file_cold)" ">= 2x"
printf '| %-44s | %8ss | %8ss | %8s | %s\n' "1,000 paths cold -> http:// nginx WebDAV" $nix_http_cold $forge_http_cold "$(ratio $nix_http_cold $forge_http_cold)" ">= 2x"
printf '| %-44s | %8ss | %8ss | %8s | %s\n' "1,000 paths no-op -> http:// (fresh runner)" $nix_http_noop $forge_http_noop "$(ratio $nix_http_noop $forge_http_noop)" ">= 10x"
printf '| %-44s | %8ss | %8ss | %8s | %s\n' "1,000 paths no-op -> file://" $nix_file_noop $forge_file_noop "$(ratio $nix_file_noop $forge_file_noop)" ">= 2x"
printf '| %-44s | %8ss | %8ss | %8s | %s\n' "500 MB path vs dump|zstd -3 floor" $floor_big $forge_big "$(ratio $floor_big $forge_big)" "forge <= 1.5x floor"
printf '| %-44s | %8ss | %8ss | %8s | %s\n' "500 MB path vs nix copy -> file:// (zstd)" $nix_big $forge_big "$(ratio $nix_big $forge_big)" "(info)"
echo
echo "peak RSS of forge: 1,000 paths file:// $((rss_many/1024)) MB, http:// $((rss_http/1024)) MB; 500 MB path file:// $((rss_big/1024)) MB, http:// $((rss_big_http/1024)) MB (target < 150 MB)"
