-- Two speed-ups measured on a 1,000,000-contact tenant (bench/contacts.sh):
--
-- 1. Policies compare with (SELECT flowsend_current_user()): an InitPlan
--    evaluated once per query instead of current_setting() once per row.
DO $$
DECLARE
    p record;
    using_expr text;
    check_expr text;
BEGIN
    FOR p IN SELECT tablename, policyname, qual, with_check FROM pg_policies
             WHERE schemaname = 'public' AND qual LIKE '%flowsend_current_user()%'
    LOOP
        using_expr := replace(p.qual, 'flowsend_current_user()', '(SELECT flowsend_current_user())');
        IF p.with_check IS NULL THEN
            EXECUTE format('ALTER POLICY %I ON %I USING (%s)', p.policyname, p.tablename, using_expr);
        ELSE
            check_expr := replace(p.with_check, 'flowsend_current_user()',
                                  '(SELECT flowsend_current_user())');
            EXECUTE format('ALTER POLICY %I ON %I USING (%s) WITH CHECK (%s)',
                           p.policyname, p.tablename, using_expr, check_expr);
        END IF;
    END LOOP;
END
$$;

-- 2. Timestamps rendered through to_json (about 3x cheaper than to_char),
--    same ISO 8601 text with a Z.
CREATE OR REPLACE FUNCTION flowsend_ts(ts timestamptz) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT translate(to_json(ts AT TIME ZONE 'UTC')::text, '"', '') || 'Z'
$$;
