-- A contract's own SLA clock for the priorities it has targets for:
-- {"business_hours", "holidays", "pause_statuses"}, instead of the company
-- policy's. Null: the company policy's clock.
ALTER TABLE contracts ADD COLUMN sla_calendar jsonb;
