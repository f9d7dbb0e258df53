-- Run once per database by a superuser (scripts/stack.sh does it for the local
-- cluster; on a managed PostgreSQL ask for it or accept slower searches).
--
-- Row-level security evaluates a query's own conditions after the tenant
-- policy unless their functions are LEAKPROOF, which keeps PostgreSQL from
-- using the trigram and GIN indexes for ?search= and ?tag= (a 1,000,000-row
-- tenant: 890 ms instead of 44 ms). These built-ins raise no error that
-- depends on a row's data, so marking them LEAKPROOF discloses nothing.
ALTER FUNCTION pg_catalog.textlike(text, text) LEAKPROOF;
ALTER FUNCTION pg_catalog.lower(text) LEAKPROOF;
-- || builds the searched text that contact_search_doc_trgm indexes.
ALTER FUNCTION pg_catalog.textcat(text, text) LEAKPROOF;
ALTER FUNCTION pg_catalog.arraycontains(anyarray, anyarray) LEAKPROOF;

-- The responders serve many short queries at once; parallel workers only
-- add start-up cost and contention on a small host (a dynamic list's count
-- over 1,000,000 contacts: 310 ms with two workers, 84 ms without).
ALTER ROLE flowsend_app IN DATABASE flowsend SET max_parallel_workers_per_gather = 0;
