#!/usr/bin/env bash
# The dashboard benchmark over PostgreSQL (`uptimer serve --store postgres://…`): N targets at a
# 60 s interval with 30 days of history generated straight into a fresh PostgreSQL database by
# SQL (hour and day rollups for 30 days, minute rollups and raw probe events for the last 2
# days, live state, incidents), then wrk measures the same endpoints as scripts/bench.d/web.sh.
# No ingest runs during the measurement (unlike the SQLite figures).
#
#   scripts/bench.d/web-postgres.sh [quick]
#
# Environment (all optional):
#   UPTIMER_BIN          use this binary instead of building target/release/uptimer
#   UPTIMER_TEST_DATABASE_URL  server to use (default: the local one, started if needed)
#   BENCH_WEB_SCALE      fraction of 10,000 targets (default 1; quick 0.1)
#   BENCH_WEB_SECONDS    duration of each wrk run (default 15; quick 5)
#   BENCH_WEB_CONNECTIONS  concurrent wrk connections (default 8)
#
# Everything runs on 127.0.0.1; the database is dropped and the server stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=$PWD/scripts/bench.d
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh

QUICK=0
for arg in "$@"; do
  case $arg in
    quick) QUICK=1 ;;
    -h | --help | help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench web-postgres: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
if ((QUICK)); then : "${BENCH_WEB_SCALE:=0.1}" "${BENCH_WEB_SECONDS:=5}"; fi
: "${BENCH_WEB_SCALE:=1}" "${BENCH_WEB_SECONDS:=15}" "${BENCH_WEB_CONNECTIONS:=8}"
N=$(awk -v s="$BENCH_WEB_SCALE" 'BEGIN { n = int(10000 * s); print (n < 10 ? 10 : n) }')

log() { printf '==> %s\n' "$*" >&2; }
WORK=$(mktemp -d /tmp/uptimer-bench-web-pg.XXXXXX)
DB=uptimer_bench_web_$$
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  psql "$UPTIMER_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  services_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
ensure_postgres
if [[ -n ${UPTIMER_BIN:-} ]]; then
  BIN=$UPTIMER_BIN
else
  log "building target/release/uptimer"
  cargo build --release --locked -q
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/uptimer
fi
URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/" + sys.argv[2]).geturl())' \
  "$UPTIMER_TEST_DATABASE_URL" "$DB")
psql "$UPTIMER_TEST_DATABASE_URL" -qc "CREATE DATABASE $DB" >/dev/null
DATABASE_URL=$URL "$BIN" migrate up >/dev/null

log "generating $N targets x 30 days into PostgreSQL ($DB)"
start=$(date +%s.%N)
psql "$URL" -q -v ON_ERROR_STOP=1 -v n="$N" >"$WORK/generate.log" 2>&1 <<'SQL' || { cat "$WORK/generate.log" >&2; exit 1; }
\set QUIET on
SET synchronous_commit = off;
CREATE TEMP TABLE ids AS SELECT i, format('bench-%s', lpad(i::text, 5, '0')) AS id
  FROM generate_series(0, :n - 1) i;
INSERT INTO targets (id, url, name, protocol, hostname, port, path, tags, first_seen, last_seen,
    interval_s, last_event_time, last_up, last_status_code, last_response_ms, last_error_kind,
    last_error, recent, status, cert_not_after)
SELECT id, format('https://%s.example/health', id), format('Bench %s', i), 'https',
    format('%s.example', id), 443, '/health',
    CASE i % 3 WHEN 0 THEN '{eu,prod}' WHEN 1 THEN '{us,prod}' ELSE '{staging}' END::varchar[],
    now() - interval '30 days', now(), 60, now() - (i % 60) * interval '1 second',
    i % 50 <> 0, CASE WHEN i % 50 = 0 THEN 503 ELSE 200 END, 20 + i % 400,
    CASE WHEN i % 50 = 0 THEN 'http_status' END, CASE WHEN i % 50 = 0 THEN 'HTTP 503' END,
    repeat('u', 25) || CASE WHEN i % 50 = 0 THEN 'uuuud' WHEN i % 17 = 0 THEN 'uduuu' ELSE 'uuuuu' END,
    CASE WHEN i % 50 = 0 THEN 'down' WHEN i % 17 = 0 THEN 'flapping' ELSE 'up' END,
    now() + interval '60 days'
FROM ids;
-- hist: one bucket (30: about 181 ms) holding every check, in the store's sparse encoding.
INSERT INTO rollup_day
SELECT id, d, 1440, 1440 - (i % 7), 1440 * 150.0, 20, 900, 1440.0, 2880.0, 14400.0, 43200.0,
    720.0, '\x1ea00b'::bytea
FROM ids, generate_series(date_trunc('day', now(), 'UTC') - interval '30 days', now(), interval '1 day') d;
INSERT INTO rollup_hour
SELECT id, h, 60, 60 - (i % 2), 60 * 150.0, 20, 900, 60.0, 120.0, 600.0, 1800.0, 30.0, '\x1e3c'::bytea
FROM ids, generate_series(date_trunc('hour', now()) - interval '30 days', now(), interval '1 hour') h;
INSERT INTO rollup_minute
SELECT id, m, 1, 1, 150.0, 150, 150, 1.0, 2.0, 10.0, 30.0, 0.5, '\x1e01'::bytea
FROM ids, generate_series(date_trunc('minute', now()) - interval '2 days', now(), interval '1 minute') m;
INSERT INTO probe_events (uuid, event_time, schema_title, schema_version, protocol, hostname, port,
    path, status_code, response_time_ms, target_id, url, up, phases_ms_dns, phases_ms_connect,
    phases_ms_tls, phases_ms_ttfb, phases_ms_transfer, ip, http_version)
SELECT gen_random_uuid(), m - (i % 60) * interval '1 second', 'ProbeEvent', '0.3.0', 'https',
    format('%s.example', id), 443, '/health', 200, 20 + (i + extract(minute FROM m)::int) % 400,
    id, format('https://%s.example/health', id), true, 1.0, 2.0, 10.0, 30.0, 0.5, '192.0.2.1',
    'HTTP/2'
FROM ids, generate_series(date_trunc('minute', now()) - interval '2 days', now(), interval '1 minute') m;
INSERT INTO incidents (target_id, started_at, ended_at, error_kind, error, failed_checks)
SELECT id, now() - k * interval '1 day' - (i % 24) * interval '1 hour',
    now() - k * interval '1 day' - (i % 24) * interval '1 hour' + interval '5 minutes',
    'timeout', 'timed out after 10 s', 5
FROM ids, generate_series(1, 3) k WHERE i % 10 = 0;
WITH o AS (
  INSERT INTO incidents (target_id, started_at, error_kind, error, failed_checks)
  SELECT id, now() - interval '1 minute', 'http_status', 'HTTP 503', 1 FROM ids WHERE i % 50 = 0
  RETURNING id, target_id)
UPDATE targets SET open_incident = o.id FROM o WHERE targets.id = o.target_id;
ANALYZE;
SQL
GEN_TIME=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f s", b - a }')
DB_SIZE=$(psql "$URL" -qAtc "SELECT pg_size_pretty(pg_database_size(current_database()))")
ROWS=$(psql "$URL" -qAtc "SELECT (SELECT count(*) FROM rollup_minute) + (SELECT count(*) FROM rollup_hour)
  + (SELECT count(*) FROM rollup_day) + (SELECT count(*) FROM probe_events)")

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" serve --store "$URL" --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
SERVE_PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }

ENDPOINTS=(
  "overview|/|1"
  "overview, filtered and sorted|/?tag=eu&sort=response&page=3|1"
  "target page (24 h chart)|/targets/bench-%05d|$N"
  "API: targets page|/api/v1/targets?per_page=50|1"
  "API: target events|/api/v1/targets/bench-%05d/events?limit=100|$N"
)
declare -a RESULTS
for e in "${ENDPOINTS[@]}"; do
  IFS='|' read -r label pattern n <<<"$e"
  log "wrk: $label ($pattern)"
  out=$(wrk -t2 -c"$BENCH_WEB_CONNECTIONS" -d"${BENCH_WEB_SECONDS}s" --timeout 5s -s "$HERE/web.lua" \
    "http://127.0.0.1:$PORT" -- "$pattern" "$n" | grep '^RESULT')
  RESULTS+=("$label|$pattern|$out")
done
RSS=$(awk '/VmHWM/ { print $2 }' "/proc/$SERVE_PID/status" 2>/dev/null || echo "?")

echo
echo "uptimer bench web (PostgreSQL store): $N targets, database $DB_SIZE, $ROWS rollup and event rows" \
  "(generated in $GEN_TIME), PostgreSQL $(psql "$URL" -qAtc 'SHOW server_version'), $(nproc) cores," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg); wrk -t2 -c$BENCH_WEB_CONNECTIONS -d${BENCH_WEB_SECONDS}s; no ingest"
echo "serve peak RSS: ${RSS} KB"
echo
echo "| endpoint | requests/s | p50 ms | p95 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for r in "${RESULTS[@]}"; do
  IFS='|' read -r label pattern out <<<"$r"
  get() { sed -E "s/.*$1=([0-9.]+).*/\1/" <<<"$out"; }
  printf '| %s `%s` | %s | %s | %s | %s | %s |\n' "$label" "$pattern" "$(get rps)" "$(get p50_ms)" "$(get p95_ms)" \
    "$(get p99_ms)" "$(($(get errors) + $(get non2xx)))"
done
