-- Send speed (issues 15 and 16, session 13). Over SMTP every step of the
-- delivery loop now claims a few rows (its free slots) from the front of the
-- queue's index, hundreds of times a second, instead of 1,000 rows a batch.
-- A campaign's rows all share one due time, so the index kept them as
-- deduplicated posting lists, and an entry inside a posting list cannot be
-- marked dead until every row of the list has left the queue: each claim
-- walked past the rows already claimed and visited their heap tuples again.
-- One entry per row is marked dead by the first scan that finds its row gone,
-- and later claims skip it without reading the heap.
DROP INDEX outbox_due_idx;
CREATE INDEX outbox_due_idx ON outbox (due_at) WITH (deduplicate_items = off) WHERE due_at IS NOT NULL;
