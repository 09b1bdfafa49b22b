#!/usr/bin/env bash
# Benchmark for forge-provision postgres on a throwaway local cluster:
#   apply of 200 roles, 20 databases and 1,000 grants from empty, then
#   plan on the converged cluster (target: under 2 s).
# Usage: bench/provision.sh            (PROFILE=release for an optimized build)
# Needs the PostgreSQL server binaries and psql (apt-get install postgresql) or PG_BINDIR.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE="${PROFILE:-dev}"
cargo build -q -p forge-provision --profile "$PROFILE"
dir="$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
BIN="$(cargo metadata -q --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/$dir/forge-provision"

BINDIR="${PG_BINDIR:-$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)}"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

T="$(mktemp -d /tmp/forge-bench-XXXXXX)"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 55433)"
echo bench-superuser-pw > "$T/pw"
[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$T"
cleanup() { as_pg "$BINDIR/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1 || true; rm -rf "$T"; }
trap cleanup EXIT
as_pg "$BINDIR/initdb" -D "$T/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
  --pwfile="$T/pw" -E UTF8 --no-locale >/dev/null
as_pg "$BINDIR/pg_ctl" -D "$T/data" -l "$T/log" -w -o "-c listen_addresses=127.0.0.1 -p $PORT -k $T \
  -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c wal_level=logical" start >/dev/null
export DATABASE_URL="postgres://postgres:bench-superuser-pw@127.0.0.1:$PORT/postgres?sslmode=disable"
export BENCH_PW=bench-role-password

# 200 roles (20 with login and a password), 20 databases x 5 schemas x 10 grants = 1,000 grants.
SPEC="$T/spec.yaml"
{
  echo "roles:"
  for r in $(seq 1 200); do
    echo "  - name: role_$r"
    if [ "$r" -le 20 ]; then echo "    login: true"; echo "    password_env: BENCH_PW"; fi
    if [ "$r" -gt 20 ]; then echo "    member_of: [role_$(( (r % 20) + 1 ))]"; fi
  done
  echo "databases:"
  for d in $(seq 1 20); do
    echo "  - name: db_$d"
    echo "    owner: role_$d"
    echo "    grants: [{role: role_$((d + 20)), privileges: [CONNECT]}]"
    echo "    schemas:"
    for s in $(seq 1 5); do
      echo "      - name: schema_$s"
      echo "        owner: role_$d"
      echo "        grants:"
      for g in $(seq 1 10); do
        echo "          - {role: role_$(( 20 + (d * 50 + s * 10 + g) % 180 + 1 )), privileges: [USAGE], tables: [SELECT], sequences: [USAGE], default: true}"
      done
    done
  done
} > "$SPEC"

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

t0=$(now); "$BIN" postgres apply --config "$SPEC" > "$T/apply.out"; t1=$(now)
changes=$(tail -1 "$T/apply.out" | sed 's/[^0-9]//g')
apply_s=$(secs "$t0" "$t1")

best=""
for _ in 1 2 3; do
  t0=$(now); "$BIN" postgres plan --check --config "$SPEC" > "$T/plan.out"; t1=$(now)
  s=$(secs "$t0" "$t1")
  if [ -z "$best" ] || awk -v a="$s" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$s; fi
done
grep -q "no changes" "$T/plan.out"

# Count the queries one converged plan sends (catalog reads are per kind, not per object).
PSQL_URL="$DATABASE_URL"
psql -q "$PSQL_URL" -c "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.5
before=$(wc -l < "$T/log")
"$BIN" postgres plan --config "$SPEC" > /dev/null
sleep 0.5
queries=$(tail -n +"$((before + 1))" "$T/log" | grep -cE "LOG:  (statement|execute [^:]*):" || true)

printf '%-48s %10s %10s\n' "step" "changes" "seconds"
printf '%-48s %10s %10s\n' "apply from empty (200 roles, 20 dbs, 1000 grants)" "$changes" "$apply_s"
printf '%-48s %10s %10s\n' "plan on the converged cluster (best of 3)" "0" "$best"
echo "queries sent by one converged plan: $queries (6 cluster-wide + 5 per database x 20 databases)"
awk -v b="$best" 'BEGIN { exit !(b < 2.0) }' && echo "plan target (< 2 s): met" || { echo "plan target (< 2 s): MISSED"; exit 1; }
