-- Accounting sync: a tenant's connection to its accounting system (Xero),
-- the map of our records to theirs, and the log of sync runs.

-- One connection per tenant and provider. Every secret is sealed with the
-- platform key, the tenant as associated data.
CREATE TABLE accounting_connections (
    id                   uuid PRIMARY KEY,
    company_id           uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    provider             text NOT NULL CHECK (provider IN ('xero')),
    status               text NOT NULL CHECK (status IN ('pending', 'connected', 'needs_reauth')),
    -- The pending authorisation: SHA-256 of the CSRF state, the sealed PKCE
    -- verifier, and until when the state is accepted.
    state_hash           bytea,
    pkce_verifier_sealed bytea,
    state_expires_at     timestamptz,
    -- The authorisation code from the callback, until the connect job
    -- exchanges it.
    code_sealed          bytea,
    access_token_sealed  bytea,
    refresh_token_sealed bytea,
    access_expires_at    timestamptz,
    -- Xero's organisation (its "tenant") and its name.
    external_tenant_id   text,
    org_name             text,
    -- Ledger accounts invoices' lines and payments go to.
    sales_account_code   text NOT NULL DEFAULT '200',
    payment_account_code text NOT NULL DEFAULT '090',
    last_error           text,
    -- The sync run holding the tenant's sync lease, and until when: one run
    -- pushes at a time, so two runs never both create the same record.
    sync_run             uuid,
    sync_lease_until     timestamptz,
    connected_at         timestamptz,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    UNIQUE (company_id, provider)
);
CREATE UNIQUE INDEX accounting_connections_state_key ON accounting_connections (state_hash)
    WHERE state_hash IS NOT NULL;

-- Our record ↔ theirs: a mapped record is updated, never created again.
CREATE TABLE accounting_links (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    provider     text NOT NULL,
    entity_type  text NOT NULL CHECK (entity_type IN ('client', 'invoice', 'payment')),
    entity_id    uuid NOT NULL,
    external_id  text NOT NULL,
    -- SHA-256 of what was last pushed: unchanged records are skipped.
    content_hash text NOT NULL,
    synced_at    timestamptz NOT NULL,
    UNIQUE (company_id, provider, entity_type, entity_id)
);

CREATE TABLE accounting_sync_runs (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    provider    text NOT NULL,
    status      text NOT NULL CHECK (status IN ('queued', 'running', 'waiting', 'succeeded', 'failed')),
    job_id      uuid,
    created     int NOT NULL DEFAULT 0,
    updated     int NOT NULL DEFAULT 0,
    skipped     int NOT NULL DEFAULT 0,
    failed      int NOT NULL DEFAULT 0,
    error       text,
    started_at  timestamptz,
    finished_at timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX accounting_sync_runs_list_idx ON accounting_sync_runs (company_id, id DESC);

CREATE TABLE accounting_sync_items (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    run_id      uuid NOT NULL REFERENCES accounting_sync_runs(id) ON DELETE CASCADE,
    entity_type text NOT NULL,
    entity_id   uuid NOT NULL,
    action      text NOT NULL CHECK (action IN ('created', 'updated', 'skipped', 'failed')),
    external_id text,
    error       text,
    created_at  timestamptz NOT NULL
);
CREATE INDEX accounting_sync_items_run_idx ON accounting_sync_items (company_id, run_id, created_at, id);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['accounting_connections', 'accounting_links', 'accounting_sync_runs',
                             'accounting_sync_items'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;

-- The OAuth callback arrives without a tenant: its state finds it (the one
-- look-up before the tenant is known, like signing in).
CREATE FUNCTION accounting_state_tenant(p_hash bytea)
    RETURNS TABLE (company_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
AS $$ SELECT company_id FROM accounting_connections WHERE state_hash = p_hash $$;
GRANT EXECUTE ON FUNCTION accounting_state_tenant(bytea) TO nestogy_app;
