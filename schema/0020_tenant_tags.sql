-- ?tag= and dynamic lists' "tags contains" read a GIN index over every
-- tenant's tags, or the tenant's rows filtered one by one, whichever the
-- planner guesses cheaper. It guesses every tenant the same size (the tenant
-- is the row-level policy's parameter), so in a database of 20,000 tenants it
-- took a 1,000,000-contact tenant for 260 contacts and read all of them to find
-- a page of ?tag=vip (1 s, where 1.7 ms had been measured with 16 tenants).
-- Leading the index with the tenant (btree_gin, as 0017 did for search) makes
-- the index path cost what the tenant's tagged contacts cost, and replaces the
-- old index, so a write still updates one GIN index for tags.
CREATE INDEX contacts_user_tags_gin ON contacts USING gin (user_id, tags);
DROP INDEX contacts_tags_gin;
