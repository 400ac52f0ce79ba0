-- Reports: snapshots the workers compute, and the days whose data changed
-- since (so a nightly run recomputes only those periods).

-- When a template was paused, for MRR history (cleared on resume).
ALTER TABLE recurring_invoices ADD COLUMN paused_at timestamptz;
UPDATE recurring_invoices SET paused_at = updated_at WHERE status = 'paused';

-- One row of one report: `period` is the day, the Monday of the week, the
-- first of the month, or the as-of date of a point-in-time report; `key`
-- tells rows of one period apart (a currency, a client and currency, a
-- priority, ...; '' when there is one row per period).
CREATE TABLE report_rows (
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    report      text NOT NULL,
    period      date NOT NULL,
    key         text NOT NULL,
    client_id   uuid,
    data        jsonb NOT NULL,
    PRIMARY KEY (company_id, report, period, key)
);
CREATE INDEX report_rows_client_idx ON report_rows (company_id, report, client_id, period) WHERE client_id IS NOT NULL;

-- When each report was last computed, and how.
CREATE TABLE report_snapshots (
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    report       text NOT NULL,
    computed_at  timestamptz NOT NULL,
    as_of        date NOT NULL,
    mode         text NOT NULL CHECK (mode IN ('full', 'incremental')),
    periods      int NOT NULL,
    duration_ms  int NOT NULL,
    PRIMARY KEY (company_id, report)
);

-- Days whose data changed since the last run: finance days are the dates
-- on the documents (issue date, payment date, credit date); service days
-- are UTC dates of ticket timestamps (a UTC day touches the local days
-- either side of it).
CREATE TABLE report_changes (
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    area        text NOT NULL CHECK (area IN ('finance', 'service')),
    day         date NOT NULL,
    PRIMARY KEY (company_id, area, day)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['report_rows', 'report_snapshots', 'report_changes']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) '
                       'WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END
$$;

-- Statement-level triggers note the changed days: one INSERT per statement,
-- however many rows it touched. A trigger with transition tables takes one
-- event, hence three per table.
-- An invoice counts in its month of issue once finalized and until voided
-- (an invoice with payments cannot be voided). Its payments count on their
-- own dates, so an update that only moves its status among sent, partly
-- paid, paid and overdue, or its amount paid, notes nothing.
CREATE FUNCTION report_changes_invoices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT company_id, 'finance', issue_date FROM new_rows ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT x.company_id, 'finance', x.day
        FROM new_rows n JOIN old_rows o ON o.id = n.id,
             LATERAL (VALUES (n.company_id, n.issue_date), (o.company_id, o.issue_date)) x(company_id, day)
        WHERE (n.status IN ('draft', 'void'), n.status = 'void', n.issue_date, n.total, n.subtotal,
               n.client_id, n.currency)
              IS DISTINCT FROM
              (o.status IN ('draft', 'void'), o.status = 'void', o.issue_date, o.total, o.subtotal,
               o.client_id, o.currency)
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT company_id, 'finance', issue_date FROM old_rows ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION report_changes_payments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT company_id, 'finance', paid_on FROM new_rows ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT company_id, 'finance', paid_on FROM old_rows ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION report_changes_credits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT company_id, 'finance', on_date FROM new_rows ON CONFLICT DO NOTHING;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT company_id, 'finance', on_date FROM old_rows ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

-- A ticket counts on the day it was opened, first answered and resolved.
-- An update that changes none of what the reports read (the SLA check's
-- `sla_checked_at`, a subject) notes nothing; a target becoming breached
-- (the SLA check's state) does, since compliance counts it.
CREATE FUNCTION report_changes_tickets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT n.company_id, 'service', (d AT TIME ZONE 'UTC')::date
        FROM new_rows n, unnest(ARRAY[n.created_at, n.first_response_at, n.resolved_at]) d
        WHERE d IS NOT NULL ON CONFLICT DO NOTHING;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT n.company_id, 'service', (d AT TIME ZONE 'UTC')::date
        FROM new_rows n JOIN old_rows o ON o.id = n.id,
             unnest(ARRAY[n.created_at, n.first_response_at, n.resolved_at,
                          o.created_at, o.first_response_at, o.resolved_at]) d
        WHERE d IS NOT NULL
          AND (n.created_at, n.first_response_at, n.resolved_at, n.priority, n.client_id, n.source,
               n.assignee_id, n.sla_response_due, n.sla_resolution_due, n.sla_response_state,
               n.sla_resolution_state)
              IS DISTINCT FROM
              (o.created_at, o.first_response_at, o.resolved_at, o.priority, o.client_id, o.source,
               o.assignee_id, o.sla_response_due, o.sla_resolution_due, o.sla_response_state,
               o.sla_resolution_state)
        ON CONFLICT DO NOTHING;
    ELSE
        INSERT INTO report_changes (company_id, area, day)
        SELECT DISTINCT o.company_id, 'service', (d AT TIME ZONE 'UTC')::date
        FROM old_rows o, unnest(ARRAY[o.created_at, o.first_response_at, o.resolved_at]) d
        WHERE d IS NOT NULL ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END $$;

DO $$
DECLARE
    pair text[];
BEGIN
    FOREACH pair SLICE 1 IN ARRAY ARRAY[
        ARRAY['invoices', 'report_changes_invoices'],
        ARRAY['payments', 'report_changes_payments'],
        ARRAY['client_credits', 'report_changes_credits'],
        ARRAY['tickets', 'report_changes_tickets']]
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I()', pair[1] || '_report_ins', pair[1], pair[2]);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I()', pair[1] || '_report_upd', pair[1], pair[2]);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows '
                       'FOR EACH STATEMENT EXECUTE FUNCTION %I()', pair[1] || '_report_del', pair[1], pair[2]);
    END LOOP;
END
$$;

-- Resolution days are looked up by the incremental runs.
CREATE INDEX tickets_resolved_idx ON tickets (company_id, resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX tickets_first_response_idx ON tickets (company_id, first_response_at) WHERE first_response_at IS NOT NULL;
CREATE INDEX invoices_issue_idx ON invoices (company_id, issue_date);
-- The open invoices, for the ageing computed whole on every run.
CREATE INDEX invoices_open_idx ON invoices (company_id, client_id)
    WHERE status IN ('sent', 'partially_paid', 'overdue');
CREATE INDEX payments_paid_on_idx ON payments (company_id, paid_on);
CREATE INDEX client_credits_on_idx ON client_credits (company_id, on_date);

-- Existing companies get the nightly aggregation and the monthly
-- management report that new ones start with.
INSERT INTO schedules (id, company_id, name, kind, cron, time_zone, payload, enabled, fired_through,
                       next_fire_at, created_at, updated_at)
SELECT gen_random_uuid(), c.id, s.name, s.kind, s.cron, c.time_zone, '{}'::jsonb, true, now(), now(), now(), now()
FROM companies c,
     (VALUES ('report aggregation', 'reports.aggregate', '0 3 * * *'),
             ('management report', 'reports.management', '0 7 1 * *')) AS s(name, kind, cron)
ON CONFLICT DO NOTHING;
