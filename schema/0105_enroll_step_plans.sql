-- Queue plans (session 14): flowsend_flow_enroll_step (0028) keeps its
-- statements' plans for the worker's session, and a generic plan made while
-- contacts and flow_executions had been analyzed (nearly) empty scanned the
-- whole backlog range of contacts and sorted it for every chunk, then ran
-- the once-per-flow check as a sequential scan of flow_executions for each
-- contact of the chunk. Measured on a test cluster with 20,000 contacts
-- enrolled already and a backlog range over them, force_generic_plan: 97 ms
-- and 19,789 buffer hits for one chunk of 1,000 (plus 500,000 rows compared),
-- growing with the backlog range times the flow's executions. Planned without sequential scans or sorts, a
-- chunk walks the contacts' primary key from first_id and stops at the
-- limit (7.5 ms and 826 buffer hits for the same chunk). With statistics
-- from an empty flow_executions the once-per-flow check is then a hashed
-- subplan over the flow's executions, read once per chunk through an index
-- (20,000 rows here): linear in the flow's size per chunk, where the former
-- plan was the chunk times that. OFFSET 0 in the check (as in 0051) was
-- worse here: the planner, seeing an empty table, probed
-- flow_executions_version_idx by flow alone for each contact (121 ms).
-- Full statistics give one probe of flow_executions_enrollment_key per
-- contact, as before. Same body, same result.
CREATE OR REPLACE FUNCTION flowsend_flow_enroll_step(max_rows integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    SET enable_seqscan = off SET enable_sort = off
AS $$
DECLARE
    b       public.flow_enroll_backlog;
    reentry boolean;
    live    boolean;
    n       bigint;
    last_id uuid;
    next_id uuid;
BEGIN
    SELECT * INTO b FROM public.flow_enroll_backlog ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    SELECT public.flowsend_flow_reentry(f.trigger_config), f.deleted_at IS NULL
      INTO reentry, live FROM public.flows f WHERE f.id = b.flow_id;
    IF NOT COALESCE(live, false) THEN
        DELETE FROM public.flow_enroll_backlog WHERE id = b.id;
        RETURN 1;
    END IF;
    WITH chunk AS (
        SELECT id, is_subscribed FROM public.contacts
         WHERE id >= b.first_id AND id <= b.last_id AND user_id = b.user_id
         ORDER BY id LIMIT max_rows
    ), ins AS (
        INSERT INTO public.flow_executions
               (user_id, flow_id, flow_version, contact_id, status, next_run_at, context,
                enrollment_key)
        SELECT b.user_id, b.flow_id, b.flow_version, c.id, 'active', public.flowsend_now(),
               '{"trigger": "signup"}', CASE WHEN reentry THEN 'signup' ELSE 'once' END
          FROM chunk c
         WHERE c.is_subscribed
           AND (reentry OR NOT EXISTS (SELECT 1 FROM public.flow_executions e
                                        WHERE e.flow_id = b.flow_id AND e.contact_id = c.id))
        ON CONFLICT ON CONSTRAINT flow_executions_enrollment_key DO NOTHING
    )
    SELECT count(*), max(id::text COLLATE "C")::uuid INTO n, last_id FROM chunk;
    IF n > 0 THEN
        SELECT id INTO next_id FROM public.contacts
         WHERE id > last_id AND id <= b.last_id AND user_id = b.user_id
         ORDER BY id LIMIT 1;
    END IF;
    IF next_id IS NULL THEN
        DELETE FROM public.flow_enroll_backlog WHERE id = b.id;
    ELSE
        UPDATE public.flow_enroll_backlog SET first_id = next_id WHERE id = b.id;
    END IF;
    RETURN greatest(n, 1);
END
$$;
