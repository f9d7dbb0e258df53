-- Queue plans (session 14): flowsend_flow_due_updated (0050) deleted the due
-- rows of executions that stopped waiting with
-- `execution_id = ANY (ARRAY(SELECT ... FROM new_rows))`. A trigger's
-- statement without parameters keeps the plan of its first run for the
-- session, and when flow_due had been analyzed while empty that plan was a
-- sequential scan of flow_due comparing every due row with every id of the
-- statement: 81 ms for 1,000 moves with 20,000 executions waiting, growing
-- with both (an O(waiting x moved) cost on every write of the flow
-- engine). Planned without sequential scans, the delete probes
-- flow_due_pkey once per id whatever the statistics said (1.1 ms). Same
-- statements, same result.
CREATE OR REPLACE FUNCTION flowsend_flow_due_updated() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
    SET enable_seqscan = off
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
