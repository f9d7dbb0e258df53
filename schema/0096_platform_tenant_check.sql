-- A platform event's cached tenant is checked inside the event's own
-- transaction (issue 19, session 12). The responder's principal cache
-- (schema 0079) is emptied by the users' NOTIFY, but a notification reaches
-- a listening connection only once its backend has been scheduled to send
-- it: an event that arrives a moment after a user's platform id moved could
-- still be routed to the old tenant. The event's first statement now asks
-- whether the cached tenant is still the one the ids name, and fails the
-- transaction if not (SQLSTATE FS002); the responder then looks the tenant up
-- afresh and runs the event once more. One index probe in a round trip the
-- event makes anyway.
CREATE FUNCTION flowsend_platform_tenant_holds(owner uuid, platform_id text, store_id text)
RETURNS boolean
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF (SELECT u.id FROM public.users u
         WHERE u.is_active
           AND (u.external_platform_id = platform_id OR u.external_store_id = store_id)
         ORDER BY (u.external_platform_id = platform_id) IS TRUE DESC, u.id LIMIT 1)
       IS DISTINCT FROM owner THEN
        RAISE EXCEPTION 'the platform ids name another tenant now' USING ERRCODE = 'FS002';
    END IF;
    RETURN true;
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_platform_tenant_holds(uuid, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowsend_platform_tenant_holds(uuid, text, text) TO flowsend_app;
