-- Enrollment is on the hot path of POST /events, platform events and every
-- contact insert. As a LANGUAGE sql function with a data-modifying WITH,
-- flowsend_flow_enroll (0028) could not be inlined and PostgreSQL planned its
-- statement afresh on every call: about a millisecond of server time per event
-- even when nothing enrolled. The same statement in PL/pgSQL keeps its plan for
-- the connection's life. Same arguments, same result, same row-level security.
CREATE OR REPLACE FUNCTION flowsend_flow_enroll(owner uuid, trig text, event text, contact_ids uuid[],
                                                reentry_key text, ctx jsonb) RETURNS bigint
    LANGUAGE plpgsql
AS $$
DECLARE
    created bigint;
BEGIN
    INSERT INTO public.flow_executions AS x
           (user_id, flow_id, flow_version, contact_id, status, next_run_at, context,
            enrollment_key)
    SELECT owner, f.id, f.current_version, c.id, 'active', public.flowsend_now(), ctx,
           CASE WHEN public.flowsend_flow_reentry(f.trigger_config) THEN reentry_key
                ELSE 'once' END
      FROM public.flows f
      JOIN public.contacts c ON c.user_id = owner AND c.id = ANY (contact_ids)
     WHERE f.user_id = owner AND f.trigger_type = trig AND f.status = 'active'
       AND f.deleted_at IS NULL AND f.current_version IS NOT NULL AND c.is_subscribed
       AND (trig <> 'custom' OR f.trigger_config ->> 'event' = event)
       AND (public.flowsend_flow_reentry(f.trigger_config)
            OR NOT EXISTS (SELECT 1 FROM public.flow_executions e
                            WHERE e.flow_id = f.id AND e.contact_id = c.id))
    ON CONFLICT ON CONSTRAINT flow_executions_enrollment_key DO NOTHING;
    GET DIAGNOSTICS created = ROW_COUNT;
    RETURN created;
END
$$;
