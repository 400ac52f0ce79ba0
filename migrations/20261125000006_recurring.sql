-- Money, part four: recurring invoice templates and billing runs.

CREATE TABLE recurring_invoices (
    id                  uuid PRIMARY KEY,
    company_id          uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id           uuid NOT NULL REFERENCES clients(id) ON DELETE RESTRICT,
    name                text NOT NULL,
    currency            char(3) NOT NULL,
    frequency_unit      text NOT NULL CHECK (frequency_unit IN ('days', 'weeks', 'months', 'years')),
    frequency_every     int NOT NULL CHECK (frequency_every > 0),
    -- The anchor: period k starts k intervals after it.
    start_date          date NOT NULL,
    end_date            date,
    max_cycles          int CHECK (max_cycles > 0),
    -- The next period to bill, and when it starts (for finding due templates).
    next_cycle          int NOT NULL DEFAULT 0,
    next_period_start   date,
    status              text NOT NULL CHECK (status IN ('active', 'paused', 'ended')),
    auto_finalize       boolean NOT NULL DEFAULT true,
    auto_send           boolean NOT NULL DEFAULT false,
    escalation_percent  numeric(9, 4),
    escalation_every    int CHECK (escalation_every > 0),
    -- Service starts inside the first period: bill that period pro rata.
    prorate_from        date,
    due_days            int NOT NULL DEFAULT 30 CHECK (due_days BETWEEN 0 AND 365),
    discount            jsonb,
    notes               text,
    terms               text,
    lines               jsonb NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX recurring_due_idx ON recurring_invoices (company_id, next_period_start) WHERE status = 'active';

ALTER TABLE invoices ADD COLUMN recurring_id uuid REFERENCES recurring_invoices(id) ON DELETE SET NULL;
ALTER TABLE invoices ADD COLUMN period_start date;
-- One invoice per (template, period start), however often a run retries.
CREATE UNIQUE INDEX invoices_recurring_period_key ON invoices (recurring_id, period_start) WHERE recurring_id IS NOT NULL;

CREATE TABLE billing_runs (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    as_of       date NOT NULL,
    job_id      uuid,
    trigger     text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    templates   int,
    created_at  timestamptz NOT NULL,
    fanned_out_at timestamptz
);
CREATE INDEX billing_runs_company_idx ON billing_runs (company_id, id DESC);

-- What a run did for each (template, period): the summary is their count.
CREATE TABLE billing_run_items (
    run_id       uuid NOT NULL REFERENCES billing_runs(id) ON DELETE CASCADE,
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    template_id  uuid NOT NULL,
    period_start date NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('created', 'skipped', 'failed')),
    invoice_id   uuid,
    reason       text,
    at           timestamptz NOT NULL,
    PRIMARY KEY (run_id, template_id, period_start)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['recurring_invoices', 'billing_runs', 'billing_run_items']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) '
                       'WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END
$$;
