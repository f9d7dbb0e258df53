-- Events for webhook endpoints lock the endpoints they are for (FOR KEY
-- SHARE), as schema 0108 does for contact.created. Each emitter selected
-- the active endpoints in its statement's snapshot and inserted an event per
-- endpoint; an endpoint deleted by a transaction that committed meanwhile
-- failed the event's foreign key check, and with it the write that emitted
-- it: an unsubscribe (PATCH is_subscribed false, the unsubscribe link), a
-- bounce or tracking hit, a campaign's end answered 500 or failed its batch
-- (found by review; tests/e2e/test_concurrency.c, the *_racing_an_endpoint_
-- deletion_* tests). Locked in the select, such an endpoint is waited for
-- and skipped; one deleted later waits for this transaction.

CREATE OR REPLACE FUNCTION flowsend_webhooks_unsubscribes() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (user_id, endpoint_id, event_type, data)
    SELECT n.user_id, e.id, 'contact.unsubscribed',
           jsonb_build_object('contact_id', n.contact_id, 'email', c.email, 'source', n.source,
                              'campaign_id', n.campaign_id, 'flow_id', n.flow_id,
                              'occurred_at', n.created_at)
      FROM fresh n
      JOIN webhook_endpoints e ON e.user_id = n.user_id AND e.is_active
                              AND 'contact.unsubscribed' = ANY (e.events)
      LEFT JOIN contacts c ON c.id = n.contact_id AND c.user_id = n.user_id
     ORDER BY e.id, n.created_at, n.id
       FOR KEY SHARE OF e;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION flowsend_webhooks_email_events() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (user_id, endpoint_id, event_type, data)
    SELECT n.user_id, e.id, 'email.' || n.event_type,
           jsonb_strip_nulls(jsonb_build_object(
               'contact_id', n.contact_id, 'email', c.email, 'campaign_id', n.campaign_id,
               'flow_id', n.flow_id, 'message_id', n.outbox_id, 'url', n.url,
               'occurred_at', n.created_at))
      FROM fresh n
      JOIN webhook_endpoints e ON e.user_id = n.user_id AND e.is_active
                              AND ('email.' || n.event_type) = ANY (e.events)
      LEFT JOIN contacts c ON c.id = n.contact_id AND c.user_id = n.user_id
     WHERE n.event_type IN ('bounced', 'complained', 'opened', 'clicked') AND NOT n.is_bot
     ORDER BY e.id, n.created_at, n.id
       FOR KEY SHARE OF e;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION flowsend_webhooks_campaigns_sent() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (user_id, endpoint_id, event_type, data)
    SELECT n.user_id, e.id, 'campaign.sent',
           jsonb_build_object('campaign', jsonb_build_object(
               'id', n.id, 'name', n.name, 'subject', n.subject, 'list_id', n.list_id,
               'total_recipients', n.total_recipients, 'sent_count', n.sent_count,
               'started_at', n.started_at, 'sent_at', n.sent_at))
      FROM fresh n
      JOIN stale o ON o.id = n.id
      JOIN webhook_endpoints e ON e.user_id = n.user_id AND e.is_active
                              AND 'campaign.sent' = ANY (e.events)
     WHERE n.status = 'sent' AND o.status IS DISTINCT FROM 'sent'
     ORDER BY e.id, n.sent_at, n.id
       FOR KEY SHARE OF e;
    RETURN NULL;
END $$;
