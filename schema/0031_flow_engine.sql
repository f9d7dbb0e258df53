-- The flow engine (issue 20): executions advance in flowsend-batch.
--
-- A loop with a delay may pass an email step more than once, so flow mail is
-- keyed by (execution, step, visit): visit is the execution's count of steps
-- run, taken when the email step runs and moved past it in the same commit,
-- so a second row for one visit is refused while a later visit mails again.
-- The key's columns never change after the insert: the delivery updates of
-- 0025 stay HOT.
ALTER TABLE flow_executions ADD COLUMN visit integer NOT NULL DEFAULT 0 CHECK (visit >= 0);

-- A flow row written without a visit (older writers) counts as visit 0, so
-- it too is refused a second time.
ALTER TABLE outbox ADD COLUMN flow_visit integer;
DROP INDEX outbox_flow_step_key;
CREATE UNIQUE INDEX outbox_flow_step_key ON outbox (flow_execution_id, step_index, (coalesce(flow_visit, 0)))
    WHERE flow_execution_id IS NOT NULL;

-- Scheduled flows: each due time fires once, whichever worker or late run
-- gets to it first (the flows row lock serialises them; this row is the
-- record and the second guard).
CREATE TABLE flow_schedule_runs (
    flow_id    uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    due_at     timestamptz NOT NULL,
    enrolled   bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT flowsend_now(),
    PRIMARY KEY (flow_id, due_at),
    FOREIGN KEY (flow_id, user_id) REFERENCES flows (id, user_id) ON DELETE CASCADE
);
CREATE INDEX flow_schedule_runs_user_idx ON flow_schedule_runs (user_id);
ALTER TABLE flow_schedule_runs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON flow_schedule_runs FOR ALL TO flowsend_app
    USING (user_id = (SELECT flowsend_current_user()))
    WITH CHECK (user_id = (SELECT flowsend_current_user()));
GRANT SELECT ON flow_schedule_runs TO flowsend_app;
GRANT SELECT, INSERT, UPDATE ON flow_schedule_runs TO flowsend_system;

-- One cron field as the sorted set of values it allows, or NULL when it is
-- not valid. lo..hi is the field's range; names (jan, mon) are accepted for
-- months and weekdays; 7 is Sunday as 0.
CREATE FUNCTION flowsend_cron_field(field text, lo integer, hi integer, names text[] DEFAULT NULL)
    RETURNS integer[]
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
DECLARE
    part  text;
    m     text[];
    a     integer;
    b     integer;
    step  integer;
    vals  integer[] := '{}';
    top   integer := hi;
BEGIN
    IF field IS NULL OR field = '' OR length(field) > 200 THEN
        RETURN NULL;
    END IF;
    IF names IS NOT NULL THEN
        FOR i IN 1 .. array_length(names, 1) LOOP
            field := regexp_replace(lower(field), '\m' || names[i] || '\M', (lo + i - 1)::text, 'g');
        END LOOP;
    END IF;
    IF lo = 0 AND hi = 6 THEN
        top := 7; -- weekdays: 7 is Sunday too
    END IF;
    FOREACH part IN ARRAY string_to_array(field, ',') LOOP
        m := regexp_match(part, '^(\*|[0-9]{1,2}(?:-[0-9]{1,2})?)(?:/([0-9]{1,2}))?$');
        IF m IS NULL THEN
            RETURN NULL;
        END IF;
        step := coalesce(m[2]::integer, 1);
        IF step < 1 THEN
            RETURN NULL;
        END IF;
        IF m[1] = '*' THEN
            a := lo;
            b := hi;
        ELSIF position('-' IN m[1]) > 0 THEN
            a := split_part(m[1], '-', 1)::integer;
            b := split_part(m[1], '-', 2)::integer;
        ELSE
            a := m[1]::integer;
            b := CASE WHEN m[2] IS NULL THEN a ELSE top END;
        END IF;
        IF a < lo OR b > top OR a > b THEN
            RETURN NULL;
        END IF;
        FOR v IN a .. b BY step LOOP
            vals := vals || CASE WHEN top = 7 AND v = 7 THEN 0 ELSE v END;
        END LOOP;
    END LOOP;
    RETURN ARRAY(SELECT DISTINCT unnest(vals) ORDER BY 1);
END
$$;

-- A local wall-clock time in tz as an instant. A time in a DST gap (it
-- never shows on the clock) becomes the first instant after the gap, the
-- next valid minute; a time shown twice (the repeated hour) becomes the
-- first of the two.
CREATE FUNCTION flowsend_local_instant(local_ts timestamp, tz text) RETURNS timestamptz
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    u timestamptz := local_ts AT TIME ZONE tz;
    e timestamptz;
BEGIN
    IF (u AT TIME ZONE tz) = local_ts THEN
        -- The earliest instant that shows this time (offsets shift by at most 2 hours).
        FOREACH e IN ARRAY ARRAY[u - interval '2 hours', u - interval '1 hour', u - interval '30 minutes'] LOOP
            IF (e AT TIME ZONE tz) = local_ts THEN
                RETURN e;
            END IF;
        END LOOP;
        RETURN u;
    END IF;
    RETURN (SELECT min(t) FROM generate_series(u - interval '3 hours', u + interval '3 hours',
                                              interval '1 minute') AS t
             WHERE (t AT TIME ZONE tz) >= local_ts);
END
$$;

-- When the 5-field cron expression next fires in time zone tz, strictly
-- after the instant after (NULL when the expression or the zone is not
-- valid, or nothing matches within five years). The search walks the wall
-- clock from after's local time, so a repeated hour runs once: after its
-- first pass the clock's next matching minute is past it. Standard cron:
-- when both day-of-month and day-of-week are restricted, either matches.
CREATE FUNCTION flowsend_cron_next(cron text, tz text, after timestamptz) RETURNS timestamptz
    LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
    f        text[];
    minutes  integer[];
    hours    integer[];
    doms     integer[];
    months   integer[];
    dows     integer[];
    dom_any  boolean;
    dow_any  boolean;
    start_l  timestamp;
    day      date;
    cand     timestamp;
    inst     timestamptz;
    h        integer;
    mi       integer;
BEGIN
    IF cron IS NULL OR tz IS NULL OR after IS NULL THEN
        RETURN NULL;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = tz) THEN
        RETURN NULL;
    END IF;
    f := regexp_split_to_array(btrim(cron), '\s+');
    IF array_length(f, 1) <> 5 THEN
        RETURN NULL;
    END IF;
    minutes := flowsend_cron_field(f[1], 0, 59);
    hours := flowsend_cron_field(f[2], 0, 23);
    doms := flowsend_cron_field(f[3], 1, 31);
    months := flowsend_cron_field(f[4], 1, 12, ARRAY['jan','feb','mar','apr','may','jun','jul','aug',
                                                     'sep','oct','nov','dec']);
    dows := flowsend_cron_field(f[5], 0, 6, ARRAY['sun','mon','tue','wed','thu','fri','sat']);
    IF minutes IS NULL OR hours IS NULL OR doms IS NULL OR months IS NULL OR dows IS NULL THEN
        RETURN NULL;
    END IF;
    dom_any := f[3] LIKE '*%';
    dow_any := f[5] LIKE '*%';
    start_l := date_trunc('minute', after AT TIME ZONE tz) + interval '1 minute';
    day := start_l::date;
    FOR d IN 0 .. 366 * 5 LOOP
        IF extract(month FROM day)::integer = ANY (months)
           AND (CASE WHEN dom_any AND dow_any THEN true
                     WHEN dom_any THEN extract(dow FROM day)::integer = ANY (dows)
                     WHEN dow_any THEN extract(day FROM day)::integer = ANY (doms)
                     ELSE extract(day FROM day)::integer = ANY (doms)
                          OR extract(dow FROM day)::integer = ANY (dows) END) THEN
            FOREACH h IN ARRAY hours LOOP
                FOREACH mi IN ARRAY minutes LOOP
                    cand := day + make_interval(hours => h, mins => mi);
                    IF cand >= start_l THEN
                        inst := flowsend_local_instant(cand, tz);
                        IF inst > after THEN
                            RETURN inst;
                        END IF;
                    END IF;
                END LOOP;
            END LOOP;
        END IF;
        day := day + 1;
    END LOOP;
    RETURN NULL;
END
$$;
