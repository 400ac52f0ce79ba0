-- The client portal's identity: each tenant's portal address and settings,
-- contacts' portal access, one-time links (invitations and sign-in links),
-- and contacts as actors in the audit log.

-- ---- the tenant's portal settings ------------------------------------------

-- A free portal slug for a company named `p_name`: the name lowercased, each
-- run of other characters a hyphen, cut to 50 characters, at least 3 long;
-- taken ones get a numeric suffix (acme, acme-2, acme-3, ...). Used by the
-- backfill below and whenever a company is created.
CREATE FUNCTION portal_free_slug(p_name text) RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public
AS $$
DECLARE
    base text;
    candidate text;
    n int := 1;
BEGIN
    base := trim(BOTH '-' FROM regexp_replace(lower(coalesce(p_name, '')), '[^a-z0-9]+', '-', 'g'));
    base := trim(BOTH '-' FROM left(base, 50));
    IF length(base) < 3 THEN
        base := trim(BOTH '-' FROM ('portal-' || base));
    END IF;
    candidate := base;
    WHILE EXISTS (SELECT 1 FROM companies WHERE portal_slug = candidate) LOOP
        n := n + 1;
        candidate := base || '-' || n;
    END LOOP;
    RETURN candidate;
END
$$;

ALTER TABLE companies
    ADD COLUMN portal_slug text,
    ADD COLUMN portal_reopen_days int NOT NULL DEFAULT 14
        CHECK (portal_reopen_days BETWEEN 0 AND 365),
    ADD COLUMN portal_priorities text[] NOT NULL DEFAULT ARRAY['low', 'medium', 'high']
        CHECK (cardinality(portal_priorities) BETWEEN 1 AND 4
               AND portal_priorities <@ ARRAY['low', 'medium', 'high', 'critical']),
    ADD COLUMN portal_show_assets boolean NOT NULL DEFAULT false;

DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT id, name FROM companies ORDER BY created_at, id LOOP
        UPDATE companies SET portal_slug = portal_free_slug(c.name) WHERE id = c.id;
    END LOOP;
END
$$;

ALTER TABLE companies
    ALTER COLUMN portal_slug SET NOT NULL,
    ADD CONSTRAINT companies_portal_slug_format
        CHECK (portal_slug ~ '^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$'),
    ADD CONSTRAINT companies_portal_slug_key UNIQUE (portal_slug);

REVOKE ALL ON FUNCTION portal_free_slug(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portal_free_slug(text) TO nestogy_app;

-- The company a portal address names, before any tenant is known (a
-- contact signing in): only its id.
CREATE FUNCTION portal_company(p_slug text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
AS $$ SELECT id FROM companies WHERE portal_slug = p_slug $$;
REVOKE ALL ON FUNCTION portal_company(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION portal_company(text) TO nestogy_app;

-- ---- contacts' portal access ------------------------------------------------

ALTER TABLE contacts
    ADD COLUMN portal_access boolean NOT NULL DEFAULT false,
    ADD COLUMN portal_role text NOT NULL DEFAULT 'member'
        CHECK (portal_role IN ('member', 'admin')),
    -- Argon2id, as users'; none: the contact signs in by links only.
    ADD COLUMN password_hash text,
    -- Each contact access token carries it; removing access, a new password
    -- and "sign out everywhere" bump it, ending every token issued before.
    ADD COLUMN token_version int NOT NULL DEFAULT 0,
    ADD CONSTRAINT contacts_portal_needs_email CHECK (NOT portal_access OR email IS NOT NULL);
-- One portal account per e-mail address in a tenant: sign-in names the
-- tenant (its slug) and the address, nothing else.
CREATE UNIQUE INDEX contacts_portal_email_key ON contacts (company_id, lower(email))
    WHERE portal_access;

-- ---- one-time links ---------------------------------------------------------

CREATE TABLE portal_links (
    id               uuid PRIMARY KEY,
    company_id       uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
    contact_id       uuid NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind IN ('invitation', 'sign_in')),
    -- SHA-256 of the token the link carries; the token itself is only mailed.
    token_hash       bytea NOT NULL,
    -- Sign-in links: SHA-256 of the key of the browser that asked; the link
    -- works only with it.
    browser_key_hash bytea,
    expires_at       timestamptz NOT NULL,
    used_at          timestamptz,
    created_at       timestamptz NOT NULL,
    CHECK ((kind = 'sign_in') = (browser_key_hash IS NOT NULL))
);
CREATE UNIQUE INDEX portal_links_token_key ON portal_links (company_id, token_hash);
CREATE INDEX portal_links_contact_idx ON portal_links (company_id, contact_id, kind);
GRANT SELECT, INSERT, UPDATE, DELETE ON portal_links TO nestogy_app;
ALTER TABLE portal_links ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON portal_links
    USING (company_id = app_company_id())
    WITH CHECK (company_id = app_company_id());

-- ---- contacts in the audit log ----------------------------------------------

ALTER TABLE audit_log ADD COLUMN actor_contact_id uuid;
