-- One clock (issue 13): SQL that decides by time reads flowsend_now(), the
-- transaction's now() moved by the session's flowsend.clock_offset (seconds),
-- which lib/db sets when the process's clock (lib/core/clock.c) is moved, by
-- a test or flowsend-batch --now. Unset or empty, the offset is 0.

-- LANGUAGE sql, STABLE and a single expression, so the planner inlines it:
-- "scheduled_at <= flowsend_now()" is an index condition evaluated once per
-- scan, like now(). New columns default to flowsend_now(), not now().
CREATE FUNCTION flowsend_now() RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT now() + make_interval(secs => COALESCE(NULLIF(current_setting('flowsend.clock_offset', true), '')::bigint, 0)) $$;

-- 0012's definition, counting the month flowsend_now() is in.
CREATE OR REPLACE FUNCTION flowsend_emails_this_month(owner uuid) RETURNS bigint
    LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM outbox
   WHERE user_id = owner AND status <> 'cancelled'
     AND created_at >= date_trunc('month', flowsend_now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
     AND NOT (payload IS NOT NULL AND payload ? 'account_mail')
$$;

-- Every column that defaults to now() (created_at, updated_at, added_at,
-- next_attempt_at, ...) defaults to the clock instead. schema_migrations is the
-- runner's record of when a file really ran: it keeps the wall clock.
DO $$
DECLARE
    col record;
BEGIN
    FOR col IN
        SELECT d.adrelid::regclass AS tbl, a.attname
          FROM pg_attrdef d
          JOIN pg_class c ON c.oid = d.adrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
           AND c.relname <> 'schema_migrations'
           AND pg_get_expr(d.adbin, d.adrelid) = 'now()'
         ORDER BY 1, 2
    LOOP
        EXECUTE format('ALTER TABLE %s ALTER COLUMN %I SET DEFAULT flowsend_now()', col.tbl, col.attname);
    END LOOP;
END
$$;
