-- A few rows of one tenant, as that many single creates (issue 14). The API's
-- concurrent creates of one tenant now go down together, one statement for
-- the responder's batch (services/contacts.c, queue/shm_batch.c), and such a
-- statement took the many-rows path made for imports: the slot rows of
-- tenant_counters, tag_counts and field_counts updated in place, the search
-- rows written inline, the flows and endpoints probed. Up to 100 rows of one
-- tenant now take the single create's way for each row: a counters' row per
-- contact, which also queues it for search (schema 0103), folded by the
-- worker; the tenant's counts of signup flows and contact.created endpoints
-- read from its row (schema 0108). Imports' statements of more rows are
-- unchanged.

CREATE OR REPLACE FUNCTION flowsend_contacts_created() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    k        constant integer := public.flowsend_counter_slots();
    one      public.contacts;
    lock_key integer;
    start_at integer;
    tenants  uuid[];
    counts   bigint[];
    slots    integer[];
    total    bigint;
    owner    uuid;
    cnt      bigint;
    grp      record;
    has_flows boolean;
    has_hooks boolean;
    one_tenant boolean;
BEGIN
    SELECT count(*) INTO total FROM (SELECT 1 FROM new_rows LIMIT 101) s;
    IF total = 0 THEN
        RETURN NULL;
    END IF;
    IF total = 1 THEN
        SELECT * INTO one FROM new_rows;
        -- A slot lock, as every single create has held one since schema 0018
        -- (an all-slots reader of flowsend_contacts_room waits for it): the
        -- first free of the K slots from pg_backend_pid() % K, or one this
        -- transaction holds already; none when all are held.
        lock_key := public.flowsend_counter_slot_key(one.user_id);
        start_at := pg_backend_pid() % k;
        FOR i IN 0 .. k - 1 LOOP
            EXIT WHEN pg_try_advisory_xact_lock(lock_key, (start_at + i) % k);
        END LOOP;
        -- An expression, not a PERFORM: no executor start for the lock.
        IF pg_advisory_xact_lock_shared(lock_key, -1) IS NULL THEN
            NULL;
        END IF;
        -- One statement after the lock (so its snapshot follows it): the
        -- counters' row, which also queues the contact for search (schema
        -- 0103), and the tenant's row: that it exists, and whether a signup
        -- flow or a contact.created endpoint of its has work (the counts
        -- kept on it, below). A missing tenant raises, which undoes the row
        -- with the contact.
        WITH counted AS (
            INSERT INTO public.contact_count_deltas (user_id, contact_id, tags, fields)
            VALUES (one.user_id, one.id, one.tags, ARRAY(SELECT jsonb_object_keys(one.custom_fields)))
        )
        SELECT one.is_subscribed AND u.signup_flows > 0, u.created_hooks > 0
          INTO has_flows, has_hooks
          FROM public.users u WHERE u.id = one.user_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert on table "contacts" violates foreign key constraint "contacts_user_id_fkey"'
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = 'A contact''s user_id is not a user.';
        END IF;
        -- Signup flows (was contacts_enroll).
        IF has_flows THEN
            PERFORM public.flowsend_flow_enroll(one.user_id, 'signup', NULL, ARRAY[one.id],
                                                'signup', '{"trigger": "signup"}');
        END IF;
        -- contact.created: this tenant's active endpoints only.
        IF has_hooks THEN
            INSERT INTO public.webhook_events (user_id, endpoint_id, event_type, data)
            SELECT one.user_id, e.id, 'contact.created',
                   jsonb_build_object('contact', jsonb_build_object(
                       'id', one.id, 'email', one.email, 'first_name', one.first_name,
                       'last_name', one.last_name, 'tags', to_jsonb(one.tags),
                       'custom_fields', one.custom_fields, 'is_subscribed', one.is_subscribed,
                       'created_at', one.created_at))
              FROM public.webhook_endpoints e
             WHERE e.user_id = one.user_id AND e.is_active AND 'contact.created' = ANY (e.events)
             ORDER BY e.id
               FOR KEY SHARE OF e;
        END IF;
        RETURN NULL;
    END IF;

    SELECT user_id INTO owner FROM new_rows LIMIT 1;
    one_tenant := NOT EXISTS (SELECT 1 FROM new_rows WHERE user_id <> owner);

    -- Up to 100 rows of one tenant (a batch of API creates): as that many
    -- single creates, in one go. One slot lock and the tenant's shared lock,
    -- then a counters' row per contact (which queues it for search) and the
    -- tenant's row (its existence, its signup flows' and contact.created
    -- endpoints' counts) in one statement after them.
    IF total <= 100 AND one_tenant THEN
        lock_key := public.flowsend_counter_slot_key(owner);
        start_at := pg_backend_pid() % k;
        FOR i IN 0 .. k - 1 LOOP
            EXIT WHEN pg_try_advisory_xact_lock(lock_key, (start_at + i) % k);
        END LOOP;
        IF pg_advisory_xact_lock_shared(lock_key, -1) IS NULL THEN
            NULL;
        END IF;
        WITH counted AS (
            INSERT INTO public.contact_count_deltas (user_id, contact_id, tags, fields)
            SELECT r.user_id, r.id, r.tags, ARRAY(SELECT jsonb_object_keys(r.custom_fields))
              FROM new_rows r ORDER BY r.id
        )
        SELECT u.signup_flows > 0, u.created_hooks > 0
          INTO has_flows, has_hooks
          FROM public.users u WHERE u.id = owner;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert on table "contacts" violates foreign key constraint "contacts_user_id_fkey"'
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = 'A contact''s user_id is not a user.';
        END IF;
        IF has_flows THEN
            PERFORM public.flowsend_flow_enroll(
                owner, 'signup', NULL, ARRAY(SELECT id FROM new_rows WHERE is_subscribed ORDER BY id),
                'signup', '{"trigger": "signup"}');
        END IF;
        IF has_hooks THEN
            INSERT INTO public.webhook_events (user_id, endpoint_id, event_type, data)
            SELECT r.user_id, e.id, 'contact.created',
                   jsonb_build_object('contact', jsonb_build_object(
                       'id', r.id, 'email', r.email, 'first_name', r.first_name,
                       'last_name', r.last_name, 'tags', to_jsonb(r.tags),
                       'custom_fields', r.custom_fields, 'is_subscribed', r.is_subscribed,
                       'created_at', r.created_at))
              FROM new_rows r
              JOIN public.webhook_endpoints e ON e.user_id = r.user_id AND e.is_active
                                             AND 'contact.created' = ANY (e.events)
             ORDER BY e.id, r.created_at, r.id
               FOR KEY SHARE OF e;
        END IF;
        RETURN NULL;
    END IF;

    -- Many rows: schema 0028's enrollment, unchanged.
    IF one_tenant THEN
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
         ORDER BY e.id, r.created_at, r.id
           FOR KEY SHARE OF e;
    END IF;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_contacts_created() FROM PUBLIC;
