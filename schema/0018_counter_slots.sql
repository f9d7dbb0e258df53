-- Counters that do not queue a tenant's writers. Every contact insert, delete
-- or tag edit used to update the tenant's one tenant_counters row (and its
-- tag_counts and field_counts rows) and hold that row lock until commit, so a
-- tenant's concurrent creates ran one at a time (pg_stat_activity: most
-- backends waiting on "Lock transactionid").
--
-- Each counter is now split over up to flowsend_counter_slots() rows per key,
-- (user_id, slot) for tenant_counters, (user_id, tag, slot) and (user_id,
-- field, slot) for the others; a reader sums the slots, a writer adds its
-- delta (+ or -) to one slot. Which one: a transaction holds one of the
-- tenant's slot advisory locks, (hash of the tenant, slot), taken with
-- pg_try_advisory_xact_lock starting at its backend's pid modulo the count,
-- so concurrent writers of one tenant write different rows and never wait
-- for each other. When all slots are held, a writer uses pid modulo the
-- count without the lock and may wait on that row, as all writers did before.
-- Sums are exact: every delta lands in exactly one row of the key, in the
-- writer's transaction. A slot row may be negative (added in one slot,
-- removed in another); only the sum means anything. The batch worker folds
-- the other slots into slot 0 (flowsend_counters_fold) so each key goes back
-- to one row.
--
-- The same slot locks bound the plan's contact limit: see
-- flowsend_contacts_room below for why it stays exact.

-- 32 slots: more than the contacts responder's workers (at most about 20 with
-- 400 connections; see scripts/stack.sh), and the limit's margin.
CREATE FUNCTION flowsend_counter_slots() RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT 32';

CREATE FUNCTION flowsend_counter_slot_key(tenant uuid) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS
    $$ SELECT hashtext('flowsend-counter-slots:' || tenant::text) $$;

-- The slot this transaction writes tenant's counters to: one whose lock it
-- holds (it may hold several), tried from pid modulo the count. When every
-- slot is held by others: with wait, block on the first one (so at most
-- flowsend_counter_slots() transactions hold a slot each); without, use it
-- unlocked (writes are still exact; this writer may wait on the row).
-- (No SET search_path: it runs on every write, and a SET clause costs a GUC
-- save and restore per call; every name is pg_catalog's or qualified.)
CREATE FUNCTION flowsend_counter_slot(tenant uuid, wait boolean DEFAULT false) RETURNS integer
    LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    k        constant integer := public.flowsend_counter_slots();
    lock_key constant integer := public.flowsend_counter_slot_key(tenant);
    start_at constant integer := pg_backend_pid() % k;
BEGIN
    FOR i IN 0 .. k - 1 LOOP
        IF pg_try_advisory_xact_lock(lock_key, (start_at + i) % k) THEN
            RETURN (start_at + i) % k;
        END IF;
    END LOOP;
    IF wait THEN
        PERFORM pg_advisory_xact_lock(lock_key, start_at);
    END IF;
    RETURN start_at;
END
$$;

-- ---------------------------------------------------------------------------
-- The tables: a slot column in the key. Existing rows become slot 0 with
-- their counts unchanged (the table is locked while the key changes).
-- ---------------------------------------------------------------------------
LOCK TABLE contacts IN SHARE MODE;
LOCK TABLE tenant_counters, tag_counts, field_counts IN ACCESS EXCLUSIVE MODE;

ALTER TABLE tenant_counters ADD COLUMN slot smallint NOT NULL DEFAULT 0,
    DROP CONSTRAINT tenant_counters_pkey, ADD PRIMARY KEY (user_id, slot);
ALTER TABLE tag_counts ADD COLUMN slot smallint NOT NULL DEFAULT 0,
    DROP CONSTRAINT tag_counts_pkey, ADD PRIMARY KEY (user_id, tag, slot);
ALTER TABLE field_counts ADD COLUMN slot smallint NOT NULL DEFAULT 0,
    DROP CONSTRAINT field_counts_pkey, ADD PRIMARY KEY (user_id, field, slot);
-- What the worker has left to fold (slot never changes, so updates of the
-- counts stay HOT).
CREATE INDEX tenant_counters_unfolded_idx ON tenant_counters (user_id) WHERE slot <> 0;
CREATE INDEX tag_counts_unfolded_idx ON tag_counts (user_id) WHERE slot <> 0;
CREATE INDEX field_counts_unfolded_idx ON field_counts (user_id) WHERE slot <> 0;

-- ---------------------------------------------------------------------------
-- The triggers, as in 0001, 0010 and 0011, writing to the transaction's slot.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION flowsend_counters_user_created() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    INSERT INTO public.tenant_counters (user_id, slot)
    SELECT id, 0 FROM new_rows
    ON CONFLICT (user_id, slot) DO NOTHING;
    RETURN NULL;
END
$$;

-- The insert trigger now does all of an insert's counting in one call (the
-- tag and field counts of 0006/0010 were a second statement trigger) with
-- the slot taken once. The tenant's existence is held by a shared advisory
-- lock, (slot key, -1), instead of FOR KEY SHARE on its users row: every
-- create of a tenant locked that one row, which under concurrent creates
-- meant a new multixact, a WAL record and its buffer's lock each time. User
-- deletion takes the same lock exclusively (flowsend_user_deleting below), so
-- it still waits for inserts in flight and sees their contacts, and an insert
-- that comes later waits for it and then finds no user.
CREATE OR REPLACE FUNCTION flowsend_contacts_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    tenants uuid[];
    counts  bigint[];
    slots   integer[];
    total   bigint;
BEGIN
    SELECT array_agg(user_id ORDER BY user_id), array_agg(n ORDER BY user_id),
           array_agg(slot ORDER BY user_id), sum(n)
      INTO tenants, counts, slots, total
      FROM (SELECT user_id, count(*) AS n, public.flowsend_counter_slot(user_id) AS slot
              FROM new_rows GROUP BY user_id) t;
    IF total IS NULL THEN
        RETURN NULL;
    END IF;
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
DROP TRIGGER contacts_tag_counts_inserted ON contacts;
DROP FUNCTION flowsend_tag_counts_inserted();

-- As in 0011, and the tenant's existence lock taken exclusively first.
CREATE OR REPLACE FUNCTION flowsend_user_deleting() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    PERFORM 1 FROM public.users WHERE id = OLD.id FOR UPDATE;
    PERFORM pg_advisory_xact_lock(public.flowsend_counter_slot_key(OLD.id), -1);
    DELETE FROM public.contacts WHERE user_id = OLD.id;
    RETURN OLD;
END
$$;

-- An upsert of a negative delta now, where 0001 updated the one row; only for
-- tenants that still exist (deleting a user deletes its contacts first, then
-- its counters go with it).
CREATE OR REPLACE FUNCTION flowsend_counters_contacts_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    INSERT INTO public.tenant_counters AS c (user_id, slot, contacts)
    SELECT d.user_id, public.flowsend_counter_slot(d.user_id), -d.n
      FROM (SELECT user_id, count(*) AS n FROM old_rows GROUP BY user_id) d
     WHERE EXISTS (SELECT 1 FROM public.users u WHERE u.id = d.user_id)
     ORDER BY 1, 2
    ON CONFLICT (user_id, slot) DO UPDATE SET contacts = c.contacts + EXCLUDED.contacts;
    RETURN NULL;
END
$$;

-- Deltas per (tenant, tag) and (tenant, field) into the slots, then the rows
-- of those slots that came to 0 go (a row another writer changed since is
-- not 0 any more and stays). Shared by the delete and update triggers.
CREATE FUNCTION flowsend_tag_counts_apply(tenants uuid[], slots integer[],
                                          tag_users uuid[], tag_names text[], tag_deltas bigint[],
                                          field_users uuid[], field_names text[], field_deltas bigint[])
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    zu uuid[];
    zn text[];
    zs integer[];
BEGIN
    WITH up AS (
        INSERT INTO public.tag_counts AS t (user_id, tag, slot, contacts)
        SELECT d.u, d.name, s.slot, d.delta
          FROM unnest(tag_users, tag_names, tag_deltas) AS d(u, name, delta)
          JOIN unnest(tenants, slots) AS s(user_id, slot) ON s.user_id = d.u
         WHERE EXISTS (SELECT 1 FROM public.users WHERE id = d.u)
         ORDER BY 1, 2, 3
        ON CONFLICT (user_id, tag, slot) DO UPDATE SET contacts = t.contacts + EXCLUDED.contacts
        RETURNING t.user_id, t.tag, t.slot, t.contacts)
    SELECT array_agg(user_id), array_agg(tag), array_agg(slot) INTO zu, zn, zs
      FROM up WHERE contacts = 0;
    IF zu IS NOT NULL THEN
        DELETE FROM public.tag_counts t USING unnest(zu, zn, zs) AS z(u, name, slot)
         WHERE t.user_id = z.u AND t.tag = z.name AND t.slot = z.slot AND t.contacts = 0;
    END IF;
    WITH up AS (
        INSERT INTO public.field_counts AS f (user_id, field, slot, contacts)
        SELECT d.u, d.name, s.slot, d.delta
          FROM unnest(field_users, field_names, field_deltas) AS d(u, name, delta)
          JOIN unnest(tenants, slots) AS s(user_id, slot) ON s.user_id = d.u
         WHERE EXISTS (SELECT 1 FROM public.users WHERE id = d.u)
         ORDER BY 1, 2, 3
        ON CONFLICT (user_id, field, slot) DO UPDATE SET contacts = f.contacts + EXCLUDED.contacts
        RETURNING f.user_id, f.field, f.slot, f.contacts)
    SELECT array_agg(user_id), array_agg(field), array_agg(slot) INTO zu, zn, zs
      FROM up WHERE contacts = 0;
    IF zu IS NOT NULL THEN
        DELETE FROM public.field_counts f USING unnest(zu, zn, zs) AS z(u, name, slot)
         WHERE f.user_id = z.u AND f.field = z.name AND f.slot = z.slot AND f.contacts = 0;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION flowsend_tag_counts_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    tenants uuid[];
    slots   integer[];
    tu uuid[]; tn text[]; td bigint[];
    fu uuid[]; fn text[]; fd bigint[];
BEGIN
    SELECT array_agg(user_id), array_agg(public.flowsend_counter_slot(user_id))
      INTO tenants, slots FROM (SELECT DISTINCT user_id FROM old_rows) t;
    SELECT array_agg(user_id), array_agg(tag), array_agg(-n) INTO tu, tn, td
      FROM (SELECT o.user_id, tag, count(*) AS n FROM old_rows o, unnest(o.tags) AS tag
            GROUP BY 1, 2) d;
    SELECT array_agg(user_id), array_agg(field), array_agg(-n) INTO fu, fn, fd
      FROM (SELECT o.user_id, field, count(*) AS n
              FROM old_rows o, jsonb_object_keys(o.custom_fields) AS field GROUP BY 1, 2) d;
    PERFORM public.flowsend_tag_counts_apply(tenants, slots, tu, tn, td, fu, fn, fd);
    RETURN NULL;
END
$$;

-- Transition tables cannot go with a column list, so this runs on every
-- UPDATE and does work only where tags or custom-field names changed.
CREATE OR REPLACE FUNCTION flowsend_tag_counts_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    tenants uuid[];
    slots   integer[];
    tu uuid[]; tn text[]; td bigint[];
    fu uuid[]; fn text[]; fd bigint[];
BEGIN
    WITH changed AS (
        SELECT n.user_id, n.tags AS new_tags, o.tags AS old_tags
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.tags IS DISTINCT FROM o.tags OR n.user_id <> o.user_id
    ), deltas AS (
        SELECT user_id, tag, sum(delta) AS delta FROM (
            SELECT user_id, unnest(new_tags) AS tag, 1 AS delta FROM changed
            UNION ALL
            SELECT user_id, unnest(old_tags), -1 FROM changed
        ) x GROUP BY 1, 2 HAVING sum(delta) <> 0
    )
    SELECT array_agg(user_id), array_agg(tag), array_agg(delta) INTO tu, tn, td FROM deltas;
    WITH changed AS (
        SELECT n.user_id, n.custom_fields AS new_fields, o.custom_fields AS old_fields
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.custom_fields IS DISTINCT FROM o.custom_fields OR n.user_id <> o.user_id
    ), deltas AS (
        SELECT user_id, field, sum(delta) AS delta FROM (
            SELECT user_id, jsonb_object_keys(new_fields) AS field, 1 AS delta FROM changed
            UNION ALL
            SELECT user_id, jsonb_object_keys(old_fields), -1 FROM changed
        ) x GROUP BY 1, 2 HAVING sum(delta) <> 0
    )
    SELECT array_agg(user_id), array_agg(field), array_agg(delta) INTO fu, fn, fd FROM deltas;
    IF tu IS NULL AND fu IS NULL THEN
        RETURN NULL;   -- no tag or field changed: no slot taken
    END IF;
    SELECT array_agg(user_id), array_agg(public.flowsend_counter_slot(user_id))
      INTO tenants, slots
      FROM (SELECT unnest(tu) AS user_id UNION SELECT unnest(fu)) t;
    PERFORM public.flowsend_tag_counts_apply(tenants, slots, tu, tn, td, fu, fn, fd);
    RETURN NULL;
END
$$;

REVOKE EXECUTE ON FUNCTION flowsend_tag_counts_apply(uuid[], integer[], uuid[], text[], bigint[],
    uuid[], text[], bigint[]) FROM PUBLIC;

-- ---------------------------------------------------------------------------
-- The plan's contact limit.
-- ---------------------------------------------------------------------------
-- How many contacts the current tenant's transaction may still add under a
-- limit of max_contacts (0: none), called before the insert. Call it before
-- any other write of the transaction (it may wait for slot locks).
--
-- A single create (adding = 1) far from the limit takes one slot lock, as in
-- flowsend_counter_slot(me, true), and reads the sum after it holds it; it
-- goes on when sum + K < max_contacts (K = flowsend_counter_slots()). Anything
-- else (imports, a create near the limit) takes all K slot locks in order,
-- then reads the sum: no fast create is in flight then, and none starts
-- before this transaction ends, so that read is exact and the caller inserts
-- at most what it returns.
--
-- Why fast creates cannot overshoot either: each holds a slot lock from
-- before its read until its commit, and inserts at most one contact. Say the
-- count first exceeds the limit L when fast create T commits, and let t be
-- the last moment before that at which the count was <= L - K - 1 (T read
-- such a count, so t exists). From t to T's commit the count grows by at
-- least K + 2, net of deletes. No all-slots transaction commits in that
-- window (T holds a slot throughout), so the growth comes from fast creates
-- that commit after t, one contact each; each read a count <= L - K - 1, so
-- it read at or before t: all K + 2 held a slot lock at t. There are K.
-- Each read is its own statement in this volatile function, so its snapshot
-- is taken after the lock is granted and shows every commit before it.
CREATE FUNCTION flowsend_contacts_room(max_contacts bigint, adding bigint) RETURNS bigint
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
            SELECT COALESCE(sum(contacts), 0) INTO n FROM tenant_counters WHERE user_id = me;
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
    SELECT COALESCE(sum(contacts), 0) INTO n FROM tenant_counters WHERE user_id = me;
    RETURN greatest(max_contacts - n, 0);
END
$$;

-- ---------------------------------------------------------------------------
-- The worker's fold: slots other than 0 moved into slot 0, up to max_rows
-- rows per table, skipping rows a writer holds and tenants whose slot-0 lock
-- is held (writers then pick other slots while the fold holds it). A value
-- moves within one transaction, so every sum stays the same at every moment.
-- Returns the rows folded.
-- ---------------------------------------------------------------------------
CREATE FUNCTION flowsend_counters_fold(max_rows integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    SET lock_timeout = '200ms'
AS $$
DECLARE
    moved bigint;
    total bigint := 0;
    zu    uuid[];
    zn    text[];
BEGIN
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

REVOKE EXECUTE ON FUNCTION flowsend_counter_slot(uuid, boolean), flowsend_contacts_room(bigint, bigint),
    flowsend_counters_fold(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowsend_counter_slot(uuid, boolean), flowsend_contacts_room(bigint, bigint)
    TO flowsend_app;
GRANT EXECUTE ON FUNCTION flowsend_counters_fold(integer) TO flowsend_system;
