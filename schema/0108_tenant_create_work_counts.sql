-- The create trigger's probes of flows and webhook_endpoints, as counts on
-- the tenant's row (issue 14). A single create asked, after its locks,
-- whether its tenant exists, has an active signup flow and has an active
-- endpoint for contact.created: three index probes, two of them (each an
-- index scan's start-up and run) 51,000 of the create's 875,000 instructions
-- in PostgreSQL (callgrind of a single-user backend running 1,000 prepared
-- creates: 874.9 M with them, 824.1 M without).
--
-- Now users.signup_flows and users.created_hooks count them, kept by row
-- triggers on flows and webhook_endpoints that fire only when a row starts or
-- stops counting (their WHEN clauses: a delivery attempt's update of an
-- endpoint, say, fires nothing). The counts change by increments under the
-- row's lock, so concurrent changes add up exactly, and the create reads
-- them from the row it probes for the tenant's existence anyway: in the same
-- snapshot as before, a flow being activated by a transaction not yet
-- committed is not seen, as it was not by the probe of flows. The many-rows
-- path still probes flows itself.
--
-- The trigger's single-row path is also in three statements instead of five:
-- after the tenant's locks, one statement appends the counters' row, which
-- now also queues the contact for search (contact_count_deltas.contact_id,
-- schema 0103, instead of a row in contact_search_backlog: 60,000 of 935,000
-- instructions), and reads the tenant's row (data-modifying CTEs run whether
-- or not the query reads them; a missing tenant raises, which undoes the row
-- with the contact). Merging the statements alone: 991.5 M -> 985.7 M
-- instructions for the 1,000 creates; also tried and not kept, the one-row
-- test and the row in one statement (`SELECT n.* INTO one FROM new_rows n
-- WHERE (SELECT count(*) ...) = 1`), 1,004.3 M.
--
-- The contact.created events lock the endpoints they are for (FOR KEY
-- SHARE): an endpoint deleted by a transaction that commits after this
-- statement's snapshot is waited for and skipped, where its event's foreign
-- key check failed the whole create with a 500 (schema 0110 does the same
-- for the other events).

ALTER TABLE users ADD COLUMN signup_flows integer NOT NULL DEFAULT 0,
                  ADD COLUMN created_hooks integer NOT NULL DEFAULT 0;

UPDATE users u SET
    signup_flows = (SELECT count(*) FROM flows f
                     WHERE f.user_id = u.id AND f.trigger_type = 'signup'
                       AND f.status = 'active' AND f.deleted_at IS NULL),
    created_hooks = (SELECT count(*) FROM webhook_endpoints e
                      WHERE e.user_id = u.id AND e.is_active
                        AND 'contact.created' = ANY (e.events));

CREATE FUNCTION flowsend_signup_flows_counted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.trigger_type = 'signup' AND OLD.status = 'active'
       AND OLD.deleted_at IS NULL THEN
        UPDATE public.users SET signup_flows = signup_flows - 1 WHERE id = OLD.user_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.trigger_type = 'signup' AND NEW.status = 'active'
       AND NEW.deleted_at IS NULL THEN
        UPDATE public.users SET signup_flows = signup_flows + 1 WHERE id = NEW.user_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION flowsend_created_hooks_counted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.is_active AND 'contact.created' = ANY (OLD.events) THEN
        UPDATE public.users SET created_hooks = created_hooks - 1 WHERE id = OLD.user_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.is_active AND 'contact.created' = ANY (NEW.events) THEN
        UPDATE public.users SET created_hooks = created_hooks + 1 WHERE id = NEW.user_id;
    END IF;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_signup_flows_counted(), flowsend_created_hooks_counted() FROM PUBLIC;

CREATE TRIGGER flows_signup_counted_inserted AFTER INSERT ON flows FOR EACH ROW
    WHEN (NEW.trigger_type = 'signup' AND NEW.status = 'active' AND NEW.deleted_at IS NULL)
    EXECUTE FUNCTION flowsend_signup_flows_counted();
CREATE TRIGGER flows_signup_counted_updated AFTER UPDATE ON flows FOR EACH ROW
    WHEN ((OLD.trigger_type = 'signup' AND OLD.status = 'active' AND OLD.deleted_at IS NULL)
              IS DISTINCT FROM
          (NEW.trigger_type = 'signup' AND NEW.status = 'active' AND NEW.deleted_at IS NULL)
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION flowsend_signup_flows_counted();
CREATE TRIGGER flows_signup_counted_deleted AFTER DELETE ON flows FOR EACH ROW
    WHEN (OLD.trigger_type = 'signup' AND OLD.status = 'active' AND OLD.deleted_at IS NULL)
    EXECUTE FUNCTION flowsend_signup_flows_counted();

CREATE TRIGGER endpoints_created_counted_inserted AFTER INSERT ON webhook_endpoints FOR EACH ROW
    WHEN (NEW.is_active AND 'contact.created' = ANY (NEW.events))
    EXECUTE FUNCTION flowsend_created_hooks_counted();
CREATE TRIGGER endpoints_created_counted_updated AFTER UPDATE ON webhook_endpoints FOR EACH ROW
    WHEN ((OLD.is_active AND 'contact.created' = ANY (OLD.events))
              IS DISTINCT FROM (NEW.is_active AND 'contact.created' = ANY (NEW.events))
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION flowsend_created_hooks_counted();
CREATE TRIGGER endpoints_created_counted_deleted AFTER DELETE ON webhook_endpoints FOR EACH ROW
    WHEN (OLD.is_active AND 'contact.created' = ANY (OLD.events))
    EXECUTE FUNCTION flowsend_created_hooks_counted();

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
BEGIN
    SELECT count(*) INTO total FROM (SELECT 1 FROM new_rows LIMIT 2) s;
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

    -- None, or many rows: schema 0028's enrollment, unchanged.
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
         ORDER BY e.id, r.created_at, r.id
           FOR KEY SHARE OF e;
    END IF;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_contacts_created() FROM PUBLIC;
