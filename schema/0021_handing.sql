-- Real delivery (issue 15): claiming a row and handing it to SMTP are two
-- states. 'sending' is a claim: nothing has left yet, so a lapsed claim goes
-- back to 'pending'. 'handing' is committed just before the message is given
-- to the SMTP client, for at most as many rows as are in flight; whatever the
-- server did with it is unknown until the outcome is committed, so a lapsed
-- 'handing' row is never sent again: it becomes 'failed' ("interrupted").
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check,
    ADD CONSTRAINT outbox_status_check
        CHECK (status IN ('pending', 'sending', 'handing', 'sent', 'failed', 'bounced', 'cancelled'));

-- The tidy pass looks for lapsed claims and lapsed hand-overs. "locked_until
-- IS NOT NULL" keeps the planner from reading this index for the worker's
-- updates by id ("... AND status = 'handing'"): after a big send it holds
-- every row that passed through those states until vacuum, and scanning it
-- cost milliseconds per statement. The tidy pass's "locked_until < now"
-- implies the predicate, so it still uses it.
DROP INDEX outbox_stale_idx;
CREATE INDEX outbox_stale_idx ON outbox (locked_until)
    WHERE status IN ('sending', 'handing') AND locked_until IS NOT NULL;

-- A campaign is finished once none of its mail is queued, claimed or in flight.
DROP INDEX outbox_campaign_open_idx;
CREATE INDEX outbox_campaign_open_idx ON outbox (campaign_id)
    WHERE campaign_id IS NOT NULL AND status IN ('pending', 'sending', 'handing');

