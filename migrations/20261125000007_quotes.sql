-- Money, part five: quotes.

CREATE TABLE quotes (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id       uuid NOT NULL REFERENCES clients(id) ON DELETE RESTRICT,
    number          text,
    status          text NOT NULL CHECK (status IN ('draft', 'sent', 'accepted', 'declined', 'expired', 'converted')),
    currency        char(3) NOT NULL,
    issue_date      date NOT NULL,
    valid_until     date NOT NULL,
    -- The request as entered (re-priced on conversion) and the priced lines shown.
    request         jsonb NOT NULL,
    lines           jsonb NOT NULL,
    subtotal        numeric(18, 4) NOT NULL,
    discount_total  numeric(18, 4) NOT NULL,
    tax_total       numeric(18, 4) NOT NULL,
    total           numeric(18, 4) NOT NULL,
    invoice_id      uuid REFERENCES invoices(id) ON DELETE SET NULL,
    sent_at         timestamptz,
    decided_at      timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (valid_until >= issue_date),
    CHECK ((status = 'draft') = (number IS NULL))
);
CREATE UNIQUE INDEX quotes_number_key ON quotes (company_id, number) WHERE number IS NOT NULL;
CREATE INDEX quotes_company_idx ON quotes (company_id, id DESC);

ALTER TABLE invoices ADD COLUMN quote_id uuid REFERENCES quotes(id) ON DELETE SET NULL;

ALTER TABLE quotes ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON quotes USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON quotes TO nestogy_app;
