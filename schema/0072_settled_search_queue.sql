-- The batch worker indexes the contacts created one at a time in batches,
-- not as they trickle in (issue 14). Since schema/0058_queued_search_row.sql a
-- single create queues its id in contact_search_backlog and the worker writes
-- the search rows. While creates arrive, the always-running worker took the
-- queue a few dozen or hundred rows at a time, and each step pays a fixed
-- cost (the queue's scan and sort, the insert's start-up, and above all the
-- trigram index's pending-list clean-up, gin_clean_pending_list) of the order
-- of 15 ms of CPU: measured on a durable test cluster, 2 cores at load 10,
-- 3,820 contacts created in 10 s by 16 clients cost the worker's backends
-- 806 µs of CPU per contact, more than PostgreSQL spent on the create itself,
-- on the same two cores during the run; one step of 5,000 queued rows cost
-- 86 µs per contact, steps of 50 about 420.
--
-- With a settle time, the step leaves single creates queued until
-- least(max_rows, 1000) of them are queued or the oldest has waited that
-- long, then indexes them as before (up to max_rows in one statement, one
-- clean-up). Searches read queued contacts directly (lib/services/contacts.c,
-- CONTACT_MATCHES), so a new contact is found at once whatever the wait; the
-- queue stays bounded (1,000 rows, or settle's worth of creates). The one-
-- argument step (schema 0058), which `flowsend-batch --once` and the tests
-- use, still indexes everything it finds. Ranges queued by imports are
-- indexed at once, as before. It returns how many contacts it looked at, 0
-- when nothing is queued, -1 when it left single creates to settle.
CREATE FUNCTION flowsend_search_backlog_step(max_rows integer, settle interval) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    b       public.contact_search_backlog;
    n       bigint;
    last_id uuid;
    next_id uuid;
BEGIN
    IF settle IS NULL OR settle <= interval '0'
       OR EXISTS (SELECT 1 FROM public.contact_search_backlog q
                   WHERE q.first_id = q.last_id
                     AND (q.queued_at <= public.flowsend_now() - settle
                          -- stamped by a session whose clock runs ahead (the
                          -- tests' clock offset): never left waiting for it
                          OR q.queued_at > public.flowsend_now() + settle))
       OR (SELECT count(*) FROM (SELECT 1 FROM public.contact_search_backlog q
                                  WHERE q.first_id = q.last_id
                                  LIMIT least(max_rows, 1000)) s) >= least(max_rows, 1000) THEN
        RETURN public.flowsend_search_backlog_step(max_rows);
    END IF;
    -- The single creates settle: only an import's range, as in 0058.
    SELECT * INTO b FROM public.contact_search_backlog r WHERE r.first_id <> r.last_id ORDER BY r.id
     LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        -- -1: nothing done, single creates left to settle (the worker looks
        -- again within a second); 0: nothing queued.
        RETURN CASE WHEN EXISTS (SELECT 1 FROM public.contact_search_backlog q
                                  WHERE q.first_id = q.last_id) THEN -1 ELSE 0 END;
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
    PERFORM gin_clean_pending_list('public.contact_search_doc_trgm'::regclass);
    IF next_id IS NULL THEN
        DELETE FROM public.contact_search_backlog WHERE id = b.id;
    ELSE
        UPDATE public.contact_search_backlog SET first_id = next_id WHERE id = b.id;
    END IF;
    RETURN greatest(n, 1);
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_search_backlog_step(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowsend_search_backlog_step(integer, interval) TO flowsend_system;
