-- A create fires one trigger, not three (issue 14). Until now an INSERT into
-- contacts fired three AFTER INSERT statement triggers: contacts_enroll
-- (signup flows, schema 0028), contacts_inserted (the tenant's counters and
-- the search queue, schemas 0018 and 0058) and contacts_webhooks_created
-- (contact.created, schema 0034). Each firing builds its own PL/pgSQL call,
-- scans the transition table again (count, then the row) and, for the
-- counters, called flowsend_counter_slot as a nested PL/pgSQL function. A
-- single create, the hot case (the API, forms, platform events), paid that
-- three times for one row.
--
-- flowsend_contacts_created does the three jobs in one call, in the order the
-- three triggers fired (by name: enrollment, counters and search queue,
-- webhooks), reading the new row once. For one row it picks the counter slot
-- inline (the same choice as flowsend_counter_slot(tenant): the first free of
-- the 32 slots from pg_backend_pid() % 32, that start slot if none is free;
-- a slot lock this transaction already holds, as flowsend_contacts_room
-- takes on capped plans, is taken again and chosen), asks whether the tenant
-- has an active endpoint for contact.created before building the event (a
-- probe of webhook_endpoints_user_idx), and otherwise writes exactly what the
-- three did. Statements of many rows (imports, merges) run the three
-- triggers' batch code unchanged. The DELETE and UPDATE triggers are
-- untouched.
CREATE FUNCTION flowsend_contacts_created() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    k        constant integer := public.flowsend_counter_slots();
    one      public.contacts;
    lock_key integer;
    start_at integer;
    my_slot  integer;
    c_key    text;
    c_n      bigint;
    tenants  uuid[];
    counts   bigint[];
    slots    integer[];
    total    bigint;
    owner    uuid;
    cnt      bigint;
    grp      record;
BEGIN
    SELECT count(*) INTO total FROM (SELECT 1 FROM new_rows LIMIT 2) s;
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    IF total = 1 THEN
        SELECT * INTO one FROM new_rows;
        -- Signup flows (was contacts_enroll).
        IF one.is_subscribed AND EXISTS (
               SELECT 1 FROM public.flows f
                WHERE f.user_id = one.user_id AND f.trigger_type = 'signup'
                  AND f.status = 'active' AND f.deleted_at IS NULL) THEN
            PERFORM public.flowsend_flow_enroll(one.user_id, 'signup', NULL, ARRAY[one.id],
                                                'signup', '{"trigger": "signup"}');
        END IF;
        -- Counters and the search queue (was contacts_inserted), the slot
        -- picked here rather than by a nested flowsend_counter_slot call.
        lock_key := public.flowsend_counter_slot_key(one.user_id);
        start_at := pg_backend_pid() % k;
        my_slot := start_at;
        FOR i IN 0 .. k - 1 LOOP
            IF pg_try_advisory_xact_lock(lock_key, (start_at + i) % k) THEN
                my_slot := (start_at + i) % k;
                EXIT;
            END IF;
        END LOOP;
        PERFORM pg_advisory_xact_lock_shared(lock_key, -1);
        IF NOT EXISTS (SELECT 1 FROM public.users WHERE id = one.user_id) THEN
            RAISE EXCEPTION 'insert on table "contacts" violates foreign key constraint "contacts_user_id_fkey"'
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = 'A contact''s user_id is not a user.';
        END IF;
        -- A plain UPDATE of the slot's row, the upsert only when it is
        -- missing; rows in a fixed order (tenant, then tags and fields by
        -- name), as every counter writer takes them (schema 0058).
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
        INSERT INTO public.contact_search_backlog (user_id, first_id, last_id)
        VALUES (one.user_id, one.id, one.id);
        -- contact.created (was contacts_webhooks_created): this tenant's
        -- active endpoints only, one probe when it has none.
        IF EXISTS (SELECT 1 FROM public.webhook_endpoints e
                    WHERE e.user_id = one.user_id AND e.is_active
                      AND 'contact.created' = ANY (e.events)) THEN
            INSERT INTO public.webhook_events (user_id, endpoint_id, event_type, data)
            SELECT one.user_id, e.id, 'contact.created',
                   jsonb_build_object('contact', jsonb_build_object(
                       'id', one.id, 'email', one.email, 'first_name', one.first_name,
                       'last_name', one.last_name, 'tags', to_jsonb(one.tags),
                       'custom_fields', one.custom_fields, 'is_subscribed', one.is_subscribed,
                       'created_at', one.created_at))
              FROM public.webhook_endpoints e
             WHERE e.user_id = one.user_id AND e.is_active AND 'contact.created' = ANY (e.events)
             ORDER BY e.id;
        END IF;
        RETURN NULL;
    END IF;

    -- Many rows: schema 0028's enrollment, unchanged.
    SELECT user_id INTO owner FROM new_rows LIMIT 1;
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE user_id <> owner) THEN
        IF EXISTS (SELECT 1 FROM public.flows f
                    WHERE f.user_id = owner AND f.trigger_type = 'signup'
                      AND f.status = 'active' AND f.deleted_at IS NULL) THEN
            SELECT count(*) INTO cnt FROM (SELECT 1 FROM new_rows LIMIT 1001) s;
            IF cnt <= 1000 THEN
                PERFORM public.flowsend_flow_enroll(
                    owner, 'signup', NULL, ARRAY(SELECT id FROM new_rows WHERE is_subscribed),
                    'signup', '{"trigger": "signup"}');
            ELSE
                INSERT INTO public.flow_enroll_backlog (user_id, flow_id, flow_version, first_id, last_id)
                SELECT owner, f.id, f.current_version,
                       (SELECT id FROM new_rows ORDER BY id LIMIT 1),
                       (SELECT id FROM new_rows ORDER BY id DESC LIMIT 1)
                  FROM public.flows f
                 WHERE f.user_id = owner AND f.trigger_type = 'signup' AND f.status = 'active'
                   AND f.deleted_at IS NULL AND f.current_version IS NOT NULL;
            END IF;
        END IF;
    ELSE
        FOR grp IN SELECT user_id, count(*) AS n, min(id::text COLLATE "C")::uuid AS lo,
                        max(id::text COLLATE "C")::uuid AS hi
                   FROM new_rows GROUP BY user_id LOOP
            CONTINUE WHEN NOT EXISTS (
                   SELECT 1 FROM public.flows f
                    WHERE f.user_id = grp.user_id AND f.trigger_type = 'signup'
                      AND f.status = 'active' AND f.deleted_at IS NULL);
            IF grp.n <= 1000 THEN
                PERFORM public.flowsend_flow_enroll(
                    grp.user_id, 'signup', NULL,
                    ARRAY(SELECT id FROM new_rows WHERE user_id = grp.user_id AND is_subscribed),
                    'signup', '{"trigger": "signup"}');
            ELSE
                INSERT INTO public.flow_enroll_backlog (user_id, flow_id, flow_version, first_id, last_id)
                SELECT grp.user_id, f.id, f.current_version, grp.lo, grp.hi
                  FROM public.flows f
                 WHERE f.user_id = grp.user_id AND f.trigger_type = 'signup' AND f.status = 'active'
                   AND f.deleted_at IS NULL AND f.current_version IS NOT NULL;
            END IF;
        END LOOP;
    END IF;

    -- Many rows: schema 0058's counters and search rows, unchanged.
    SELECT count(*) INTO total FROM new_rows;
    SELECT array_agg(user_id ORDER BY user_id), array_agg(n ORDER BY user_id),
           array_agg(slot ORDER BY user_id)
      INTO tenants, counts, slots
      FROM (SELECT user_id, count(*) AS n, public.flowsend_counter_slot(user_id) AS slot
              FROM new_rows GROUP BY user_id) s;
    PERFORM pg_advisory_xact_lock_shared(public.flowsend_counter_slot_key(u), -1)
       FROM unnest(tenants) AS u ORDER BY u;
    -- A statement of its own, so its snapshot follows the lock.
    IF (SELECT count(*) FROM public.users WHERE id = ANY (tenants)) <> cardinality(tenants) THEN
        RAISE EXCEPTION 'insert on table "contacts" violates foreign key constraint "contacts_user_id_fkey"'
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = 'A contact''s user_id is not a user.';
    END IF;
    INSERT INTO public.tenant_counters AS c (user_id, slot, contacts)
    SELECT * FROM unnest(tenants, slots, counts)
    ON CONFLICT (user_id, slot) DO UPDATE SET contacts = c.contacts + EXCLUDED.contacts;
    INSERT INTO public.tag_counts AS tc (user_id, tag, slot, contacts)
    SELECT r.user_id, tag, s.slot, count(*)
      FROM new_rows r JOIN unnest(tenants, slots) AS s(user_id, slot) USING (user_id),
           unnest(r.tags) AS tag
     GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (user_id, tag, slot) DO UPDATE SET contacts = tc.contacts + EXCLUDED.contacts;
    INSERT INTO public.field_counts AS f (user_id, field, slot, contacts)
    SELECT r.user_id, field, s.slot, count(*)
      FROM new_rows r JOIN unnest(tenants, slots) AS s(user_id, slot) USING (user_id),
           jsonb_object_keys(r.custom_fields) AS field
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

    -- Many rows: schema 0034's contact.created events, unchanged.
    IF EXISTS (SELECT 1 FROM public.webhook_endpoints) THEN
        INSERT INTO public.webhook_events (user_id, endpoint_id, event_type, data)
        SELECT r.user_id, e.id, 'contact.created',
               jsonb_build_object('contact', jsonb_build_object(
                   'id', r.id, 'email', r.email, 'first_name', r.first_name, 'last_name', r.last_name,
                   'tags', to_jsonb(r.tags), 'custom_fields', r.custom_fields,
                   'is_subscribed', r.is_subscribed, 'created_at', r.created_at))
          FROM new_rows r
          JOIN public.webhook_endpoints e ON e.user_id = r.user_id AND e.is_active
                                         AND 'contact.created' = ANY (e.events)
         ORDER BY e.id, r.created_at, r.id;
    END IF;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_contacts_created() FROM PUBLIC;

DROP TRIGGER contacts_enroll ON contacts;
DROP TRIGGER contacts_inserted ON contacts;
DROP TRIGGER contacts_webhooks_created ON contacts;
CREATE TRIGGER contacts_created AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowsend_contacts_created();
-- The three functions fired nothing else; a later change to what a create
-- does belongs in flowsend_contacts_created.
DROP FUNCTION flowsend_contacts_enroll();
DROP FUNCTION flowsend_contacts_inserted();
DROP FUNCTION flowsend_webhooks_contacts_created();
