-- The staff console's sessions (crate nestogy-web). The browser holds a
-- random 32-byte value in the cookie `nestogy_console`; the row holds only
-- its SHA-256 (`id`), so a leaked table signs nobody in. The row remembers
-- who signed in and the user's token version at that moment; the role, and
-- whether the user is still active and the version still current, are read
-- from the user on every request (the console calls the API with a token
-- minted from this row, and the API checks it).
--
-- A session ends 12 hours after its last request (`last_seen_at`) or 7 days
-- after sign-in (`expires_at`), whichever comes first; an ended row is
-- deleted when it is next looked up, and by the maintenance vacuum.
--
-- The lookup by cookie happens before the tenant is known: it is a platform
-- (`app.system`) query. A tenant's transaction sees its own sessions only.
CREATE TABLE web_sessions (
    id              bytea PRIMARY KEY CHECK (length(id) = 32),
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_version   int NOT NULL,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    user_agent      text CHECK (length(user_agent) <= 500),
    client_addr     text CHECK (length(client_addr) <= 64)
);
CREATE INDEX web_sessions_user_idx ON web_sessions (company_id, user_id);
CREATE INDEX web_sessions_expires_idx ON web_sessions (expires_at);
CREATE INDEX web_sessions_last_seen_idx ON web_sessions (last_seen_at);
GRANT SELECT, INSERT, UPDATE, DELETE ON web_sessions TO nestogy_app;
ALTER TABLE web_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_or_system ON web_sessions
    USING (company_id = app_company_id() OR app_is_system())
    WITH CHECK (company_id = app_company_id() OR app_is_system());
