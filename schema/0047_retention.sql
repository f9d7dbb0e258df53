-- Retention: what nothing reads any more is deleted by flowsend-batch, a
-- chunk per pass (lib/services/retention.c), so these tables stop growing with
-- the life of the installation:
-- * webhook calls delivered or given up more than 30 days ago, with their
--   attempts (the deliveries list shows the last 30 days);
-- * sign-ups never confirmed, 30 days after their link expired: the address,
--   IP and user agent of someone who did not opt in are not kept. Confirmed
--   sign-ups are consent records and stay.
CREATE INDEX webhook_events_done_idx ON webhook_events (completed_at) WHERE status <> 'pending';
CREATE INDEX form_submissions_unconfirmed_idx ON form_submissions (expires_at)
    WHERE status <> 'confirmed';
GRANT DELETE ON webhook_events, form_submissions TO flowsend_system;
