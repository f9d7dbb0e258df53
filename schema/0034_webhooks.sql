-- Outbound webhooks (issue 21): event subscriptions, the flow webhook step's calls and every attempt
-- made, plus the webhook secret's rotation window.
--
-- Events are written set-based, in the transaction that made them happen, by statement triggers on
-- the tables where they are recorded today (contacts, unsubscribes, email_events, campaigns): one
-- INSERT ... SELECT joining the statement's new rows with the tenant's subscribed endpoints. A tenant
-- without endpoints pays one probe of webhook_endpoints per statement, nothing per row.

-- Rotation: the previous secret keeps signing (a second value in X-FlowSend-Signature) until
-- webhook_secret_previous_until.
ALTER TABLE users
    ADD COLUMN webhook_secret_previous text,
    ADD COLUMN webhook_secret_previous_until timestamptz;

CREATE TABLE webhook_endpoints (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url             text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events          text[] NOT NULL CHECK (cardinality(events) >= 1 AND events <@ ARRAY[
                        'contact.created', 'contact.unsubscribed', 'email.bounced', 'email.complained',
                        'email.opened', 'email.clicked', 'campaign.sent']::text[]),
    description     text CHECK (length(description) <= 1000),
    is_active       boolean NOT NULL DEFAULT true,
    -- Why the worker switched it off (failing for 3 days), NULL while active or switched off by hand.
    disabled_reason text,
    -- The first failed call since the last success: 3 days of failures disable the endpoint.
    failing_since   timestamptz,
    -- Held by one worker while it delivers this endpoint's events, so they go out in order.
    lease_until     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT flowsend_now(),
    updated_at      timestamptz NOT NULL DEFAULT flowsend_now(),
    UNIQUE (id, user_id)
);
CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id, created_at);

-- The outbox of calls: one row per (event, endpoint), or per flow webhook step (endpoint_id NULL, url
-- set). id is the event id receivers de-duplicate on; seq orders an endpoint's events.
CREATE TABLE webhook_events (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint_id     uuid,
    url             text CHECK (length(url) <= 2048),
    flow_id         uuid,
    execution_id    uuid,
    step            integer,
    -- The engine's visit of the step (a loop may pass it again): one call per execution, step, visit.
    visit           integer NOT NULL DEFAULT 0,
    event_type      text NOT NULL,
    data            jsonb NOT NULL DEFAULT '{}',
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT flowsend_now(),
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT flowsend_now(),
    completed_at    timestamptz,
    CHECK ((endpoint_id IS NULL) <> (url IS NULL)),
    FOREIGN KEY (endpoint_id, user_id) REFERENCES webhook_endpoints (id, user_id) ON DELETE CASCADE
);
-- The worker's claim: each endpoint's oldest pending event.
CREATE INDEX webhook_events_pending_idx ON webhook_events (endpoint_id, seq) WHERE status = 'pending';
-- Flow step calls due.
CREATE INDEX webhook_events_calls_due_idx ON webhook_events (next_attempt_at)
    WHERE status = 'pending' AND endpoint_id IS NULL;
-- The engine's lookup of a step's call.
CREATE UNIQUE INDEX webhook_events_step_key ON webhook_events (execution_id, step, visit)
    WHERE execution_id IS NOT NULL;
CREATE INDEX webhook_events_user_idx ON webhook_events (user_id, created_at);

-- Every attempt: status code (NULL when no HTTP answer came), error, duration.
CREATE TABLE webhook_attempts (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    event_id    uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    endpoint_id uuid,
    event_type  text NOT NULL,
    attempt     integer NOT NULL,
    status_code integer,
    error       text,
    duration_ms integer,
    created_at  timestamptz NOT NULL DEFAULT flowsend_now(),
    FOREIGN KEY (endpoint_id, user_id) REFERENCES webhook_endpoints (id, user_id) ON DELETE CASCADE
);
CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (endpoint_id, created_at DESC, attempt DESC)
    WHERE endpoint_id IS NOT NULL;
CREATE INDEX webhook_attempts_event_idx ON webhook_attempts (event_id);
CREATE INDEX webhook_attempts_user_idx ON webhook_attempts (user_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['webhook_endpoints', 'webhook_events', 'webhook_attempts'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I FOR ALL TO flowsend_app '
                       'USING (user_id = flowsend_current_user()) '
                       'WITH CHECK (user_id = flowsend_current_user())', t);
    END LOOP;
END
$$;

-- Tenants manage their endpoints, read their calls and attempts, and queue flow step calls.
GRANT SELECT, INSERT, UPDATE, DELETE ON webhook_endpoints TO flowsend_app;
GRANT SELECT, INSERT ON webhook_events TO flowsend_app;
GRANT SELECT ON webhook_attempts TO flowsend_app;
-- The batch worker claims and delivers across tenants and records each attempt.
GRANT SELECT, UPDATE ON webhook_endpoints, webhook_events TO flowsend_system;
GRANT INSERT ON webhook_events, webhook_attempts TO flowsend_system;
GRANT SELECT ON webhook_attempts TO flowsend_system;

-- ---------------------------------------------------------------------------------------------------
-- Emitting events: statement triggers, as the owner (endpoints of any tenant the statement touched).
-- ---------------------------------------------------------------------------------------------------

CREATE FUNCTION flowsend_webhooks_contacts_created() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_endpoints) THEN
        RETURN NULL;
    END IF;
    INSERT INTO webhook_events (user_id, endpoint_id, event_type, data)
    SELECT n.user_id, e.id, 'contact.created',
           jsonb_build_object('contact', jsonb_build_object(
               'id', n.id, 'email', n.email, 'first_name', n.first_name, 'last_name', n.last_name,
               'tags', to_jsonb(n.tags), 'custom_fields', n.custom_fields,
               'is_subscribed', n.is_subscribed, 'created_at', n.created_at))
      FROM fresh n
      JOIN webhook_endpoints e ON e.user_id = n.user_id AND e.is_active
                              AND 'contact.created' = ANY (e.events)
     ORDER BY e.id, n.created_at, n.id;
    RETURN NULL;
END $$;
CREATE TRIGGER contacts_webhooks_created AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION flowsend_webhooks_contacts_created();

CREATE FUNCTION flowsend_webhooks_unsubscribes() RETURNS trigger
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
     ORDER BY e.id, n.created_at, n.id;
    RETURN NULL;
END $$;
CREATE TRIGGER unsubscribes_webhooks AFTER INSERT ON unsubscribes
    REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION flowsend_webhooks_unsubscribes();

-- Opens and clicks: every human (non-bot) hit recorded, the same rows analytics counts.
CREATE FUNCTION flowsend_webhooks_email_events() RETURNS trigger
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
     ORDER BY e.id, n.created_at, n.id;
    RETURN NULL;
END $$;
CREATE TRIGGER email_events_webhooks AFTER INSERT ON email_events
    REFERENCING NEW TABLE AS fresh FOR EACH STATEMENT EXECUTE FUNCTION flowsend_webhooks_email_events();

CREATE FUNCTION flowsend_webhooks_campaigns_sent() RETURNS trigger
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
     ORDER BY e.id, n.sent_at, n.id;
    RETURN NULL;
END $$;
CREATE TRIGGER campaigns_webhooks_sent AFTER UPDATE ON campaigns
    REFERENCING OLD TABLE AS stale NEW TABLE AS fresh
    FOR EACH STATEMENT EXECUTE FUNCTION flowsend_webhooks_campaigns_sent();
