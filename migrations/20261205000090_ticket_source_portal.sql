-- Tickets a client's contact opens in the client portal.

ALTER TABLE tickets DROP CONSTRAINT tickets_source_check;
ALTER TABLE tickets ADD CONSTRAINT tickets_source_check CHECK (source IN ('api', 'email', 'rmm', 'portal'));
