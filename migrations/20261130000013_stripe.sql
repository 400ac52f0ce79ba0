-- Stripe: per-tenant keys, payment links, the events Stripe sends, autopay.

-- A tenant's Stripe account: keys sealed with the tenant as associated data.
CREATE TABLE company_stripe (
    company_id          uuid PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    secret_key_enc      bytea NOT NULL,
    -- The key's last four characters, to tell keys apart.
    secret_key_last4    text NOT NULL,
    -- `test` or `live` (restricted keys say which in their prefix too).
    mode                text NOT NULL CHECK (mode IN ('test', 'live')),
    webhook_secret_enc  bytea,
    updated_at          timestamptz NOT NULL
);

-- A payment recorded from another system names what it was there (a
-- Stripe PaymentIntent): one payment per reference, whichever event brings it.
ALTER TABLE payments ADD COLUMN external_ref text;
CREATE UNIQUE INDEX payments_external_ref_key ON payments (company_id, external_ref)
    WHERE external_ref IS NOT NULL;

-- A Checkout Session for an invoice's balance.
CREATE TABLE payment_links (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    invoice_id  uuid NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    status      text NOT NULL CHECK (status IN ('pending', 'ready', 'failed')),
    currency    char(3) NOT NULL,
    amount      numeric(18, 4) NOT NULL CHECK (amount > 0),
    session_id  text,
    url         text,
    error       text,
    job_id      uuid,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX payment_links_invoice_idx ON payment_links (company_id, invoice_id, created_at);

-- Every Stripe event received, once per event id.
CREATE TABLE stripe_events (
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    event_id    text NOT NULL,
    type        text NOT NULL,
    -- `recorded`, `duplicate_payment`, `ignored`, `refunded`, `unmatched`.
    outcome     text NOT NULL,
    payment_id  uuid REFERENCES payments(id) ON DELETE SET NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (company_id, event_id)
);

-- A recurring template's saved payment method: its invoices are charged on
-- their due date.
CREATE TABLE autopay_methods (
    recurring_id        uuid PRIMARY KEY REFERENCES recurring_invoices(id) ON DELETE CASCADE,
    company_id          uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    customer_id         text NOT NULL,
    payment_method_id   text NOT NULL,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);
CREATE INDEX autopay_methods_company_idx ON autopay_methods (company_id);

-- One row per charge attempt, written (and committed) before Stripe is
-- called: its idempotency key is what makes a retried call charge once.
CREATE TABLE autopay_attempts (
    id                  uuid PRIMARY KEY,
    company_id          uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    invoice_id          uuid NOT NULL REFERENCES invoices(id) ON DELETE CASCADE,
    attempt             int NOT NULL CHECK (attempt >= 1),
    status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    idempotency_key     text NOT NULL,
    currency            char(3) NOT NULL,
    amount              numeric(18, 4) NOT NULL CHECK (amount > 0),
    payment_intent_id   text,
    error_code          text,
    error_message       text,
    -- For a failed attempt: when the next one is due (none: given up).
    next_attempt_on     date,
    -- When a call of this attempt first went unanswered after it may have
    -- reached Stripe (a timeout, a 5xx): past the key's lifetime it is not
    -- sent again.
    uncertain_since     timestamptz,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (company_id, invoice_id, attempt)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['company_stripe', 'payment_links', 'stripe_events', 'autopay_methods',
                             'autopay_attempts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) '
                       'WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;

-- Existing companies get the daily autopay run new ones start with.
INSERT INTO schedules (id, company_id, name, kind, cron, time_zone, payload, enabled, fired_through,
                       next_fire_at, created_at, updated_at)
SELECT gen_random_uuid(), c.id, 'autopay', 'stripe.autopay', '0 10 * * *', c.time_zone, '{}'::jsonb, true,
       now(), now(), now(), now()
FROM companies c
ON CONFLICT DO NOTHING;
