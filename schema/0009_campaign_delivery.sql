-- Campaign delivery: what the send fan-out, the batch worker and the
-- campaign pages need beyond the model in 0001.

-- Outbox ids are time-ordered like contact ids: a fan-out of 100,000 rows
-- appends to the id index instead of touching random pages.
ALTER TABLE outbox ALTER COLUMN id SET DEFAULT flowsend_uuid7();
ALTER TABLE email_events ALTER COLUMN id SET DEFAULT flowsend_uuid7();

-- "Is any of this campaign's mail still to go?" after every batch, without
-- walking the campaign's finished rows.
CREATE INDEX outbox_campaign_open_idx ON outbox (campaign_id)
    WHERE campaign_id IS NOT NULL AND status IN ('pending', 'sending');

-- GET /campaigns/{id}/events, newest first, paged without sorting them all.
CREATE INDEX email_events_campaign_created_idx ON email_events (campaign_id, created_at DESC, id DESC)
    WHERE campaign_id IS NOT NULL;

-- The worker's look for campaigns still sending.
CREATE INDEX campaigns_sending_idx ON campaigns (id) WHERE status = 'sending';

-- Mail counted against the plan's monthly limit: every message queued this
-- calendar month (UTC) that was not cancelled, test sends included.
CREATE FUNCTION flowsend_emails_this_month(owner uuid) RETURNS bigint
    LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM outbox
   WHERE user_id = owner AND status <> 'cancelled'
     AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
$$;
