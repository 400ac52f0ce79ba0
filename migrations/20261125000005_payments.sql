-- Money, part three: payments, refunds and client credit.

CREATE TABLE payments (
    id                  uuid PRIMARY KEY,
    company_id          uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id           uuid NOT NULL REFERENCES clients(id) ON DELETE RESTRICT,
    invoice_id          uuid NOT NULL REFERENCES invoices(id) ON DELETE RESTRICT,
    kind                text NOT NULL CHECK (kind IN ('payment', 'refund')),
    -- For a refund: the payment it gives back.
    refund_of           uuid REFERENCES payments(id) ON DELETE RESTRICT,
    currency            char(3) NOT NULL,
    -- What changed hands; always positive.
    amount              numeric(18, 4) NOT NULL CHECK (amount > 0),
    -- The part that went to (or, for a refund, came off) the invoice; the
    -- rest of a payment became client credit.
    applied             numeric(18, 4) NOT NULL CHECK (applied >= 0 AND applied <= amount),
    method              text NOT NULL,
    reference           text,
    paid_on             date NOT NULL,
    created_at          timestamptz NOT NULL
);
CREATE INDEX payments_invoice_idx ON payments (company_id, invoice_id);
CREATE INDEX payments_client_idx ON payments (company_id, client_id, paid_on);

-- Client credit as a ledger: + from overpayments, − when applied to an invoice.
CREATE TABLE client_credits (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE RESTRICT,
    currency    char(3) NOT NULL,
    amount      numeric(18, 4) NOT NULL CHECK (amount <> 0),
    payment_id  uuid REFERENCES payments(id) ON DELETE RESTRICT,
    invoice_id  uuid REFERENCES invoices(id) ON DELETE RESTRICT,
    on_date     date NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX client_credits_client_idx ON client_credits (company_id, client_id, currency);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['payments', 'client_credits']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) '
                       'WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END
$$;
