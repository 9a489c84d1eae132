#!/usr/bin/env bash
# The fleet in virtual time: N targets × 3 locations × P probers, each prober a real scheduler
# over its partitions' targets, a fake prober answering from a scripted oracle (single-location
# faults, a regional outage, real outages) and one real round book deciding verdicts by quorum
# (examples/fleet_sim.rs does the work). No network, no Kafka.
#
#   scripts/bench fleet [quick]        (or scripts/bench.d/fleet.sh [quick])
#
# Environment (optional):
#   BENCH_FLEET_TARGETS     targets (default 1000000; quick 50000)
#   BENCH_FLEET_PROBERS     probers per location (default 10)
#   BENCH_FLEET_INTERVALS   virtual intervals of 60 s (default 6, the least the script needs)
#
# Exits 1 when a single-location fault caused a false DOWN verdict. Bounded: one process, run
# under `timeout 900`; nothing runs in the background afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

quick=0
for arg in "$@"; do
  case $arg in
    quick) quick=1 ;;
    -h | --help | help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench fleet: unknown argument: $arg" >&2; exit 2 ;;
  esac
done
if ((quick)); then : "${BENCH_FLEET_TARGETS:=50000}"; else : "${BENCH_FLEET_TARGETS:=1000000}"; fi
: "${BENCH_FLEET_PROBERS:=10}" "${BENCH_FLEET_INTERVALS:=6}"

cargo build --release --locked --quiet --example fleet_sim
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB; load average $(cut -d' ' -f1-3 /proc/loadavg)"
timeout 900 "${CARGO_TARGET_DIR:-target}/release/examples/fleet_sim" --targets "$BENCH_FLEET_TARGETS" \
  --probers "$BENCH_FLEET_PROBERS" --intervals "$BENCH_FLEET_INTERVALS"
