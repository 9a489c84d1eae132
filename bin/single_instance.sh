#!/usr/bin/env sh
# Probes the configured targets and prints events to stdout, as the original's script did.
# Settings come from ./configuration.env (see configuration.env.example), sourced first as the
# original did, and the environment.
set -e
cd "$(dirname "$0")/.."
if [ -f configuration.env ]; then
  set -a
  . ./configuration.env
  set +a
fi
export READER_PLUGIN="${READER_PLUGIN:-readers.probes.http}"
export WRITER_PLUGIN="${WRITER_PLUGIN:-writers.stdout}"
UPTIMER="${UPTIMER:-$(command -v uptimer || echo target/release/uptimer)}"
exec "$UPTIMER" run "$@"
