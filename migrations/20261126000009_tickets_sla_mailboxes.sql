-- Tickets with replies, notes and attachments; SLA policies and holidays;
-- IMAP mailboxes and every message they delivered.

-- Senders from a client's registered e-mail domains belong to that client.
ALTER TABLE clients ADD COLUMN email_domains text[] NOT NULL DEFAULT '{}';
CREATE INDEX clients_email_domains_idx ON clients USING gin (email_domains);
-- Senders are matched to contacts by address.
CREATE INDEX contacts_email_idx ON contacts (company_id, lower(email));

-- Per-tenant IMAP mailboxes. The checkpoint is (uidvalidity, last_uid),
-- never the \Seen flag.
CREATE TABLE mailboxes (
    id               uuid PRIMARY KEY,
    company_id       uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    name             text NOT NULL,
    -- The support address people write to; mail from it is our own.
    address          text NOT NULL,
    host             text NOT NULL,
    port             int NOT NULL CHECK (port BETWEEN 1 AND 65535),
    tls              text NOT NULL CHECK (tls IN ('none', 'starttls', 'tls')),
    username         text NOT NULL,
    -- AES-256-GCM: nonce || ciphertext, the tenant bound as associated data.
    password_enc     bytea NOT NULL,
    folder           text NOT NULL DEFAULT 'INBOX',
    -- What to do with mail from a sender who is neither a contact nor of a
    -- client's domain: open a ticket without client, or quarantine it.
    unknown_senders  text NOT NULL DEFAULT 'triage' CHECK (unknown_senders IN ('triage', 'quarantine')),
    -- A reply to a closed ticket opens a new linked ticket, or reopens it.
    closed_replies   text NOT NULL DEFAULT 'new_ticket' CHECK (closed_replies IN ('new_ticket', 'reopen')),
    enabled          boolean NOT NULL DEFAULT true,
    uidvalidity      bigint,
    last_uid         bigint NOT NULL DEFAULT 0,
    last_polled_at   timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
-- A mailbox belongs to exactly one tenant.
CREATE UNIQUE INDEX mailboxes_account_key ON mailboxes (lower(host), port, lower(username), folder);
CREATE INDEX mailboxes_company_idx ON mailboxes (company_id, lower(name), id);

CREATE TABLE tickets (
    id                  uuid PRIMARY KEY,
    company_id          uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    number              bigint NOT NULL,
    -- With the number, the subject token [#number-code]; the code keeps a
    -- token from matching another tenant's ticket of the same number.
    token_code          text NOT NULL,
    subject             text NOT NULL,
    client_id           uuid REFERENCES clients(id),
    contact_id          uuid REFERENCES contacts(id) ON DELETE SET NULL,
    -- Assets arrive with their own issue; the column waits for them.
    asset_id            uuid,
    requester_email     text,
    requester_name      text,
    status              text NOT NULL CHECK (status IN ('new', 'open', 'in_progress', 'waiting_on_client', 'resolved', 'closed')),
    priority            text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    assignee_id         uuid REFERENCES users(id) ON DELETE SET NULL,
    source              text NOT NULL CHECK (source IN ('api', 'email')),
    tags                text[] NOT NULL DEFAULT '{}',
    mailbox_id          uuid REFERENCES mailboxes(id) ON DELETE SET NULL,
    -- A reply to a closed ticket opens a new one that points at it.
    linked_ticket_id    uuid REFERENCES tickets(id) ON DELETE SET NULL,
    first_response_at   timestamptz,
    resolved_at         timestamptz,
    closed_at           timestamptz,
    sla_response_due    timestamptz,
    sla_resolution_due  timestamptz,
    sla_response_state  text CHECK (sla_response_state IN ('ok', 'warning', 'breached')),
    sla_resolution_state text CHECK (sla_resolution_state IN ('ok', 'warning', 'breached')),
    -- The worse of the two; NULL without a policy.
    sla_state           text CHECK (sla_state IN ('ok', 'warning', 'breached')),
    sla_checked_at      timestamptz,
    search              tsvector GENERATED ALWAYS AS (to_tsvector('simple', subject)) STORED,
    created_at          timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    UNIQUE (company_id, number)
);
CREATE INDEX tickets_company_idx ON tickets (company_id, created_at DESC, id DESC);
CREATE INDEX tickets_status_idx ON tickets (company_id, status);
CREATE INDEX tickets_client_idx ON tickets (company_id, client_id);
CREATE INDEX tickets_assignee_idx ON tickets (company_id, assignee_id);
CREATE INDEX tickets_search_idx ON tickets USING gin (search);

-- Incoming mail, staff replies (mailed to the contact) and internal notes.
CREATE TABLE ticket_messages (
    id               uuid PRIMARY KEY,
    company_id       uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    ticket_id        uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('incoming', 'reply', 'note')),
    author_id        uuid REFERENCES users(id) ON DELETE SET NULL,
    from_address     text,
    from_name        text,
    -- The new text; for mail, without its quoted history.
    body             text NOT NULL,
    -- Everything, quoted history included.
    full_body        text NOT NULL,
    -- RFC 5322 Message-ID: the sender's for incoming mail, ours for replies.
    message_id       text,
    inbound_id       uuid,
    mail_id          uuid,
    -- Why an incoming message was never answered (auto-reply, bounce...).
    automated        text,
    search           tsvector GENERATED ALWAYS AS (to_tsvector('simple', left(body, 100000))) STORED,
    created_at       timestamptz NOT NULL
);
CREATE INDEX ticket_messages_ticket_idx ON ticket_messages (ticket_id, created_at, id);
CREATE INDEX ticket_messages_message_id_idx ON ticket_messages (company_id, message_id) WHERE message_id IS NOT NULL;
CREATE INDEX ticket_messages_search_idx ON ticket_messages USING gin (search);

CREATE TABLE ticket_attachments (
    id            uuid PRIMARY KEY,
    company_id    uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    ticket_id     uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    message_id    uuid NOT NULL REFERENCES ticket_messages(id) ON DELETE CASCADE,
    filename      text NOT NULL,
    content_type  text NOT NULL,
    size_bytes    bigint NOT NULL,
    object_key    text NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX ticket_attachments_message_idx ON ticket_attachments (message_id);

-- Each status change, for the SLA clock's pauses and for people to read.
CREATE TABLE ticket_status_changes (
    id           bigserial PRIMARY KEY,
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    ticket_id    uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    from_status  text,
    to_status    text NOT NULL,
    user_id      uuid REFERENCES users(id) ON DELETE SET NULL,
    at           timestamptz NOT NULL
);
CREATE INDEX ticket_status_changes_ticket_idx ON ticket_status_changes (ticket_id, at, id);

-- One policy per priority. Business hours NULL: around the clock.
CREATE TABLE sla_policies (
    id                      uuid PRIMARY KEY,
    company_id              uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    priority                text NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    first_response_minutes  int NOT NULL CHECK (first_response_minutes > 0),
    resolution_minutes      int NOT NULL CHECK (resolution_minutes > 0),
    warn_percent            int NOT NULL DEFAULT 80 CHECK (warn_percent BETWEEN 1 AND 99),
    business_hours          jsonb,
    use_holidays            boolean NOT NULL DEFAULT true,
    pause_statuses          text[] NOT NULL DEFAULT '{waiting_on_client}',
    created_at              timestamptz NOT NULL,
    updated_at              timestamptz NOT NULL,
    UNIQUE (company_id, priority)
);

CREATE TABLE holidays (
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    day         date NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (company_id, day)
);

-- Each SLA state a ticket reached, once: the notification goes with it.
CREATE TABLE sla_events (
    id          bigserial PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    ticket_id   uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    target      text NOT NULL CHECK (target IN ('response', 'resolution')),
    state       text NOT NULL CHECK (state IN ('warning', 'breached')),
    due_at      timestamptz,
    at          timestamptz NOT NULL,
    mail_id     uuid,
    UNIQUE (ticket_id, target, state)
);
CREATE INDEX sla_events_company_idx ON sla_events (company_id, at DESC);

-- Every message a mailbox delivered, once per (mailbox, content hash): the
-- raw bytes in the object store, and what became of it.
CREATE TABLE inbound_messages (
    id            uuid PRIMARY KEY,
    company_id    uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    mailbox_id    uuid NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    uidvalidity   bigint NOT NULL,
    uid           bigint NOT NULL,
    message_id    text,
    content_hash  text NOT NULL,
    raw_key       text NOT NULL,
    size_bytes    bigint NOT NULL,
    from_address  text,
    subject       text,
    outcome       text NOT NULL CHECK (outcome IN ('ticket', 'reply', 'quarantined')),
    ticket_id     uuid REFERENCES tickets(id) ON DELETE SET NULL,
    reason        text,
    automated     text,
    attempts      int NOT NULL DEFAULT 1,
    received_at   timestamptz NOT NULL,
    processed_at  timestamptz NOT NULL,
    UNIQUE (mailbox_id, content_hash)
);
CREATE INDEX inbound_messages_quarantine_idx ON inbound_messages (mailbox_id, received_at DESC, id DESC) WHERE outcome = 'quarantined';
CREATE INDEX inbound_messages_message_id_idx ON inbound_messages (company_id, message_id) WHERE message_id IS NOT NULL;

-- Automatic answers sent, per recipient: the rate limit of acknowledgements.
CREATE TABLE auto_replies (
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    address     text NOT NULL,
    sent_at     timestamptz NOT NULL
);
CREATE INDEX auto_replies_idx ON auto_replies (company_id, address, sent_at);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['mailboxes', 'tickets', 'ticket_messages', 'ticket_attachments',
                             'ticket_status_changes', 'sla_policies', 'holidays', 'sla_events',
                             'inbound_messages', 'auto_replies'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;
GRANT USAGE ON SEQUENCE ticket_status_changes_id_seq, sla_events_id_seq TO nestogy_app;

-- Existing companies get the schedules new ones start with: mailbox polls
-- every minute, SLA checks every five.
INSERT INTO schedules (id, company_id, name, kind, cron, time_zone, payload, enabled, fired_through,
                       next_fire_at, created_at, updated_at)
SELECT gen_random_uuid(), c.id, s.name, s.kind, s.cron, c.time_zone, '{}'::jsonb, true, now(), now(), now(), now()
FROM companies c
CROSS JOIN (VALUES ('mailbox polls', 'mailboxes.poll_all', '* * * * *'),
                   ('sla checks', 'tickets.sla_check', '*/5 * * * *')) AS s(name, kind, cron)
ON CONFLICT DO NOTHING;
