-- Opt-outs outlive the contact row (issue 12, defect 4): an address that
-- unsubscribed, by any route, stays unsubscribed when it is deleted and
-- imported again, created again through the API, or given to another
-- contact, until its owner signs up again through a form (which deletes the
-- row). Kept by hash, like suppressions, so no address is stored twice.
CREATE TABLE opt_outs (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_hash text NOT NULL CHECK (email_hash ~ '^[0-9a-f]{64}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, email_hash)
);

ALTER TABLE opt_outs ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON opt_outs FOR ALL TO flowsend_app
    USING (user_id = flowsend_current_user()) WITH CHECK (user_id = flowsend_current_user());
GRANT SELECT, INSERT, DELETE ON opt_outs TO flowsend_app;
-- The worker records unsubscribes from links and complaints.
GRANT SELECT, INSERT ON opt_outs TO flowsend_system;

-- Every unsubscribe, whoever records it, is an opt-out: one place, so no
-- route can forget it.
CREATE FUNCTION flowsend_record_opt_out() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO opt_outs (user_id, email_hash) VALUES (NEW.user_id, NEW.email_hash)
        ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER unsubscribes_opt_out AFTER INSERT ON unsubscribes
    FOR EACH ROW EXECUTE FUNCTION flowsend_record_opt_out();

-- What was unsubscribed before this migration and is still unsubscribed (or
-- gone) counts as an opt-out; a contact its merchant re-subscribed does not.
INSERT INTO opt_outs (user_id, email_hash, created_at)
SELECT u.user_id, u.email_hash, min(u.created_at)
  FROM unsubscribes u LEFT JOIN contacts c ON c.id = u.contact_id
 WHERE c.id IS NULL OR NOT c.is_subscribed
 GROUP BY u.user_id, u.email_hash
ON CONFLICT DO NOTHING;
