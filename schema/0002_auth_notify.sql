-- Responder workers cache who a token or API key belongs to. Any change that
-- could revoke access (a key deactivated or deleted, a user deactivated,
-- deleted or moved to another plan or address) tells every listening worker
-- to drop its cache at once, so a revocation is effective on the next request.
CREATE FUNCTION flowsend_auth_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('flowsend_auth', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

-- last_used_at is left out on purpose: it moves once a minute per key and
-- revokes nothing.
CREATE TRIGGER api_keys_auth_changed
    AFTER UPDATE OF is_active, scopes, key_hash, user_id OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION flowsend_auth_changed();

CREATE TRIGGER users_auth_changed
    AFTER UPDATE OF is_active, plan, email OR DELETE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION flowsend_auth_changed();
