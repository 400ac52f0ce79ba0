-- The worker processes seen lately, for the queue dashboard: one row per
-- process (its consumer name), upserted by each heartbeat. Worker processes
-- are platform infrastructure and serve every tenant: the rows hold no
-- tenant data, so the table has no company_id. Every transaction may read
-- it (the dashboard lists workers to each company's admins); only a
-- platform transaction (`app.system`, the workers' own) may write it. A
-- process silent for over a day is forgotten (`nestogy_jobs::workers_seen`).
CREATE TABLE worker_heartbeats (
    consumer        text PRIMARY KEY,
    host            text NOT NULL,
    pid             int NOT NULL,
    queues          text[] NOT NULL,
    started_at      timestamptz NOT NULL,
    last_heartbeat  timestamptz NOT NULL
);
CREATE INDEX worker_heartbeats_last_idx ON worker_heartbeats (last_heartbeat);
GRANT SELECT, INSERT, UPDATE, DELETE ON worker_heartbeats TO nestogy_app;
ALTER TABLE worker_heartbeats ENABLE ROW LEVEL SECURITY;
CREATE POLICY worker_heartbeats_read ON worker_heartbeats FOR SELECT USING (true);
CREATE POLICY worker_heartbeats_write ON worker_heartbeats FOR ALL
    USING (app_is_system()) WITH CHECK (app_is_system());
