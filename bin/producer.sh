#!/usr/bin/env sh
# Probes the configured targets and produces events to Kafka, as the original's script did.
# Settings come from ./configuration.env (see configuration.env.example), sourced first as the
# original did, and the environment. The binary must be built with Kafka support:
#   cargo build --release --features kafka
set -e
cd "$(dirname "$0")/.."
if [ -f configuration.env ]; then
  set -a
  . ./configuration.env
  set +a
fi
export READER_PLUGIN="${READER_PLUGIN:-readers.probes.http}"
export WRITER_PLUGIN="${WRITER_PLUGIN:-writers.kafka}"
UPTIMER="${UPTIMER:-$(command -v uptimer || echo target/release/uptimer)}"
exec "$UPTIMER" run "$@"
