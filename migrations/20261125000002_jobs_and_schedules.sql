-- The job platform: job state for people (the queue itself lives in Redis),
-- schedules and their fires.
--
-- Workers and the scheduler serve every tenant. Their bookkeeping
-- transactions set app.system = 'on', which these tables' policies accept
-- besides the tenant's own rows; request paths never set it.

CREATE FUNCTION app_is_system() RETURNS boolean
    LANGUAGE sql STABLE
AS $$ SELECT COALESCE(current_setting('app.system', true), '') = 'on' $$;
GRANT EXECUTE ON FUNCTION app_is_system() TO nestogy_app;

CREATE TABLE jobs (
    id            uuid PRIMARY KEY,
    company_id    uuid REFERENCES companies(id) ON DELETE CASCADE,
    kind          text NOT NULL,
    queue         text NOT NULL,
    payload       jsonb NOT NULL,
    state         text NOT NULL CHECK (state IN
                    ('queued', 'running', 'succeeded', 'failed_will_retry', 'dead', 'cancelled')),
    attempts      int NOT NULL DEFAULT 0,
    max_attempts  int NOT NULL,
    run_at        timestamptz NOT NULL,
    unique_key    text,
    last_error    text,
    result        jsonb,
    created_at    timestamptz NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    updated_at    timestamptz NOT NULL
);
CREATE UNIQUE INDEX jobs_unique_key ON jobs (unique_key) WHERE unique_key IS NOT NULL;
CREATE INDEX jobs_company_idx ON jobs (company_id, id DESC);
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_stale_idx ON jobs (updated_at) WHERE state IN ('queued', 'failed_will_retry');

CREATE TABLE schedules (
    id             uuid PRIMARY KEY,
    company_id     uuid REFERENCES companies(id) ON DELETE CASCADE,
    name           text NOT NULL,
    kind           text NOT NULL,
    cron           text NOT NULL,
    time_zone      text NOT NULL,
    payload        jsonb NOT NULL DEFAULT '{}'::jsonb,
    enabled        boolean NOT NULL DEFAULT true,
    -- The latest fire time handled; fires after it are due.
    fired_through  timestamptz NOT NULL,
    next_fire_at   timestamptz,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE enabled;
CREATE INDEX schedules_company_idx ON schedules (company_id, id);
CREATE UNIQUE INDEX schedules_company_name_key ON schedules (company_id, lower(name));
CREATE UNIQUE INDEX schedules_global_name_key ON schedules (lower(name)) WHERE company_id IS NULL;

-- One row per (schedule, fire time): what makes each tick fire once however
-- many schedulers run.
CREATE TABLE schedule_fires (
    schedule_id  uuid NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    fire_at      timestamptz NOT NULL,
    company_id   uuid REFERENCES companies(id) ON DELETE CASCADE,
    job_id       uuid NOT NULL,
    caught_up    boolean NOT NULL,
    fired_at     timestamptz NOT NULL,
    PRIMARY KEY (schedule_id, fire_at)
);

-- What the diagnostic `diag.record` job writes: its effect, once, however
-- often it runs, and how often it ran.
CREATE TABLE job_effects (
    job_id   uuid PRIMARY KEY,
    runs     int NOT NULL
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['jobs', 'schedules', 'schedule_fires']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I '
                       'USING (company_id = app_company_id() OR app_is_system()) '
                       'WITH CHECK (company_id = app_company_id() OR app_is_system())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END
$$;
ALTER TABLE job_effects ENABLE ROW LEVEL SECURITY;
CREATE POLICY system_only ON job_effects USING (app_is_system()) WITH CHECK (app_is_system());
GRANT SELECT, INSERT, UPDATE, DELETE ON job_effects TO nestogy_app;

-- The platform's own schedule: vacuum finished jobs every hour.
INSERT INTO schedules (id, company_id, name, kind, cron, time_zone, payload, enabled,
                       fired_through, next_fire_at, created_at, updated_at)
VALUES ('01900000-0000-7000-8000-00000000ac01', NULL, 'job retention', 'maintenance.vacuum',
        '17 * * * *', 'UTC', '{}'::jsonb, true, now(), now(), now(), now());
