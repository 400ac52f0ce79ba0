#!/usr/bin/env bash
# Loads GET /api/v1/clients/{id} and GET /api/v1/clients?limit=50 over 64
# connections on loopback with wrk, against a release build with its own
# database, and prints requests/s, p50 and p99 for each.
#   DURATION=15s CONNECTIONS=64 CLIENTS=1000 make bench
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
CLIENTS=${CLIENTS:-1000}
PORT=${BENCH_PORT:-18080}
ADMIN_URL=${NESTOGY_BENCH_ADMIN_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
DB_URL=${ADMIN_URL%/*}/nestogy_bench
PASSWORD="bench password $(date +%s)"

if ! command -v wrk >/dev/null; then
  echo "installing wrk" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
# NESTOGY_BENCH_BIN: a binary built already (skips the build).
if [ -n "${NESTOGY_BENCH_BIN:-}" ]; then
  bin=$NESTOGY_BENCH_BIN
else
  cargo build --release --bin nestogy
  bin=./target/release/nestogy
fi

psql "$ADMIN_URL" -q -c "DROP DATABASE IF EXISTS nestogy_bench WITH (FORCE)"
export DATABASE_URL=$DB_URL NESTOGY_BIND=127.0.0.1:$PORT NESTOGY_LOG_FORMAT=json RUST_LOG=warn
export NESTOGY_JWT_SECRET="bench secret bench secret bench secret!"
$bin seed --company "Bench MSP" --admin-email admin@bench.example --admin-password "$PASSWORD" >/dev/null

company=$(psql "$DB_URL" -Atc "SELECT id FROM companies LIMIT 1")
psql "$DB_URL" -q -c "INSERT INTO clients (id, company_id, name, email, created_at, updated_at)
  SELECT gen_random_uuid(), '$company', 'Client ' || lpad(i::text, 5, '0'), 'it@client' || i || '.example', now(), now()
  FROM generate_series(1, $CLIENTS) i; ANALYZE clients"

NESTOGY_DB_POOL_SIZE=${NESTOGY_DB_POOL_SIZE:-4} $bin api >/tmp/nestogy-bench-api.log 2>&1 &
api_pid=$!
trap 'kill $api_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done

token=$(curl -fs "http://127.0.0.1:$PORT/api/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"email\":\"admin@bench.example\",\"password\":\"$PASSWORD\"}" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
client=$(psql "$DB_URL" -Atc "SELECT id FROM clients ORDER BY id LIMIT 1 OFFSET $((CLIENTS / 2))")


run() { # run LABEL PATH
  local out
  curl -fs -o /dev/null "http://127.0.0.1:$PORT$2" -H "authorization: Bearer $token"
  out=$(wrk -t${WRK_THREADS:-1} -c"$CONNECTIONS" -d"$DURATION" --latency -H "authorization: Bearer $token" "http://127.0.0.1:$PORT$2")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  errors=$(grep -E 'Non-2xx|Socket errors' <<<"$out" || true)
  printf '%-34s %10s req/s   p50 %8s   p99 %8s   %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-no errors}"
}

echo "nestogy API benchmark: $CONNECTIONS connections, $DURATION each, $CLIENTS clients, $(nproc) cores (wrk on the same machine)"
run "GET /api/v1/clients/{id}" "/api/v1/clients/$client"
run "GET /api/v1/clients?limit=50" "/api/v1/clients?limit=50"
python3 scripts/idle_sockets.py "$PORT" "$api_pid" "${IDLE_SOCKETS:-5000}" "${NESTOGY_HTTP_HEADER_TIMEOUT:-10}"
