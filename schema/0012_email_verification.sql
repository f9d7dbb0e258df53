-- Proof that a user owns their address, and a way to end every session at once.
-- Provisioning links a platform merchant only to a verified account; an
-- unverified one holding the address is claimed (issue 12, defect 1).

-- Accounts created before this migration are unverified, except those the
-- platform already linked (it vouches for its merchants' addresses). Their
-- owners verify with POST /auth/resend-verification.
ALTER TABLE users
    ADD COLUMN email_verified    boolean NOT NULL DEFAULT false,
    ADD COLUMN email_verified_at timestamptz,
    -- Access tokens carry the epoch they were issued under; raising it ends
    -- every session at once (claim by provisioning, password reset).
    ADD COLUMN session_epoch     integer NOT NULL DEFAULT 0;
UPDATE users SET email_verified = true, email_verified_at = now()
 WHERE external_platform_id IS NOT NULL;

-- Single-use links mailed by registration and resend-verification. The
-- address is kept so a link mailed before an email change verifies nothing.
CREATE TABLE email_verification_tokens (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text NOT NULL,
    token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_verification_tokens_user_idx ON email_verification_tokens (user_id, created_at DESC);

ALTER TABLE email_verification_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON email_verification_tokens FOR ALL TO flowsend_app
    USING (user_id = flowsend_current_user()) WITH CHECK (user_id = flowsend_current_user());
GRANT SELECT, INSERT, UPDATE, DELETE ON email_verification_tokens TO flowsend_app;
-- verify-email and reset-password resolve the tenant of a token by its hash;
-- the writes that follow run as the tenant.
GRANT SELECT ON email_verification_tokens TO flowsend_system;
-- Registration creates the user and its first token in one system transaction.
GRANT INSERT ON email_verification_tokens TO flowsend_system;

-- Mail FlowSend itself sends to account holders (verification, password
-- links) is not the tenant's marketing: it does not count against the plan.
CREATE OR REPLACE FUNCTION flowsend_emails_this_month(owner uuid) RETURNS bigint
    LANGUAGE sql STABLE AS $$
  SELECT count(*) FROM outbox
   WHERE user_id = owner AND status <> 'cancelled'
     AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
     AND NOT (payload IS NOT NULL AND payload ? 'account_mail')
$$;

-- A raised session epoch or a changed verification state must reach every
-- responder's principal cache at once, like the columns of 0002.
DROP TRIGGER users_auth_changed ON users;
CREATE TRIGGER users_auth_changed
    AFTER UPDATE OF is_active, plan, email, session_epoch, email_verified, password_hash OR DELETE
    ON users FOR EACH STATEMENT EXECUTE FUNCTION flowsend_auth_changed();
