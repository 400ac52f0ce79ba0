-- Merging and splitting tickets.
--
-- A merged ticket is closed and points at the ticket it was merged into;
-- mail to its thread (its token, the Message-IDs of mail sent from it)
-- follows the pointer, through chains (B into A, A into C: B's mail lands
-- on C). Deleting the survivor leaves the merged ticket closed, without a
-- pointer.
ALTER TABLE tickets ADD COLUMN merged_into uuid REFERENCES tickets(id) ON DELETE SET NULL;
ALTER TABLE tickets ADD CONSTRAINT tickets_merged_into_other CHECK (merged_into <> id);
CREATE INDEX tickets_merged_into_idx ON tickets (company_id, merged_into) WHERE merged_into IS NOT NULL;

-- Each merge (`from` merged into `to`) and split (`to` split off `from`),
-- once, for both tickets' history: who, when and what moved.
CREATE TABLE ticket_moves (
    id              bigserial PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('merge', 'split')),
    from_ticket_id  uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    to_ticket_id    uuid NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    messages        int NOT NULL CHECK (messages >= 0),
    attachments     int NOT NULL CHECK (attachments >= 0),
    time_entries    int NOT NULL CHECK (time_entries >= 0),
    watchers        int NOT NULL CHECK (watchers >= 0),
    user_id         uuid REFERENCES users(id) ON DELETE SET NULL,
    at              timestamptz NOT NULL,
    CHECK (from_ticket_id <> to_ticket_id)
);
CREATE INDEX ticket_moves_from_idx ON ticket_moves (company_id, from_ticket_id);
CREATE INDEX ticket_moves_to_idx ON ticket_moves (company_id, to_ticket_id);

ALTER TABLE ticket_moves ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_moves USING (company_id = app_company_id())
    WITH CHECK (company_id = app_company_id());
GRANT SELECT, INSERT, UPDATE, DELETE ON ticket_moves TO nestogy_app;
GRANT USAGE ON SEQUENCE ticket_moves_id_seq TO nestogy_app;
