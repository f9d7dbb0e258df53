-- Dynamic-list rules compare custom fields as dates; a custom field holds
-- whatever was imported, so the cast must turn a non-date into NULL instead
-- of failing the whole query.
CREATE FUNCTION flowsend_try_timestamptz(v text) RETURNS timestamptz
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
    IF v IS NULL OR v !~ '^\d{4}-\d{2}-\d{2}' THEN
        RETURN NULL;
    END IF;
    RETURN v::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
