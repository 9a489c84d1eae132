#!/bin/sh
# Runs uptimer with the given arguments: the image's CMD (`run`, the original's single
# instance: probe, events on stdout) or whatever `docker run IMAGE ...` says, such as
# `serve --listen 0.0.0.0:8080`. Before a command that writes events (run, serve, or none),
# applies the database migrations when events go to PostgreSQL (WRITER_PLUGIN); `check-config`,
# `probe`, `serve --store` and the others never touch the database.
set -e
# `docker run IMAGE uptimer serve` means the same as `docker run IMAGE serve`.
if [ "${1-}" = uptimer ]; then
  shift
fi
# `serve --store …` only reads a store: it writes nothing, so it migrates nothing.
reads_only=no
for arg in "$@"; do
  case "$arg" in
    --store | --store=*) reads_only=yes ;;
  esac
done
case "${1-}" in
  "" | run | serve)
    case ",${WRITER_PLUGIN:-},$reads_only" in
      *writers.postgres*,no) uptimer migrate up ;;
    esac
    ;;
esac
exec uptimer "$@"
