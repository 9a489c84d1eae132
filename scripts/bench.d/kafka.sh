#!/usr/bin/env bash
# scripts/bench kafka: our Kafka producer and consumer→PostgreSQL path beside a bare rdkafka
# producer/consumer loop, through the same tansu broker (SQLite storage) in the same run.
#   scripts/bench.d/kafka.sh [EVENTS]      (default 200000; BENCH_QUICK=1 → 20000)
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/services.sh
source scripts/lib/services.sh
services_trap
ensure_postgres
ensure_tansu

events=${1:-$([[ ${BENCH_QUICK:-} == 1 ]] && echo 20000 || echo 200000)}
work=$(mktemp -d)
SERVICES_STOP+=("rm -rf '$work'")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
(cd "$work" && exec "$UPTIMER_TANSU" broker --listener-url "tcp://127.0.0.1:$port" \
  --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine sqlite://tansu.db) >"$work/tansu.log" 2>&1 &
SERVICES_STOP+=("kill $!")
for _ in $(seq 100); do services_port_open "$port" && break; sleep 0.1; done

db="bench_kafka_$$"
psql "$UPTIMER_TEST_DATABASE_URL" -qc "CREATE DATABASE $db"
SERVICES_STOP+=("psql '$UPTIMER_TEST_DATABASE_URL' -qc 'DROP DATABASE IF EXISTS $db WITH (FORCE)'")
url=${UPTIMER_TEST_DATABASE_URL%/*}/$db

cargo build --release --quiet --features kafka --example kafka_bench --bin uptimer
"${CARGO_TARGET_DIR:-target}"/release/uptimer migrate up --database-url "$url" >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "broker: tansu 0.6.0, SQLite storage, 127.0.0.1:$port; PostgreSQL $(psql "$url" -qAtc 'SHOW server_version')"
timeout 900 "${CARGO_TARGET_DIR:-target}"/release/examples/kafka_bench "127.0.0.1:$port" "$url" "$events"
