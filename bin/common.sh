# Sourced by bin/*.sh, as the original's scripts did: source ./configuration.env (its values
# are exported), default the plugins to the script's own, and find the binary.
# Expects DEFAULT_READER and DEFAULT_WRITER to be set by the caller.
cd "$(dirname "$0")/.." || exit 1
if [ -f configuration.env ]; then
  set -a
  . ./configuration.env
  set +a
fi
export READER_PLUGIN="${READER_PLUGIN:-$DEFAULT_READER}"
export WRITER_PLUGIN="${WRITER_PLUGIN:-$DEFAULT_WRITER}"
UPTIMER="${UPTIMER:-$(command -v uptimer || echo target/release/uptimer)}"
