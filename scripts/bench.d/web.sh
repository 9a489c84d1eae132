#!/usr/bin/env bash
# The dashboard benchmark (`scripts/bench web`, or this script alone): N targets probed every
# 60 s with 30 days of history (hour rollups for 30 days, minute rollups and raw events for
# the last 2 days) generated straight into a SQLite store; `uptimer serve --store` serves it
# while a second process ingests 2,000 events/s into the same file through the writer's code
# path; wrk measures p95 latency of the overview, a target page and the API on 127.0.0.1.
# Afterwards both are stopped with SIGTERM and the store's size on disk (file, -wal, -shm) and
# `uptimer store stats` figures (bytes per raw event, rollup bytes per target-day) are printed.
#
#   scripts/bench.d/web.sh [quick]
#
# Environment (all optional):
#   UPTIMER_BIN          use this binary instead of building target/release/uptimer
#   BENCH_WEB_SCALE      fraction of 10,000 targets (default 1; quick 0.1)
#   BENCH_WEB_SECONDS    duration of each wrk run (default 15; quick 5)
#   BENCH_WEB_RATE       events/s ingested during the measurements (default 2000)
#   BENCH_WEB_CONNECTIONS  concurrent wrk connections (default 8)
#   BENCH_WEB_STORE      reuse (or create) the generated store at this path
#   BENCH_KEEP=1         keep the work directory
#   BENCH_WEB_POSTGRES=1 afterwards, the same endpoints over the PostgreSQL store
#                        (scripts/bench.d/web-postgres.sh, same scale and duration)
#
# Everything runs on 127.0.0.1; every process started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=$PWD/scripts/bench.d

QUICK=0
for arg in "$@"; do
  case $arg in
    quick) QUICK=1 ;;
    web) ;;
    -h | --help | help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench web: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
if ((QUICK)); then : "${BENCH_WEB_SCALE:=0.1}" "${BENCH_WEB_SECONDS:=5}"; fi
: "${BENCH_WEB_SCALE:=1}" "${BENCH_WEB_SECONDS:=15}" "${BENCH_WEB_RATE:=2000}" "${BENCH_WEB_CONNECTIONS:=8}"
N=$(awk -v s="$BENCH_WEB_SCALE" 'BEGIN { n = int(10000 * s); print (n < 10 ? 10 : n) }')

log() { printf '==> %s\n' "$*" >&2; }
WORK=$(mktemp -d /tmp/uptimer-bench-web.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
if [[ -n ${UPTIMER_BIN:-} ]]; then
  BIN=$UPTIMER_BIN
else
  log "building target/release/uptimer"
  cargo build --release --locked -q
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/uptimer
fi

STORE=${BENCH_WEB_STORE:-$WORK/store.sqlite3}
if [[ ! -f $STORE ]]; then
  log "generating $N targets x 30 days into $STORE"
  /usr/bin/time -f '%e s, max RSS %M KB' "$BIN" bench-store generate --path "$STORE" --targets "$N" 2>"$WORK/generate.log" >/dev/null ||
    { cat "$WORK/generate.log" >&2; exit 1; }
  GEN_TIME=$(tail -1 "$WORK/generate.log")
else
  GEN_TIME="reused"
fi
STORE_SIZE=$(du -h "$STORE" | cut -f1)

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" serve --store "$STORE" --listen "127.0.0.1:$PORT" >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
SERVE_PID=$!
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }

# Ingest for the whole measurement (4 endpoints plus warm-up).
INGEST_S=$((5 * (BENCH_WEB_SECONDS + 2) + 5))
"$BIN" bench-store ingest --path "$STORE" --targets "$N" --rate "$BENCH_WEB_RATE" --seconds "$INGEST_S" \
  >"$WORK/ingest.out" 2>"$WORK/ingest.log" &
PIDS+=($!)
INGEST_PID=$!
sleep 2

ENDPOINTS=(
  "overview|/|1"
  "overview, filtered and sorted|/?tag=eu&sort=response&page=3|1"
  "target page (24 h chart)|/targets/bench-%05d|$N"
  "API: targets page|/api/v1/targets?per_page=50|1"
  "API: target events|/api/v1/targets/bench-%05d/events?limit=100|$N"
)
declare -a ROWS
for e in "${ENDPOINTS[@]}"; do
  IFS='|' read -r label pattern n <<<"$e"
  log "wrk: $label ($pattern)"
  out=$(wrk -t2 -c"$BENCH_WEB_CONNECTIONS" -d"${BENCH_WEB_SECONDS}s" --timeout 5s -s "$HERE/web.lua" \
    "http://127.0.0.1:$PORT" -- "$pattern" "$n" | grep '^RESULT')
  ROWS+=("$label|$pattern|$out")
done
wait "$INGEST_PID" || true
RSS=$(awk '/VmHWM/ { print $2 }' "/proc/$SERVE_PID/status" 2>/dev/null || echo "?")

# Stop both processes as a service manager would (SIGTERM, then wait: each closes the store and
# empties its WAL), then measure what is left on disk: the store file plus its -wal and -shm.
for p in "$SERVE_PID" "$INGEST_PID"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "$SERVE_PID" "$INGEST_PID"; do wait "$p" 2>/dev/null || true; done
STORE_FILES=("$STORE")
for f in "$STORE-wal" "$STORE-shm"; do [[ -e $f ]] && STORE_FILES+=("$f"); done
STORE_BYTES=$(du -cb "${STORE_FILES[@]}" | tail -1 | cut -f1)
# An uptimer without `store stats` (an older one, measured side by side) gets the sizes only.
if "$BIN" store stats --path "$STORE" --json >"$WORK/stats.json" 2>"$WORK/stats.log"; then
  read -r PER_EVENT PER_TARGET_DAY WAL_BYTES < <(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
f = lambda v: "-" if v is None else "%.1f" % v
print(f(s["bytes_per_raw_event"]), f(s["rollup_bytes_per_target_day"]), s["wal_bytes"])
' "$WORK/stats.json")
else
  log "no store stats from $BIN: $(head -c 200 "$WORK/stats.log")"
  PER_EVENT=- PER_TARGET_DAY=-
  WAL_BYTES=$(stat -c %s "$STORE-wal" 2>/dev/null || echo 0)
fi

echo
echo "uptimer bench web: $N targets, store $STORE_SIZE (generated: $GEN_TIME), $(nproc) cores," \
  "$(free -g | awk '/Mem:/ { print $2 }') GiB; wrk -t2 -c$BENCH_WEB_CONNECTIONS -d${BENCH_WEB_SECONDS}s"
echo "ingest: $(cat "$WORK/ingest.out")"
echo "serve peak RSS: ${RSS} KB"
echo "store after the run: $STORE_BYTES bytes (du -cb of the file, -wal and -shm); WAL $WAL_BYTES bytes;" \
  "$PER_EVENT B per raw event; $PER_TARGET_DAY B of rollups per target-day (uptimer store stats)"
echo
echo "| endpoint | requests/s | p50 ms | p95 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for r in "${ROWS[@]}"; do
  IFS='|' read -r label pattern out <<<"$r"
  get() { sed -E "s/.*$1=([0-9.]+).*/\1/" <<<"$out"; }
  printf '| %s `%s` | %s | %s | %s | %s | %s |\n' "$label" "$pattern" "$(get rps)" "$(get p50_ms)" "$(get p95_ms)" \
    "$(get p99_ms)" "$(($(get errors) + $(get non2xx)))"
done

if [[ ${BENCH_WEB_POSTGRES:-0} == 1 ]]; then
  echo
  BENCH_WEB_SCALE=$BENCH_WEB_SCALE BENCH_WEB_SECONDS=$BENCH_WEB_SECONDS \
    BENCH_WEB_CONNECTIONS=$BENCH_WEB_CONNECTIONS UPTIMER_BIN=$BIN "$HERE/web-postgres.sh"
fi
