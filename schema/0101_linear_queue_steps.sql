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
-- Now no statement joins a queue to itself:
-- - contact_count_deltas: the rows up to the max_rows-th id, filtered by the
--   tenant's slot-0 lock. No row locks: only the holder of that lock deletes
--   a tenant's rows (nothing else deletes them), and a row a concurrent fold
--   deleted and committed is skipped by the delete itself.
-- - the slot rows of tenant_counters, tag_counts and field_counts, and the
--   search queue's single creates: the rows locked (FOR UPDATE SKIP LOCKED, as
--   before) are deleted by their ctid, a TID scan of the locked rows.
-- tests/e2e/test_concurrency.c (fold_stays_linear_with_generic_plans) runs
-- both with plan_cache_mode = force_generic_plan after analyzing the queues
-- empty.

CREATE OR REPLACE FUNCTION flowsend_counters_fold(max_rows integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    SET lock_timeout = '200ms'
AS $$
DECLARE
    moved bigint;
    total bigint := 0;
    zu    uuid[];
    zn    text[];
    fu    uuid[];
    fnames text[];
BEGIN
    -- Single creates' rows (schema 0097) into slot 0, oldest first, as for
    -- the slots below: skipping tenants whose slot-0 lock a writer holds.
    -- Rows of a tenant deleted since are dropped (its counters went with it).
    -- The oldest max_rows rows by id; no row locks: only the holder of a
    -- tenant's slot-0 lock deletes its rows (nothing else deletes them).
    WITH gone AS (
        DELETE FROM contact_count_deltas x
         WHERE x.id <= (SELECT max(b.id) FROM (SELECT id FROM contact_count_deltas
                                                ORDER BY id LIMIT max_rows) b)
           AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(x.user_id), 0)
        RETURNING x.user_id, x.tags, x.fields
    ), live AS (
        SELECT g.* FROM gone g WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = g.user_id)
    ), t AS (
        INSERT INTO tenant_counters AS c (user_id, slot, contacts)
        SELECT user_id, 0, count(*) FROM live GROUP BY 1 ORDER BY 1
        ON CONFLICT (user_id, slot) DO UPDATE SET contacts = c.contacts + EXCLUDED.contacts
    ), g AS (
        INSERT INTO tag_counts AS c (user_id, tag, slot, contacts)
        SELECT user_id, tag, 0, count(*) FROM live, unnest(live.tags) AS tag
         GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (user_id, tag, slot) DO UPDATE SET contacts = c.contacts + EXCLUDED.contacts
        RETURNING c.user_id, c.tag, c.contacts
    ), f AS (
        INSERT INTO field_counts AS c (user_id, field, slot, contacts)
        SELECT user_id, field, 0, count(*) FROM live, unnest(live.fields) AS field
         GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (user_id, field, slot) DO UPDATE SET contacts = c.contacts + EXCLUDED.contacts
        RETURNING c.user_id, c.field, c.contacts
    )
    SELECT (SELECT count(*) FROM gone),
           (SELECT array_agg(user_id) FROM g WHERE contacts = 0),
           (SELECT array_agg(tag) FROM g WHERE contacts = 0),
           (SELECT array_agg(user_id) FROM f WHERE contacts = 0),
           (SELECT array_agg(field) FROM f WHERE contacts = 0)
      INTO moved, zu, zn, fu, fnames;
    total := total + moved;
    IF zu IS NOT NULL THEN
        DELETE FROM tag_counts t USING unnest(zu, zn) AS z(u, name)
         WHERE t.user_id = z.u AND t.tag = z.name AND t.slot = 0 AND t.contacts = 0;
    END IF;
    IF fu IS NOT NULL THEN
        DELETE FROM field_counts f USING unnest(fu, fnames) AS z(u, name)
         WHERE f.user_id = z.u AND f.field = z.name AND f.slot = 0 AND f.contacts = 0;
    END IF;

    WITH gone AS (
        DELETE FROM tenant_counters x
         WHERE x.ctid = ANY (ARRAY(
               SELECT ctid FROM tenant_counters
                WHERE slot <> 0 AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), 0)
                  AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), slot)
                LIMIT max_rows FOR UPDATE SKIP LOCKED))
        RETURNING x.user_id, x.contacts
    ), folded AS (
        INSERT INTO tenant_counters AS t (user_id, slot, contacts)
        SELECT user_id, 0, sum(contacts) FROM gone GROUP BY 1 ORDER BY 1
        ON CONFLICT (user_id, slot) DO UPDATE SET contacts = t.contacts + EXCLUDED.contacts
    )
    SELECT count(*) INTO moved FROM gone;
    total := total + moved;

    -- Tags and fields: a key whose slots summed to 0 leaves no row (the
    -- delete is a statement of its own: a statement cannot delete the rows
    -- it inserted).
    WITH gone AS (
        DELETE FROM tag_counts x
         WHERE x.ctid = ANY (ARRAY(
               SELECT ctid FROM tag_counts
                WHERE slot <> 0 AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), 0)
                  AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), slot)
                LIMIT max_rows FOR UPDATE SKIP LOCKED))
        RETURNING x.user_id, x.tag, x.contacts
    ), folded AS (
        INSERT INTO tag_counts AS t (user_id, tag, slot, contacts)
        SELECT user_id, tag, 0, sum(contacts) FROM gone GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (user_id, tag, slot) DO UPDATE SET contacts = t.contacts + EXCLUDED.contacts
        RETURNING t.user_id, t.tag, t.contacts
    )
    SELECT (SELECT count(*) FROM gone),
           (SELECT array_agg(user_id) FROM folded WHERE contacts = 0),
           (SELECT array_agg(tag) FROM folded WHERE contacts = 0)
      INTO moved, zu, zn;
    total := total + moved;
    IF zu IS NOT NULL THEN
        DELETE FROM tag_counts t USING unnest(zu, zn) AS z(u, name)
         WHERE t.user_id = z.u AND t.tag = z.name AND t.slot = 0 AND t.contacts = 0;
    END IF;

    WITH gone AS (
        DELETE FROM field_counts x
         WHERE x.ctid = ANY (ARRAY(
               SELECT ctid FROM field_counts
                WHERE slot <> 0 AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), 0)
                  AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), slot)
                LIMIT max_rows FOR UPDATE SKIP LOCKED))
        RETURNING x.user_id, x.field, x.contacts
    ), folded AS (
        INSERT INTO field_counts AS f (user_id, field, slot, contacts)
        SELECT user_id, field, 0, sum(contacts) FROM gone GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (user_id, field, slot) DO UPDATE SET contacts = f.contacts + EXCLUDED.contacts
        RETURNING f.user_id, f.field, f.contacts
    )
    SELECT (SELECT count(*) FROM gone),
           (SELECT array_agg(user_id) FROM folded WHERE contacts = 0),
           (SELECT array_agg(field) FROM folded WHERE contacts = 0)
      INTO moved, zu, zn;
    total := total + moved;
    IF zu IS NOT NULL THEN
        DELETE FROM field_counts f USING unnest(zu, zn) AS z(u, name)
         WHERE f.user_id = z.u AND f.field = z.name AND f.slot = 0 AND f.contacts = 0;
    END IF;
    RETURN total;
EXCEPTION WHEN lock_not_available THEN
    RETURN 0;   -- a writer held a slot-0 row past lock_timeout: next pass
END
$$;

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
