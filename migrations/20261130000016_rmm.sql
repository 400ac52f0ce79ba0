-- Monitoring (RMM) alerts in: a per-tenant secret for the receiver, and
-- each alert id with the ticket it opened.

ALTER TABLE tickets DROP CONSTRAINT tickets_source_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_source_check CHECK (source IN ('api', 'email', 'rmm'));

CREATE TABLE rmm_settings (
    company_id    uuid PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    -- SHA-256 of the secret the RMM sends as a bearer token; the
    -- secret itself is shown once and never stored.
    secret_hash   bytea NOT NULL,
    secret_hint   text NOT NULL,
    -- A resolved alert resolves its ticket.
    auto_resolve  boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

CREATE TABLE rmm_alerts (
    company_id        uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    alert_id          text NOT NULL,
    ticket_id         uuid REFERENCES tickets(id) ON DELETE SET NULL,
    asset_id          uuid REFERENCES assets(id) ON DELETE SET NULL,
    hostname          text,
    serial            text,
    severity          text NOT NULL,
    state             text NOT NULL CHECK (state IN ('open', 'resolved')),
    message           text NOT NULL,
    occurrences       int NOT NULL DEFAULT 1,
    first_received_at timestamptz NOT NULL,
    last_received_at  timestamptz NOT NULL,
    PRIMARY KEY (company_id, alert_id)
);
CREATE INDEX rmm_alerts_ticket_idx ON rmm_alerts (ticket_id) WHERE ticket_id IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rmm_settings', 'rmm_alerts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;
