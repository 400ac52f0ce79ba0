-- Automated mail (out-of-office, bulk, list, no-reply, our own answers
-- coming back) that threads to no ticket is recorded without a ticket:
-- outcome 'ignored', with its reason, listed and reprocessable like the
-- quarantine. A mailbox can accept it instead (a ticket, never answered).
ALTER TABLE inbound_messages DROP CONSTRAINT inbound_messages_outcome_check;
ALTER TABLE inbound_messages ADD CONSTRAINT inbound_messages_outcome_check
    CHECK (outcome IN ('ticket', 'reply', 'quarantined', 'ignored'));
CREATE INDEX inbound_messages_ignored_idx ON inbound_messages (mailbox_id, id DESC)
    WHERE outcome = 'ignored';

ALTER TABLE mailboxes
    ADD COLUMN automated_mail text NOT NULL DEFAULT 'ignore'
        CHECK (automated_mail IN ('ignore', 'accept')),
    -- "Poll now": when it was last asked for. A poll that started taking
    -- mail after this has served it; one that ends before re-queues.
    ADD COLUMN poll_requested_at timestamptz,
    -- When the last complete pass over the folder started: every message
    -- delivered before it has been taken.
    ADD COLUMN last_drained_at timestamptz,
    -- The job of the poll holding the mailbox's lock (stale once it ends).
    ADD COLUMN poll_job_id uuid;
