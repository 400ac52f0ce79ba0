-- The tickets someone still has to work on, newest first: the console's
-- home blocks (mine, past or near their SLA, unassigned) and the queue's
-- usual filters read them in id order and stop after a page, and the
-- list's count stops at 10,000. The columns those filters test are in the
-- index, so both are index-only scans. At 1,000,000 tickets (33,000 open)
-- "status=open&priority=high" went from 100 ms (the primary key read
-- backwards, 30,000 rows thrown away) to 0.3 ms, and the count of open
-- unassigned tickets from 78 ms to 6 ms (make bench-console).
--
-- The planner uses a partial index only when the query's own values imply
-- its predicate: tenant transactions plan every statement for its values
-- (plan_cache_mode = force_custom_plan, see Db::tenant).
CREATE INDEX tickets_open_idx ON tickets (company_id, id DESC)
    INCLUDE (status, priority, assignee_id, sla_state, client_id)
    WHERE status IN ('new', 'open', 'in_progress', 'waiting_on_client');

-- A client's and an assignee's open tickets (the client page, "my open
-- tickets"): read straight from their own range instead of filtering every
-- open ticket of the company (12 ms for the busiest client's count).
CREATE INDEX tickets_open_client_idx ON tickets (company_id, client_id, id DESC)
    WHERE status IN ('new', 'open', 'in_progress', 'waiting_on_client');
CREATE INDEX tickets_open_assignee_idx ON tickets (company_id, assignee_id, id DESC)
    WHERE status IN ('new', 'open', 'in_progress', 'waiting_on_client');
