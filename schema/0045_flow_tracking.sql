-- Flow mail's opens and clicks in the unique counts (issue 20).
--
-- The tracking flush records a flow email's hits as email_events with the
-- flow's id (campaign_id NULL), and counts each contact once per campaign in
-- tracking_firsts, campaigns only. Flow mail counts the same way here: a
-- human (not is_bot) open or click counts once per (flow, email step,
-- contact), however often the step mails the contact (a loop) or the contact
-- opens it, and a link's unique clicks once per (flow, step, contact, link).
-- Each first goes into the daily rollup (daily_stats.opened / clicked), so
-- GET /analytics counts flow mail beside campaigns' and agrees with the
-- events.
--
-- Self-contained: a statement-level trigger of its own on email_events reads
-- only the rows it inserted (flow hits), whoever inserts them; the flush's
-- statement and the other email_events triggers are left as they are.
CREATE TABLE flow_tracking_firsts (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    flow_id    uuid NOT NULL,
    step_index integer NOT NULL,
    contact_id uuid NOT NULL,
    -- 'opened' and 'clicked' for the counts (link_id is the zero uuid),
    -- 'link' for one link's unique clicks.
    kind       text NOT NULL CHECK (kind IN ('opened', 'clicked', 'link')),
    link_id    uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    created_at timestamptz NOT NULL DEFAULT flowsend_now(),
    PRIMARY KEY (flow_id, step_index, contact_id, kind, link_id),
    FOREIGN KEY (flow_id, user_id) REFERENCES flows (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (contact_id, user_id) REFERENCES contacts (id, user_id) ON DELETE CASCADE
);
CREATE INDEX flow_tracking_firsts_user_idx ON flow_tracking_firsts (user_id);
CREATE INDEX flow_tracking_firsts_contact_idx ON flow_tracking_firsts (contact_id);

ALTER TABLE flow_tracking_firsts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON flow_tracking_firsts FOR ALL TO flowsend_app
    USING (user_id = (SELECT flowsend_current_user()))
    WITH CHECK (user_id = (SELECT flowsend_current_user()));
GRANT SELECT, DELETE ON flow_tracking_firsts TO flowsend_app;
GRANT SELECT, INSERT ON flow_tracking_firsts TO flowsend_system;

-- The firsts among `hits` (human flow opens and clicks with their step),
-- then their daily figures and their links' unique clicks. Concurrent
-- flushes race only for the primary key: each first is taken once.
CREATE FUNCTION flowsend_flow_tracking_count() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM fresh n WHERE n.flow_id IS NOT NULL AND n.campaign_id IS NULL
                      AND n.event_type IN ('opened', 'clicked') AND NOT n.is_bot) THEN
        RETURN NULL;
    END IF;
    WITH hits AS (
        SELECT n.user_id, n.flow_id, o.step_index, n.contact_id, n.event_type AS kind,
               (n.metadata->>'link_id')::uuid AS link_id, n.created_at AS at
          FROM fresh n JOIN outbox o ON o.id = n.outbox_id AND o.user_id = n.user_id
         WHERE n.flow_id IS NOT NULL AND n.campaign_id IS NULL AND n.contact_id IS NOT NULL
           AND n.event_type IN ('opened', 'clicked') AND NOT n.is_bot AND o.step_index IS NOT NULL),
    firsts AS (
        INSERT INTO flow_tracking_firsts (user_id, flow_id, step_index, contact_id, kind, link_id, created_at)
        SELECT DISTINCT ON (h.flow_id, h.step_index, h.contact_id, k.kind, k.link)
               h.user_id, h.flow_id, h.step_index, h.contact_id, k.kind, k.link, h.at
          FROM hits h CROSS JOIN LATERAL (VALUES
               (h.kind, '00000000-0000-0000-0000-000000000000'::uuid),
               (CASE WHEN h.kind = 'clicked' AND h.link_id IS NOT NULL THEN 'link' END, h.link_id))
               AS k(kind, link)
         WHERE k.kind IS NOT NULL
         ORDER BY h.flow_id, h.step_index, h.contact_id, k.kind, k.link, h.at
        ON CONFLICT DO NOTHING RETURNING user_id, kind, link_id, created_at),
    links AS (
        UPDATE campaign_links l SET click_count = l.click_count + t.uniques
          FROM (SELECT link_id, count(*) AS uniques FROM firsts WHERE kind = 'link' GROUP BY link_id) t
         WHERE l.id = t.link_id RETURNING 1)
    INSERT INTO daily_stats AS d (user_id, day, opened, clicked)
    SELECT user_id, (created_at AT TIME ZONE 'UTC')::date,
           count(*) FILTER (WHERE kind = 'opened'), count(*) FILTER (WHERE kind = 'clicked')
      FROM firsts WHERE kind <> 'link' GROUP BY 1, 2
    ON CONFLICT (user_id, day) DO UPDATE SET opened = d.opened + EXCLUDED.opened,
                                             clicked = d.clicked + EXCLUDED.clicked;
    RETURN NULL;
END $$;
CREATE TRIGGER email_events_flow_tracking AFTER INSERT ON email_events
    REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION flowsend_flow_tracking_count();

-- Flow hits recorded before this migration count too, once.
WITH hits AS (
    SELECT n.user_id, n.flow_id, o.step_index, n.contact_id, n.event_type AS kind,
           (n.metadata->>'link_id')::uuid AS link_id, n.created_at AS at
      FROM email_events n JOIN outbox o ON o.id = n.outbox_id AND o.user_id = n.user_id
     WHERE n.flow_id IS NOT NULL AND n.campaign_id IS NULL AND n.contact_id IS NOT NULL
       AND n.event_type IN ('opened', 'clicked') AND NOT n.is_bot AND o.step_index IS NOT NULL),
firsts AS (
    INSERT INTO flow_tracking_firsts (user_id, flow_id, step_index, contact_id, kind, link_id, created_at)
    SELECT DISTINCT ON (h.flow_id, h.step_index, h.contact_id, k.kind, k.link)
           h.user_id, h.flow_id, h.step_index, h.contact_id, k.kind, k.link, h.at
      FROM hits h CROSS JOIN LATERAL (VALUES
           (h.kind, '00000000-0000-0000-0000-000000000000'::uuid),
           (CASE WHEN h.kind = 'clicked' AND h.link_id IS NOT NULL THEN 'link' END, h.link_id))
           AS k(kind, link)
     WHERE k.kind IS NOT NULL
     ORDER BY h.flow_id, h.step_index, h.contact_id, k.kind, k.link, h.at
    ON CONFLICT DO NOTHING RETURNING user_id, kind, link_id, created_at),
links AS (
    UPDATE campaign_links l SET click_count = l.click_count + t.uniques
      FROM (SELECT link_id, count(*) AS uniques FROM firsts WHERE kind = 'link' GROUP BY link_id) t
     WHERE l.id = t.link_id RETURNING 1)
INSERT INTO daily_stats AS d (user_id, day, opened, clicked)
SELECT user_id, (created_at AT TIME ZONE 'UTC')::date,
       count(*) FILTER (WHERE kind = 'opened'), count(*) FILTER (WHERE kind = 'clicked')
  FROM firsts WHERE kind <> 'link' GROUP BY 1, 2
ON CONFLICT (user_id, day) DO UPDATE SET opened = d.opened + EXCLUDED.opened,
                                         clicked = d.clicked + EXCLUDED.clicked;
