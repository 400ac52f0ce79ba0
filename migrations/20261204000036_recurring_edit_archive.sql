-- Recurring templates people can edit and archive.

-- An archived template never bills again; it stays listed (it has invoices).
ALTER TABLE recurring_invoices DROP CONSTRAINT recurring_invoices_status_check;
ALTER TABLE recurring_invoices ADD CONSTRAINT recurring_invoices_status_check
    CHECK (status IN ('active', 'paused', 'ended', 'archived'));
ALTER TABLE recurring_invoices ADD COLUMN archived_at timestamptz;

-- A change of frequency bills the new one from the first period not yet
-- billed: period k >= anchor_cycle starts (k - anchor_cycle) intervals after
-- anchor_date, on anchor_day in months and years (clamped). NULL anchor_date
-- and anchor_day: the start date and its day (a template never rebased).
ALTER TABLE recurring_invoices
    ADD COLUMN anchor_cycle int NOT NULL DEFAULT 0 CHECK (anchor_cycle >= 0),
    ADD COLUMN anchor_date date,
    ADD COLUMN anchor_day smallint CHECK (anchor_day BETWEEN 1 AND 31);
