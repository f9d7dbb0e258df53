-- Platform events find their tenant in the responder's principal cache
-- (issue 19, session 11): the signed POST /webhooks/platform-events asked
-- PostgreSQL on every event which user has the event's platform or store id,
-- a second round trip and a second transaction beside the enrollment's. The
-- cache (lib/services/auth_cache.c) is emptied by the NOTIFY of 0002/0012;
-- a cached tenant is wrong once a user's platform or store id changes, or a
-- user is created with one (a platform id match ranks above a store id
-- match), so those notify too. Registrations without ids notify nothing.
DROP TRIGGER users_auth_changed ON users;
CREATE TRIGGER users_auth_changed
    AFTER UPDATE OF is_active, plan, email, session_epoch, email_verified, password_hash,
                    external_platform_id, external_store_id OR DELETE
    ON users FOR EACH STATEMENT EXECUTE FUNCTION flowsend_auth_changed();

CREATE TRIGGER users_platform_ids_created
    AFTER INSERT ON users FOR EACH ROW
    WHEN (NEW.external_platform_id IS NOT NULL OR NEW.external_store_id IS NOT NULL)
    EXECUTE FUNCTION flowsend_auth_changed();
