#!/usr/bin/env sh
# Consumes events from Kafka and writes them to PostgreSQL, as the original's script did; the
# migrations are applied first. Settings: ./configuration.env and the environment.
# The binary needs Kafka support: cargo build --release --features kafka
set -e
DEFAULT_READER=readers.kafka DEFAULT_WRITER=writers.postgres
. "$(dirname "$0")/common.sh"
"$UPTIMER" migrate up
exec "$UPTIMER" run "$@"
