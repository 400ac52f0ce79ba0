-- Foundation: tenants (companies), identity, audit log, clients, contacts, locations.
--
-- Tenancy has two walls. Every repository query filters by company_id, and
-- row-level security filters again on current_setting('app.company_id'),
-- which the application sets with SET LOCAL in each transaction. The
-- application runs as the role nestogy_app, which does not own these tables,
-- so the policies apply to it.

DO $$
BEGIN
    CREATE ROLE nestogy_app NOLOGIN;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- The tenant of the current transaction, or NULL when none is set.
CREATE FUNCTION app_company_id() RETURNS uuid
    LANGUAGE sql STABLE
AS $$ SELECT NULLIF(current_setting('app.company_id', true), '')::uuid $$;

CREATE TABLE companies (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    time_zone   text NOT NULL DEFAULT 'UTC',
    currency    char(3) NOT NULL DEFAULT 'USD',
    locale      text NOT NULL DEFAULT 'en-US',
    address     jsonb NOT NULL DEFAULT '{}'::jsonb,
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX companies_name_idx ON companies (lower(name));

CREATE TABLE users (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    email           text NOT NULL,
    name            text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'tech', 'accountant')),
    password_hash   text NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    totp_secret     text,
    totp_enabled    boolean NOT NULL DEFAULT false,
    last_login_at   timestamptz,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
-- A sign-in names only an e-mail address, so it is unique across tenants.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_company_idx ON users (company_id, lower(name), id);

CREATE TABLE login_failures (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    at          timestamptz NOT NULL
);
CREATE INDEX login_failures_user_idx ON login_failures (user_id, at);

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    family_id   uuid NOT NULL,
    token_hash  bytea NOT NULL UNIQUE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz,
    created_at  timestamptz NOT NULL
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         text NOT NULL,
    prefix       text NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    scopes       text[] NOT NULL,
    expires_at   timestamptz,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL
);
CREATE INDEX api_tokens_company_idx ON api_tokens (company_id, id);

CREATE TABLE audit_log (
    id           uuid PRIMARY KEY,
    company_id   uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    actor_user_id uuid,
    actor_token_id uuid,
    action       text NOT NULL,
    entity_type  text NOT NULL,
    entity_id    uuid,
    details      jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id   text,
    at           timestamptz NOT NULL
);
CREATE INDEX audit_log_company_idx ON audit_log (company_id, id DESC);
CREATE INDEX audit_log_entity_idx ON audit_log (company_id, entity_type, entity_id);

CREATE TABLE clients (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    name        text NOT NULL,
    email       text,
    phone       text,
    website     text,
    tax_id      text,
    notes       text,
    archived_at timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX clients_company_name_idx ON clients (company_id, lower(name), id);

CREATE TABLE contacts (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name        text NOT NULL,
    email       text,
    phone       text,
    title       text,
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX contacts_client_email_key ON contacts (client_id, lower(email));
CREATE INDEX contacts_client_name_idx ON contacts (company_id, client_id, lower(name), id);

CREATE TABLE locations (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    client_id   uuid NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    name        text NOT NULL,
    address     jsonb NOT NULL DEFAULT '{}'::jsonb,
    phone       text,
    notes       text,
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX locations_client_name_idx ON locations (company_id, client_id, lower(name), id);

-- Row-level security: the second wall.
ALTER TABLE companies ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON companies USING (id = app_company_id()) WITH CHECK (id = app_company_id());

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'login_failures', 'refresh_tokens', 'api_tokens',
                             'audit_log', 'clients', 'contacts', 'locations']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (company_id = app_company_id()) '
                       'WITH CHECK (company_id = app_company_id())', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO nestogy_app', t);
    END LOOP;
END
$$;
GRANT SELECT, UPDATE ON companies TO nestogy_app;

-- Credential look-ups happen before the tenant is known. These functions run
-- as the tables' owner and return only what resolves the credential to its
-- tenant; everything after that runs inside the tenant's transaction.
CREATE FUNCTION auth_user_by_email(p_email text)
    RETURNS TABLE (user_id uuid, company_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
AS $$ SELECT id, company_id FROM users WHERE lower(email) = lower(p_email) $$;

CREATE FUNCTION auth_refresh_token(p_hash bytea)
    RETURNS TABLE (token_id uuid, company_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
AS $$ SELECT id, company_id FROM refresh_tokens WHERE token_hash = p_hash $$;

CREATE FUNCTION auth_api_token(p_hash bytea)
    RETURNS TABLE (token_id uuid, company_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
AS $$ SELECT id, company_id FROM api_tokens WHERE token_hash = p_hash $$;

GRANT EXECUTE ON FUNCTION app_company_id(), auth_user_by_email(text), auth_refresh_token(bytea),
    auth_api_token(bytea) TO nestogy_app;
