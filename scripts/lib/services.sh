# shellcheck shell=bash
# Services that tests and benchmarks need, shared by scripts/test and scripts/bench: each
# `ensure_<service>` uses what already runs, else starts (installing when missing) and exports
# the address its tests read. Whatever is started here is stopped by `services_stop`, and only
# that: a server that was already running is left as it was.
#
#   source scripts/lib/services.sh
#   services_trap            # stop what we start on EXIT/INT/TERM (or call services_stop yourself)
#   ensure_postgres          # exports UPTIMER_TEST_DATABASE_URL
#
# To add a service (Kafka, Chromium...): write ensure_<name> that pushes the command undoing
# what it did onto SERVICES_STOP.

SERVICES_STOP=()

services_log() { printf '==> %s\n' "$*" >&2; }

# Runs the recorded stop commands, newest first.
services_stop() {
  local i
  for ((i = ${#SERVICES_STOP[@]} - 1; i >= 0; i--)); do
    services_log "stopping: ${SERVICES_STOP[i]}"
    eval "${SERVICES_STOP[i]}" >&2 || true
  done
  SERVICES_STOP=()
}

services_trap() {
  trap 'rc=$?; services_stop; exit $rc' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# A URL with its password replaced by ***.
services_mask_url() { sed -E 's#(//[^:/@]+):[^@]*@#\1:***@#' <<<"$1"; }

# True when something accepts TCP connections on 127.0.0.1:$1.
services_port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

services_apt_install() {
  services_log "installing $*"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# PostgreSQL on 127.0.0.1:5432 for the tests (each test makes its own database in it), and the
# server binaries (initdb, pg_ctl) for tests that run a private cluster. A URL given in
# UPTIMER_TEST_DATABASE_URL is used as it is.
ensure_postgres() {
  local given=${UPTIMER_TEST_DATABASE_URL:-}
  : "${UPTIMER_TEST_DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
  export UPTIMER_TEST_DATABASE_URL
  local was_running=0
  services_port_open 5432 && was_running=1
  if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || ! command -v psql >/dev/null; then
    # (Debian's postinst may start the new cluster itself: then it is ours to stop below.)
    services_apt_install postgresql
  fi
  if [[ -n $given ]] || ((was_running)); then
    services_log "PostgreSQL: using the server at $(services_mask_url "$UPTIMER_TEST_DATABASE_URL")"
  else
    local version
    version=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
    if [[ -z $version ]]; then
      version=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' | sort -V | tail -n 1)
      services_log "PostgreSQL: creating cluster $version/main"
      pg_createcluster "$version" main >/dev/null
    fi
    if ! services_port_open 5432; then
      services_log "PostgreSQL: starting cluster $version/main"
      pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
    SERVICES_STOP+=("pg_ctlcluster --skip-systemctl-redirect $version main stop")
    local i
    for ((i = 0; i < 60; i++)); do
      services_port_open 5432 && break
      sleep 0.5
    done
    services_port_open 5432 || { echo "PostgreSQL did not start on 127.0.0.1:5432" >&2; return 1; }
  fi
  if ! psql "$UPTIMER_TEST_DATABASE_URL" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    if [[ -z $given ]] && command -v runuser >/dev/null &&
      runuser -u postgres -- psql -qAtc "ALTER USER postgres PASSWORD 'uptimer-test'" >/dev/null 2>&1; then
      # Debian's default pg_hba.conf asks for a password over TCP.
      UPTIMER_TEST_DATABASE_URL=postgres://postgres:uptimer-test@127.0.0.1:5432/postgres
      services_log "PostgreSQL: set a password for the postgres user (Debian's pg_hba wants one on TCP)"
    fi
    psql "$UPTIMER_TEST_DATABASE_URL" -qAtc 'SELECT 1' >/dev/null || {
      echo "cannot connect to PostgreSQL at $(services_mask_url "$UPTIMER_TEST_DATABASE_URL"): set UPTIMER_TEST_DATABASE_URL to a superuser URL" >&2
      return 1
    }
  fi
}

# Headless Chromium (and chromedriver) for the dashboard's browser test, from Debian's
# packages; exports UPTIMER_CHROMIUM. Nothing keeps running: each test starts its own browser.
ensure_chromium() {
  local bin
  bin=$(command -v chromium || command -v chromium-browser || true)
  if [[ -z $bin ]] || ! command -v chromedriver >/dev/null; then
    services_apt_install chromium chromium-driver
    bin=$(command -v chromium)
  fi
  export UPTIMER_CHROMIUM=$bin
  # Under scripts/test the browser test must run, never skip.
  unset UPTIMER_SKIP_BROWSER_TESTS
  services_log "Chromium: $("$bin" --version 2>/dev/null || echo "$bin")"
}

# axe-core, the accessibility engine the status pages' browser test injects into Chromium: the
# package's tarball from the npm registry (or $NPM_CONFIG_REGISTRY), fetched with curl (no node
# or npm needed), checked against the sha512 pinned here (the registry's dist.integrity, in
# hex) and unpacked under target/tools/. Exports UPTIMER_AXE, the path of axe.min.js.
AXE_VERSION=4.14.1
AXE_SHA512=1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5
ensure_axe() {
  local dir=$PWD/target/tools/axe-core-$AXE_VERSION
  if [[ ! -f $dir/axe.min.js ]]; then
    local registry=${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}
    local tgz
    tgz=$(mktemp)
    services_log "axe-core: fetching $AXE_VERSION"
    if ! curl -fsSL --retry 3 -o "$tgz" "${registry%/}/axe-core/-/axe-core-$AXE_VERSION.tgz"; then
      rm -f "$tgz"
      echo "axe-core $AXE_VERSION: the download failed" >&2
      return 1
    fi
    if ! echo "$AXE_SHA512  $tgz" | sha512sum --check --status; then
      rm -f "$tgz"
      echo "axe-core $AXE_VERSION: the tarball's sha512 is not the pinned one" >&2
      return 1
    fi
    mkdir -p "$dir"
    tar -xzf "$tgz" -C "$dir" --strip-components=1 package/axe.min.js package/LICENSE
    rm -f "$tgz"
  fi
  export UPTIMER_AXE=$dir/axe.min.js
  services_log "axe-core: $UPTIMER_AXE"
}

# feedparser (PyPI), which the status pages' browser test reads their RSS and Atom feeds with,
# in a virtualenv under target/tools/. Exports UPTIMER_FEEDPARSER_PYTHON, its python.
ensure_feedparser() {
  local venv=$PWD/target/tools/feedparser-venv
  if ! "$venv/bin/python" -c 'import feedparser' >/dev/null 2>&1; then
    services_log "feedparser: installing into $venv"
    python3 -m venv "$venv" && "$venv/bin/pip" install -q 'feedparser>=6.0.11,<7'
  fi
  export UPTIMER_FEEDPARSER_PYTHON=$venv/bin/python
  services_log "feedparser: $("$venv/bin/python" -c 'import feedparser; print(feedparser.__version__)')"
}

# tansu, the Kafka-compatible broker the Kafka tests and benchmark start (one per test, in a
# temporary directory, on a random port), built with SQLite storage: installed once per machine
# (cargo install, 10-15 minutes). Exports UPTIMER_TANSU.
ensure_tansu() {
  local root=${UPTIMER_TANSU_ROOT:-$HOME/.cache/tansu-0.6.0-libsql}
  if [[ ! -x $root/bin/tansu ]]; then
    services_log "installing the tansu test broker into $root (once per machine, 10-15 minutes)"
    cargo install tansu --version 0.6.0 --locked --features dynostore,libsql --root "$root"
  fi
  export UPTIMER_TANSU=$root/bin/tansu
  # stunnel terminates TLS in front of it for the SSL tests (tansu cannot).
  command -v stunnel4 >/dev/null || services_apt_install stunnel4
}

# aiosmtpd, the SMTP sink the email tests start (one per test, on a random port, storing what
# it accepts in a Maildir the test reads): Debian's python3-aiosmtpd, run as /usr/bin/aiosmtpd
# (the python3 on PATH may not be Debian's). Exports UPTIMER_AIOSMTPD.
ensure_smtp_sink() {
  [[ -x /usr/bin/aiosmtpd ]] || services_apt_install python3-aiosmtpd
  export UPTIMER_AIOSMTPD=/usr/bin/aiosmtpd
  services_log "SMTP sink: $(/usr/bin/aiosmtpd --version 2>&1 | head -1)"
}

# ip (iproute2) and setpriv (util-linux) for the ICMP tests, which probe from network
# namespaces they create and as an unprivileged user. Nothing keeps running: each test makes
# and deletes its own namespace.
ensure_netns_tools() {
  local missing=()
  command -v ip >/dev/null || [[ -x /usr/sbin/ip || -x /sbin/ip ]] || missing+=(iproute2)
  command -v setpriv >/dev/null || missing+=(util-linux)
  if ((${#missing[@]})); then
    services_apt_install "${missing[@]}"
  fi
  services_log "network namespaces: $(ip -V 2>/dev/null || /usr/sbin/ip -V), $(setpriv --version)"
}
