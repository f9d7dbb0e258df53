-- Real Stripe (issue 23): the Checkout Sessions FlowSend opened, so the
-- checkout.session.completed webhook links a session to the user who started
-- it (by the session id FlowSend stored, not by what the event claims), and a
-- Stripe customer made once per user (users.stripe_customer_id, unique since
-- 0001) is found again for the portal and every later checkout.
CREATE TABLE stripe_checkout_sessions (
    id                     text PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 255),
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    plan                   text NOT NULL CHECK (plan IN ('pro', 'enterprise')),
    stripe_customer_id     text NOT NULL,
    stripe_subscription_id text,
    created_at             timestamptz NOT NULL DEFAULT flowsend_now(),
    completed_at           timestamptz
);
CREATE INDEX stripe_checkout_sessions_user_idx ON stripe_checkout_sessions (user_id, created_at DESC);

ALTER TABLE stripe_checkout_sessions ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON stripe_checkout_sessions FOR ALL TO flowsend_app
    USING (user_id = flowsend_current_user()) WITH CHECK (user_id = flowsend_current_user());

GRANT SELECT, INSERT, UPDATE ON stripe_checkout_sessions TO flowsend_app;
-- The Stripe webhook resolves the tenant of checkout.session.completed by the session id.
GRANT SELECT ON stripe_checkout_sessions TO flowsend_system;
