-- A billing run accounts for every period it found due: a period another
-- run billed first is skipped naming that run (and the invoice).
ALTER TABLE billing_run_items ADD COLUMN billed_by_run uuid;

-- When a worker began the run (it is created when it is queued).
ALTER TABLE billing_runs ADD COLUMN started_at timestamptz;
UPDATE billing_runs SET started_at = fanned_out_at WHERE started_at IS NULL;


-- A run is marked fanned out in the platform transaction that records its
-- chunks' jobs (as billing_run_chunks already is).
DROP POLICY tenant_isolation ON billing_runs;
CREATE POLICY tenant_isolation ON billing_runs
    USING (company_id = app_company_id() OR app_is_system())
    WITH CHECK (company_id = app_company_id() OR app_is_system());
