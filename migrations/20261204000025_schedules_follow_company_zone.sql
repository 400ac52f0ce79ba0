-- A schedule either has a time zone of its own or follows its company's
-- (the defaults, and any created without one): when the company's time
-- zone changes, those move with it (domain/src/schedules.rs).
ALTER TABLE schedules ADD COLUMN follows_company_time_zone boolean NOT NULL DEFAULT false;

-- The default schedules of existing companies follow their company's time
-- zone: those still in it, and those left in UTC when the company moved
-- (before this change nothing moved them; nobody chose UTC for them).
UPDATE schedules s SET follows_company_time_zone = true
  FROM companies c
 WHERE s.company_id = c.id
   AND (s.name, s.kind) IN (('billing run', 'billing.run'), ('overdue invoices', 'billing.overdue'),
        ('payment reminders', 'billing.remind'), ('mailbox polls', 'mailboxes.poll_all'),
        ('sla checks', 'tickets.sla_check'), ('warranty alerts', 'assets.warranty_alerts'),
        ('autopay', 'stripe.autopay'), ('report aggregation', 'reports.aggregate'),
        ('management report', 'reports.management'))
   AND s.time_zone IN (c.time_zone, 'UTC');

-- Those left behind move now, and fire from now on at their wall-clock
-- times in the company's zone: due at once, the scheduler finds nothing
-- to fire between now and now and sets the next fire in the new zone.
UPDATE schedules s SET time_zone = c.time_zone, fired_through = greatest(s.fired_through, now()),
       next_fire_at = CASE WHEN s.enabled THEN greatest(s.fired_through, now()) END, updated_at = now()
  FROM companies c
 WHERE s.company_id = c.id AND s.follows_company_time_zone AND s.time_zone <> c.time_zone;
