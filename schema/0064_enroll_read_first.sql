-- Enrollment reads before it writes (issue 19, session 10).
--
-- Most events enroll nobody: the contact is already in each once-per-flow
-- flow, or a platform event repeats an order's key. flowsend_flow_enroll
-- (0051) still ran its INSERT for them: the executor with ON CONFLICT, its
-- row-level security checks and, since 0050, the statement-level trigger of
-- flow_executions that fills the due queue, which fires (and runs an INSERT
-- of its own) for a statement that inserted no row. Now an event first asks
-- with one read whether any (flow, contact) pair would be new: the once-per-
-- flow test as before, and for a flow with allow_reentry whether this
-- occurrence's key is taken (one probe of flow_executions_enrollment_key).
-- Only when one would be new does the INSERT run, the same statement as
-- before: a concurrent enrollment that the read did not see still meets the
-- unique key, so "once per flow per contact" holds as it did.
--
-- A new contact's signup enrollment skips the read (nothing can be taken
-- yet for a contact created in this transaction; a read would only add its
-- cost). Same arguments, same result, same row-level security; the function
-- plans its statements once per connection as 0051 made it.
CREATE OR REPLACE FUNCTION flowsend_flow_enroll(owner uuid, trig text, event text, contact_ids uuid[],
                                                reentry_key text, ctx jsonb) RETURNS bigint
    LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    created bigint;
BEGIN
    IF trig <> 'signup' AND NOT EXISTS (
           SELECT 1
             FROM public.flows f
             JOIN public.contacts c ON c.user_id = owner AND c.id = ANY (contact_ids)
            WHERE f.user_id = owner AND f.trigger_type = trig AND f.status = 'active'
              AND f.deleted_at IS NULL AND f.current_version IS NOT NULL AND c.is_subscribed
              AND (trig <> 'custom' OR f.trigger_config ->> 'event' = event)
              AND CASE WHEN public.flowsend_flow_reentry(f.trigger_config)
                       THEN NOT EXISTS (SELECT 1 FROM public.flow_executions e
                                         WHERE e.flow_id = f.id AND e.contact_id = c.id
                                           AND e.enrollment_key = reentry_key OFFSET 0)
                       ELSE NOT EXISTS (SELECT 1 FROM public.flow_executions e
                                         WHERE e.flow_id = f.id AND e.contact_id = c.id OFFSET 0)
                  END) THEN
        RETURN 0;
    END IF;
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
                            WHERE e.flow_id = f.id AND e.contact_id = c.id OFFSET 0))
    ON CONFLICT ON CONSTRAINT flow_executions_enrollment_key DO NOTHING;
    GET DIAGNOSTICS created = ROW_COUNT;
    RETURN created;
END
$$;
