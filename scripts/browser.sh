#!/usr/bin/env bash
# Installs Debian's chromium and chromium-driver when absent: the browser
# the queue dashboard's end-to-end test drives (tests/api/queue_board.rs).
# Safe to run again and again; `scripts/services.sh` runs it too.
set -euo pipefail

log() { printf '[browser] %s\n' "$*" >&2; }

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  log "need root to install chromium and chromium-driver; install them yourself and re-run"
  exit 1
fi
log "installing chromium and chromium-driver"
if [[ -z ${NESTOGY_APT_UPDATED:-} ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  chromium chromium-driver >/dev/null
