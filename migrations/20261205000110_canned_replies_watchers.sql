-- Canned replies: texts with placeholders staff insert into replies.
-- `company` replies are shared (admins write them, everyone reads them);
-- `personal` replies belong to `owner_id` alone.
CREATE TABLE canned_replies (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 20000),
    scope       text NOT NULL CHECK (scope IN ('company', 'personal')),
    owner_id    uuid REFERENCES users(id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CHECK ((scope = 'personal') = (owner_id IS NOT NULL))
);
CREATE INDEX canned_replies_company_idx ON canned_replies (company_id, id DESC);

-- Watchers of a ticket: staff users or contacts of the ticket's client who
-- receive its public replies and status changes. Exactly one of user_id and
-- contact_id; each person once per ticket.
CREATE TABLE ticket_watchers (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    ticket_id   uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    user_id     uuid REFERENCES users(id) ON DELETE CASCADE,
    contact_id  uuid REFERENCES contacts(id) ON DELETE CASCADE,
    added_by    uuid REFERENCES users(id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    CHECK ((user_id IS NULL) <> (contact_id IS NULL))
);
CREATE UNIQUE INDEX ticket_watchers_user_idx ON ticket_watchers (ticket_id, user_id) WHERE user_id IS NOT NULL;
CREATE UNIQUE INDEX ticket_watchers_contact_idx ON ticket_watchers (ticket_id, contact_id) WHERE contact_id IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['canned_replies', 'ticket_watchers'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;
