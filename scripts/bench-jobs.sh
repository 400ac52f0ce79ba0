#!/usr/bin/env bash
# The job platform benchmark: the Redis ceiling for the commands the queue
# uses, then end-to-end throughput and latency (benches/jobs.rs, release).
set -euo pipefail
cd "$(dirname "$0")/.."
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
echo "== Job platform"
cargo bench --bench jobs
