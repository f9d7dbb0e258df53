-- The worker's queue steps, in a form no plan can make quadratic (issue 14).
--
-- flowsend_counters_fold (schema 0097) and flowsend_search_backlog_step
-- (schema 0058) took their batch as `x.id IN (SELECT id ... ORDER BY id LIMIT
-- max_rows FOR UPDATE SKIP LOCKED)`. Inside plpgsql their plans are cached and
-- become generic after five runs, planned from the table's statistics; a queue
-- the worker keeps empty is mostly analyzed empty, and then the semi-join is a
-- nested loop that runs the LIMIT/LockRows subquery again for every row of the
-- queue. Measured on the bench instance (durable, 2 cores): after 8 s of
-- `POST /contacts` at 4,000/s, one fold of 19,108 rows ran 21.4 s with
-- 182,606,316 buffer hits (auto_explain: "Nested Loop Semi Join ... Rows
-- Removed by Join Filter: 3493454"), a core busy while creates went on; with
-- the workers' plans made from full statistics a fold of 10,000 took 19 ms.
--
-- Here the search step: the single creates' rows it locks (FOR UPDATE SKIP
-- LOCKED, as before) are deleted by their ctid, a TID scan of the locked rows
-- (schema 0109 keeps sequential scans out of it). The fold's new form is
-- schema 0103's. tests/e2e/test_concurrency.c
-- (queue_steps_stay_linear_with_plans_made_empty) runs both with
-- plan_cache_mode = force_generic_plan after analyzing the queues empty.

CREATE OR REPLACE FUNCTION flowsend_search_backlog_step(max_rows integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    b       public.contact_search_backlog;
    n       bigint;
    last_id uuid;
    next_id uuid;
BEGIN
    WITH taken AS (
        DELETE FROM public.contact_search_backlog x
         WHERE x.ctid = ANY (ARRAY(SELECT q.ctid FROM public.contact_search_backlog q
                                    WHERE q.first_id = q.last_id
                                    ORDER BY q.id LIMIT max_rows FOR UPDATE SKIP LOCKED))
        RETURNING x.user_id, x.first_id
    ), indexed AS (
        INSERT INTO public.contact_search (contact_id, user_id, doc)
        SELECT c.id, c.user_id, public.flowsend_contact_search_text(c.email, c.first_name, c.last_name)
          FROM taken t JOIN public.contacts c ON c.id = t.first_id AND c.user_id = t.user_id
        ON CONFLICT DO NOTHING
    )
    SELECT count(*) INTO n FROM taken;
    IF n > 0 THEN
        PERFORM gin_clean_pending_list('public.contact_search_doc_trgm'::regclass);
        RETURN n;
    END IF;
    SELECT * INTO b FROM public.contact_search_backlog ORDER BY id
     LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    WITH chunk AS (
        SELECT id, user_id, public.flowsend_contact_search_text(email, first_name, last_name) AS doc
          FROM public.contacts
         WHERE id >= b.first_id AND id <= b.last_id AND user_id = b.user_id
         ORDER BY id LIMIT max_rows
    ), indexed AS (
        INSERT INTO public.contact_search (contact_id, user_id, doc)
        SELECT id, user_id, doc FROM chunk
        ON CONFLICT DO NOTHING
    )
    SELECT count(*), max(id::text COLLATE "C")::uuid INTO n, last_id FROM chunk;
    IF n > 0 THEN
        SELECT id INTO next_id FROM public.contacts
         WHERE id > last_id AND id <= b.last_id AND user_id = b.user_id
         ORDER BY id LIMIT 1;
    END IF;
    -- Searches read the index's pending list in full: fold it into the index
    -- now rather than leave a million entries there until the next vacuum.
    PERFORM gin_clean_pending_list('public.contact_search_doc_trgm'::regclass);
    IF next_id IS NULL THEN
        DELETE FROM public.contact_search_backlog WHERE id = b.id;
    ELSE
        UPDATE public.contact_search_backlog SET first_id = next_id WHERE id = b.id;
    END IF;
    RETURN greatest(n, 1);
END
$$;
