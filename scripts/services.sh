#!/usr/bin/env bash
# Makes sure PostgreSQL and Redis run on 127.0.0.1, installing them from
# Debian's packages when they are absent. Safe to run again and again.
set -euo pipefail

log() { printf '[services] %s\n' "$*" >&2; }

apt_install() {
  if [[ $(id -u) -ne 0 ]]; then
    log "need root to install $*; install it yourself and re-run"; exit 1
  fi
  if [[ -z ${NESTOGY_APT_UPDATED:-} ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    export NESTOGY_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

wait_for() { # wait_for DESCRIPTION COMMAND...: up to 30 s
  local what=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "$what did not come up"; return 1
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432; }

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_up; then return 0; fi
  local fresh=
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"
    apt_install postgresql
    fresh=1
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_for PostgreSQL pg_up
  if [[ -n $fresh ]]; then
    # A fresh Debian cluster asks for a password on TCP: give postgres the
    # one the default DATABASE_URL carries.
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
  fi
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }

ensure_redis() {
  if command -v redis-cli >/dev/null && redis_up; then return 0; fi
  if ! command -v redis-server >/dev/null; then
    log "installing Redis"
    apt_install redis-server
  fi
  log "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/nestogy.log
  wait_for Redis redis_up
}

# Tools the tests use: pdftotext reads rendered PDFs; aiosmtpd is the SMTP
# sink the mail tests start on loopback.
ensure_test_tools() {
  if ! command -v pdftotext >/dev/null; then
    log "installing poppler-utils (pdftotext)"
    apt_install poppler-utils
  fi
  if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    log "installing aiosmtpd"
    python3 -m pip install -q --disable-pip-version-check 'aiosmtpd==1.4.6'
  fi
  # The IMAP tests start private Dovecot instances of their own (own config,
  # folder and port): the system-wide service is never used. A system
  # Dovecot that already runs is left alone.
  if [[ ! -x /usr/sbin/dovecot ]]; then
    log "installing dovecot-core and dovecot-imapd (Dovecot for the IMAP tests)"
    local policy=/usr/sbin/policy-rc.d added=
    if [[ $(id -u) -eq 0 && ! -e $policy ]]; then
      # Keep the package scripts from starting the system service.
      printf '#!/bin/sh\nexit 101\n' >"$policy"
      chmod 755 "$policy"
      added=1
    fi
    apt_install dovecot-core dovecot-imapd || {
      if [[ -n $added ]]; then rm -f "$policy"; fi
      exit 1
    }
    if [[ -n $added ]]; then rm -f "$policy"; fi
    # Nor start it at boot.
    if [[ -d /run/systemd/system ]]; then
      systemctl disable dovecot.service dovecot.socket >/dev/null 2>&1 || true
    else
      update-rc.d dovecot disable >/dev/null 2>&1 || true
    fi
  fi
}

ensure_postgres
ensure_redis
ensure_test_tools
# The browser of the queue dashboard's end-to-end test.
bash "$(dirname "$0")/browser.sh"
log "PostgreSQL, Redis and the test tools (chromium too) are ready"
