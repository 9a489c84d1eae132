#!/bin/sh
# Applies the database migrations first when events are written to PostgreSQL, then runs
# uptimer with the given arguments (default: run).
set -e
case ",${WRITER_PLUGIN:-}," in
  *writers.postgres*) uptimer migrate up ;;
esac
exec uptimer "$@"
