-- flowsend_flow_enroll (0046) was meant to keep its INSERT's plan for the
-- connection's life, but PL/pgSQL's plan cache judged the generic plan dearer
-- than the custom ones (a custom plan folds `trig <> 'custom'` and the
-- reentry test away) and so planned the INSERT afresh on every call:
-- pg_stat_statements (track = all, track_planning) counted one plan per call,
-- and planning took twice the INSERT's own time on an event that enrolled
-- nobody (4.2 s of planning against 2.2 s of execution over 5,895 POST
-- /events). The generic plan is the one every caller wants: a few active
-- flows of the tenant and trigger, each contact by its id (up to 1,000 ids,
-- from the insert trigger), the once-per-flow check by the enrollment key's
-- index. So the function plans its statement once per connection
-- (plan_cache_mode below; a later CREATE OR REPLACE must repeat it).
--
-- The once-per-flow check carries OFFSET 0, which keeps PostgreSQL from
-- turning the NOT EXISTS into a hashed subplan: with the tenant's executions
-- estimated at a few rows (the average over tenants, since the tenant comes
-- from the row-level security's InitPlan), a plan could hash every execution
-- of the tenant on each call, which for a tenant with a million executions
-- is a scan of them per event. With it, one probe of
-- flow_executions_enrollment_key per flow and contact, whatever the
-- statistics said when the connection planned. Same arguments, same result,
-- same row-level security.
CREATE OR REPLACE FUNCTION flowsend_flow_enroll(owner uuid, trig text, event text, contact_ids uuid[],
                                                reentry_key text, ctx jsonb) RETURNS bigint
    LANGUAGE plpgsql
    SET plan_cache_mode = force_generic_plan
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
                            WHERE e.flow_id = f.id AND e.contact_id = c.id OFFSET 0))
    ON CONFLICT ON CONSTRAINT flow_executions_enrollment_key DO NOTHING;
    GET DIAGNOSTICS created = ROW_COUNT;
    RETURN created;
END
$$;
