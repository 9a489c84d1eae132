#!/usr/bin/env bash
# writers.postgres against the ceiling of psql's COPY of the same rows into the same partitioned,
# indexed probe_events table, in the same run (examples/postgres_bench.rs does the work).
#
#   scripts/bench postgres [quick]        (or scripts/bench.d/postgres.sh [quick])
#
# Environment (optional):
#   UPTIMER_TEST_DATABASE_URL  server to use (default: the local one, started if needed)
#   BENCH_PG_EVENTS            events per round (default 300000; quick 100000)
#   BENCH_PG_PAGESIZE          batch size, POSTGRES_PAGESIZE (default 5000)
#   BENCH_PG_ROUNDS            rounds; the best of each figure is reported (default 3; quick 1)
#
# Each round uses a fresh database (dropped after); PostgreSQL is stopped again on exit if this
# script started it. Bounded: rounds x events, nothing runs in the background afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
services_trap

quick=0
for arg in "$@"; do
  case $arg in
    quick) quick=1 ;;
    -h | --help | help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench postgres: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
if ((quick)); then
  : "${BENCH_PG_EVENTS:=100000}" "${BENCH_PG_ROUNDS:=1}"
else
  : "${BENCH_PG_EVENTS:=300000}" "${BENCH_PG_ROUNDS:=3}"
fi
: "${BENCH_PG_PAGESIZE:=5000}"

ensure_postgres
services_log "building examples/postgres_bench (release)"
cargo build --release --locked --example postgres_bench >&2

echo "## PostgreSQL writer — $(date -u +%Y-%m-%dT%H:%MZ)"
echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)," \
  "PostgreSQL $(psql "$UPTIMER_TEST_DATABASE_URL" -qAtc 'SHOW server_version'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: scripts/bench postgres$( ((quick)) && echo ' quick')" \
  "(BENCH_PG_EVENTS=$BENCH_PG_EVENTS BENCH_PG_PAGESIZE=$BENCH_PG_PAGESIZE BENCH_PG_ROUNDS=$BENCH_PG_ROUNDS)"
timeout 900 "${CARGO_TARGET_DIR:-target}"/release/examples/postgres_bench "$UPTIMER_TEST_DATABASE_URL" \
  "$BENCH_PG_EVENTS" "$BENCH_PG_PAGESIZE" "$BENCH_PG_ROUNDS"
