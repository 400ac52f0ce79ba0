#!/usr/bin/env bash
# The job platform benchmark, side by side in one run (release builds):
#   1. the Redis ceiling for the commands the queue uses (redis-benchmark);
#   2. ours end to end: JOBS no-op jobs (100,000) and latency at 1,000 jobs/s
#      (benches/jobs.rs);
#   3. Sidekiq 6.4 (Debian's ruby-sidekiq), 2 processes x 10 threads, the
#      same burst on the same Redis (scripts/bench_sidekiq.rb);
#   4. apalis-redis 1.0's own storage on the same burst (benches/apalis_redis.rs);
# then ours against Sidekiq.
set -euo pipefail
cd "$(dirname "$0")/.."
export JOBS=${JOBS:-100000}

if ! command -v sidekiq >/dev/null; then
  echo "installing ruby-sidekiq" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ruby-sidekiq >/dev/null
fi
cargo bench --no-run --bench jobs --bench apalis_redis 2>&1 | grep -v '^\s*\(Compiling\|Executable\)' || true

echo "== Redis ceiling (redis-benchmark, 50 clients; unpipelined, then pipelined 16 deep)"
ceiling() { # ceiling PIPELINE COMMAND...: the final line of redis-benchmark's quiet output
  redis-benchmark -q -n 200000 -c 50 -r 1000000 -P "$@" | tr '\r' '\n' | grep 'requests per second' | tail -n 1
}
for p in 1 16; do
  echo "pipeline $p:"
  ceiling "$p" XADD nestogy_bench_ceiling '*' e '{"id":"0190","kind":"diag.noop","payload":{}}'
  ceiling "$p" ZADD nestogy_bench_ceiling_z __rand_int__ m:__rand_int__
  ceiling "$p" XLEN nestogy_bench_ceiling
done
redis-cli DEL nestogy_bench_ceiling nestogy_bench_ceiling_z >/dev/null

echo "== Ours: apalis workers over our Redis Streams + PostgreSQL backend"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rate() { # rate FILE PATTERN: the jobs/s figure of the first line matching PATTERN
  awk -v p="$2" '$0 ~ p && !n {for (i = 2; i <= NF; i++) if ($i == "jobs/s") {print $(i-1); n = 1; break}}' "$1"
}
cargo bench --bench jobs 2>/dev/null >"$out"
cat "$out"
ours=$(rate "$out" '^end to end:')
p99=$(awk '/^latency:/ { for (i = 1; i < NF; i++) if ($i == "p99") { print $(i + 1); exit } }' "$out")

echo "== Sidekiq"
ruby scripts/bench_sidekiq.rb >"$out"
cat "$out"
sidekiq=$(rate "$out" '^sidekiq:')

echo "== apalis-redis 1.0's own storage"
cargo bench --bench apalis_redis 2>/dev/null

if [[ -n $ours && -n $sidekiq ]]; then
  awk -v o="$ours" -v s="$sidekiq" 'BEGIN { printf "== ours / Sidekiq: %.2fx (%s vs %s jobs/s)\n", o / s, o, s }'
  # The targets of the job platform (README, Benchmarks), this run against them.
  awk -v o="$ours" -v s="$sidekiq" -v p="$p99" 'BEGIN {
    verdict = "met"; if (o < 18000) verdict = "NOT met"; printf "   ours >= 18,000 jobs/s: %s (%s)\n", verdict, o
    verdict = "met"; if (o / s < 1.7) verdict = "NOT met"; printf "   ours >= 1.7x Sidekiq: %s (%.2fx)\n", verdict, o / s
    verdict = "met"; if (p == "" || p > 10) verdict = "NOT met"; printf "   p99 <= 10 ms at 1,000 jobs/s: %s (%s ms)\n", verdict, p
  }'
fi
