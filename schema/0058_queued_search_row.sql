-- A contact created on its own no longer writes its search row in the
-- request's transaction (issue 14). The row of contact_search cost the create
-- its heap tuple, its key and, above all, its trigram entries in the GIN
-- index's pending list (one entry per trigram of the address and names, about
-- 1.5 kB of WAL, and now and then the pending list's clean-up inside a
-- request). The create now queues its id in contact_search_backlog as a
-- range of one, as imports of more than 1,000 contacts queue theirs
-- (schema/0011_async_search.sql): searches read queued ranges directly, so a
-- new contact is found at once, and the batch worker indexes the queued
-- contacts in chunks of thousands, one pending-list clean-up per chunk.
-- What this moves out of the request the worker pays later, in batches
-- (README, "Session 10"): the request's WAL about halves, the total does not.
--
-- The single create's counters (tenant, tags, custom fields) are a plain
-- UPDATE of the transaction's slot row, and an upsert only where it found
-- none: ON CONFLICT DO UPDATE writes two WAL records per row (its row lock,
-- then the update), so a create with two tags and a field wrote 8 records for
-- its counters where it now writes 4. Counts stay exact: an UPDATE that waits
-- for a row the worker's fold or a delete removes finds no row and upserts.
--
-- Erasure stays complete: a contact deleted while queued takes its queue row
-- with it, before its search row goes (flowsend_contacts_deleted below), so
-- a worker indexing it at the same moment is either waited for (its row lock
-- on the queue row) and its search row then deleted, or finds the queue row
-- gone and indexes nothing.

CREATE OR REPLACE FUNCTION flowsend_contacts_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    one     public.contacts;
    my_slot integer;
    c_key   text;
    c_n     bigint;
    tenants uuid[];
    counts  bigint[];
    slots   integer[];
    total   bigint;
BEGIN
    SELECT count(*) INTO total FROM new_rows;
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    IF total = 1 THEN
        -- One contact (the API's create, a form, a platform event), the hot
        -- case: the same work in plain statements, without the aggregates,
        -- sorts and joins that a batch needs (a third of an insert's time).
        SELECT * INTO one FROM new_rows;
        my_slot := public.flowsend_counter_slot(one.user_id);
        PERFORM pg_advisory_xact_lock_shared(public.flowsend_counter_slot_key(one.user_id), -1);
        IF NOT EXISTS (SELECT 1 FROM public.users WHERE id = one.user_id) THEN
            RAISE EXCEPTION 'insert on table "contacts" violates foreign key constraint "contacts_user_id_fkey"'
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = 'A contact''s user_id is not a user.';
        END IF;
        -- The slot's rows are there but for a tenant's first writes in a
        -- slot (or after the worker folded it): a plain UPDATE then, which
        -- writes one WAL record where ON CONFLICT DO UPDATE writes two (its
        -- row lock, then the update), and the upsert only when it found no
        -- row. Rows in a fixed order (tenant, then tags and fields by name),
        -- as every counter writer takes them.
        UPDATE public.tenant_counters SET contacts = contacts + 1
         WHERE user_id = one.user_id AND slot = my_slot;
        IF NOT FOUND THEN
            INSERT INTO public.tenant_counters AS c (user_id, slot, contacts)
            VALUES (one.user_id, my_slot, 1)
            ON CONFLICT (user_id, slot) DO UPDATE SET contacts = c.contacts + 1;
        END IF;
        IF cardinality(one.tags) > 0 THEN
            FOR c_key, c_n IN SELECT tag, count(*) FROM unnest(one.tags) AS tag
                            GROUP BY tag ORDER BY tag LOOP
                UPDATE public.tag_counts SET contacts = contacts + c_n
                 WHERE user_id = one.user_id AND tag = c_key AND slot = my_slot;
                IF NOT FOUND THEN
                    INSERT INTO public.tag_counts AS t (user_id, tag, slot, contacts)
                    VALUES (one.user_id, c_key, my_slot, c_n)
                    ON CONFLICT (user_id, tag, slot) DO UPDATE SET contacts = t.contacts + EXCLUDED.contacts;
                END IF;
            END LOOP;
        END IF;
        IF one.custom_fields <> '{}'::jsonb THEN
            FOR c_key IN SELECT field FROM jsonb_object_keys(one.custom_fields) AS field
                         ORDER BY field LOOP
                UPDATE public.field_counts SET contacts = contacts + 1
                 WHERE user_id = one.user_id AND field = c_key AND slot = my_slot;
                IF NOT FOUND THEN
                    INSERT INTO public.field_counts AS f (user_id, field, slot, contacts)
                    VALUES (one.user_id, c_key, my_slot, 1)
                    ON CONFLICT (user_id, field, slot) DO UPDATE SET contacts = f.contacts + 1;
                END IF;
            END LOOP;
        END IF;
        -- Queued for the worker (see the top of this file), not indexed here.
        INSERT INTO public.contact_search_backlog (user_id, first_id, last_id)
        VALUES (one.user_id, one.id, one.id);
        RETURN NULL;
    END IF;
    SELECT array_agg(user_id ORDER BY user_id), array_agg(n ORDER BY user_id),
           array_agg(slot ORDER BY user_id)
      INTO tenants, counts, slots
      FROM (SELECT user_id, count(*) AS n, public.flowsend_counter_slot(user_id) AS slot
              FROM new_rows GROUP BY user_id) t;
    PERFORM pg_advisory_xact_lock_shared(public.flowsend_counter_slot_key(t), -1)
       FROM unnest(tenants) AS t ORDER BY t;
    -- A statement of its own, so its snapshot follows the lock.
    IF (SELECT count(*) FROM public.users WHERE id = ANY (tenants)) <> cardinality(tenants) THEN
        RAISE EXCEPTION 'insert on table "contacts" violates foreign key constraint "contacts_user_id_fkey"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'A contact''s user_id is not a user.';
    END IF;
    INSERT INTO public.tenant_counters AS c (user_id, slot, contacts)
    SELECT * FROM unnest(tenants, slots, counts)
    ON CONFLICT (user_id, slot) DO UPDATE SET contacts = c.contacts + EXCLUDED.contacts;
    INSERT INTO public.tag_counts AS t (user_id, tag, slot, contacts)
    SELECT n.user_id, tag, s.slot, count(*)
      FROM new_rows n JOIN unnest(tenants, slots) AS s(user_id, slot) USING (user_id),
           unnest(n.tags) AS tag
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (user_id, tag, slot) DO UPDATE SET contacts = t.contacts + EXCLUDED.contacts;
    INSERT INTO public.field_counts AS f (user_id, field, slot, contacts)
    SELECT n.user_id, field, s.slot, count(*)
      FROM new_rows n JOIN unnest(tenants, slots) AS s(user_id, slot) USING (user_id),
           jsonb_object_keys(n.custom_fields) AS field
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (user_id, field, slot) DO UPDATE SET contacts = f.contacts + EXCLUDED.contacts;
    IF total <= 1000 THEN
        INSERT INTO public.contact_search (contact_id, user_id, doc)
        SELECT id, user_id, public.flowsend_contact_search_text(email, first_name, last_name)
          FROM new_rows
        ON CONFLICT DO NOTHING;
    ELSE
        -- uuid has no min() or max(); its text form sorts the same way.
        INSERT INTO public.contact_search_backlog (user_id, first_id, last_id)
        SELECT user_id, min(id::text COLLATE "C")::uuid, max(id::text COLLATE "C")::uuid
          FROM new_rows GROUP BY user_id;
    END IF;
    RETURN NULL;
END
$$;

-- As in 0011, and a deleted contact's queue row of one goes first (see the
-- top of this file for why first).
CREATE OR REPLACE FUNCTION flowsend_contacts_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM public.contact_search_backlog WHERE first_id = last_id) THEN
        DELETE FROM public.contact_search_backlog b USING old_rows o
         WHERE b.user_id = o.user_id AND b.first_id = o.id AND b.last_id = o.id;
    END IF;
    DELETE FROM public.contact_search s USING old_rows o
     WHERE s.contact_id = o.id AND s.user_id = o.user_id;
    RETURN NULL;
END
$$;

-- As in 0011, and first the queued contacts created one at a time: up to
-- max_rows of them in one statement (their queue rows deleted, their search
-- rows written, the pending list folded once), where a range each would
-- take a statement and a clean-up per contact.
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
         WHERE x.id IN (SELECT q.id FROM public.contact_search_backlog q
                         WHERE q.first_id = q.last_id
                         ORDER BY q.id LIMIT max_rows FOR UPDATE SKIP LOCKED)
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
