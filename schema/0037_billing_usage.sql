-- Billing and usage (issue 22). The usage figures and the plan's limits read
-- counters kept by triggers, never a scan: the emails of each UTC calendar
-- month (the one billing period everywhere, whatever Stripe's own period),
-- the tenant's campaigns and its active flows. Stripe events are applied once
-- each: their ids are remembered in the transaction that applies them.

-- Emails queued per tenant and UTC month: every outbox row but account mail
-- (verification and password links), less the ones cancelled before leaving.
-- month is the first day of the month of the row's created_at in UTC.
CREATE TABLE usage_monthly (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    month   date NOT NULL,
    emails  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, month)
);

-- The tenant's campaigns, flows and active flows (status 'active').
CREATE TABLE usage_counters (
    user_id      uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    campaigns    bigint NOT NULL DEFAULT 0,
    flows        bigint NOT NULL DEFAULT 0,
    active_flows bigint NOT NULL DEFAULT 0
);

-- Stripe event ids already applied (a replayed or re-delivered event is
-- acknowledged and changes nothing). Written by the tenant in the same
-- transaction as the event's effect, so an event is applied exactly once.
CREATE TABLE stripe_events (
    id          text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type        text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT flowsend_now()
);
CREATE INDEX stripe_events_user_idx ON stripe_events (user_id);

-- The Stripe event time (its "created", unix seconds) last applied to a
-- subscription: an older event delivered late does not undo a newer one.
ALTER TABLE subscriptions ADD COLUMN stripe_event_at bigint NOT NULL DEFAULT 0;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['usage_monthly', 'usage_counters', 'stripe_events'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I FOR ALL TO flowsend_app '
                       'USING (user_id = flowsend_current_user()) '
                       'WITH CHECK (user_id = flowsend_current_user())', t);
    END LOOP;
END
$$;

-- Counters are written by the triggers below only.
GRANT SELECT ON usage_monthly, usage_counters TO flowsend_app, flowsend_system;
GRANT SELECT, INSERT ON stripe_events TO flowsend_app;

-- Statement-level with transition tables: a campaign's fan-out of 100,000
-- rows costs one counter update. SECURITY DEFINER because flowsend_app and
-- flowsend_system may only read the counters.
CREATE FUNCTION flowsend_usage_outbox_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    INSERT INTO public.usage_monthly AS u (user_id, month, emails)
    SELECT user_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date, count(*)
      FROM new_rows
     WHERE status <> 'cancelled' AND NOT (payload IS NOT NULL AND payload ? 'account_mail')
     GROUP BY 1, 2
    ON CONFLICT (user_id, month) DO UPDATE SET emails = u.emails + EXCLUDED.emails;
    RETURN NULL;
END
$$;

-- Row-level with a WHEN clause, so the worker's many status updates cost
-- nothing here; only a row that becomes cancelled gives its email back. An
-- UPDATE, not an upsert: the row's month was counted when it was queued.
CREATE FUNCTION flowsend_usage_outbox_cancelled() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF NOT (NEW.payload IS NOT NULL AND NEW.payload ? 'account_mail') THEN
        UPDATE public.usage_monthly SET emails = emails - 1
         WHERE user_id = NEW.user_id
           AND month = date_trunc('month', NEW.created_at AT TIME ZONE 'UTC')::date;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION flowsend_usage_campaigns_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO public.usage_counters AS u (user_id, campaigns)
        SELECT user_id, count(*) FROM new_rows GROUP BY user_id
        ON CONFLICT (user_id) DO UPDATE SET campaigns = u.campaigns + EXCLUDED.campaigns;
    ELSE
        -- An UPDATE: a cascade from a deleted user must not re-insert its row.
        UPDATE public.usage_counters u SET campaigns = u.campaigns - d.n
          FROM (SELECT user_id, count(*) AS n FROM old_rows GROUP BY user_id) d
         WHERE u.user_id = d.user_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION flowsend_usage_flows_changed() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO public.usage_counters AS u (user_id, flows, active_flows)
        SELECT user_id, count(*), count(*) FILTER (WHERE status = 'active') FROM new_rows
         GROUP BY user_id
        ON CONFLICT (user_id) DO UPDATE SET flows = u.flows + EXCLUDED.flows,
            active_flows = u.active_flows + EXCLUDED.active_flows;
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO public.usage_counters AS u (user_id, active_flows)
        SELECT user_id, sum(d) FROM (
            SELECT user_id, 1 AS d FROM new_rows WHERE status = 'active'
            UNION ALL SELECT user_id, -1 FROM old_rows WHERE status = 'active') x
         GROUP BY user_id HAVING sum(d) <> 0
        ON CONFLICT (user_id) DO UPDATE SET active_flows = u.active_flows + EXCLUDED.active_flows;
    ELSE
        UPDATE public.usage_counters u SET flows = u.flows - d.n, active_flows = u.active_flows - d.a
          FROM (SELECT user_id, count(*) AS n, count(*) FILTER (WHERE status = 'active') AS a
                  FROM old_rows GROUP BY user_id) d
         WHERE u.user_id = d.user_id;
    END IF;
    RETURN NULL;
END
$$;

REVOKE EXECUTE ON FUNCTION flowsend_usage_outbox_inserted(), flowsend_usage_outbox_cancelled(),
    flowsend_usage_campaigns_changed(), flowsend_usage_flows_changed() FROM PUBLIC;

CREATE TRIGGER outbox_usage_inserted AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flowsend_usage_outbox_inserted();
CREATE TRIGGER outbox_usage_cancelled AFTER UPDATE OF status ON outbox
    FOR EACH ROW WHEN (NEW.status = 'cancelled' AND OLD.status IS DISTINCT FROM 'cancelled')
    EXECUTE FUNCTION flowsend_usage_outbox_cancelled();
CREATE TRIGGER campaigns_usage_inserted AFTER INSERT ON campaigns
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flowsend_usage_campaigns_changed();
CREATE TRIGGER campaigns_usage_deleted AFTER DELETE ON campaigns
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flowsend_usage_campaigns_changed();
CREATE TRIGGER flows_usage_inserted AFTER INSERT ON flows
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flowsend_usage_flows_changed();
CREATE TRIGGER flows_usage_updated AFTER UPDATE ON flows
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flowsend_usage_flows_changed();
CREATE TRIGGER flows_usage_deleted AFTER DELETE ON flows
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION flowsend_usage_flows_changed();

-- What exists already (the migration runs in one transaction, before the
-- triggers above could have counted anything twice).
INSERT INTO usage_monthly (user_id, month, emails)
SELECT user_id, date_trunc('month', created_at AT TIME ZONE 'UTC')::date, count(*)
  FROM outbox
 WHERE status <> 'cancelled' AND NOT (payload IS NOT NULL AND payload ? 'account_mail')
 GROUP BY 1, 2;
INSERT INTO usage_counters (user_id, campaigns, flows, active_flows)
SELECT u.id,
       (SELECT count(*) FROM campaigns c WHERE c.user_id = u.id),
       (SELECT count(*) FROM flows f WHERE f.user_id = u.id),
       (SELECT count(*) FROM flows f WHERE f.user_id = u.id AND f.status = 'active')
  FROM users u;

-- The monthly limit now reads the counter (same figure the scan of the
-- outbox gave: queued this UTC month, cancelled and account mail left out).
CREATE OR REPLACE FUNCTION flowsend_emails_this_month(owner uuid) RETURNS bigint
    LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT emails FROM usage_monthly
                    WHERE user_id = owner
                      AND month = date_trunc('month', flowsend_now() AT TIME ZONE 'UTC')::date), 0)
$$;
