#!/usr/bin/env sh
# Consumes events from Kafka and writes them to PostgreSQL, as the original's script did.
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
export READER_PLUGIN="${READER_PLUGIN:-readers.kafka}"
export WRITER_PLUGIN="${WRITER_PLUGIN:-writers.postgres}"
UPTIMER="${UPTIMER:-$(command -v uptimer || echo target/release/uptimer)}"
"$UPTIMER" migrate up
exec "$UPTIMER" run "$@"
