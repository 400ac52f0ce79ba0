-- Ticket templates, checklists on tickets and recurring tickets (issue 24 §2).

-- A template: what a ticket opened from it starts with, its checklist as
-- an array of {"text", "required"}.
CREATE TABLE ticket_templates (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    subject      text NOT NULL,
    description  text,
    priority     text NOT NULL,
    tags         text[] NOT NULL DEFAULT '{}',
    checklist    jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX ticket_templates_company_name_key ON ticket_templates (company_id, lower(name));

-- A ticket's checklist. The ticket keeps the counts (total, done, required
-- and not done) beside it, written with every change of its items.
CREATE TABLE ticket_checklist_items (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    ticket_id   uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    text        text NOT NULL,
    required    boolean NOT NULL,
    done        boolean NOT NULL DEFAULT false,
    done_by     uuid REFERENCES users(id) ON DELETE SET NULL,
    done_at     timestamptz,
    position    int NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX ticket_checklist_items_ticket_idx ON ticket_checklist_items (company_id, ticket_id, position);
ALTER TABLE tickets
    ADD COLUMN checklist_total int NOT NULL DEFAULT 0,
    ADD COLUMN checklist_done int NOT NULL DEFAULT 0,
    ADD COLUMN checklist_open_required int NOT NULL DEFAULT 0;

-- A recurring ticket: a template opened for a client on a schedule. Its
-- schedule (kind `tickets.recurring`) is a row of `schedules`, made and
-- kept in step with it, so the scheduler's one-fire-per-tick rule holds.
CREATE TABLE recurring_tickets (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    template_id     uuid NOT NULL REFERENCES ticket_templates(id) ON DELETE RESTRICT,
    client_id       uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    asset_id        uuid REFERENCES assets(id) ON DELETE SET NULL,
    schedule_id     uuid NOT NULL UNIQUE REFERENCES schedules(id) ON DELETE RESTRICT,
    cron            text NOT NULL,
    skip_if_open    boolean NOT NULL,
    enabled         boolean NOT NULL,
    last_fire_at    timestamptz,
    last_outcome    text CHECK (last_outcome IN ('opened', 'skipped_open')),
    last_ticket_id  uuid REFERENCES tickets(id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX recurring_tickets_company_idx ON recurring_tickets (company_id, id);
CREATE INDEX recurring_tickets_template_idx ON recurring_tickets (template_id);

-- One row per (recurring ticket, fire time): the job that handles a fire
-- opens its ticket at most once, however often it runs.
CREATE TABLE recurring_ticket_fires (
    recurring_ticket_id  uuid NOT NULL REFERENCES recurring_tickets(id) ON DELETE CASCADE,
    fire_at              timestamptz NOT NULL,
    company_id           uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    outcome              text NOT NULL CHECK (outcome IN ('opened', 'skipped_open')),
    ticket_id            uuid REFERENCES tickets(id) ON DELETE SET NULL,
    handled_at           timestamptz NOT NULL,
    PRIMARY KEY (recurring_ticket_id, fire_at)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['ticket_templates', 'ticket_checklist_items', 'recurring_tickets',
                             'recurring_ticket_fires']
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I '
                       'USING (company_id = app_company_id()) '
                       'WITH CHECK (company_id = app_company_id())', t);
    END LOOP;
END
$$;

-- A recurring ticket's schedule goes with it, also when its client is
-- deleted (the cascade deletes the recurring ticket).
CREATE FUNCTION recurring_tickets_drop_schedule() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM schedules WHERE id = OLD.schedule_id;
    RETURN OLD;
END
$$;
CREATE TRIGGER recurring_tickets_drop_schedule AFTER DELETE ON recurring_tickets
    FOR EACH ROW EXECUTE FUNCTION recurring_tickets_drop_schedule();
