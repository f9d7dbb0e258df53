-- flowsend_flow_enroll (0046) was meant to keep its INSERT's plan for the
-- connection's life, but PL/pgSQL's plan cache judged the generic plan dearer
-- than the custom ones (a custom plan folds `trig <> 'custom'` and the
-- reentry test away) and so planned the INSERT afresh on every call:
-- pg_stat_statements (track = all, track_planning) counted one plan per call,
-- and planning took twice the INSERT's own time on an event that enrolled
-- nobody (4.2 s of planning against 2.2 s of execution over 5,895 POST
-- /events). The generic plan is the one every caller wants: a few active
-- flows of the tenant and trigger, each contact by its id (up to 1,000 ids,
-- from the insert trigger), the once-per-flow check by the enrollment key's
-- index. So the function plans its statement once per connection.
ALTER FUNCTION flowsend_flow_enroll(uuid, text, text, uuid[], text, jsonb)
    SET plan_cache_mode = force_generic_plan;
