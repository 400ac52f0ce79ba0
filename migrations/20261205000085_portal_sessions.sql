-- The client portal's sessions share `web_sessions` with the staff console:
-- the same cookie scheme (a random value in the browser, its SHA-256 here),
-- the same idle and absolute timeouts and the same maintenance. A row is
-- either a user's (the console) or a contact's (the portal), never both;
-- the portal's cookie is sent only to /portal and the console's only to
-- /console, and each side refuses the other's rows.
ALTER TABLE web_sessions
    ALTER COLUMN user_id DROP NOT NULL,
    ADD COLUMN contact_id uuid REFERENCES contacts(id) ON DELETE CASCADE,
    ADD CONSTRAINT web_sessions_one_holder CHECK (num_nonnulls(user_id, contact_id) = 1);
CREATE INDEX web_sessions_contact_idx ON web_sessions (company_id, contact_id)
    WHERE contact_id IS NOT NULL;
