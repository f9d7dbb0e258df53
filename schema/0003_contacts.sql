-- Timestamps as the API shows them: ISO 8601 in UTC with a Z, rendered by
-- PostgreSQL when it builds JSON for list endpoints.
CREATE FUNCTION flowsend_ts(ts timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;

-- A contact as the API shows it; one definition for every endpoint.
CREATE FUNCTION flowsend_contact_json(c contacts) RETURNS json
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object(
        'id', c.id, 'user_id', c.user_id, 'email', c.email,
        'first_name', c.first_name, 'last_name', c.last_name,
        'tags', c.tags, 'custom_fields', c.custom_fields,
        'is_subscribed', c.is_subscribed,
        'subscribed_at', flowsend_ts(c.subscribed_at),
        'unsubscribed_at', flowsend_ts(c.unsubscribed_at),
        'created_at', flowsend_ts(c.created_at),
        'updated_at', flowsend_ts(c.updated_at))
$$;
