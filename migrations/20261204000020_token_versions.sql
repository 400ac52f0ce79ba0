-- Access tokens answer to the user's state now, not to what it was when
-- they were issued. Each access token carries the user's token version;
-- deactivation, a new password and "sign out everywhere" bump it, ending
-- every token issued before. The role is read on each request, so a
-- demotion takes effect on the next request of an old token.
ALTER TABLE users ADD COLUMN token_version int NOT NULL DEFAULT 0;

-- What every request with an access token checks, before the tenant's
-- transaction: one indexed read by primary key.
CREATE FUNCTION auth_user_state(p_user uuid, p_company uuid)
    RETURNS TABLE (role text, active boolean, token_version int)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
AS $$ SELECT role, active, token_version FROM users WHERE id = p_user AND company_id = p_company $$;
GRANT EXECUTE ON FUNCTION auth_user_state(uuid, uuid) TO nestogy_app;
