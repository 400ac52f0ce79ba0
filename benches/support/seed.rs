//! Set-based SQL that fills a benchmark's database: deterministic
//! pseudo-random values, and tickets in bulk (the reports and console
//! benchmarks).

/// A uniform number in [0, 1) from a key and a salt: deterministic, and
/// cheap enough for a million rows.
pub const RANDOM_FN: &str = "CREATE OR REPLACE FUNCTION bench_r(k bigint, salt bigint) RETURNS float8 \
    LANGUAGE sql IMMUTABLE PARALLEL SAFE \
    AS $$ SELECT (hashint8extended(k, salt) & 2147483647)::float8 / 2147483648.0 $$";

/// Tickets, each with its first (incoming) message. `$1` company, `$2` how
/// many, `$3` now (nothing happens after it), `$4` the random key offset,
/// `$5` the first creation time, `$6` the window in seconds, `$7` the
/// exponent spreading creation times (< 1: more tickets lately), `$8` the
/// number offset.
pub const TICKETS_SQL: &str = "
WITH cl AS (SELECT array_agg(id ORDER BY name) a, count(*)::int n FROM clients WHERE company_id = $1),
us AS (SELECT array_agg(id ORDER BY email) a, count(*)::int n FROM users WHERE company_id = $1 AND role = 'tech'),
g AS (
  SELECT i, k,
    $5::timestamptz + make_interval(secs => $6::float8 * power((i - 1 + bench_r(k, 1)) / $2::float8, $7::float8)) AS created_at,
    bench_r(k, 2) rp, bench_r(k, 3) rsrc, bench_r(k, 4) rc, bench_r(k, 5) ra, bench_r(k, 6) rst,
    bench_r(k, 7) rfr, bench_r(k, 8) rres, bench_r(k, 9) rsla, bench_r(k, 10) rresp, bench_r(k, 11) rnc
  FROM generate_series(1::bigint, $2::bigint) i, LATERAL (SELECT $4::bigint + i AS k) s
),
p AS (
  SELECT g.*,
    CASE WHEN rp < 0.05 THEN 'critical' WHEN rp < 0.25 THEN 'high' WHEN rp < 0.70 THEN 'medium' ELSE 'low' END AS priority,
    CASE WHEN rsrc < 0.6 THEN 'email' WHEN rsrc < 0.9 THEN 'api' ELSE 'rmm' END AS source,
    CASE WHEN rnc < 0.02 THEN NULL ELSE cl.a[1 + floor(cl.n * rc * rc)::int] END AS client_id,
    CASE WHEN ra < 0.1 THEN NULL ELSE us.a[1 + floor(us.n * (ra - 0.1) / 0.9)::int] END AS assignee_id,
    -- Critical tickets are answered and resolved faster, low ones slower.
    CASE WHEN rp < 0.05 THEN 0.25::float8 WHEN rp < 0.25 THEN 0.5::float8 WHEN rp < 0.70 THEN 1.0::float8
         ELSE 1.5::float8 END AS pf
  FROM g, cl, us
),
q AS (
  SELECT p.*,
    -- Log-uniform: first response 1 minute to 2 days, resolution 5 minutes
    -- to 14 days (× the priority's factor).
    created_at + make_interval(secs => 60 * exp(rfr * ln(2880::float8)) * pf) AS fr_c,
    created_at + make_interval(secs => 60 * exp(ln(5::float8) + rres * ln(4032::float8)) * pf) AS rs_c
  FROM p
),
r AS (
  SELECT q.*, CASE WHEN rst < 0.97 AND rs_c <= $3 THEN rs_c END AS resolved_at FROM q
),
s AS (
  SELECT r.*,
    CASE WHEN rresp < 0.92 AND fr_c <= $3 THEN least(fr_c, COALESCE(resolved_at, fr_c)) END AS first_response_at,
    CASE WHEN resolved_at IS NOT NULL AND rst < 0.7 AND resolved_at + interval '3 days' <= $3
         THEN resolved_at + interval '3 days' END AS closed_at,
    CASE WHEN rsla < 0.85 THEN created_at + make_interval(mins => CASE priority WHEN 'critical' THEN 30
         WHEN 'high' THEN 120 WHEN 'medium' THEN 480 ELSE 1440 END) END AS sla_response_due,
    CASE WHEN rsla < 0.85 THEN created_at + make_interval(mins => CASE priority WHEN 'critical' THEN 480
         WHEN 'high' THEN 1440 WHEN 'medium' THEN 4320 ELSE 10080 END) END AS sla_resolution_due
  FROM r
),
f AS (
  SELECT s.*,
    CASE WHEN closed_at IS NOT NULL THEN 'closed' WHEN resolved_at IS NOT NULL THEN 'resolved'
         WHEN first_response_at IS NULL THEN 'new'
         ELSE (ARRAY['open', 'in_progress', 'waiting_on_client'])[1 + floor(rst * 1000)::int % 3] END AS status,
    CASE WHEN sla_response_due IS NULL THEN NULL
         WHEN COALESCE(first_response_at, $3) > sla_response_due THEN 'breached' ELSE 'ok' END AS resp_state,
    CASE WHEN sla_resolution_due IS NULL THEN NULL
         WHEN COALESCE(resolved_at, $3) > sla_resolution_due THEN 'breached' ELSE 'ok' END AS res_state
  FROM s
),
ins AS (
  INSERT INTO tickets (id, company_id, number, token_code, subject, client_id, requester_email, requester_name,
    status, priority, assignee_id, source, first_response_at, resolved_at, closed_at, sla_response_due,
    sla_resolution_due, sla_response_state, sla_resolution_state, sla_state, created_at, updated_at)
  SELECT gen_random_uuid(), $1, $8::bigint + i, upper(substr(md5(k::text), 1, 6)),
    (ARRAY['Printer offline', 'VPN keeps dropping', 'Mailbox full', 'Laptop very slow', 'Backup failed',
           'Password reset', 'New starter setup', 'Disk space low', 'Server unreachable', 'Phone not ringing'])[1 + (k % 10)::int]
      || ' (' || i || ')',
    client_id, 'user' || (k % 997) || '@client.example', 'User ' || (k % 997),
    status, priority, assignee_id, source, first_response_at, resolved_at, closed_at, sla_response_due,
    sla_resolution_due, resp_state, res_state,
    CASE WHEN resp_state = 'breached' OR res_state = 'breached' THEN 'breached'
         WHEN resp_state IS NULL AND res_state IS NULL THEN NULL ELSE 'ok' END,
    created_at, greatest(created_at, first_response_at, resolved_at, closed_at)
  FROM f
  RETURNING id, created_at, requester_email, subject
)
INSERT INTO ticket_messages (id, company_id, ticket_id, kind, from_address, from_name, body, full_body, created_at)
SELECT gen_random_uuid(), $1, id, 'incoming', requester_email, 'Requester',
  subject || ': please have a look.', subject || ': please have a look.', created_at
FROM ins";
