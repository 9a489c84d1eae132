#!/usr/bin/env bash
# The status page benchmark (`scripts/bench status`, or this script alone). The goal: a public
# status page of 200 components with 90 days of history answers with p95 under 20 ms at 500
# requests/s or more while the store ingests 2,000 events/s.
#
# 200 targets probed every 60 s with 91 days of history are generated into a SQLite store; a
# config gives one status page, `bench`, of 10 groups of 20 components (one target each);
# `uptimer serve --store STORE --config CONFIG` serves it read-only on 127.0.0.1 while
# `uptimer bench-store ingest` writes 2,000 events/s into the same file. After a first request
# (it reads the 90 days of history; its time is printed), wrk measures, one run each:
#   the page paced to 500 requests/s, with Accept-Encoding: gzip (the goal's row), and without;
#   the page flat out, with gzip; the page flat out without Accept-Encoding;
#   /status/bench/api/v2/summary.json flat out, with gzip;
#   the page revalidated: If-None-Match with the page's ETag (a 304 is a success);
#   and, for the machine's limit, nginx serving the page's bytes as a static file, flat out.
# Pacing is wrk's delay() in status.lua (Debian has no wrk2; status.lua says how). Fails when
# the page is not a 200 or lacks ETag or Last-Modified.
#
#   scripts/bench.d/status.sh [quick]
#
# Environment (all optional):
#   UPTIMER_BIN                 use this binary instead of building target/release/uptimer
#   BENCH_STATUS_SECONDS        duration of each wrk run (default 15; quick 5)
#   BENCH_STATUS_RATE           events/s ingested during the measurements (default 2000)
#   BENCH_STATUS_PACE           requests/s of the paced run (default 500)
#   BENCH_STATUS_CONNECTIONS    concurrent wrk connections, over 2 threads (default 32)
#   BENCH_STATUS_STORE          reuse (or create) the generated store at this path
#   BENCH_KEEP=1                keep the work directory (config, store, logs, raw wrk output)
#
# Everything runs on 127.0.0.1; every process started here is stopped on exit; every run is
# bounded in time (wrk -d, curl --max-time, timeout, ingest --seconds).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=$PWD/scripts/bench.d

QUICK=0
for arg in "$@"; do
  case $arg in
    quick) QUICK=1 ;;
    status) ;;
    -h | --help | help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench status: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
if ((QUICK)); then : "${BENCH_STATUS_SECONDS:=5}"; fi
: "${BENCH_STATUS_SECONDS:=15}" "${BENCH_STATUS_RATE:=2000}" "${BENCH_STATUS_PACE:=500}"
: "${BENCH_STATUS_CONNECTIONS:=32}"
GROUPS_N=10 PER_GROUP=20 DAYS=91 THREADS=2
TARGETS=$((GROUPS_N * PER_GROUP))
S=$BENCH_STATUS_SECONDS C=$BENCH_STATUS_CONNECTIONS
((C >= THREADS)) || { echo "bench status: BENCH_STATUS_CONNECTIONS must be >= $THREADS" >&2; exit 2; }

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench status: %s\n' "$*" >&2; exit 1; }

WORK=$(mktemp -d /tmp/uptimer-bench-status.XXXXXX)
PIDS=()
forget() { # PID: reaped already, not to be signalled again (its number may be reused)
  local p keep=()
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}
# shellcheck disable=SC2317  # called through the trap
cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } >&2
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; } >&2
if [[ -n ${UPTIMER_BIN:-} ]]; then
  BIN=$UPTIMER_BIN
else
  log "building target/release/uptimer"
  cargo build --release --locked -q
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/uptimer
fi
# A copy, so that a rebuild during the run cannot swap the binary under it.
cp "$BIN" "$WORK/uptimer"
BIN=$WORK/uptimer

# ---------------------------------------------------------------------------------------------
# The store: 200 targets (bench-00000 …), 91 days of hour rollups (the page's 90 daily bars
# and today), the last 2 days as raw events too.
# ---------------------------------------------------------------------------------------------
STORE=${BENCH_STATUS_STORE:-$WORK/store.sqlite3}
if [[ ! -f $STORE ]]; then
  log "generating $TARGETS targets x $DAYS days into $STORE"
  timeout 1800 /usr/bin/time -f '%e s, max RSS %M KB' "$BIN" bench-store generate --path "$STORE" \
    --targets "$TARGETS" --days "$DAYS" 2>"$WORK/generate.log" >/dev/null ||
    { tail -20 "$WORK/generate.log" >&2; die "bench-store generate failed"; }
  GEN_TIME=$(tail -1 "$WORK/generate.log")
else
  GEN_TIME="reused"
fi
STORE_SIZE=$(du -h "$STORE" | cut -f1)

# ---------------------------------------------------------------------------------------------
# The config: the page's components name the generated targets, so the targets are listed too
# (a component's target must be a configured one); read-only, serve probes none of them. Their
# names are the store's, so the page shows what a real one would.
# ---------------------------------------------------------------------------------------------
CONFIG=$WORK/status.yaml
awk -v groups="$GROUPS_N" -v per="$PER_GROUP" 'BEGIN {
  n = groups * per
  print "targets:"
  for (i = 0; i < n; i++)
    printf "  - {id: bench-%05d, name: \"service %05d (%s)\", url: \"https://svc%05d.example.net/health\"}\n", i, i, (i % 3 == 0 ? "eu-west" : "us-east"), i
  print "status_pages:"
  print "  - slug: bench"
  print "    title: Bench Inc."
  print "    description: The status page benchmark of scripts/bench status."
  print "    groups:"
  for (g = 0; g < groups; g++) {
    printf "      - name: Group %02d\n", g + 1
    print "        components:"
    for (c = 0; c < per; c++) printf "          - target: bench-%05d\n", g * per + c
  }
}' >"$CONFIG"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
# In the work directory (no configuration.env of the checkout is read), with no listener of the
# environment's (STATUS_LISTEN, METRICS_LISTEN) but this one on 127.0.0.1.
(cd "$WORK" && exec env -u STATUS_LISTEN -u METRICS_LISTEN -u WEB_LISTEN NO_COLOR=1 \
  "$BIN" serve --store "$STORE" --config "$CONFIG" --listen "127.0.0.1:$PORT") >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
PIDS+=("$SERVE_PID")
for _ in $(seq 100); do
  kill -0 "$SERVE_PID" 2>/dev/null || break
  curl -sf --max-time 2 "$BASE/healthz" >/dev/null && break
  sleep 0.1
done
curl -sf --max-time 2 "$BASE/healthz" >/dev/null || { tail -20 "$WORK/serve.log" >&2; die "serve did not answer /healthz"; }

# Ingest through the whole measurement; stopped (SIGTERM: it prints its figures) after the last
# run. --seconds only bounds it should this script be killed -9.
INGEST_BOUND=$((6 * (S + 10) + 120))
"$BIN" bench-store ingest --path "$STORE" --targets "$TARGETS" --rate "$BENCH_STATUS_RATE" \
  --seconds "$INGEST_BOUND" >"$WORK/ingest.out" 2>"$WORK/ingest.log" &
INGEST_PID=$!
PIDS+=("$INGEST_PID")
sleep 2
kill -0 "$INGEST_PID" 2>/dev/null || { tail -5 "$WORK/ingest.log" >&2; die "bench-store ingest exited"; }

# ---------------------------------------------------------------------------------------------
# The first request (reads the 90 days of history), then the page's headers, sizes and ETag.
# ---------------------------------------------------------------------------------------------
PAGE=/status/bench
JSON=/status/bench/api/v2/summary.json
fetch() { # NAME PATH [curl args…]: headers to NAME.h, body to NAME.b; prints code, time, size
  local name=$1 path=$2
  shift 2
  curl -s --max-time 60 -D "$WORK/$name.h" -o "$WORK/$name.b" -w '%{http_code} %{time_total} %{size_download}\n' \
    "$@" "$BASE$path" || true # a failure still prints its code: 000
}
header() { # NAME FIELD: the value of a response header (case-insensitive), without CR
  awk -v f="$2" 'BEGIN { f = tolower(f) } { sub(/\r$/, "") }
    index(tolower($0), f ":") == 1 { sub(/^[^:]*:[ \t]*/, ""); print; exit }' "$WORK/$1.h"
}

log "first request of $PAGE"
read -r FIRST_CODE FIRST_TIME _ < <(fetch first "$PAGE" -H 'Accept-Encoding: gzip')
[[ $FIRST_CODE == 200 ]] || { head -c 500 "$WORK/first.b" >&2; die "GET $PAGE answered $FIRST_CODE, not 200"; }
read -r GZ_CODE GZ_TIME GZ_BYTES < <(fetch gz "$PAGE" -H 'Accept-Encoding: gzip')
read -r RAW_CODE RAW_TIME RAW_BYTES < <(fetch raw "$PAGE")
read -r JSON_CODE _ JSON_BYTES < <(fetch json "$JSON" -H 'Accept-Encoding: gzip')
for r in "gz:$GZ_CODE" "raw:$RAW_CODE" "json:$JSON_CODE"; do
  [[ ${r#*:} == 200 ]] || die "a request (${r%%:*}) answered ${r#*:}, not 200"
done
for n in gz raw; do
  for h in ETag Last-Modified; do
    [[ -n $(header "$n" "$h") ]] || { cat "$WORK/$n.h" >&2; die "GET $PAGE ($n) has no $h header"; }
  done
done
ENCODING=$(header gz Content-Encoding)
JSON_ENCODING=$(header json Content-Encoding)
ETAG=$(header gz ETag)
RAW_ENCODING=$(header raw Content-Encoding)
ENC_NOTE="${ENCODING:-none} (asked for gzip), ${RAW_ENCODING:-none} (not asked)"
if [[ ${ENCODING:-identity} == gzip ]]; then
  GZ_NOTE="$GZ_BYTES bytes gzipped (Content-Encoding: gzip)"
else
  GZ_NOTE="not gzipped by the server (Content-Encoding: ${ENCODING:-none}; gzip -6 would make it $(gzip -6 -c "$WORK/raw.b" | wc -c) bytes)"
fi
grep -q 'bench-\|service 00000' "$WORK/raw.b" || die "the page shows none of the components"
COMPONENTS=$(grep -o 'service [0-9]\{5\} ([a-z-]*)' "$WORK/raw.b" | sort -u | wc -l)
read -r COND_CODE _ < <(fetch cond "$PAGE" -H 'Accept-Encoding: gzip' -H "If-None-Match: $ETAG")

# ---------------------------------------------------------------------------------------------
# The wrk runs.
# ---------------------------------------------------------------------------------------------
RUNS=(
  "page, paced to $BENCH_STATUS_PACE/s, gzip|$PAGE|mode=gzip rate=$BENCH_STATUS_PACE"
  "page, paced to $BENCH_STATUS_PACE/s, no Accept-Encoding|$PAGE|mode=plain rate=$BENCH_STATUS_PACE"
  "page, flat out, gzip|$PAGE|mode=gzip"
  "page, flat out, no Accept-Encoding|$PAGE|mode=plain"
  "summary.json, flat out, gzip|$JSON|mode=gzip"
  "page, If-None-Match (304 = success), gzip|$PAGE|mode=conditional"
)
declare -a ROWS
k=0
for run in "${RUNS[@]}"; do
  IFS='|' read -r label path args <<<"$run"
  k=$((k + 1))
  log "wrk: $label ($path, ${S}s)"
  kill -0 "$SERVE_PID" 2>/dev/null || { tail -20 "$WORK/serve.log" >&2; die "serve exited"; }
  kill -0 "$INGEST_PID" 2>/dev/null || log "warning: the ingest stopped before this run"
  # shellcheck disable=SC2086  # args: one word per key=value
  timeout $((S + 60)) wrk -t"$THREADS" -c"$C" -d"${S}s" --timeout 5s -s "$HERE/status.lua" "$BASE" \
    -- path="$path" threads="$THREADS" connections="$C" etag="$ETAG" $args >"$WORK/wrk-$k.out" 2>&1 &
  WRK_PID=$!
  PIDS+=("$WRK_PID")
  wait "$WRK_PID" || { forget "$WRK_PID"; cat "$WORK/wrk-$k.out" >&2; die "wrk failed ($label)"; }
  forget "$WRK_PID"
  out=$(grep '^RESULT' "$WORK/wrk-$k.out") || { cat "$WORK/wrk-$k.out" >&2; die "no RESULT from wrk ($label)"; }
  ROWS+=("$label|$path|$out")
done

RSS=$(awk '/VmHWM/ { print $2 }' "/proc/$SERVE_PID/status" 2>/dev/null || echo "?")
# The ingest's figures: SIGTERM ends it and it prints them (as when its --seconds run out).
kill -TERM "$INGEST_PID" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$INGEST_PID" 2>/dev/null || break; sleep 0.1; done
wait "$INGEST_PID" || log "bench-store ingest exited with $?: $(tail -3 "$WORK/ingest.log")"
forget "$INGEST_PID"
INGEST=$(cat "$WORK/ingest.out")
SERVE_WARN=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/serve.log" | grep -cE ' (WARN|ERROR) ' || true)

# ---------------------------------------------------------------------------------------------
# The machine's limit for the page's bytes: nginx serving the same bytes as a static file
# (sendfile, a worker per core, no ingest beside it), with the plain flat-out run's wrk.
# ---------------------------------------------------------------------------------------------
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
if [[ ! -x $NGINX ]]; then
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx; } >&2 ||
    log "warning: nginx could not be installed: no baseline row"
fi
if [[ -x $NGINX ]]; then
  mkdir -p "$WORK/nginx/logs" "$WORK/nginx/tmp" "$WORK/nginx/root/status"
  cp "$WORK/raw.b" "$WORK/nginx/root/status/bench"
  # nginx's workers drop root: they must reach the file (the work directory is the owner's).
  chmod o+x "$WORK" "$WORK/nginx" && chmod -R o+rX "$WORK/nginx/root"
  NGINX_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/logs/error.log error;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  sendfile on;
  open_file_cache max=10;
  default_type text/html;
  server { listen 127.0.0.1:$NGINX_PORT; root $WORK/nginx/root; }
}
EOF
  "$NGINX" -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>"$WORK/nginx/logs/start.log" &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT$PAGE" && break; sleep 0.1; done
  log "wrk: nginx, the same bytes as a static file"
  timeout $((S + 60)) wrk -t"$THREADS" -c"$C" -d"${S}s" --timeout 5s -s "$HERE/status.lua" \
    "http://127.0.0.1:$NGINX_PORT" -- path="$PAGE" threads="$THREADS" connections="$C" mode=plain \
    >"$WORK/wrk-nginx.out" 2>&1 || log "warning: wrk against nginx failed"
  NGINX_ROW=$(grep '^RESULT' "$WORK/wrk-nginx.out" || true)
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGINX_PORT$PAGE") == 200 ]] ||
    log "warning: nginx did not serve the page: $(tail -3 "$WORK/nginx/logs/error.log")"
  kill -TERM "$NGINX_PID" 2>/dev/null || true
  wait "$NGINX_PID" 2>/dev/null || true
  forget "$NGINX_PID"
  [[ -z $NGINX_ROW ]] ||
    ROWS+=("nginx $("$NGINX" -v 2>&1 | cut -d/ -f2), the same bytes as a static file, flat out|$PAGE|$NGINX_ROW")
fi

# ---------------------------------------------------------------------------------------------
# The report.
# ---------------------------------------------------------------------------------------------
get() { sed -nE "s/.* $2=([^ ]+).*/\1/p" <<<"$1"; }
echo
echo "uptimer bench status$( ((QUICK)) && echo ' (quick)'): $(nproc) cores, $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)," \
  "$(free -g | awk '/Mem:/ { print $2 }') GiB, kernel $(uname -r); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2);" \
  "load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "page /status/bench: $COMPONENTS components in $GROUPS_N groups, $TARGETS targets x $DAYS days," \
  "store $STORE_SIZE (generated: $GEN_TIME); $RAW_BYTES bytes raw, $GZ_NOTE"
echo "first request (reads the history): ${FIRST_TIME}s; then ${GZ_TIME}s (gzip), ${RAW_TIME}s (plain);" \
  "summary.json $JSON_BYTES bytes (Content-Encoding: ${JSON_ENCODING:-none}); If-None-Match with its ETag: $COND_CODE"
echo "ingest: ${INGEST:-(no figures)}"
echo "serve peak RSS (VmHWM): ${RSS} KB; warnings/errors in its log: $SERVE_WARN"
echo "wrk -t$THREADS -c$C -d${S}s --timeout 5s, scripts/bench.d/status.lua"
echo
echo "| request | requests/s | p50 ms | p95 ms | p99 ms | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for r in "${ROWS[@]}"; do
  IFS='|' read -r label path out <<<"$r"
  # shellcheck disable=SC2016  # the backquotes are markdown's
  printf '| %s `%s` | %s | %s | %s | %s | %s |\n' "$label" "$path" "$(get "$out" rps)" "$(get "$out" p50_ms)" \
    "$(get "$out" p95_ms)" "$(get "$out" p99_ms)" "$(($(get "$out" errors) + $(get "$out" non2xx)))"
done
echo
echo "errors: socket errors and timeouts, plus statuses >= 400 (wrk's count; when revalidating, status.lua's:"
echo "any but 2xx and 304). Content-Encoding as curl saw it before the runs: page $ENC_NOTE, summary.json ${JSON_ENCODING:-none}."
IFS='|' read -r _ _ paced <<<"${ROWS[0]}"
IFS='|' read -r _ _ cond <<<"${ROWS[5]}"
late_pct=$(awk -v l="$(get "$paced" late)" -v n="$(get "$paced" requests)" 'BEGIN { printf "%.1f", n ? 100 * l / n : 0 }')
echo "paced: $(get "$paced" requests) requests, $(get "$paced" late) ($late_pct %) sent more than 20 ms after their due time" \
  "(every connection busy; worst $(get "$paced" late_max_ms) ms late; not in wrk's latency)"
echo "If-None-Match: $(get "$cond" requests) requests, $(get "$cond" not_modified) answered 304; $(get "$cond" changed) 200s" \
  "with a new ETag (the page changed; the thread revalidated with it from then on), $(get "$cond" back) of them an ETag seen before"
for r in "${ROWS[@]}"; do
  IFS='|' read -r label _ out <<<"$r"
  [[ $(get "$out" bad_status) == - ]] || echo "$label: statuses other than 2xx/304: $(get "$out" bad_status)"
done

# The goal, on the paced run: p95 under 20 ms at the pace (within 2 %: a paced run cannot go
# above it, and its first sends start with the run), under 5 % of its requests late by more
# than 20 ms (those alone would make a p95 over 20 ms from the due times), without errors,
# while the ingest kept its rate.
ingest_rate=$(sed -nE 's/.* = ([0-9]+) events\/s.*/\1/p' <<<"$INGEST")
if awk -v rps="$(get "$paced" rps)" -v p95="$(get "$paced" p95_ms)" -v pace="$BENCH_STATUS_PACE" -v late="$late_pct" \
  -v bad="$(($(get "$paced" errors) + $(get "$paced" non2xx)))" -v ing="${ingest_rate:-0}" -v rate="$BENCH_STATUS_RATE" \
  'BEGIN { exit !(p95 < 20 && rps >= 0.98 * pace && late < 5 && bad == 0 && ing >= 0.98 * rate) }'; then
  verdict=met
else
  verdict=MISSED
fi
echo
echo "goal (p95 < 20 ms at >= $BENCH_STATUS_PACE requests/s, no errors, ingesting $BENCH_STATUS_RATE events/s): $verdict" \
  "(paced run: $(get "$paced" rps) requests/s, p95 $(get "$paced" p95_ms) ms, $late_pct % late; ingest ${ingest_rate:-?} events/s)"
# And at the throughput wrk reaches with its connections (flat out): p95 under 20 ms at
# 500 requests/s or more, without errors.
for i in 2 3; do
  IFS='|' read -r label _ out <<<"${ROWS[$i]}"
  if awk -v rps="$(get "$out" rps)" -v p95="$(get "$out" p95_ms)" -v bad="$(($(get "$out" errors) + $(get "$out" non2xx)))" \
    'BEGIN { exit !(p95 < 20 && rps >= 500 && bad == 0) }'; then verdict=met; else verdict=MISSED; fi
  echo "goal at wrk's own throughput (-c$C), $label: $verdict ($(get "$out" rps) requests/s, p95 $(get "$out" p95_ms) ms)"
done
