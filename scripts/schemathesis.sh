#!/usr/bin/env bash
# The contract test: schemathesis (PyPI) fuzzes the real API from the
# OpenAPI document it serves and fails when an answer is a server error or
# does not match the document (status code, content type, headers, body
# schema).
#
#   bash scripts/schemathesis.sh      (run by `make test` after nextest)
#
# What it does, each time from scratch:
#   1. installs schemathesis, pinned in scripts/schemathesis-requirements.txt,
#      into a virtualenv outside the git tree ($NESTOGY_TOOLS_DIR, default
#      ~/.cache/nestogy); skipped when that exact set is installed already;
#   2. takes the debug binary the tests use (building it only when
#      `cargo nextest run` has not just done so);
#   3. creates a fresh database, migrates and seeds it (a company and its
#      admin), and starts `nestogy api` on a free loopback port with its own
#      Redis key prefix, object store and outbox;
#   4. signs in as the admin and runs schemathesis with that token, a fixed
#      seed and a bounded number of examples per operation;
#   5. stops the server and drops the database and the Redis keys, also when
#      something failed.
#
# About 3 minutes on a 2-core machine (10 examples per operation and phase,
# some 10,600 test cases).
#
# Settings (environment): ST_SEED (default 20261204), ST_MAX_EXAMPLES (per
# operation and phase, default 10), ST_WORKERS (default 1: with more,
# hypothesis trips over CPython 3.11's "AST constructor recursion depth
# mismatch" in its threads now and then), ST_ARGS (more arguments for
# `st run`, e.g. `--report junit`), NESTOGY_TEST_DATABASE_URL (a role that
# may create databases; default
# postgres://postgres:postgres@127.0.0.1:5432/postgres), REDIS_URL.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

log() { printf '[schemathesis] %s\n' "$*" >&2; }

SEED=${ST_SEED:-20261204}
MAX_EXAMPLES=${ST_MAX_EXAMPLES:-10}
WORKERS=${ST_WORKERS:-1}
REQUIREMENTS=scripts/schemathesis-requirements.txt

# 1. schemathesis in a virtualenv of its own, named by the requirements'
# digest: a changed pin gets a fresh one, an unchanged one is reused.
TOOLS=${NESTOGY_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/nestogy}
VENV="$TOOLS/schemathesis-$(sha256sum "$REQUIREMENTS" | cut -c1-12)"
if [[ ! -f $VENV/.installed ]]; then
  log "installing schemathesis into $VENV"
  rm -rf "$VENV"
  mkdir -p "$TOOLS"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$REQUIREMENTS" || {
    rm -rf "$VENV"
    exit 1
  }
  touch "$VENV/.installed"
fi
ST="$VENV/bin/st"

# 2. The binary the tests built: building the tests as nextest does is a
# no-op after `cargo nextest run --workspace` (a plain `cargo build` would
# build the workspace again, with other features for the dependencies).
CARGO=${CARGO:-cargo}
BIN=$("$CARGO" test --workspace --no-run --message-format=json-render-diagnostics | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if (m.get("reason") == "compiler-artifact" and m["target"]["name"] == "nestogy"
            and "bin" in m["target"]["kind"] and not m["profile"]["test"]):
        print(m["executable"])
' | tail -n 1)
if [[ ! -x $BIN ]]; then
  log "building the tests failed (cargo test --workspace --no-run)"
  exit 1
fi

# 3. A database, a Redis prefix and folders of this run's own.
ADMIN_URL=${NESTOGY_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
DB="nestogy_schemathesis_$$"
export DATABASE_URL="${ADMIN_URL%/*}/$DB"
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
export NESTOGY_REDIS_PREFIX="nestogy-schemathesis-$$"
WORK=$(mktemp -d)
export NESTOGY_OBJECT_STORE="$WORK/files"
export NESTOGY_MAIL_OUTBOX="$WORK/outbox"
export NESTOGY_JWT_SECRET
NESTOGY_JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
export NESTOGY_SECRET_KEY
NESTOGY_SECRET_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
# One token for the whole run.
export NESTOGY_ACCESS_TOKEN_TTL=7200
export NESTOGY_LOG_FORMAT=json
export RUST_LOG=${RUST_LOG:-warn}
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export NESTOGY_BIND="127.0.0.1:$PORT"
BASE="http://$NESTOGY_BIND"
SERVER_PID=

cleanup() {
  local rc=$?
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null 2>&1 ||
    log "could not drop database $DB"
  redis-cli -u "$REDIS_URL" --scan --pattern "$NESTOGY_REDIS_PREFIX*" 2>/dev/null |
    xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  if [[ $rc -ne 0 && -f $WORK/api.log ]]; then
    log "the server's last log lines:"
    tail -n 20 "$WORK/api.log" >&2 || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BIN" migrate >/dev/null
PASSWORD="schemathesis-$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
EMAIL=admin@schemathesis.example
NESTOGY_ADMIN_PASSWORD=$PASSWORD "$BIN" seed --company "Schemathesis" --admin-email "$EMAIL" >/dev/null

"$BIN" api >"$WORK/api.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if curl -fsS "$BASE/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    log "the API did not start"; exit 1
  fi
  sleep 0.2
done
curl -fsS "$BASE/healthz" >/dev/null

TOKEN=$(curl -fsS "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\": \"$EMAIL\", \"password\": \"$PASSWORD\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# 4. The run: every check that applies to this API, a fixed seed, a bounded
# number of examples per operation and phase. One check is left out:
# positive_data_acceptance expects a 2xx for any request the schema admits,
# but whether a request is valid here depends on the data (ids of rows that
# must exist in the caller's company, a due date after the issue date, a
# unique name): schema-valid requests are rightly refused with 404, 409 or
# 422, and the check would fail on each.
read -ra EXTRA <<<"${ST_ARGS:-}"
# It runs in the scratch folder: schemathesis keeps a cache of past failures
# (replayed first) in its working directory, and a run is to depend on its
# seed alone. (Give paths in ST_ARGS absolute.)
run_st() {
  (cd "$WORK" && "$ST" run "$BASE/api/v1/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --checks all \
    --exclude-checks positive_data_acceptance \
    --seed "$SEED" \
    --max-examples "$MAX_EXAMPLES" \
    --workers "$WORKERS" \
    --generation-database none \
    --no-color \
    "$@" "${EXTRA[@]}")
}

log "schemathesis $("$ST" --version | awk '{print $NF}') against $BASE, seed $SEED, $MAX_EXAMPLES examples per operation"
rc=0
# Every operation but those that would end this run's own session (every
# later request would answer 401):
# - POST /api/v1/auth/logout-everywhere revokes the token the run uses;
# - PATCH and DELETE /api/v1/users/{id} change a user's password, role or
#   active flag: the stateful phase follows the users list to the signed-in
#   admin. They get a run of their own below, without the stateful phase,
#   where ids are generated and never the admin's.
run_st \
  --exclude-operation-id logout_everywhere \
  --exclude-operation-id update_user \
  --exclude-operation-id deactivate_user || rc=$?
run_st \
  --include-operation-id update_user \
  --include-operation-id deactivate_user \
  --phases examples,coverage,fuzzing || rc=$?
exit "$rc"
