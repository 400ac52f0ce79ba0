-- Saved views of the ticket queue: a user's named set of the queue's
-- filters (the query string of GET /api/v1/tickets without limit or cursor,
-- checked by the API when saved). Each user's own; at most 50 each.
CREATE TABLE ticket_views (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    query       text NOT NULL CHECK (length(query) <= 2000),
    created_at  timestamptz NOT NULL,
    UNIQUE (company_id, user_id, name)
);
GRANT SELECT, INSERT, UPDATE, DELETE ON ticket_views TO nestogy_app;
ALTER TABLE ticket_views ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON ticket_views
    USING (company_id = app_company_id())
    WITH CHECK (company_id = app_company_id());
