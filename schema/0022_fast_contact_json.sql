-- flowsend_ts was declared IMMUTABLE over to_json(timestamp), which is STABLE,
-- so PostgreSQL refused to inline it and ran it as a function call of its own:
-- four per contact, two thirds of the cost of every contact's JSON (50,000
-- contacts: 1.3 s before, 0.47 s after). STABLE is what it is; nothing indexes it.
ALTER FUNCTION flowsend_ts(timestamptz) STABLE;
-- The same for the address hash (convert_to is STABLE): every create, import
-- row and send checks opt-outs and suppressions by it, and each call parsed
-- its body anew. No index or generated column uses it.
ALTER FUNCTION flowsend_email_hash(text) STABLE;

-- A contact created on its own skips the batch machinery of 0018's trigger.
CREATE OR REPLACE FUNCTION flowsend_contacts_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    one     public.contacts;
    my_slot integer;
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
        INSERT INTO public.tenant_counters AS c (user_id, slot, contacts)
        VALUES (one.user_id, my_slot, 1)
        ON CONFLICT (user_id, slot) DO UPDATE SET contacts = c.contacts + 1;
        IF cardinality(one.tags) > 0 THEN
            INSERT INTO public.tag_counts AS t (user_id, tag, slot, contacts)
            SELECT one.user_id, tag, my_slot, count(*) FROM unnest(one.tags) AS tag
             GROUP BY tag ORDER BY tag
            ON CONFLICT (user_id, tag, slot) DO UPDATE SET contacts = t.contacts + EXCLUDED.contacts;
        END IF;
        IF one.custom_fields <> '{}'::jsonb THEN
            INSERT INTO public.field_counts AS f (user_id, field, slot, contacts)
            SELECT one.user_id, field, my_slot, 1
              FROM jsonb_object_keys(one.custom_fields) AS field ORDER BY field
            ON CONFLICT (user_id, field, slot) DO UPDATE SET contacts = f.contacts + 1;
        END IF;
        INSERT INTO public.contact_search (contact_id, user_id, doc)
        VALUES (one.id, one.user_id,
                public.flowsend_contact_search_text(one.email, one.first_name, one.last_name))
        ON CONFLICT DO NOTHING;
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
