-- Projects with tasks, tickets linked to projects, and time entries that
-- are billed once onto a draft invoice.

CREATE TABLE projects (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id       uuid NOT NULL REFERENCES clients(id),
    name            text NOT NULL,
    description     text,
    status          text NOT NULL CHECK (status IN ('planned', 'active', 'on_hold', 'done', 'cancelled')),
    start_date      date,
    due_date        date,
    manager_id      uuid REFERENCES users(id),
    budget_hours    numeric(12, 2),
    -- In the company's currency.
    budget_amount   numeric(14, 4),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (due_date IS NULL OR start_date IS NULL OR due_date >= start_date)
);
CREATE INDEX projects_list_idx ON projects (company_id, id DESC);
CREATE INDEX projects_client_idx ON projects (company_id, client_id, id DESC);

CREATE TABLE project_tasks (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    project_id      uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title           text NOT NULL,
    description     text,
    status          text NOT NULL CHECK (status IN ('todo', 'in_progress', 'done', 'cancelled')),
    assignee_id     uuid REFERENCES users(id),
    due_date        date,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX project_tasks_project_idx ON project_tasks (company_id, project_id, id);
CREATE INDEX project_tasks_assignee_idx ON project_tasks (company_id, assignee_id) WHERE assignee_id IS NOT NULL;

ALTER TABLE tickets ADD COLUMN project_id uuid REFERENCES projects(id) ON DELETE SET NULL;
CREATE INDEX tickets_project_idx ON tickets (company_id, project_id) WHERE project_id IS NOT NULL;

-- Hourly rates: a user's, else the client's, else the company's
-- settings.default_hourly_rate. In the company's currency.
ALTER TABLE users ADD COLUMN hourly_rate numeric(12, 4) CHECK (hourly_rate >= 0);
ALTER TABLE clients ADD COLUMN hourly_rate numeric(12, 4) CHECK (hourly_rate >= 0);

CREATE TABLE time_entries (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    user_id         uuid NOT NULL REFERENCES users(id),
    -- What the time was spent on: a ticket, a task (and its project) or a
    -- project. The ticket or task may be deleted later; the entry stays.
    ticket_id       uuid REFERENCES tickets(id) ON DELETE SET NULL,
    task_id         uuid REFERENCES project_tasks(id) ON DELETE SET NULL,
    project_id      uuid REFERENCES projects(id) ON DELETE SET NULL,
    client_id       uuid REFERENCES clients(id),
    work_date       date NOT NULL,
    started_at      timestamptz,
    ended_at        timestamptz,
    -- NULL while the timer runs.
    minutes         int CHECK (minutes BETWEEN 1 AND 1440),
    description     text NOT NULL,
    billable        boolean NOT NULL,
    -- The hourly rate when the entry was logged (billable entries).
    rate            numeric(12, 4) CHECK (rate >= 0),
    -- Set once, when the entry becomes a line of a draft invoice; cleared
    -- if that draft is deleted.
    invoice_id      uuid REFERENCES invoices(id) ON DELETE SET NULL,
    billed_at       timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (ended_at IS NULL OR (started_at IS NOT NULL AND ended_at > started_at)),
    CHECK (NOT billable OR rate IS NOT NULL)
);
CREATE INDEX time_entries_list_idx ON time_entries (company_id, work_date DESC, id DESC);
CREATE INDEX time_entries_unbilled_idx ON time_entries (company_id, client_id, work_date)
    WHERE billable AND invoice_id IS NULL;
CREATE INDEX time_entries_project_idx ON time_entries (company_id, project_id) WHERE project_id IS NOT NULL;
CREATE INDEX time_entries_ticket_idx ON time_entries (company_id, ticket_id) WHERE ticket_id IS NOT NULL;
CREATE INDEX time_entries_invoice_idx ON time_entries (invoice_id) WHERE invoice_id IS NOT NULL;
-- One running timer per user.
CREATE UNIQUE INDEX time_entries_running_key ON time_entries (company_id, user_id) WHERE minutes IS NULL;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['projects', 'project_tasks', 'time_entries'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END $$;
