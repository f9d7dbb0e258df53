-- The flow engine's due queue in a table of its own (issue 20, session 9).
--
-- Every move of an execution changes next_run_at and often status, which the
-- due index of 0001 covered: each move was a non-HOT update that wrote a new
-- entry into all eight indexes of flow_executions (9 WAL records a move).
-- Now flow_due holds one row per execution that waits to run (status active
-- or waiting with a next_run_at), kept by statement triggers in the writing
-- transaction whoever writes (the engine, enrollment, the webhooks pass
-- waking an execution, a flow's deletion), and flow_executions has no index
-- on next_run_at or status: a move is a HOT update (one WAL record, no index
-- entry) beside one change of flow_due (a due row updated: its heap and two
-- index entries; a completed execution: one deleted row).
--
-- flow_executions.next_run_at stays the column of record (the API shows it);
-- flow_due.due_at always equals it for the executions that wait, since the
-- triggers run in the same statement as the change. The claim walks
-- flow_due_at_idx in order and locks the executions' rows FOR UPDATE SKIP
-- LOCKED, as before.
--
-- Room for HOT: executions enrolled together share pages and move together
-- (one delay for all), so each page keeps half its space free for their new
-- versions (fillfactor applies to pages filled from now on).

CREATE TABLE flow_due (
    execution_id uuid PRIMARY KEY REFERENCES flow_executions (id) ON DELETE CASCADE,
    due_at       timestamptz NOT NULL
);
CREATE INDEX flow_due_at_idx ON flow_due (due_at);
-- Only the batch worker's claim reads it; the triggers below write it as its owner.
ALTER TABLE flow_due ENABLE ROW LEVEL SECURITY;
GRANT SELECT ON flow_due TO flowsend_system;
CREATE POLICY worker_reads ON flow_due FOR SELECT TO flowsend_system USING (true);

INSERT INTO flow_due (execution_id, due_at)
SELECT id, next_run_at FROM flow_executions
 WHERE status IN ('active', 'waiting') AND next_run_at IS NOT NULL;

-- New executions that wait go into the queue.
CREATE FUNCTION flowsend_flow_due_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    INSERT INTO public.flow_due (execution_id, due_at)
    SELECT n.id, n.next_run_at FROM new_rows n
     WHERE n.status IN ('active', 'waiting') AND n.next_run_at IS NOT NULL
    ON CONFLICT (execution_id) DO UPDATE SET due_at = EXCLUDED.due_at;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_flow_due_inserted() FROM PUBLIC;
CREATE TRIGGER flow_executions_due_inserted AFTER INSERT ON flow_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowsend_flow_due_inserted();

-- Updated executions: those that no longer wait leave the queue, the others
-- take their (new) time. The lookups go by flow_due's primary key (= ANY of
-- an array: the transition table has no statistics a join could plan with).
CREATE FUNCTION flowsend_flow_due_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    DELETE FROM public.flow_due d
     WHERE d.execution_id = ANY (ARRAY(
           SELECT n.id FROM new_rows n
            WHERE n.status NOT IN ('active', 'waiting') OR n.next_run_at IS NULL));
    INSERT INTO public.flow_due AS d (execution_id, due_at)
    SELECT n.id, n.next_run_at FROM new_rows n
     WHERE n.status IN ('active', 'waiting') AND n.next_run_at IS NOT NULL
    ON CONFLICT (execution_id) DO UPDATE SET due_at = EXCLUDED.due_at
     WHERE d.due_at IS DISTINCT FROM EXCLUDED.due_at;
    RETURN NULL;
END
$$;
REVOKE EXECUTE ON FUNCTION flowsend_flow_due_updated() FROM PUBLIC;
CREATE TRIGGER flow_executions_due_updated AFTER UPDATE ON flow_executions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowsend_flow_due_updated();

-- The due index moved out; nothing else indexes next_run_at or status.
DROP INDEX flow_executions_due_idx;
ALTER TABLE flow_executions SET (fillfactor = 50);

-- Mail that is not a campaign's (flow steps, test sends, confirmations) has
-- no campaign: the (campaign, contact) key only needs campaigns' rows, and
-- each other row saves an index entry. ON CONFLICT DO NOTHING (the campaign
-- fan-out) still finds it.
ALTER TABLE outbox DROP CONSTRAINT outbox_campaign_id_contact_id_key;
CREATE UNIQUE INDEX outbox_campaign_contact_key ON outbox (campaign_id, contact_id)
    WHERE campaign_id IS NOT NULL;
