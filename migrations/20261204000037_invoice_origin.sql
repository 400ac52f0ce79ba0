-- Invoices say where they came from: the quote (quote_id, since the quotes
-- migration), the template and its period, and the billing run.

ALTER TABLE invoices ADD COLUMN period_end date;
-- No foreign key: runs are never deleted, and a key would have every
-- invoice a run creates lock the run's row.
ALTER TABLE invoices ADD COLUMN billing_run_id uuid;

-- The last day of each billed period, from its template's anchor (date
-- arithmetic in PostgreSQL clamps at month end as billing does).
UPDATE invoices i SET period_end = x.period_end
FROM (
    SELECT b.id, (CASE r.frequency_unit
        WHEN 'days' THEN r.start_date + r.frequency_every * ((b.period_start - r.start_date) / r.frequency_every + 1)
        WHEN 'weeks' THEN r.start_date + 7 * r.frequency_every * ((b.period_start - r.start_date) / (7 * r.frequency_every) + 1)
        ELSE (r.start_date + make_interval(months => m.n * (m.diff / m.n + 1)))::date
    END) - 1 AS period_end
    FROM invoices b
    JOIN recurring_invoices r ON r.id = b.recurring_id AND r.company_id = b.company_id
    CROSS JOIN LATERAL (
        SELECT CASE r.frequency_unit WHEN 'years' THEN 12 * r.frequency_every ELSE r.frequency_every END AS n,
               ((extract(year FROM b.period_start) - extract(year FROM r.start_date)) * 12
                + extract(month FROM b.period_start) - extract(month FROM r.start_date))::int AS diff) m
    WHERE b.period_start IS NOT NULL
) x
WHERE i.id = x.id;

UPDATE invoices i SET billing_run_id = b.run_id
FROM billing_run_items b
WHERE b.outcome = 'created' AND b.invoice_id = i.id AND b.company_id = i.company_id;
