-- Flow enrollment (issue 19): one mechanism, in the transaction that creates
-- the contact or receives the event, with a unique key that makes "once per
-- flow per contact" hold under races.
--
-- * flowsend_flow_enroll() is the one statement that creates executions for a
--   trigger. Contacts enroll through the statement trigger on contacts below
--   (API, imports, forms, platform customer.created: anything that inserts a
--   contact), events through the services calling it in their transaction.
-- * flow_executions.enrollment_key: 'once' for a flow without
--   trigger_config.allow_reentry, so a second enrollment of the same contact
--   conflicts on flow_executions_enrollment_key whatever the interleaving;
--   with allow_reentry, a key per occurrence ('signup' for a contact's
--   creation, a fresh uuid per event, the due time for a scheduled run).
-- * An insert of more than 1,000 contacts (a big import) records id ranges in
--   flow_enroll_backlog instead, one row per active signup flow; flowsend-batch
--   turns them into executions in chunks (flowsend_flow_enroll_step), as it
--   indexes imports for search. The keys make a chunk done twice harmless.
-- * Flows are deleted softly (deleted_at): their executions stop (cancelled),
--   the mail and events already recorded keep their flow.

ALTER TABLE flows ADD COLUMN deleted_at timestamptz;
DROP INDEX flows_user_active_trigger_idx;
CREATE INDEX flows_user_active_trigger_idx ON flows (user_id, trigger_type)
    WHERE status = 'active' AND deleted_at IS NULL;

ALTER TABLE flow_executions ADD COLUMN enrollment_key text;
UPDATE flow_executions SET enrollment_key = id::text;
ALTER TABLE flow_executions ALTER COLUMN enrollment_key SET NOT NULL;
ALTER TABLE flow_executions ADD CONSTRAINT flow_executions_enrollment_key
    UNIQUE (flow_id, contact_id, enrollment_key);
-- The unique index leads with (flow_id, contact_id): the old one is redundant.
DROP INDEX flow_executions_flow_contact_idx;

-- Whether a flow lets a contact enroll again (trigger_config.allow_reentry).
CREATE FUNCTION flowsend_flow_reentry(cfg jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT COALESCE(cfg -> 'allow_reentry' = 'true'::jsonb, false) $$;

-- Enroll contacts of owner into every active flow of that trigger (custom:
-- whose trigger_config.event is event): executions waiting at step 0, due now.
-- reentry_key names this occurrence for flows with allow_reentry. Only
-- subscribed contacts enroll. Runs as its caller: as flowsend_app row-level
-- security confines it to the tenant too. Returns the executions created.
CREATE FUNCTION flowsend_flow_enroll(owner uuid, trig text, event text, contact_ids uuid[],
                                     reentry_key text, ctx jsonb) RETURNS bigint
    LANGUAGE sql
AS $$
    WITH ins AS (
        INSERT INTO public.flow_executions AS x
               (user_id, flow_id, flow_version, contact_id, status, next_run_at, context,
                enrollment_key)
        SELECT owner, f.id, f.current_version, c.id, 'active', public.flowsend_now(), ctx,
               CASE WHEN public.flowsend_flow_reentry(f.trigger_config) THEN reentry_key
                    ELSE 'once' END
          FROM public.flows f
          JOIN public.contacts c ON c.user_id = owner AND c.id = ANY (contact_ids)
         WHERE f.user_id = owner AND f.trigger_type = trig AND f.status = 'active'
           AND f.deleted_at IS NULL AND f.current_version IS NOT NULL AND c.is_subscribed
           AND (trig <> 'custom' OR f.trigger_config ->> 'event' = event)
           AND (public.flowsend_flow_reentry(f.trigger_config)
                OR NOT EXISTS (SELECT 1 FROM public.flow_executions e
                                WHERE e.flow_id = f.id AND e.contact_id = c.id))
        ON CONFLICT ON CONSTRAINT flow_executions_enrollment_key DO NOTHING
        RETURNING 1)
    SELECT count(*) FROM ins
$$;
REVOKE EXECUTE ON FUNCTION flowsend_flow_enroll(uuid, text, text, uuid[], text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowsend_flow_enroll(uuid, text, text, uuid[], text, jsonb)
    TO flowsend_app, flowsend_system;

-- Ranges of contacts (UUIDv7, time-ordered) of a big insert still to enroll
-- into one flow version; the worker moves first_id up and deletes the row at
-- the end.
CREATE TABLE flow_enroll_backlog (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      uuid NOT NULL,
    flow_id      uuid NOT NULL,
    flow_version integer NOT NULL,
    first_id     uuid NOT NULL,
    last_id      uuid NOT NULL,
    queued_at    timestamptz NOT NULL DEFAULT flowsend_now(),
    FOREIGN KEY (flow_id, user_id) REFERENCES flows (id, user_id) ON DELETE CASCADE
);
CREATE INDEX flow_enroll_backlog_flow_idx ON flow_enroll_backlog (flow_id);
ALTER TABLE flow_enroll_backlog ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON flow_enroll_backlog FOR ALL TO flowsend_app
    USING (user_id = (SELECT flowsend_current_user()))
    WITH CHECK (user_id = (SELECT flowsend_current_user()));
GRANT SELECT ON flow_enroll_backlog TO flowsend_app, flowsend_system;
-- Deleting a flow drops its ranges at once (the worker would skip them anyway).
GRANT DELETE ON flow_enroll_backlog TO flowsend_app;

-- New contacts enroll into the tenant's active signup flows, in the inserting
-- transaction. One contact (the API's create, a form, a platform event): at
-- once. Up to 1,000: at once, set-based. More: ranges for the worker.
CREATE FUNCTION flowsend_contacts_enroll() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    one   public.contacts;
    owner uuid;
    n     bigint;
    t     record;
BEGIN
    -- Each scan of a big statement's rows costs: count no further than needed.
    SELECT count(*) INTO n FROM (SELECT 1 FROM new_rows LIMIT 2) s;
    IF n = 0 THEN
        RETURN NULL;
    END IF;
    IF n = 1 THEN
        SELECT * INTO one FROM new_rows;
        IF one.is_subscribed AND EXISTS (
               SELECT 1 FROM public.flows f
                WHERE f.user_id = one.user_id AND f.trigger_type = 'signup'
                  AND f.status = 'active' AND f.deleted_at IS NULL) THEN
            PERFORM public.flowsend_flow_enroll(one.user_id, 'signup', NULL, ARRAY[one.id],
                                                'signup', '{"trigger": "signup"}');
        END IF;
        RETURN NULL;
    END IF;
    SELECT user_id INTO owner FROM new_rows LIMIT 1;
    IF NOT EXISTS (SELECT 1 FROM new_rows WHERE user_id <> owner) THEN
        -- One tenant (every import): nothing more to read when it has no signup flow.
        IF NOT EXISTS (SELECT 1 FROM public.flows f
                        WHERE f.user_id = owner AND f.trigger_type = 'signup'
                          AND f.status = 'active' AND f.deleted_at IS NULL) THEN
            RETURN NULL;
        END IF;
        SELECT count(*) INTO n FROM (SELECT 1 FROM new_rows LIMIT 1001) s;
        IF n <= 1000 THEN
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
        RETURN NULL;
    END IF;
    FOR t IN SELECT user_id, count(*) AS n, min(id::text COLLATE "C")::uuid AS lo,
                    max(id::text COLLATE "C")::uuid AS hi
               FROM new_rows GROUP BY user_id LOOP
        CONTINUE WHEN NOT EXISTS (
               SELECT 1 FROM public.flows f
                WHERE f.user_id = t.user_id AND f.trigger_type = 'signup'
                  AND f.status = 'active' AND f.deleted_at IS NULL);
        IF t.n <= 1000 THEN
            PERFORM public.flowsend_flow_enroll(
                t.user_id, 'signup', NULL,
                ARRAY(SELECT id FROM new_rows WHERE user_id = t.user_id AND is_subscribed),
                'signup', '{"trigger": "signup"}');
        ELSE
            INSERT INTO public.flow_enroll_backlog (user_id, flow_id, flow_version, first_id, last_id)
            SELECT t.user_id, f.id, f.current_version, t.lo, t.hi
              FROM public.flows f
             WHERE f.user_id = t.user_id AND f.trigger_type = 'signup' AND f.status = 'active'
               AND f.deleted_at IS NULL AND f.current_version IS NOT NULL;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_contacts_enroll() FROM PUBLIC;
CREATE TRIGGER contacts_enroll AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowsend_contacts_enroll();

-- One chunk of the oldest backlog range: up to max_rows contacts enrolled, in
-- the caller's (autocommitted) statement together with the range moving on.
-- Returns how many contacts it looked at (at least 1 while work was found), 0
-- when the backlog is empty. A flow deleted meanwhile drops its ranges.
CREATE FUNCTION flowsend_flow_enroll_step(max_rows integer) RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
DECLARE
    b       public.flow_enroll_backlog;
    reentry boolean;
    live    boolean;
    n       bigint;
    last_id uuid;
    next_id uuid;
BEGIN
    SELECT * INTO b FROM public.flow_enroll_backlog ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    SELECT public.flowsend_flow_reentry(f.trigger_config), f.deleted_at IS NULL
      INTO reentry, live FROM public.flows f WHERE f.id = b.flow_id;
    IF NOT COALESCE(live, false) THEN
        DELETE FROM public.flow_enroll_backlog WHERE id = b.id;
        RETURN 1;
    END IF;
    WITH chunk AS (
        SELECT id, is_subscribed FROM public.contacts
         WHERE id >= b.first_id AND id <= b.last_id AND user_id = b.user_id
         ORDER BY id LIMIT max_rows
    ), ins AS (
        INSERT INTO public.flow_executions
               (user_id, flow_id, flow_version, contact_id, status, next_run_at, context,
                enrollment_key)
        SELECT b.user_id, b.flow_id, b.flow_version, c.id, 'active', public.flowsend_now(),
               '{"trigger": "signup"}', CASE WHEN reentry THEN 'signup' ELSE 'once' END
          FROM chunk c
         WHERE c.is_subscribed
           AND (reentry OR NOT EXISTS (SELECT 1 FROM public.flow_executions e
                                        WHERE e.flow_id = b.flow_id AND e.contact_id = c.id))
        ON CONFLICT ON CONSTRAINT flow_executions_enrollment_key DO NOTHING
    )
    SELECT count(*), max(id::text COLLATE "C")::uuid INTO n, last_id FROM chunk;
    IF n > 0 THEN
        SELECT id INTO next_id FROM public.contacts
         WHERE id > last_id AND id <= b.last_id AND user_id = b.user_id
         ORDER BY id LIMIT 1;
    END IF;
    IF next_id IS NULL THEN
        DELETE FROM public.flow_enroll_backlog WHERE id = b.id;
    ELSE
        UPDATE public.flow_enroll_backlog SET first_id = next_id WHERE id = b.id;
    END IF;
    RETURN greatest(n, 1);
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_flow_enroll_step(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION flowsend_flow_enroll_step(integer) TO flowsend_system;
