#!/usr/bin/env bash
# Benchmark: the ledger's overhead per step transition (one fenced
# transaction each: lease check, step upsert, run touch), median and p95
# over 1,000 transitions (500 steps started and succeeded), on an SQLite
# file (WAL, synchronous=FULL) and on a throwaway local PostgreSQL cluster.
# Targets: median under 2 ms on SQLite, under 5 ms on PostgreSQL.
# Usage: bench/ledger.sh          (STEPS=500; BENCH_DIR for the SQLite file, default /var/tmp;
#                                  BENCH_BIN=path/to/bench skips the release build)
# Needs the PostgreSQL server binaries (apt-get install postgresql) or PG_BINDIR.
set -euo pipefail
trap 'echo "bench failed at line $LINENO" >&2' ERR
cd "$(dirname "$0")/.."
STEPS="${STEPS:-500}"

if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$BENCH_BIN"
else
  cargo build -q --release -p forge-ledger --example bench
  BIN="$(cargo metadata -q --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/examples/bench"
fi

BINDIR="${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

T="$(mktemp -d /tmp/forge-ledger-bench-XXXXXX)"
# The SQLite file on a real disk (not tmpfs), so its fsyncs are measured.
S="$(mktemp -d "${BENCH_DIR:-/var/tmp}/forge-ledger-bench-XXXXXX")"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55434)"
echo bench-superuser-pw > "$T/pw"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$T"
cleanup() { as_pg "$BINDIR/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$T" "$S"; }
trap cleanup EXIT
as_pg "$BINDIR/initdb" -D "$T/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --pwfile="$T/pw" -E UTF8 --no-locale >/dev/null
# Durable settings (fsync and synchronous_commit on), as a real ledger server runs.
as_pg "$BINDIR/pg_ctl" -D "$T/data" -l "$T/log" -w -o "-c listen_addresses=127.0.0.1 -p $PORT -k $T" start >/dev/null
PG_URL="postgres://postgres:bench-superuser-pw@127.0.0.1:$PORT/postgres?sslmode=disable"

"$BIN" --steps "$STEPS" "$S/ledger.db" "$PG_URL" > "$T/results"

echo "ledger overhead per step transition, $((2 * STEPS)) transitions each, $(nproc) cores"
printf '| %-10s | %10s | %10s | %-8s | %s\n' backend median p95 target ok
printf '|%s|%s|%s|%s|%s\n' ------------ ------------ ------------ ---------- ----
while read -r backend median p95 n; do
  case "$backend" in sqlite) target=2 ;; postgres) target=5 ;; *) target=0 ;; esac
  ok=$(awk -v m="$median" -v t="$target" 'BEGIN { print (m < t) ? "yes" : "NO" }')
  printf '| %-10s | %7.3f ms | %7.3f ms | < %s ms   | %s\n' "$backend" "$median" "$p95" "$target" "$ok"
done < "$T/results"
