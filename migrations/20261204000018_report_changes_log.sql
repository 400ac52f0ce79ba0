-- The report change log takes no lock that concurrent writers can wait on.
--
-- It had a primary key on (company, area, day) and the triggers inserted
-- with ON CONFLICT DO NOTHING. Two transactions noting the same day then
-- wait on each other's uncommitted index entry; billing chunks note days in
-- different orders (and take the invoice number counter in between), so
-- three workers billing one tenant deadlocked on it (188 deadlocks, 35 of 40
-- chunks dead). A plain index never makes an insert wait: each trigger notes
-- a day unless it is already noted (as far as it can see), and the rare
-- duplicate two concurrent writers leave is harmless, since a run reads the
-- log as a set.
ALTER TABLE report_changes DROP CONSTRAINT report_changes_pkey;
CREATE INDEX report_changes_day_idx ON report_changes (company_id, area, day);

-- Notes each (company, day) pair of `area` that the log does not show yet.
CREATE FUNCTION report_changes_note(p_area text, p_companies uuid[], p_days date[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO report_changes (company_id, area, day)
    SELECT DISTINCT x.company_id, p_area, x.day
    FROM unnest(p_companies, p_days) AS x(company_id, day)
    WHERE x.day IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM report_changes r
                      WHERE r.company_id = x.company_id AND r.area = p_area AND r.day = x.day)
$$;

-- The same triggers as before (see 20261130000017_reports.sql for what each
-- notes), noting through that function. A transition table exists only for
-- its own event, hence the branches.
CREATE OR REPLACE FUNCTION report_changes_invoices() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM report_changes_note('finance', array_agg(company_id), array_agg(issue_date)) FROM new_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM report_changes_note('finance', array_agg(x.company_id), array_agg(x.day))
        FROM new_rows n JOIN old_rows o ON o.id = n.id,
             LATERAL (VALUES (n.company_id, n.issue_date), (o.company_id, o.issue_date)) x(company_id, day)
        WHERE (n.status IN ('draft', 'void'), n.status = 'void', n.issue_date, n.total, n.subtotal,
               n.client_id, n.currency)
              IS DISTINCT FROM
              (o.status IN ('draft', 'void'), o.status = 'void', o.issue_date, o.total, o.subtotal,
               o.client_id, o.currency);
    ELSE
        PERFORM report_changes_note('finance', array_agg(company_id), array_agg(issue_date)) FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION report_changes_payments() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM report_changes_note('finance', array_agg(company_id), array_agg(paid_on)) FROM new_rows;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM report_changes_note('finance', array_agg(company_id), array_agg(paid_on)) FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION report_changes_credits() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM report_changes_note('finance', array_agg(company_id), array_agg(on_date)) FROM new_rows;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM report_changes_note('finance', array_agg(company_id), array_agg(on_date)) FROM old_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION report_changes_tickets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM report_changes_note('service', array_agg(n.company_id), array_agg((d AT TIME ZONE 'UTC')::date))
        FROM new_rows n, unnest(ARRAY[n.created_at, n.first_response_at, n.resolved_at]) d;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM report_changes_note('service', array_agg(n.company_id), array_agg((d AT TIME ZONE 'UTC')::date))
        FROM new_rows n JOIN old_rows o ON o.id = n.id,
             unnest(ARRAY[n.created_at, n.first_response_at, n.resolved_at,
                          o.created_at, o.first_response_at, o.resolved_at]) d
        WHERE (n.created_at, n.first_response_at, n.resolved_at, n.priority, n.client_id, n.source,
               n.assignee_id, n.sla_response_due, n.sla_resolution_due, n.sla_response_state,
               n.sla_resolution_state)
              IS DISTINCT FROM
              (o.created_at, o.first_response_at, o.resolved_at, o.priority, o.client_id, o.source,
               o.assignee_id, o.sla_response_due, o.sla_resolution_due, o.sla_response_state,
               o.sla_resolution_state);
    ELSE
        PERFORM report_changes_note('service', array_agg(o.company_id), array_agg((d AT TIME ZONE 'UTC')::date))
        FROM old_rows o, unnest(ARRAY[o.created_at, o.first_response_at, o.resolved_at]) d;
    END IF;
    RETURN NULL;
END $$;

-- Each chunk a billing run fanned out: its job, its templates and how many
-- periods they had due. A run's summary shows from them the chunks that
-- are dead or still retrying, with their errors, and the periods they hold.
-- Written with the chunks' job rows, in the workers' platform transaction.
CREATE TABLE billing_run_chunks (
    run_id          uuid NOT NULL REFERENCES billing_runs(id) ON DELETE CASCADE,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    first_template  uuid NOT NULL,
    job_id          uuid NOT NULL,
    templates       uuid[] NOT NULL,
    periods         int NOT NULL,
    PRIMARY KEY (run_id, first_template)
);
ALTER TABLE billing_run_chunks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON billing_run_chunks
    USING (company_id = app_company_id() OR app_is_system())
    WITH CHECK (company_id = app_company_id() OR app_is_system());
GRANT SELECT, INSERT, UPDATE, DELETE ON billing_run_chunks TO nestogy_app;

-- Periods due when the run looked (the sum over its chunks).
ALTER TABLE billing_runs ADD COLUMN periods int;
