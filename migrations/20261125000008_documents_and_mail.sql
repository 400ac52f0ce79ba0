-- Documents rendered to PDF, outbound mail, reminders.

-- Branding shown on every document.
ALTER TABLE companies ADD COLUMN branding jsonb NOT NULL DEFAULT '{}'::jsonb;
CREATE TABLE company_logos (
    company_id    uuid PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    content_type  text NOT NULL CHECK (content_type IN ('image/png', 'image/svg+xml')),
    bytes         bytea NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- A tenant's own SMTP server; without one the global default (or the outbox) is used.
CREATE TABLE company_smtp (
    company_id      uuid PRIMARY KEY REFERENCES companies(id) ON DELETE CASCADE,
    host            text NOT NULL,
    port            int NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls             text NOT NULL CHECK (tls IN ('none', 'starttls', 'tls')),
    username        text,
    -- AES-256-GCM: nonce || ciphertext, under the key from the environment.
    password_enc    bytea,
    from_address    text NOT NULL,
    from_name       text,
    updated_at      timestamptz NOT NULL
);

-- Billing contacts receive invoices, statements and reminders.
ALTER TABLE contacts ADD COLUMN is_billing boolean NOT NULL DEFAULT false;

-- The current rendering of each document: the object-store key of a PDF and
-- the digest of the data it was rendered from. A changed document has a new
-- digest, so a stale PDF is never served as current.
CREATE TABLE documents (
    company_id    uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('invoice', 'quote', 'statement')),
    subject_id    uuid NOT NULL,
    -- For statements, the period; empty for invoices and quotes.
    variant       text NOT NULL DEFAULT '',
    data_digest   text NOT NULL,
    object_key    text NOT NULL,
    size_bytes    bigint NOT NULL,
    rendered_at   timestamptz NOT NULL,
    PRIMARY KEY (company_id, kind, subject_id, variant)
);

-- Every message we send: its own Message-ID (the registry replies are
-- threaded by), what it is about, and its delivery state.
CREATE TABLE mail_messages (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    -- One message per (what, why): e.g. invoice:<id>:send:<request>, invoice:<id>:reminder:7.
    dedupe_key      text NOT NULL,
    message_id      text NOT NULL,
    template        text NOT NULL,
    subject_kind    text,
    subject_id      uuid,
    recipients      text[] NOT NULL,
    subject         text NOT NULL,
    -- What the template needs besides the subject: reminder days, a statement's period.
    params          jsonb NOT NULL DEFAULT '{}'::jsonb,
    status          text NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'cancelled')),
    attempts        int NOT NULL DEFAULT 0,
    last_response   text,
    job_id          uuid,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    updated_at      timestamptz NOT NULL
);
CREATE UNIQUE INDEX mail_messages_dedupe_key ON mail_messages (company_id, dedupe_key);
CREATE UNIQUE INDEX mail_messages_message_id_key ON mail_messages (message_id);
CREATE INDEX mail_messages_company_idx ON mail_messages (company_id, created_at DESC, id DESC);
CREATE INDEX mail_messages_subject_idx ON mail_messages (company_id, subject_kind, subject_id);

-- Each delivery attempt and the server's answer.
CREATE TABLE mail_attempts (
    id            bigserial PRIMARY KEY,
    company_id    uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    message_id    uuid NOT NULL REFERENCES mail_messages(id) ON DELETE CASCADE,
    attempt       int NOT NULL,
    outcome       text NOT NULL CHECK (outcome IN ('sent', 'temporary', 'permanent')),
    response      text,
    at            timestamptz NOT NULL
);
CREATE INDEX mail_attempts_message_idx ON mail_attempts (message_id, attempt);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['company_logos', 'company_smtp', 'documents', 'mail_messages', 'mail_attempts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;
GRANT USAGE ON SEQUENCE mail_attempts_id_seq TO nestogy_app;

-- Existing companies get the daily reminder schedule new ones start with.
INSERT INTO schedules (id, company_id, name, kind, cron, time_zone, payload, enabled, fired_through,
                       next_fire_at, created_at, updated_at)
SELECT gen_random_uuid(), c.id, 'payment reminders', 'billing.remind', '0 9 * * *', c.time_zone, '{}'::jsonb, true,
       now(), now(), now(), now()
FROM companies c
ON CONFLICT DO NOTHING;
