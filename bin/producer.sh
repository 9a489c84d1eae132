#!/usr/bin/env sh
# Probes the configured targets and produces events to Kafka, as the original's script did.
# Settings: ./configuration.env (see configuration.env.example) and the environment.
# The binary needs Kafka support: cargo build --release --features kafka
set -e
DEFAULT_READER=readers.probes.http DEFAULT_WRITER=writers.kafka
. "$(dirname "$0")/common.sh"
exec "$UPTIMER" run "$@"
