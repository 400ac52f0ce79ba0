-- Idempotency keys: a POST sent with an `Idempotency-Key` header is
-- answered once; a retry with the same key and the same request gets the
-- first answer again instead of starting the work twice (as Stripe's API).
--
-- A key belongs to the caller who sent it: the tenant, and the user (signed
-- in) or the API token. `fingerprint` is a SHA-256 over the method, path and
-- query, and body; the same key with another request is refused. While the
-- first request runs, `status` is NULL (the key is in use). Answers of 500
-- and above are not kept (the row is deleted, so a retry runs again). Keys
-- expire 24 hours after first use; the maintenance vacuum deletes them, and
-- an expired key is free for a new request before that.

CREATE TABLE idempotency_keys (
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    -- 'user:<uuid>' or 'token:<uuid>'
    principal    text NOT NULL,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint  bytea NOT NULL,
    method       text NOT NULL,
    path         text NOT NULL,
    -- NULL while the first request is in flight.
    status       smallint,
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL,
    -- When the request in flight took the key: a key held past the request
    -- timeout by a process that died is taken over.
    locked_at    timestamptz NOT NULL,
    completed_at timestamptz,
    expires_at   timestamptz NOT NULL,
    PRIMARY KEY (company_id, principal, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

-- Requests see their tenant's keys; the maintenance vacuum (a system
-- transaction) deletes expired keys of every tenant.
ALTER TABLE idempotency_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency_keys
    USING (company_id = app_company_id() OR app_is_system())
    WITH CHECK (company_id = app_company_id() OR app_is_system());
GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_keys TO nestogy_app;
