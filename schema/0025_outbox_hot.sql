-- Delivery speed (issues 15 and 16). After it is queued, a message's row
-- changes three times: claimed, handed to SMTP, sent. Each change used to be
-- a non-HOT update writing an entry into every index of the table, because
-- `status` (in the predicates of the queue's partial indexes), `locked_until`
-- and `message_id` were indexed: about thirty index entries per message, the
-- largest cost of a send. Now the only columns the queue's indexes read change
-- once, at the claim; handing over and recording the outcome are HOT updates
-- (PostgreSQL decides by value: an update that leaves every indexed value
-- alone writes no index entry), given room on the page.

-- Room on each page for the two later versions of its rows; pruning (on the
-- worker's own index fetches) reclaims the dead ones as it goes.
ALTER TABLE outbox SET (fillfactor = 60);

-- When a row waits in the queue, NULL once it left it. Derived from status so
-- no writer can forget it; 'sending' -> 'handing' -> 'sent' keeps it NULL,
-- which is what lets those updates be HOT.
ALTER TABLE outbox ADD COLUMN due_at timestamptz
    GENERATED ALWAYS AS (CASE WHEN status = 'pending' THEN next_attempt_at END) STORED;

DROP INDEX outbox_due_idx;
CREATE INDEX outbox_due_idx ON outbox (due_at) WHERE due_at IS NOT NULL;

-- "Is any of this campaign's mail still queued?" (cancel, finishing). Mail
-- in flight is found through the live claims instead.
DROP INDEX outbox_campaign_open_idx;
CREATE INDEX outbox_campaign_queued_idx ON outbox (campaign_id)
    WHERE due_at IS NOT NULL AND campaign_id IS NOT NULL;

-- A claim is one row per batch, not a lock time on each message: the worker
-- extends it with every hand-over, and the tidy pass deals with the rows of
-- a lapsed claim (claimed ones go back to the queue, handed ones fail as
-- interrupted). The rows name their claim; the index has an entry per claim
-- of a row, written by the claim's own (non-HOT) update.
CREATE TABLE delivery_claims (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    locked_until timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT flowsend_now()
);
GRANT SELECT, INSERT, UPDATE, DELETE ON delivery_claims TO flowsend_system;
ALTER TABLE outbox ADD COLUMN claim_id bigint;
CREATE INDEX outbox_claim_idx ON outbox (claim_id) WHERE claim_id IS NOT NULL;
DROP INDEX outbox_stale_idx;

-- Rows in flight when this migration runs belong to one claim that lapses
-- when the latest of their locks would have.
WITH legacy AS (
    INSERT INTO delivery_claims (locked_until)
    SELECT coalesce(max(locked_until), flowsend_now()) FROM outbox WHERE status IN ('sending', 'handing')
    HAVING count(*) > 0
    RETURNING id)
UPDATE outbox o SET claim_id = legacy.id FROM legacy WHERE o.status IN ('sending', 'handing');

-- The Message-ID is '<' || id || '@' || domain || '>': a provider's webhook
-- finds the row by the id inside it, so the column needs no index (setting
-- it at hand-over would otherwise make that update non-HOT).
DROP INDEX outbox_message_id_key;

-- Campaign mail has no flow step: leave it out of the flow key's index.
ALTER TABLE outbox DROP CONSTRAINT outbox_flow_execution_id_step_index_key;
CREATE UNIQUE INDEX outbox_flow_step_key ON outbox (flow_execution_id, step_index)
    WHERE flow_execution_id IS NOT NULL;
