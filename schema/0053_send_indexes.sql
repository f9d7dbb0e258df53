-- Send speed (issues 15 and 16): PostgreSQL's share of a message. A message
-- leaves the queue in one update that cannot be HOT (due_at leaves the
-- queue's index), and that update writes an entry into every index of the
-- outbox; its `sent` event writes one into every index of email_events.
-- Measured on the bench (100,000 messages into smtp-sink): about twelve index
-- entries per message, more than half of all WAL records. Indexes that no
-- query of a sending needs go, or leave the sent rows out.

-- The batch's claim lists the rows it took, so lapsed claims and the
-- "anything still in flight?" check find their rows by primary key instead of
-- through an index on outbox.claim_id that got an entry from every claim
-- (and kept it: the row is not updated out of it, which would not be HOT).
ALTER TABLE delivery_claims ADD COLUMN outbox_ids uuid[] NOT NULL DEFAULT '{}';
UPDATE delivery_claims dc
   SET outbox_ids = coalesce((SELECT array_agg(o.id) FROM outbox o WHERE o.claim_id = dc.id), '{}');
DROP INDEX outbox_claim_idx;

-- (id, user_id) was unique only for mail_feedback's key; the id alone names a
-- row, and mail_feedback takes its user_id from the outbox row it names.
ALTER TABLE mail_feedback
    DROP CONSTRAINT mail_feedback_outbox_id_user_id_fkey,
    ADD CONSTRAINT mail_feedback_outbox_id_fkey
        FOREIGN KEY (outbox_id) REFERENCES outbox (id) ON DELETE CASCADE;
ALTER TABLE outbox DROP CONSTRAINT outbox_id_user_id_key;

-- Nothing reads a tenant's outbox by creation time; deleting a tenant (by
-- hand, rare) reads the outbox once instead.
DROP INDEX outbox_user_created_idx;

-- Campaign analytics read opens and clicks (unique contacts) and filter the
-- event list by type; `sent` is the campaign's sent_count, and a list of its
-- sent events goes by email_events_campaign_created_idx. One index entry less
-- for every message sent.
DROP INDEX email_events_campaign_type_idx;
CREATE INDEX email_events_campaign_type_idx ON email_events (campaign_id, event_type, contact_id)
    WHERE campaign_id IS NOT NULL AND event_type <> 'sent';
