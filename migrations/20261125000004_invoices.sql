-- Money, part two: invoices, their lines, and gapless number sequences.

CREATE TABLE number_sequences (
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    kind        text NOT NULL,
    -- What the counter restarts for: a year, a month, or 'all'.
    scope       text NOT NULL,
    last_value  bigint NOT NULL,
    PRIMARY KEY (company_id, kind, scope)
);

CREATE TABLE invoices (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id       uuid NOT NULL REFERENCES clients(id) ON DELETE RESTRICT,
    number          text,
    status          text NOT NULL CHECK (status IN ('draft', 'sent', 'partially_paid', 'paid', 'overdue', 'void')),
    currency        char(3) NOT NULL,
    issue_date      date NOT NULL,
    due_date        date NOT NULL,
    discount        jsonb,
    notes           text,
    terms           text,
    subtotal        numeric(18, 4) NOT NULL,
    discount_total  numeric(18, 4) NOT NULL,
    tax_total       numeric(18, 4) NOT NULL,
    total           numeric(18, 4) NOT NULL,
    amount_paid     numeric(18, 4) NOT NULL DEFAULT 0,
    duplicated_from uuid REFERENCES invoices(id) ON DELETE SET NULL,
    finalized_at    timestamptz,
    voided_at       timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (due_date >= issue_date),
    CHECK ((status = 'draft') = (number IS NULL))
);
CREATE UNIQUE INDEX invoices_number_key ON invoices (company_id, number) WHERE number IS NOT NULL;
CREATE INDEX invoices_company_idx ON invoices (company_id, id DESC);
CREATE INDEX invoices_client_idx ON invoices (company_id, client_id, issue_date);

CREATE TABLE invoice_lines (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    invoice_id  uuid NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    position    int NOT NULL,
    product_id  uuid REFERENCES products(id) ON DELETE SET NULL,
    description text NOT NULL,
    quantity    numeric(18, 4) NOT NULL,
    unit_price  numeric(18, 4) NOT NULL,
    discount    jsonb,
    -- The taxes as applied: a copy, so later rate changes leave it alone.
    taxes       jsonb NOT NULL,
    gross       numeric(18, 4) NOT NULL,
    discount_amount numeric(18, 4) NOT NULL,
    net         numeric(18, 4) NOT NULL,
    tax         numeric(18, 4) NOT NULL,
    total       numeric(18, 4) NOT NULL,
    UNIQUE (invoice_id, position)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['number_sequences', 'invoices', 'invoice_lines']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) '
                       'WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END
$$;
