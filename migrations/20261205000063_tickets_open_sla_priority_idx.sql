-- Two more partial indexes of open tickets (see 20261205000061), found by
-- the console benchmark's per-call figures at 1,000,000 tickets:
-- * the home page's "close to SLA" block (`sla_state = 'warning'`) read all
--   33,342 open tickets' index entries to find none: 85 ms through the API,
--   0.03 ms with (company_id, sla_state, id);
-- * the queue filtered by priority (`status=open&priority=high`) counted
--   by reading every open ticket: 10.7 ms, 5.5 ms by priority first.
CREATE INDEX tickets_open_sla_idx ON tickets (company_id, sla_state, id DESC)
    WHERE status IN ('new', 'open', 'in_progress', 'waiting_on_client');
CREATE INDEX tickets_open_priority_idx ON tickets (company_id, priority, id DESC)
    INCLUDE (status)
    WHERE status IN ('new', 'open', 'in_progress', 'waiting_on_client');
