-- Portal slugs that are also static segments of the portal's API
-- (`/api/v1/portal/tickets`, `/api/v1/portal/me`, ...) are reserved: a
-- company's `/api/v1/portal/{slug}/...` routes must never meet them. Kept in
-- step with `RESERVED_PORTAL_SLUGS` in domain/src/identity/company.rs.
CREATE OR REPLACE FUNCTION portal_slug_reserved(p_slug text) RETURNS boolean
    LANGUAGE sql IMMUTABLE
AS $$
    SELECT p_slug = ANY (ARRAY['auth', 'me', 'tickets', 'invoices', 'quotes', 'assets',
                               'statement', 'brand', 'logo'])
$$;

CREATE OR REPLACE FUNCTION portal_free_slug(p_name text) RETURNS text
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
    WHILE portal_slug_reserved(candidate)
          OR EXISTS (SELECT 1 FROM companies WHERE portal_slug = candidate) LOOP
        n := n + 1;
        candidate := base || '-' || n;
    END LOOP;
    RETURN candidate;
END
$$;

-- A company that already has one moves to the next free slug.
DO $$
DECLARE
    c record;
BEGIN
    FOR c IN SELECT id, name FROM companies WHERE portal_slug_reserved(portal_slug) LOOP
        UPDATE companies SET portal_slug = portal_free_slug(c.name) WHERE id = c.id;
    END LOOP;
END
$$;

ALTER TABLE companies
    ADD CONSTRAINT companies_portal_slug_not_reserved CHECK (NOT portal_slug_reserved(portal_slug));
