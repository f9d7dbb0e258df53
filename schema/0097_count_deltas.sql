-- A single create appends its counter deltas instead of updating the
-- counters (issue 14). Measured on a durable test cluster under `wrk -t2 -c64`
-- of POST /contacts (session 13): the counters' part of the create trigger
-- (the tenant's slot row, a slot row per tag and per custom field, with the
-- GROUP BY and key queries that feed them) cost about 100 µs of PostgreSQL
-- CPU per create out of 440, more than its statements' own execution: the
-- 32 slot rows of a tenant share a heap page or two, which every writer of
-- the tenant updates, prunes and logs.
--
-- Now a single create (the API, forms, platform events) inserts one row into
-- contact_count_deltas (tenant, tags, custom-field names) and the worker's
-- flowsend_counters_fold moves those rows into slot 0 of tenant_counters,
-- tag_counts and field_counts, deleting them in the same transaction. The
-- views tenant_counters_all, tag_counts_all and field_counts_all add the
-- unfolded rows to the slots; every reader of a count reads them, so a count
-- is exact at every moment (a row is either still appended or already
-- folded, never both, in any snapshot). A delta row is a copy taken at
-- creation: a delete or tag edit of a contact whose row is not folded yet
-- adjusts the slots as before (-1, old tags out, new tags in), and the sum
-- stays exact whatever the order. Imports and other many-row statements
-- still write the slots directly (one statement for many rows).
--
-- The plan's contact limit: flowsend_contacts_room reads the sum with the
-- unfolded rows; single creates still take one slot lock in the trigger (and
-- on capped plans before the insert), so its proof (schema 0018) holds.
--
-- The trigger's single-row path also runs fewer statements: the tenant's
-- shared existence lock in an expression instead of a PERFORM, and one
-- SELECT after it for the tenant's existence, its active signup flows and
-- its contact.created endpoints (three queries before). Enrollment now runs
-- after the locks (it writes no counter). The many-rows path is 0085's.

CREATE TABLE contact_count_deltas (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key: its check would lock the tenant's users row on every
    -- create (schema 0018). The trigger checks the tenant under its shared
    -- lock; the fold drops rows of tenants deleted since.
    user_id uuid NOT NULL,
    tags    text[] NOT NULL,
    fields  text[] NOT NULL
);
CREATE INDEX contact_count_deltas_user_idx ON contact_count_deltas (user_id);
ALTER TABLE contact_count_deltas ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_count_deltas FOR ALL TO flowsend_app
    USING (user_id = flowsend_current_user())
    WITH CHECK (user_id = flowsend_current_user());
GRANT SELECT ON contact_count_deltas TO flowsend_app, flowsend_system;

-- What readers sum: the slots and the unfolded rows. security_invoker: the
-- tables' row-level security applies to the reader.
CREATE VIEW tenant_counters_all WITH (security_invoker = true) AS
    SELECT user_id, contacts FROM tenant_counters
    UNION ALL
    SELECT user_id, 1::bigint FROM contact_count_deltas;
CREATE VIEW tag_counts_all WITH (security_invoker = true) AS
    SELECT user_id, tag, contacts FROM tag_counts
    UNION ALL
    SELECT d.user_id, t.tag, 1::bigint FROM contact_count_deltas d, unnest(d.tags) AS t(tag);
CREATE VIEW field_counts_all WITH (security_invoker = true) AS
    SELECT user_id, field, contacts FROM field_counts
    UNION ALL
    SELECT d.user_id, f.field, 1::bigint FROM contact_count_deltas d, unnest(d.fields) AS f(field);
GRANT SELECT ON tenant_counters_all, tag_counts_all, field_counts_all TO flowsend_app, flowsend_system;

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
    user_ok  boolean;
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
        -- tenant's existence, and whether a signup flow or a contact.created
        -- endpoint of this tenant has work.
        SELECT EXISTS (SELECT 1 FROM public.users WHERE id = one.user_id),
               one.is_subscribed AND EXISTS (
                   SELECT 1 FROM public.flows f
                    WHERE f.user_id = one.user_id AND f.trigger_type = 'signup'
                      AND f.status = 'active' AND f.deleted_at IS NULL),
               EXISTS (SELECT 1 FROM public.webhook_endpoints e
                        WHERE e.user_id = one.user_id AND e.is_active
                          AND 'contact.created' = ANY (e.events))
          INTO user_ok, has_flows, has_hooks;
        IF NOT user_ok THEN
            RAISE EXCEPTION 'insert on table "contacts" violates foreign key constraint "contacts_user_id_fkey"'
                USING ERRCODE = 'foreign_key_violation',
                      DETAIL = 'A contact''s user_id is not a user.';
        END IF;
        -- Signup flows (was contacts_enroll).
        IF has_flows THEN
            PERFORM public.flowsend_flow_enroll(one.user_id, 'signup', NULL, ARRAY[one.id],
                                                'signup', '{"trigger": "signup"}');
        END IF;
        -- The counters: one appended row, folded into slot 0 by the worker
        -- (flowsend_counters_fold); readers add the unfolded rows.
        INSERT INTO public.contact_count_deltas (user_id, tags, fields)
        VALUES (one.user_id, one.tags, ARRAY(SELECT jsonb_object_keys(one.custom_fields)));
        INSERT INTO public.contact_search_backlog (user_id, first_id, last_id)
        VALUES (one.user_id, one.id, one.id);
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

-- As in 0018, reading the sum with the unfolded rows.
CREATE OR REPLACE FUNCTION flowsend_contacts_room(max_contacts bigint, adding bigint) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, public
AS $$
DECLARE
    me constant uuid    := flowsend_current_user();
    k  constant integer := flowsend_counter_slots();
    n  bigint;
BEGIN
    IF me IS NULL THEN
        RAISE EXCEPTION 'flowsend_contacts_room needs a tenant (flowsend.user_id)';
    END IF;
    IF adding <= 1 THEN
        BEGIN
            PERFORM flowsend_counter_slot(me, true);
            SELECT COALESCE(sum(contacts), 0) INTO n FROM tenant_counters_all WHERE user_id = me;
            IF n + k < max_contacts THEN
                RETURN max_contacts - n;
            END IF;
            -- Near the limit: undo this block, which lets the slot lock go
            -- (taking all K while holding one could deadlock with another).
            RAISE EXCEPTION USING ERRCODE = 'FS001';
        EXCEPTION WHEN SQLSTATE 'FS001' THEN
            NULL;
        END;
    END IF;
    PERFORM pg_advisory_xact_lock(flowsend_counter_slot_key(me), s)
       FROM generate_series(0, k - 1) AS s ORDER BY s;
    SELECT COALESCE(sum(contacts), 0) INTO n FROM tenant_counters_all WHERE user_id = me;
    RETURN greatest(max_contacts - n, 0);
END
$$;

-- As in 0018, the single creates' rows folded first.
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
    WITH gone AS (
        DELETE FROM contact_count_deltas x
         WHERE x.id IN (
               SELECT id FROM contact_count_deltas
                WHERE pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), 0)
                ORDER BY id LIMIT max_rows FOR UPDATE SKIP LOCKED)
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
         WHERE (x.user_id, x.slot) IN (
               SELECT user_id, slot FROM tenant_counters
                WHERE slot <> 0 AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), 0)
                  AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), slot)
                LIMIT max_rows FOR UPDATE SKIP LOCKED)
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
         WHERE (x.user_id, x.tag, x.slot) IN (
               SELECT user_id, tag, slot FROM tag_counts
                WHERE slot <> 0 AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), 0)
                  AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), slot)
                LIMIT max_rows FOR UPDATE SKIP LOCKED)
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
         WHERE (x.user_id, x.field, x.slot) IN (
               SELECT user_id, field, slot FROM field_counts
                WHERE slot <> 0 AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), 0)
                  AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(user_id), slot)
                LIMIT max_rows FOR UPDATE SKIP LOCKED)
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

REVOKE EXECUTE ON FUNCTION flowsend_contacts_room(bigint, bigint), flowsend_counters_fold(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowsend_contacts_room(bigint, bigint) TO flowsend_app;
GRANT EXECUTE ON FUNCTION flowsend_counters_fold(integer) TO flowsend_system;
