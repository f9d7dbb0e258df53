-- Real delivery (issue 15): claiming a row and handing it to SMTP are two
-- states. 'sending' is a claim: nothing has left yet, so a lapsed claim goes
-- back to 'pending'. 'handing' is committed just before the message is given
-- to the SMTP client, for at most as many rows as are in flight; whatever the
-- server did with it is unknown until the outcome is committed, so a lapsed
-- 'handing' row is never sent again: it becomes 'failed' ("interrupted").
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check,
    ADD CONSTRAINT outbox_status_check
        CHECK (status IN ('pending', 'sending', 'handing', 'sent', 'failed', 'bounced', 'cancelled'));

-- The tidy pass looks for lapsed claims and lapsed hand-overs.
DROP INDEX outbox_stale_idx;
CREATE INDEX outbox_stale_idx ON outbox (locked_until) WHERE status IN ('sending', 'handing');

-- A campaign is finished once none of its mail is queued, claimed or in flight.
DROP INDEX outbox_campaign_open_idx;
CREATE INDEX outbox_campaign_open_idx ON outbox (campaign_id)
    WHERE campaign_id IS NOT NULL AND status IN ('pending', 'sending', 'handing');

