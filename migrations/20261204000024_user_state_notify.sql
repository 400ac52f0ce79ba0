-- Every API process keeps its users' states (role, active, token version)
-- and forgets one when this notification arrives; see domain/src/user_state.rs.
-- NOTIFY is delivered when the transaction commits, and not at all if it
-- rolls back.
CREATE FUNCTION users_notify_state() RETURNS trigger
    LANGUAGE plpgsql SET search_path = public
AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('user_state', OLD.company_id::text || ':' || OLD.id::text);
        RETURN OLD;
    END IF;
    IF NEW.role IS DISTINCT FROM OLD.role
       OR NEW.active IS DISTINCT FROM OLD.active
       OR NEW.token_version IS DISTINCT FROM OLD.token_version
       OR NEW.company_id IS DISTINCT FROM OLD.company_id THEN
        PERFORM pg_notify('user_state', OLD.company_id::text || ':' || OLD.id::text);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER users_state_changed
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_notify_state();
