-- Outbound webhooks: a tenant's events, its endpoints and one delivery per
-- (endpoint, event) with the log of its attempts.

-- What happened in a tenant, recorded in the transaction of the change, and
-- only when an enabled endpoint of that tenant wants the type.
CREATE TABLE events (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id),
    type        text NOT NULL,
    subject_id  uuid,
    -- The entity as the API shows it.
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX events_company_idx ON events (company_id, created_at);

CREATE TABLE webhook_endpoints (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id),
    url             text NOT NULL,
    description     text,
    -- Event types, or '*' for all of them.
    event_types     text[] NOT NULL,
    -- `whsec_…`, sealed with the tenant as associated data.
    secret_enc      bytea NOT NULL,
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    disabled_at     timestamptz,
    -- Since when every attempt failed (NULL after a success).
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX webhook_endpoints_company_idx ON webhook_endpoints (company_id, created_at, id);
CREATE INDEX webhook_endpoints_enabled_idx ON webhook_endpoints USING gin (event_types) WHERE enabled;

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    company_id       uuid NOT NULL REFERENCES companies(id),
    endpoint_id      uuid NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id         uuid NOT NULL REFERENCES events(id),
    -- pending, succeeded, failed
    status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz,
    -- A worker holds the delivery until then (one POST at a time).
    locked_until     timestamptz,
    last_status_code int,
    last_duration_ms int,
    last_error       text,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (company_id, endpoint_id, event_id DESC, id DESC);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (company_id, next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL REFERENCES companies(id),
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt      int NOT NULL,
    status_code  int,
    duration_ms  int NOT NULL,
    error        text,
    -- The first bytes of the response body.
    response_excerpt text,
    created_at   timestamptz NOT NULL,
    UNIQUE (delivery_id, attempt)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['events', 'webhook_endpoints', 'webhook_deliveries', 'webhook_attempts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;

-- The workers' safety-net sweep: which tenants have deliveries due (ids
-- only), across tenants, for a role that otherwise sees one tenant at a time.
CREATE FUNCTION webhook_due_tenants(p_at timestamptz) RETURNS SETOF uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT DISTINCT d.company_id FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.enabled
    WHERE d.status = 'pending' AND d.next_attempt_at <= p_at
$$;
REVOKE ALL ON FUNCTION webhook_due_tenants(timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webhook_due_tenants(timestamptz) TO nestogy_app;
