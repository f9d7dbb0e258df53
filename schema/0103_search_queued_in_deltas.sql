-- A single create queues its contact for search in its counters' row
-- (issue 14). Since schema 0097 a single create appended a row to
-- contact_count_deltas and another to contact_search_backlog; the second
-- (its heap tuple, two keys, an identity value, the policy check and a
-- ModifyTable of its own) cost 60,000 of the create's 935,000 instructions
-- in PostgreSQL (callgrind of a single-user backend running 1,000 prepared
-- creates: 935.2 M with the two rows, 874.9 M with one), and the worker then
-- deleted it again.
--
-- Now contact_count_deltas carries the contact's id (the create trigger,
-- schema 0108, fills it), and the worker's fold,
-- when it folds the counts, also writes the search rows of those contacts
-- (one pending-list clean-up for the batch). Single creates settle there as
-- they did in the search queue (schema 0072): flowsend_counters_fold(max_rows,
-- settle) leaves them until least(max_rows, 1000) are queued or the oldest has
-- waited settle; the one-argument fold (flowsend-batch --once, the tests)
-- takes everything. Counts stay exact meanwhile (the views read the unfolded
-- rows) and searches find the queued contacts directly
-- (lib/services/contacts.c, CONTACT_MATCHES). Rows queued in
-- contact_search_backlog before this migration are indexed by the search
-- step as before; imports still queue ranges there.
--
-- Erasure stays complete: the fold holds each contact it indexes FOR KEY
-- SHARE, so a delete of it either waits for the fold and then deletes the
-- search row (flowsend_contacts_deleted, a statement after its own delete),
-- or came first and the contact is not indexed.
--
-- The fold also takes its batches in forms no plan makes quadratic (schema
-- 0101 says why): the deltas up to the max_rows-th id, filtered by the
-- tenant's slot-0 lock, with no row locks (only the holder of that lock
-- deletes a tenant's rows, nothing else deletes them, and a row a concurrent
-- fold deleted and committed is skipped by the delete itself); the slot rows
-- of tenant_counters, tag_counts and field_counts it locks (FOR UPDATE SKIP
-- LOCKED, as before) by their ctid.

ALTER TABLE contact_count_deltas ADD COLUMN contact_id uuid;

CREATE FUNCTION flowsend_counters_fold(max_rows integer, settle interval) RETURNS bigint
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
    indexed bigint;
    oldest uuid;
    waiting boolean := false;
BEGIN
    -- Single creates settle (as the search queue's did, schema 0072): their
    -- rows wait until least(max_rows, 1000) are queued or the oldest has
    -- waited settle (its contact's UUIDv7 tells when it was made), so that
    -- one pending-list clean-up serves many. Counts read the unfolded rows
    -- meanwhile, and searches read their contacts directly.
    IF settle IS NOT NULL AND settle > interval '0'
       AND (SELECT count(*) FROM (SELECT 1 FROM contact_count_deltas
                                   LIMIT least(max_rows, 1000)) s) < least(max_rows, 1000) THEN
        SELECT d.contact_id INTO oldest FROM contact_count_deltas d ORDER BY d.id LIMIT 1;
        waiting := FOUND AND oldest IS NOT NULL
            AND to_timestamp(('x' || substr(replace(oldest::text, '-', ''), 1, 12))::bit(48)::bigint
                             / 1000.0) BETWEEN clock_timestamp() - settle AND clock_timestamp() + settle;
    END IF;
    -- Single creates' rows (schema 0097) into slot 0, oldest first, as for
    -- the slots below: skipping tenants whose slot-0 lock a writer holds.
    -- Rows of a tenant deleted since are dropped (its counters went with it).
    -- The oldest max_rows rows by id; no row locks: only the holder of a
    -- tenant's slot-0 lock deletes its rows (nothing else deletes them).
    -- Their contacts still there are indexed for search, each held FOR KEY
    -- SHARE until this commits: an erasure deleting one either waits for
    -- this (and then deletes the search row written here) or has deleted it
    -- already (and it is not indexed).
    IF NOT waiting THEN
    WITH gone AS (
        DELETE FROM contact_count_deltas x
         WHERE x.id <= (SELECT max(b.id) FROM (SELECT id FROM contact_count_deltas
                                                ORDER BY id LIMIT max_rows) b)
           AND pg_try_advisory_xact_lock(flowsend_counter_slot_key(x.user_id), 0)
        RETURNING x.user_id, x.contact_id, x.tags, x.fields
    ), live AS (
        SELECT g.* FROM gone g WHERE EXISTS (SELECT 1 FROM users u WHERE u.id = g.user_id)
    ), found AS (
        SELECT c.id, c.user_id, flowsend_contact_search_text(c.email, c.first_name, c.last_name) AS doc
          FROM live l JOIN contacts c ON c.id = l.contact_id AND c.user_id = l.user_id
           FOR KEY SHARE OF c
    ), searchable AS (
        INSERT INTO contact_search (contact_id, user_id, doc)
        SELECT id, user_id, doc FROM found
        ON CONFLICT DO NOTHING
        RETURNING 1
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
           (SELECT count(*) FROM searchable),
           (SELECT array_agg(user_id) FROM g WHERE contacts = 0),
           (SELECT array_agg(tag) FROM g WHERE contacts = 0),
           (SELECT array_agg(user_id) FROM f WHERE contacts = 0),
           (SELECT array_agg(field) FROM f WHERE contacts = 0)
      INTO moved, indexed, zu, zn, fu, fnames;
    total := total + moved;
    IF indexed > 0 THEN
        -- Searches read the pending list in full (schema 0058).
        PERFORM gin_clean_pending_list('contact_search_doc_trgm'::regclass);
    END IF;
    IF zu IS NOT NULL THEN
        DELETE FROM tag_counts t USING unnest(zu, zn) AS z(u, name)
         WHERE t.user_id = z.u AND t.tag = z.name AND t.slot = 0 AND t.contacts = 0;
    END IF;
    IF fu IS NOT NULL THEN
        DELETE FROM field_counts f USING unnest(fu, fnames) AS z(u, name)
         WHERE f.user_id = z.u AND f.field = z.name AND f.slot = 0 AND f.contacts = 0;
    END IF;
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
    -- -1: nothing done, single creates left to settle (the worker looks again
    -- within a second).
    RETURN CASE WHEN waiting AND total = 0 THEN -1 ELSE total END;
EXCEPTION WHEN lock_not_available THEN
    RETURN 0;   -- a writer held a slot-0 row past lock_timeout: next pass
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_counters_fold(integer, interval) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowsend_counters_fold(integer, interval) TO flowsend_system;

-- Everything, settled or not: flowsend-batch --once and the tests.
CREATE OR REPLACE FUNCTION flowsend_counters_fold(max_rows integer) RETURNS bigint
    LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$ SELECT greatest(flowsend_counters_fold(max_rows, NULL), 0) $$;
