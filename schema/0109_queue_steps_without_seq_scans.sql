-- The worker's fold and search step (schemas 0101 and 0103) take their slot
-- and queue rows by ctid (`ctid = ANY (ARRAY(SELECT ctid ... FOR UPDATE
-- SKIP LOCKED))`). With statistics that say the table is tiny, PostgreSQL
-- plans that as a sequential scan filtering every row against the array,
-- rows times batch comparisons once the table has grown (the s14-queueplans
-- audit, README "Queue plans (session 14)"); without sequential scans it is
-- a TID scan of the locked rows. As schemas 0104 and 0105 do for the flow
-- queue's functions: every other statement of these two has an index to
-- take instead (the queues' keys, contacts' and the slot tables' keys).
ALTER FUNCTION flowsend_counters_fold(integer, interval) SET enable_seqscan = off;
ALTER FUNCTION flowsend_search_backlog_step(integer) SET enable_seqscan = off;
