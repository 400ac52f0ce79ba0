-- Money, part one: the catalogue. Tax rates, products and payment terms.

CREATE TABLE tax_rates (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    name        text NOT NULL,
    percent     numeric(9, 4) NOT NULL CHECK (percent >= 0 AND percent <= 100),
    inclusive   boolean NOT NULL DEFAULT false,
    compound    boolean NOT NULL DEFAULT false,
    archived_at timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CHECK (NOT (inclusive AND compound))
);
CREATE UNIQUE INDEX tax_rates_name_key ON tax_rates (company_id, lower(name));

CREATE TABLE products (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    name         text NOT NULL,
    description  text,
    unit_price   numeric(18, 4) NOT NULL CHECK (unit_price >= 0),
    tax_rate_ids uuid[] NOT NULL DEFAULT '{}',
    archived_at  timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX products_name_key ON products (company_id, lower(name));

CREATE TABLE payment_terms (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    name        text NOT NULL,
    days        int NOT NULL CHECK (days BETWEEN 0 AND 365),
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX payment_terms_name_key ON payment_terms (company_id, lower(name));

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tax_rates', 'products', 'payment_terms']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) '
                       'WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END
$$;
