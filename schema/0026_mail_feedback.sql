-- What came back after a message left (issue 18): bounce reports (RFC 3464)
-- and complaints (RFC 5965) mailed to the message's VERP address, and later
-- provider webhooks. One row per message and kind makes recording them
-- idempotent: a report delivered twice, or replayed, finds its row and
-- changes nothing. Soft bounces are counted here too: three messages in a row
-- to one contact that came back soft suppress it.
CREATE TABLE mail_feedback (
    outbox_id  uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_id uuid,
    kind       text NOT NULL CHECK (kind IN ('hard', 'soft', 'complaint')),
    -- Where it came from: 'dsn' (flowsend-bounce), 'ses', 'sendgrid'.
    source     text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT flowsend_now(),
    PRIMARY KEY (outbox_id, kind),
    -- Erasing a contact drops its outbox rows, and with them what came back.
    FOREIGN KEY (outbox_id, user_id) REFERENCES outbox (id, user_id) ON DELETE CASCADE
);
CREATE INDEX mail_feedback_user_idx ON mail_feedback (user_id);

ALTER TABLE mail_feedback ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON mail_feedback FOR ALL TO flowsend_app
    USING (user_id = flowsend_current_user()) WITH CHECK (user_id = flowsend_current_user());
-- flowsend-bounce finds the tenant as system, then records as the tenant.
GRANT SELECT, INSERT ON mail_feedback TO flowsend_app;
