#!/usr/bin/env sh
# Probes the configured targets and prints events to stdout, as the original's script did.
# Settings: ./configuration.env (see configuration.env.example) and the environment.
set -e
DEFAULT_READER=readers.probes.http DEFAULT_WRITER=writers.stdout
. "$(dirname "$0")/common.sh"
exec "$UPTIMER" run "$@"
