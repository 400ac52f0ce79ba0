-- Contracts per client: dates and status, SLA targets per priority of
-- their own, included minutes per month, an hourly rate, and the recurring
-- invoice template they drive; the expiry warnings sent, once per contract,
-- threshold and end date; what included time a billed entry used; and
-- which contract's targets a ticket's SLA was last evaluated with.

CREATE TABLE contracts (
    id                          uuid PRIMARY KEY,
    company_id                  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id                   uuid NOT NULL REFERENCES clients(id) ON DELETE RESTRICT,
    name                        text NOT NULL,
    start_date                  date NOT NULL,
    end_date                    date NOT NULL,
    status                      text NOT NULL CHECK (status IN ('draft', 'active', 'expired', 'cancelled')),
    included_minutes_per_month  int NOT NULL DEFAULT 0 CHECK (included_minutes_per_month >= 0),
    hourly_rate                 numeric(12, 4) CHECK (hourly_rate >= 0),
    recurring_invoice_id        uuid REFERENCES recurring_invoices(id) ON DELETE SET NULL,
    created_at                  timestamptz NOT NULL,
    updated_at                  timestamptz NOT NULL,
    CONSTRAINT contracts_dates_check CHECK (end_date > start_date)
);
CREATE INDEX contracts_client_idx ON contracts (company_id, client_id, id);
CREATE INDEX contracts_active_idx ON contracts (company_id, client_id) WHERE status = 'active';
CREATE INDEX contracts_end_idx ON contracts (company_id, end_date) WHERE status = 'active';

-- A contract's own targets; a priority without a row uses the company's policy.
CREATE TABLE contract_sla_targets (
    company_id              uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    contract_id             uuid NOT NULL REFERENCES contracts(id) ON DELETE CASCADE,
    priority                text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    first_response_minutes  int NOT NULL CHECK (first_response_minutes > 0),
    resolution_minutes      int NOT NULL CHECK (resolution_minutes > 0),
    PRIMARY KEY (contract_id, priority)
);

-- One warning per contract, threshold and end date: a moved end date warns again.
CREATE TABLE contract_expiry_alerts (
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    contract_id     uuid NOT NULL REFERENCES contracts(id) ON DELETE CASCADE,
    threshold_days  int NOT NULL CHECK (threshold_days > 0),
    end_date        date NOT NULL,
    mail_id         uuid REFERENCES mail_messages(id) ON DELETE SET NULL,
    alerted_at      timestamptz NOT NULL,
    CONSTRAINT contract_expiry_alerts_key UNIQUE (contract_id, threshold_days, end_date)
);
CREATE INDEX contract_expiry_alerts_company_idx ON contract_expiry_alerts (company_id, contract_id);

-- A billed entry: the contract it was billed under and the minutes of it
-- the contract's monthly allowance covered. A contract with billed time
-- cannot be deleted (cancel it instead).
ALTER TABLE time_entries
    ADD COLUMN contract_id uuid REFERENCES contracts(id) ON DELETE RESTRICT,
    ADD COLUMN included_minutes int NOT NULL DEFAULT 0 CHECK (included_minutes >= 0);
CREATE INDEX time_entries_contract_idx ON time_entries (company_id, contract_id, work_date)
    WHERE contract_id IS NOT NULL;

-- The targets a ticket's SLA was last evaluated with: `contract:<id>:<response>:<resolution>`,
-- or `company`. A change is recorded as a `retargeted` SLA event.
ALTER TABLE tickets ADD COLUMN sla_source text;

-- SLA events: besides the warning and breach reached (once each, ever),
-- every change of a running ticket's targets.
ALTER TABLE sla_events DROP CONSTRAINT sla_events_state_check;
ALTER TABLE sla_events ADD CONSTRAINT sla_events_state_check
    CHECK (state IN ('warning', 'breached', 'retargeted'));
ALTER TABLE sla_events DROP CONSTRAINT sla_events_ticket_id_target_state_key;
CREATE UNIQUE INDEX sla_events_once_key ON sla_events (ticket_id, target, state)
    WHERE state IN ('warning', 'breached');

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['contracts', 'contract_sla_targets', 'contract_expiry_alerts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;

-- Existing companies get the daily contract expiry warnings new ones start
-- with, in their own time zone.
INSERT INTO schedules (id, company_id, name, kind, cron, time_zone, payload, enabled, fired_through,
                       next_fire_at, created_at, updated_at, follows_company_time_zone)
SELECT gen_random_uuid(), c.id, 'contract expiry', 'contracts.expiry_warnings', '0 8 * * *', c.time_zone,
       '{}'::jsonb, true, now(), now(), now(), now(), true
FROM companies c
ON CONFLICT DO NOTHING;
