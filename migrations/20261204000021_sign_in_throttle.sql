-- Sign-in throttling that holds under parallel attack and cannot be used to
-- lock an account's owner out.
--
-- Every sign-in attempt is counted before its password is checked, in three
-- fixed windows, in this order, stopping at the first that is full:
--   'source'          one client address (an IPv6 /64), across accounts;
--   'account_source'  one e-mail address from one client address;
--   'account'         one e-mail address from anywhere (a much higher limit).
-- An attempt refused by one counter does not count in the ones after it, so
-- an attacker fills only the counters of their own address until the
-- account-wide limit, which needs many addresses. Counters are keyed by a
-- hash of the lowercased e-mail address whether or not an account has it, so
-- an unknown address is throttled exactly like a known one.
--
-- Each counter is one row, taken with INSERT ... ON CONFLICT DO UPDATE: the
-- row lock serialises concurrent attempts, so however many arrive at once,
-- no more than the limit pass. The rows are locked in the same order by
-- every caller (source, account_source, account).
--
-- The table is the platform's, not a tenant's (the tenant is unknown before
-- the e-mail is resolved, and unknown addresses have none): the application
-- role has no privilege on it and reaches it only through the two functions
-- below, which run as the owner.

CREATE TABLE sign_in_throttle (
    scope        text NOT NULL CHECK (scope IN ('source', 'account_source', 'account')),
    key          text NOT NULL,
    window_start timestamptz NOT NULL,
    attempts     int NOT NULL,
    -- 'account_source' rows: a successful sign-in gave its attempt back to
    -- the other counters in this window (once per window, so an attacker's
    -- own account cannot keep refilling their address's allowance).
    refunded     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (scope, key)
);
CREATE INDEX sign_in_throttle_window_idx ON sign_in_throttle (window_start);
REVOKE ALL ON sign_in_throttle FROM PUBLIC;
-- Row-level security with no policy: a role that is not the owner sees no
-- row even if granted one later. The owner's functions below bypass it.
ALTER TABLE sign_in_throttle ENABLE ROW LEVEL SECURITY;

-- Counts one attempt. Returns no row when it may go on; else the scope that
-- refused it and the seconds until that window ends.
CREATE FUNCTION auth_sign_in_attempt(
    p_source text, p_account text, p_now timestamptz,
    p_limits int[], p_window_secs int[])
    RETURNS TABLE (refused_by text, retry_after_secs int)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public
AS $$
DECLARE
    scopes text[] := ARRAY['source', 'account_source', 'account'];
    keys text[] := ARRAY[p_source, p_account || ' ' || p_source, p_account];
    n int;
    ends timestamptz;
    w interval;
BEGIN
    -- A few windows long over (a day) leave with each attempt.
    DELETE FROM sign_in_throttle WHERE ctid IN (
        SELECT ctid FROM sign_in_throttle WHERE window_start < p_now - interval '1 day'
        LIMIT 20 FOR UPDATE SKIP LOCKED);
    FOR i IN 1..3 LOOP
        w := p_window_secs[i] * interval '1 second';
        INSERT INTO sign_in_throttle AS t (scope, key, window_start, attempts)
        VALUES (scopes[i], keys[i], p_now, 1)
        ON CONFLICT (scope, key) DO UPDATE SET
            window_start = CASE WHEN t.window_start + w <= p_now
                                THEN p_now ELSE t.window_start END,
            attempts = CASE WHEN t.window_start + w <= p_now
                            THEN 1 ELSE t.attempts + 1 END,
            refunded = t.refunded AND t.window_start + w > p_now
        RETURNING t.attempts, t.window_start + w INTO n, ends;
        IF n > p_limits[i] THEN
            refused_by := scopes[i];
            retry_after_secs := greatest(1, ceil(extract(epoch FROM ends - p_now)))::int;
            RETURN NEXT;
            RETURN;
        END IF;
    END LOOP;
END
$$;

-- A successful sign-in: the (account, source) counter starts over, and
-- the attempt is given back to the source and account counters once per
-- (account, source) window, so an office behind one address counts its
-- failures rather than its sign-ins.
CREATE FUNCTION auth_sign_in_succeeded(p_source text, p_account text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public
AS $$
DECLARE
    was_refunded boolean;
BEGIN
    -- The same lock order as auth_sign_in_attempt.
    PERFORM 1 FROM sign_in_throttle WHERE scope = 'source' AND key = p_source FOR UPDATE;
    SELECT refunded INTO was_refunded FROM sign_in_throttle
        WHERE scope = 'account_source' AND key = p_account || ' ' || p_source FOR UPDATE;
    UPDATE sign_in_throttle SET attempts = 0, refunded = true
        WHERE scope = 'account_source' AND key = p_account || ' ' || p_source;
    IF was_refunded IS DISTINCT FROM false THEN
        RETURN;
    END IF;
    UPDATE sign_in_throttle SET attempts = greatest(attempts - 1, 0)
        WHERE scope = 'source' AND key = p_source;
    UPDATE sign_in_throttle SET attempts = greatest(attempts - 1, 0)
        WHERE scope = 'account' AND key = p_account;
END
$$;

REVOKE ALL ON FUNCTION auth_sign_in_attempt(text, text, timestamptz, int[], int[]),
    auth_sign_in_succeeded(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth_sign_in_attempt(text, text, timestamptz, int[], int[]),
    auth_sign_in_succeeded(text, text) TO nestogy_app;
