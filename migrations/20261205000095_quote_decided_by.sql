-- Who decided a quote: the portal contact who accepted or declined it
-- (NULL when staff recorded the client's decision). `decided_at` already
-- says when.
ALTER TABLE quotes
    ADD COLUMN decided_by_contact_id uuid REFERENCES contacts(id) ON DELETE SET NULL;
