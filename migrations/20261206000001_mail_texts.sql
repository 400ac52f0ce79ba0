-- A company's own texts for the messages the platform sends: one subject
-- and body (with {{placeholders}}) per kind of message. A kind without a
-- row is sent with the built-in text in the company's language.
CREATE TABLE mail_texts (
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    template    text NOT NULL,
    subject     text NOT NULL CHECK (length(subject) BETWEEN 1 AND 300),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    updated_by  uuid REFERENCES users(id) ON DELETE SET NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (company_id, template)
);

ALTER TABLE mail_texts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mail_texts
    USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON mail_texts TO nestogy_app;
