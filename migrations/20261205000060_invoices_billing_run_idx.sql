-- The invoices a billing run created, for its summary
-- (GET /api/v1/invoices?billing_run_id=...).
CREATE INDEX invoices_billing_run_idx ON invoices (company_id, billing_run_id, id DESC)
    WHERE billing_run_id IS NOT NULL;
