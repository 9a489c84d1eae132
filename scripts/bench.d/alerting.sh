#!/usr/bin/env bash
# `scripts/bench alerting [quick]`: N targets going down together, each with an alert rule to
# a webhook channel on a local fake provider. Measures, for `uptimer run` with writers.sqlite:
#   - how long after the first failing round the N triggers are in the outbox (durable),
#   - how long until the provider has them all, with a provider that takes everything and with
#     one that takes BENCH_ALERT_RATE per second and answers 429 + Retry-After: 1 beyond,
#   - the peak RSS against the same run without alerting (the extra memory alerting costs).
# Results: docs/benchmarks.md, "Alerting".
#
# Environment: BENCH_ALERT_N (default 10000; quick 2000), BENCH_ALERT_RATE (default 500),
# UPTIMER_BIN, BENCH_KEEP=1.
# Everything runs on 127.0.0.1; every process is stopped on exit; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${BENCH_ALERT_N:-10000}
[[ ${1:-} == quick ]] && N=${BENCH_ALERT_N:-2000}
RATE=${BENCH_ALERT_RATE:-500}
LIMIT=180 # seconds any one wait may take
if [[ -n ${UPTIMER_BIN:-} ]]; then BIN=$UPTIMER_BIN; else
  cargo build --release --locked -q
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/uptimer
fi
WORK=$(mktemp -d /tmp/uptimer-bench-alerting.XXXXXX)
cleanup() {
  [[ -n ${BENCH_KEEP:-} ]] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

# The fake provider: counts POSTs (one line per request in a log), answers 200, or with a rate
# limit 429 + Retry-After: 1 past RATE requests in the current second.
cat >"$WORK/provider.py" <<'EOF'
import http.server, sys, threading, time
port, rate, log = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
lock, window = threading.Lock(), [0, 0]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        now = time.time()
        with lock:
            if int(now) != window[0]:
                window[0], window[1] = int(now), 0
            window[1] += 1
            over = rate > 0 and window[1] > rate
        if over:
            self.send_response(429); self.send_header("retry-after", "1")
        else:
            log.write(f"{now:.3f}\n")
            self.send_response(200)
        self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# A port nothing listens on: every probe fails at once (connection refused).
DOWN_PORT=$(free_port)

# run NAME RATE ALERTS: one `uptimer run`; prints "outbox_s delivered_s peak_rss_mb".
run() {
  local name=$1 rate=$2 alerts=$3 dir=$WORK/$1
  mkdir -p "$dir"
  local pport; pport=$(free_port)
  : >"$dir/provider.log"
  python3 "$WORK/provider.py" "$pport" "$rate" "$dir/provider.log" &
  local ppid=$!
  {
    echo "writers: [writers.sqlite]"
    echo "data_dir: $dir/data"
    echo "probe: {interval: 10, timeout: 5, concurrency: 512}"
    if [[ $alerts == 1 ]]; then
      echo "channels: {hook: {type: webhook, url: 'http://127.0.0.1:$pport/hook'}}"
      echo "alerts: [{type: hook, failure-threshold: 1}]"
    fi
    echo "targets_file: targets.jsonl"
  } >"$dir/u.yaml"
  for ((i = 0; i < N; i++)); do echo "http://127.0.0.1:$DOWN_PORT/t$i"; done >"$dir/targets.jsonl"
  "$BIN" run --config "$dir/u.yaml" >"$dir/out.log" 2>"$dir/err.log" &
  local pid=$! start
  # `run` is called in a subshell: it stops what it started itself, also when it fails.
  trap "kill $pid $ppid 2>/dev/null || true" EXIT
  start=$(date +%s.%N)
  local outbox_s=- delivered_s=- t
  for ((w = 0; w < LIMIT * 10; w++)); do
    sleep 0.1
    t=$(date +%s.%N)
    if [[ $alerts == 1 && $outbox_s == - ]]; then
      local rows
      rows=$(python3 -c "import sqlite3,sys; c=sqlite3.connect('file:$dir/data/uptimer.sqlite3?mode=ro', uri=True, timeout=5)
try: print(c.execute(\"select count(*) from notifications where kind='trigger'\").fetchone()[0])
except Exception: print(0)" 2>/dev/null || echo 0)
      ((rows >= N)) && outbox_s=$(awk "BEGIN {printf \"%.1f\", $t - $start}")
    fi
    local got; got=$(wc -l <"$dir/provider.log")
    if ((got >= N)) && [[ $delivered_s == - ]]; then delivered_s=$(awk "BEGIN {printf \"%.1f\", $t - $start}"); fi
    if [[ $alerts == 0 ]] && awk "BEGIN {exit !($t - $start > 40)}"; then break; fi
    [[ $delivered_s != - ]] && break
  done
  local hwm; hwm=$(awk '/VmHWM/ {print int($2/1024)}' "/proc/$pid/status")
  kill "$pid" "$ppid"; wait "$pid" "$ppid" 2>/dev/null || true
  echo "$outbox_s $delivered_s $hwm"
}

echo "alerting: $N targets down together (connection refused), failure-threshold 1, interval 10 s"
echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /, ""); print; exit}' /proc/cpuinfo)"
printf '| run | triggers in the outbox (s) | all delivered (s) | peak RSS (MiB) |\n|---|---:|---:|---:|\n'
read -r o d m < <(run baseline 0 0); printf '| no alerting | - | - | %s |\n' "$m"
read -r o d m < <(run unlimited 0 1); printf '| provider takes all | %s | %s | %s |\n' "$o" "$d" "$m"
read -r o d m < <(run limited "$RATE" 1); printf '| provider takes %s/s (429 beyond) | %s | %s | %s |\n' "$RATE" "$o" "$d" "$m"
