-- One search vector per ticket covering its subject and its whole thread.
--
-- The queue's full-text filter was `subject matches OR EXISTS (a message
-- of the ticket matches)`. PostgreSQL cannot estimate or index that OR
-- across two tables: with 1,000,000 tickets it hashed every matching
-- message of the tenant for each search (0.7 to 1 s). With one vector on
-- the ticket, the planner chooses between the GIN index (a rare word) and
-- walking the newest tickets first (a common one), and the capped count
-- reads one table.
--
-- `tickets.search` was generated from the subject alone; it becomes a
-- plain column kept by two triggers:
-- * a new message adds its words (`ticket_messages.search`, the body's
--   vector, which stays generated) to its ticket's vector;
-- * a changed subject rebuilds the ticket's vector from the subject and
--   every message.
-- Messages are never edited or moved between tickets (an append-only
-- thread), so nothing else can make the vector stale.
--
-- A tsvector's words take at most 1 MB (about 80,000 distinct words; a
-- word's positions do not count). A message whose words would pass that
-- leaves the ticket's vector as it was: the message is stored in any case,
-- never refused for its index; only its new words are not found.

ALTER TABLE tickets DROP COLUMN search;
ALTER TABLE tickets ADD COLUMN search tsvector NOT NULL DEFAULT ''::tsvector;

CREATE FUNCTION ticket_search_add(old tsvector, more tsvector) RETURNS tsvector
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN old || more;
EXCEPTION WHEN program_limit_exceeded THEN
    RETURN old;
END
$$;

CREATE FUNCTION ticket_search_rebuild(t_company uuid, t_id uuid, t_subject text) RETURNS tsvector
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    v tsvector := to_tsvector('simple', t_subject);
    m tsvector;
BEGIN
    FOR m IN SELECT search FROM ticket_messages
             WHERE company_id = t_company AND ticket_id = t_id ORDER BY created_at, id LOOP
        v := ticket_search_add(v, m);
    END LOOP;
    RETURN v;
END
$$;

CREATE FUNCTION tickets_search_subject() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.search := to_tsvector('simple', NEW.subject);
    ELSE
        NEW.search := ticket_search_rebuild(NEW.company_id, NEW.id, NEW.subject);
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER tickets_search_insert BEFORE INSERT ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_search_subject();
CREATE TRIGGER tickets_search_subject BEFORE UPDATE OF subject ON tickets
    FOR EACH ROW WHEN (OLD.subject IS DISTINCT FROM NEW.subject)
    EXECUTE FUNCTION tickets_search_subject();

CREATE FUNCTION ticket_messages_search_thread() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tickets SET search = ticket_search_add(search, NEW.search)
     WHERE company_id = NEW.company_id AND id = NEW.ticket_id;
    RETURN NULL;
END
$$;

CREATE TRIGGER ticket_messages_search_thread AFTER INSERT ON ticket_messages
    FOR EACH ROW EXECUTE FUNCTION ticket_messages_search_thread();

-- The tickets there are now.
UPDATE tickets t SET search = ticket_search_rebuild(t.company_id, t.id, t.subject);

CREATE INDEX tickets_search_idx ON tickets USING gin (search);
-- Nothing searches messages one by one any more.
DROP INDEX ticket_messages_search_idx;
