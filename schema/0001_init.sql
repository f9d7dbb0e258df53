-- 0001_init.sql: FlowSend's whole data model, its roles' grants and row-level security.
-- Applied once by the migrations runner (which wraps it in a transaction), as flowsend_owner.
--
-- Conventions (STYLE.md "Data and time"):
--   * UUID primary keys from gen_random_uuid(), timestamptz everywhere, counts as bigint, money in cents.
--   * Every tenant table carries its own user_id, so each RLS policy is a plain equality (no subqueries)
--     and every index a tenant query needs can lead with user_id.
--   * Children reference parents through (id, user_id) composite keys. Foreign-key checks bypass RLS, so
--     with a plain id a tenant could link its rows to another tenant's list, contact or campaign; the
--     composite key makes such a row impossible to store.
--   * updated_at is set by the application in the UPDATE that changes a row (no touch triggers: counter
--     triggers below must not make a list look edited).
--
-- Roles (created beforehand by the bootstrap script, as superuser):
--   flowsend_owner  owns the database and every object here; runs migrations; bypasses RLS as owner.
--   flowsend_app    the responders' role: owns nothing, sets flowsend.user_id per transaction, and RLS
--                   confines it to that tenant.
--   flowsend_system BYPASSRLS, for the few lookups that must cross tenants; granted column by column.

-- Fail early and clearly when the bootstrap has not run, or has given the tenant role a way around RLS.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flowsend_app')
       OR NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flowsend_system') THEN
        RAISE EXCEPTION 'roles flowsend_app and flowsend_system must exist before 0001_init.sql runs';
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flowsend_app' AND (rolsuper OR rolbypassrls)) THEN
        RAISE EXCEPTION 'flowsend_app must be neither superuser nor BYPASSRLS, or tenant isolation is void';
    END IF;
END
$$;

-- Nobody but the owner creates objects in public (PostgreSQL 15 already defaults to this; say it anyway
-- so a cluster upgraded from an older default is covered too).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO flowsend_app, flowsend_system;

-- Substring search on contacts (email, first and last name) uses trigram GIN indexes. pg_trgm is a
-- trusted extension, so the database owner may create it without superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- ---------------------------------------------------------------------------------------------------
-- Helper functions
-- ---------------------------------------------------------------------------------------------------

-- The tenant of the current transaction, as set by the responder with
--   SELECT set_config('flowsend.user_id', '<uuid>', true);
-- NULL when unset: after a transaction-local setting ends, a custom setting reads as '' rather than
-- NULL, hence the NULLIF. NULL never equals a user_id, so a forgotten setting sees nothing.
-- LANGUAGE sql and STABLE so the planner inlines it into policies and can use user_id indexes.
CREATE FUNCTION flowsend_current_user() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT NULLIF(current_setting('flowsend.user_id', true), '')::uuid $$;

-- The one definition of an address's hash, used by suppressions and unsubscribes so an erased contact's
-- address can still be recognised. Callers should hash through this function rather than in C, so the
-- lower-casing matches the one behind the contacts' unique index.
CREATE FUNCTION flowsend_email_hash(email text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT encode(sha256(convert_to(lower(email), 'UTF8')), 'hex') $$;

-- ---------------------------------------------------------------------------------------------------
-- Accounts and authentication
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE users (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email                text NOT NULL,
    password_hash        text NOT NULL,
    is_active            boolean NOT NULL DEFAULT true,
    plan                 text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro', 'enterprise')),
    stripe_customer_id   text,
    -- Set by /auth/provision and used to resolve the tenant of platform webhooks.
    external_platform_id text,
    external_store_id    text,
    -- Keys the HMAC on flow webhook steps. 244 random bits from two v4 UUIDs, hashed to 64 hex chars,
    -- so every user has one without a write on the first GET /settings/webhook-secret.
    webhook_secret       text NOT NULL DEFAULT encode(sha256(convert_to(
                             gen_random_uuid()::text || gen_random_uuid()::text, 'UTF8')), 'hex'),
    -- Sender settings; NULL falls back to FLOWSEND_MAIL_FROM / FLOWSEND_POSTAL_ADDRESS.
    from_name            text,
    from_email           text,
    reply_to             text,
    postal_address       text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
-- Login and register look users up case-insensitively; one account per address.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE UNIQUE INDEX users_stripe_customer_id_key ON users (stripe_customer_id)
    WHERE stripe_customer_id IS NOT NULL;
CREATE UNIQUE INDEX users_external_platform_id_key ON users (external_platform_id)
    WHERE external_platform_id IS NOT NULL;
CREATE UNIQUE INDEX users_external_store_id_key ON users (external_store_id)
    WHERE external_store_id IS NOT NULL;

-- Stripe (or mock-mode) subscriptions; history is kept, at most one is live per user.
CREATE TABLE subscriptions (
    id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stripe_subscription_id text,
    plan                   text NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
    status                 text NOT NULL CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    current_period_start   timestamptz,
    current_period_end     timestamptz,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    trial_start            timestamptz,
    trial_end              timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX subscriptions_stripe_id_key ON subscriptions (stripe_subscription_id)
    WHERE stripe_subscription_id IS NOT NULL;
-- "User already has an active subscription": enforced here too, so two racing checkouts cannot both win.
CREATE UNIQUE INDEX subscriptions_one_live_per_user ON subscriptions (user_id)
    WHERE status IN ('trialing', 'active', 'past_due');
CREATE INDEX subscriptions_user_created_idx ON subscriptions (user_id, created_at DESC);

CREATE TABLE api_keys (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL,
    -- SHA-256 hex of the full key; the key itself is shown once and never stored.
    key_hash     text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    key_prefix   text NOT NULL,
    scopes       text[] NOT NULL DEFAULT '{read}'
                 CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'admin']),
    is_active    boolean NOT NULL DEFAULT true,
    -- Issued by /auth/provision: works on every plan, unlike keys the user creates.
    is_platform  boolean NOT NULL DEFAULT false,
    last_used_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_user_created_idx ON api_keys (user_id, created_at DESC);

CREATE TABLE refresh_tokens (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    -- Every token rotated from one login shares a family; presenting a token that was already replaced
    -- means it leaked, and the whole family is revoked.
    family_id   uuid NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    replaced_by uuid REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
-- Logout with all:true and password reset revoke a user's live tokens.
CREATE INDEX refresh_tokens_user_live_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_tokens_replaced_by_idx ON refresh_tokens (replaced_by) WHERE replaced_by IS NOT NULL;

CREATE TABLE password_reset_tokens (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    expires_at timestamptz NOT NULL,
    -- Single use: claimed with UPDATE ... SET used_at = now() WHERE used_at IS NULL AND expires_at > now().
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);

-- Domains a tenant sends from; mail from a verified one is DKIM-signed with its own key.
CREATE TABLE sender_domains (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    domain               text NOT NULL CHECK (domain = lower(domain) AND domain <> ''),
    dkim_selector        text NOT NULL,
    dkim_private_key_pem text NOT NULL,
    dkim_public_key      text NOT NULL,
    verified             boolean NOT NULL DEFAULT false,
    verified_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, domain)
);

-- ---------------------------------------------------------------------------------------------------
-- Audience
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE contacts (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email           text NOT NULL CHECK (email <> ''),
    first_name      text,
    last_name       text,
    tags            text[] NOT NULL DEFAULT '{}' CHECK (array_position(tags, NULL) IS NULL),
    custom_fields   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object'),
    is_subscribed   boolean NOT NULL DEFAULT true,
    subscribed_at   timestamptz DEFAULT now(),
    unsubscribed_at timestamptz,
    -- Set on a hard bounce; such a contact is never mailed again.
    bounced_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, user_id)                                   -- target of composite foreign keys
);
-- Unique per tenant, case-insensitively; also the lookup for POST /events and platform webhooks.
CREATE UNIQUE INDEX contacts_user_email_key ON contacts (user_id, lower(email));
-- Listing (newest first, keyset-friendly) and the export cursor.
CREATE INDEX contacts_user_created_idx ON contacts (user_id, created_at DESC, id);
-- ?tag= and dynamic rules on tags (tags @> ARRAY[...]).
CREATE INDEX contacts_tags_gin ON contacts USING gin (tags);
-- ?search= is a case-insensitive substring match: lower(col) LIKE '%...%' can use these.
CREATE INDEX contacts_email_trgm ON contacts USING gin (lower(email) gin_trgm_ops);
CREATE INDEX contacts_first_name_trgm ON contacts USING gin (lower(first_name) gin_trgm_ops);
CREATE INDEX contacts_last_name_trgm ON contacts USING gin (lower(last_name) gin_trgm_ops);

CREATE TABLE contact_lists (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    description   text,
    list_type     text NOT NULL DEFAULT 'static' CHECK (list_type IN ('static', 'dynamic')),
    -- Dynamic lists are evaluated live from these rules; static lists have members.
    rules         jsonb CHECK (rules IS NULL OR jsonb_typeof(rules) = 'object'),
    is_public     boolean NOT NULL DEFAULT false,           -- shown in the preference center
    -- Members of a static list, kept by triggers on contact_list_members so listing never counts.
    contact_count bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, user_id),
    CHECK (list_type = 'static' OR rules IS NOT NULL)
);
CREATE INDEX contact_lists_user_created_idx ON contact_lists (user_id, created_at DESC);

CREATE TABLE contact_list_members (
    list_id    uuid NOT NULL,
    contact_id uuid NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (list_id, contact_id),
    FOREIGN KEY (list_id, user_id) REFERENCES contact_lists (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (contact_id, user_id) REFERENCES contacts (id, user_id) ON DELETE CASCADE
);
CREATE INDEX contact_list_members_contact_idx ON contact_list_members (contact_id);
CREATE INDEX contact_list_members_user_idx ON contact_list_members (user_id);
CREATE INDEX contact_list_members_list_added_idx ON contact_list_members (list_id, added_at DESC);

-- Addresses never mailed, whatever is imported later. email becomes NULL on erasure; the hash stays.
CREATE TABLE suppressions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email_hash text NOT NULL CHECK (email_hash ~ '^[0-9a-f]{64}$'),
    email      text,
    reason     text NOT NULL CHECK (reason IN ('manual', 'bounce', 'complaint', 'erasure', 'unsubscribe')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, email_hash),
    CHECK (email IS NULL OR email_hash = flowsend_email_hash(email))
);
CREATE INDEX suppressions_user_created_idx ON suppressions (user_id, created_at DESC);

-- ---------------------------------------------------------------------------------------------------
-- Content
-- ---------------------------------------------------------------------------------------------------

-- System templates (user_id NULL, is_system) are seeded by migrations and visible to every tenant.
CREATE TABLE email_templates (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    subject       text NOT NULL,
    html_content  text NOT NULL,
    text_content  text,
    thumbnail_url text,
    is_system     boolean NOT NULL DEFAULT false,
    category      text NOT NULL DEFAULT 'newsletter'
                  CHECK (category IN ('welcome', 'cart', 'promo', 'newsletter', 'transactional')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (is_system = (user_id IS NULL))
);
CREATE INDEX email_templates_user_created_idx ON email_templates (user_id, created_at DESC);
CREATE INDEX email_templates_system_idx ON email_templates (category) WHERE user_id IS NULL;

-- ---------------------------------------------------------------------------------------------------
-- Campaigns
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE campaigns (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name              text NOT NULL,
    subject           text NOT NULL,
    -- A single-column key because system templates have no user_id; see campaigns_template_check.
    template_id       uuid REFERENCES email_templates (id) ON DELETE SET NULL,
    list_id           uuid,
    status            text NOT NULL DEFAULT 'draft'
                      CHECK (status IN ('draft', 'scheduled', 'sending', 'sent', 'failed', 'cancelled')),
    scheduled_at      timestamptz,
    started_at        timestamptz,
    sent_at           timestamptz,
    last_error        text,
    -- Denormalised figures, kept by the batch worker and the tracking flush, so analytics never scans
    -- email_events for a campaign list.
    total_recipients  bigint NOT NULL DEFAULT 0,
    sent_count        bigint NOT NULL DEFAULT 0,
    delivered_count   bigint NOT NULL DEFAULT 0,
    open_count        bigint NOT NULL DEFAULT 0,
    click_count       bigint NOT NULL DEFAULT 0,
    bounce_count      bigint NOT NULL DEFAULT 0,
    unsubscribe_count bigint NOT NULL DEFAULT 0,
    complaint_count   bigint NOT NULL DEFAULT 0,
    failed_count      bigint NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, user_id),
    -- Deleting the list keeps the campaign (list_id alone becomes NULL; PostgreSQL 15 column list).
    FOREIGN KEY (list_id, user_id) REFERENCES contact_lists (id, user_id) ON DELETE SET NULL (list_id)
);
CREATE INDEX campaigns_user_created_idx ON campaigns (user_id, created_at DESC);
CREATE INDEX campaigns_template_idx ON campaigns (template_id) WHERE template_id IS NOT NULL;
CREATE INDEX campaigns_list_idx ON campaigns (list_id) WHERE list_id IS NOT NULL;
-- The worker's scan for scheduled campaigns that are due.
CREATE INDEX campaigns_due_idx ON campaigns (scheduled_at) WHERE status = 'scheduled';

-- A foreign key cannot say "a system template or one of the same tenant", and key checks bypass RLS,
-- so without this a campaign could name another tenant's template and the worker would render it.
CREATE FUNCTION flowsend_campaign_template_check() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.template_id IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM email_templates t
        WHERE t.id = NEW.template_id AND (t.user_id IS NULL OR t.user_id = NEW.user_id)
    ) THEN
        RAISE EXCEPTION 'template % not available to user %', NEW.template_id, NEW.user_id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER campaigns_template_check
    BEFORE INSERT OR UPDATE OF template_id, user_id ON campaigns
    FOR EACH ROW EXECUTE FUNCTION flowsend_campaign_template_check();

-- ---------------------------------------------------------------------------------------------------
-- Flows
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE flows (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL,
    description     text,
    trigger_type    text NOT NULL
                    CHECK (trigger_type IN ('signup', 'purchase', 'abandoned_cart', 'custom', 'scheduled')),
    trigger_config  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(trigger_config) = 'object'),
    status          text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused')),
    -- The editable steps; what running executions follow is the snapshot in flow_versions.
    steps           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(steps) = 'array'),
    -- The version new enrollments get; NULL until the first activation.
    current_version integer,
    -- For trigger_type 'scheduled': when the cron expression next fires (the worker advances it).
    next_trigger_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, user_id)
);
CREATE INDEX flows_user_created_idx ON flows (user_id, created_at DESC);
-- Event triggers look up a tenant's active flows of one kind.
CREATE INDEX flows_user_active_trigger_idx ON flows (user_id, trigger_type) WHERE status = 'active';
-- The worker's scan for scheduled flows that are due, across tenants.
CREATE INDEX flows_scheduled_due_idx ON flows (next_trigger_at)
    WHERE status = 'active' AND trigger_type = 'scheduled';

-- Each activation snapshots the steps, so editing a paused flow never changes running executions.
CREATE TABLE flow_versions (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    flow_id    uuid NOT NULL,
    version    integer NOT NULL CHECK (version > 0),
    steps      jsonb NOT NULL CHECK (jsonb_typeof(steps) = 'array'),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (flow_id, version),
    FOREIGN KEY (flow_id, user_id) REFERENCES flows (id, user_id) ON DELETE CASCADE
);
CREATE INDEX flow_versions_user_idx ON flow_versions (user_id);

-- One contact's run through one flow version. No unique (flow_id, contact_id): allow_reentry lets a
-- contact enroll again; the once-only rule is checked against the (flow_id, contact_id) index.
CREATE TABLE flow_executions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    flow_id      uuid NOT NULL,
    flow_version integer NOT NULL,
    contact_id   uuid NOT NULL,
    current_step integer NOT NULL DEFAULT 0 CHECK (current_step >= 0),
    status       text NOT NULL DEFAULT 'active'
                 CHECK (status IN ('active', 'waiting', 'completed', 'failed', 'cancelled')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    next_run_at  timestamptz,
    -- Held by the worker while it runs a step that outlives a transaction (a webhook call).
    locked_until timestamptz,
    last_error   text,
    -- The trigger's payload (order, cart, custom event data) and per-run state.
    context      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(context) = 'object'),
    UNIQUE (id, user_id),
    FOREIGN KEY (flow_id, user_id) REFERENCES flows (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (flow_id, flow_version) REFERENCES flow_versions (flow_id, version) ON DELETE CASCADE,
    FOREIGN KEY (contact_id, user_id) REFERENCES contacts (id, user_id) ON DELETE CASCADE
);
-- The worker claims due executions across tenants (FOR UPDATE SKIP LOCKED on this index).
CREATE INDEX flow_executions_due_idx ON flow_executions (next_run_at)
    WHERE status IN ('active', 'waiting');
CREATE INDEX flow_executions_flow_contact_idx ON flow_executions (flow_id, contact_id);
CREATE INDEX flow_executions_flow_started_idx ON flow_executions (flow_id, started_at DESC);
CREATE INDEX flow_executions_contact_idx ON flow_executions (contact_id);
CREATE INDEX flow_executions_user_idx ON flow_executions (user_id, started_at DESC);
CREATE INDEX flow_executions_version_idx ON flow_executions (flow_id, flow_version);

-- ---------------------------------------------------------------------------------------------------
-- Delivery
-- ---------------------------------------------------------------------------------------------------

-- One row per message to send. The unique keys make enqueueing idempotent: a campaign mails a contact
-- once, a flow execution sends one message per step.
CREATE TABLE outbox (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    campaign_id       uuid,
    flow_execution_id uuid,
    step_index        integer,
    -- NULL for mail to an address that is not a contact (test sends, double opt-in confirmations).
    contact_id        uuid,
    to_email          text NOT NULL,
    -- Pre-rendered message ({subject, html, text, ...}) for sends that are neither a campaign recipient
    -- nor a flow step; NULL when the worker renders from the campaign or the flow version.
    payload           jsonb,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'bounced', 'cancelled')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    locked_until      timestamptz,
    last_error        text,
    -- The Message-ID header; provider webhooks (SES, SendGrid) find the message by it.
    message_id        text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    UNIQUE (id, user_id),
    UNIQUE (campaign_id, contact_id),
    UNIQUE (flow_execution_id, step_index),
    CHECK (campaign_id IS NULL OR flow_execution_id IS NULL),
    CHECK ((flow_execution_id IS NULL) = (step_index IS NULL)),
    FOREIGN KEY (campaign_id, user_id) REFERENCES campaigns (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (flow_execution_id, user_id) REFERENCES flow_executions (id, user_id) ON DELETE CASCADE,
    -- Erasing a contact drops its queued mail (to_email is personal data).
    FOREIGN KEY (contact_id, user_id) REFERENCES contacts (id, user_id) ON DELETE CASCADE
);
-- The worker claims due rows across tenants: pending ones, and 'sending' ones whose lock has lapsed.
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_stale_idx ON outbox (locked_until) WHERE status = 'sending';
CREATE UNIQUE INDEX outbox_message_id_key ON outbox (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX outbox_contact_idx ON outbox (contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX outbox_user_created_idx ON outbox (user_id, created_at);

-- What happened to mail: the source of truth for analytics. is_bot hits (link scanners) are kept but
-- left out of the figures.
CREATE TABLE email_events (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    campaign_id uuid,
    flow_id     uuid,
    contact_id  uuid,
    outbox_id   uuid,
    event_type  text NOT NULL CHECK (event_type IN ('sent', 'delivered', 'opened', 'clicked', 'bounced',
                                                    'unsubscribed', 'complained', 'failed')),
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    url         text,
    is_bot      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Events outlive what they refer to, so account-wide totals stay right after deletes and erasure.
    FOREIGN KEY (campaign_id, user_id) REFERENCES campaigns (id, user_id) ON DELETE SET NULL (campaign_id),
    FOREIGN KEY (flow_id, user_id) REFERENCES flows (id, user_id) ON DELETE SET NULL (flow_id),
    FOREIGN KEY (contact_id, user_id) REFERENCES contacts (id, user_id) ON DELETE SET NULL (contact_id),
    FOREIGN KEY (outbox_id, user_id) REFERENCES outbox (id, user_id) ON DELETE SET NULL (outbox_id)
);
-- Campaign analytics and ?event_type=; contact_id last so unique opens/clicks come from the index.
CREATE INDEX email_events_campaign_type_idx ON email_events (campaign_id, event_type, contact_id)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX email_events_flow_type_idx ON email_events (flow_id, event_type) WHERE flow_id IS NOT NULL;
CREATE INDEX email_events_contact_created_idx ON email_events (contact_id, created_at DESC)
    WHERE contact_id IS NOT NULL;
CREATE INDEX email_events_user_created_idx ON email_events (user_id, created_at);
CREATE INDEX email_events_outbox_idx ON email_events (outbox_id) WHERE outbox_id IS NOT NULL;

-- Rewritten links of a campaign or a flow, with their click counts; a click token can name a row here.
CREATE TABLE campaign_links (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    campaign_id uuid,
    flow_id     uuid,
    url         text NOT NULL,
    click_count bigint NOT NULL DEFAULT 0,                  -- human clicks (is_bot excluded)
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((campaign_id IS NULL) <> (flow_id IS NULL)),
    FOREIGN KEY (campaign_id, user_id) REFERENCES campaigns (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (flow_id, user_id) REFERENCES flows (id, user_id) ON DELETE CASCADE
);
-- md5 only keeps the key short (URLs can exceed a btree entry); a collision merely merges two links
-- of the same campaign.
CREATE UNIQUE INDEX campaign_links_campaign_url_key ON campaign_links (campaign_id, md5(url))
    WHERE campaign_id IS NOT NULL;
CREATE UNIQUE INDEX campaign_links_flow_url_key ON campaign_links (flow_id, md5(url))
    WHERE flow_id IS NOT NULL;
CREATE INDEX campaign_links_user_idx ON campaign_links (user_id);

-- Every unsubscribe, for the record; the contact's own flags say whether it is subscribed now.
CREATE TABLE unsubscribes (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_id  uuid,
    email_hash  text NOT NULL CHECK (email_hash ~ '^[0-9a-f]{64}$'),
    campaign_id uuid,
    flow_id     uuid,
    -- Where it came from: 'link', 'one_click', 'preference_center', 'api', 'complaint', ...
    source      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (contact_id, user_id) REFERENCES contacts (id, user_id) ON DELETE SET NULL (contact_id),
    FOREIGN KEY (campaign_id, user_id) REFERENCES campaigns (id, user_id) ON DELETE SET NULL (campaign_id),
    FOREIGN KEY (flow_id, user_id) REFERENCES flows (id, user_id) ON DELETE SET NULL (flow_id)
);
CREATE INDEX unsubscribes_user_created_idx ON unsubscribes (user_id, created_at DESC);
CREATE INDEX unsubscribes_contact_idx ON unsubscribes (contact_id) WHERE contact_id IS NOT NULL;
CREATE INDEX unsubscribes_campaign_idx ON unsubscribes (campaign_id) WHERE campaign_id IS NOT NULL;
CREATE INDEX unsubscribes_flow_idx ON unsubscribes (flow_id) WHERE flow_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------------
-- Audience growth: forms and double opt-in
-- ---------------------------------------------------------------------------------------------------

CREATE TABLE forms (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    list_id       uuid,
    double_opt_in boolean NOT NULL DEFAULT true,
    redirect_url  text,
    -- The consent wording shown beside the form; copied into each submission's consent record.
    consent_text  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, user_id),
    FOREIGN KEY (list_id, user_id) REFERENCES contact_lists (id, user_id) ON DELETE SET NULL (list_id)
);
CREATE INDEX forms_user_created_idx ON forms (user_id, created_at DESC);
CREATE INDEX forms_list_idx ON forms (list_id) WHERE list_id IS NOT NULL;

-- A sign-up held apart from contacts until confirmed, and afterwards the consent record (time, IP,
-- user agent, form, text shown). Kept when the form is deleted: it is the proof of consent.
CREATE TABLE form_submissions (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    form_id            uuid,
    email              text NOT NULL,
    first_name         text,
    last_name          text,
    custom_fields      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(custom_fields) = 'object'),
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'confirmed', 'expired')),
    -- SHA-256 hex of the token in GET /f/confirm/{token}; NULL without double opt-in.
    confirm_token_hash text UNIQUE CHECK (confirm_token_hash ~ '^[0-9a-f]{64}$'),
    expires_at         timestamptz,
    consent_at         timestamptz NOT NULL DEFAULT now(),
    consent_ip         inet,
    consent_user_agent text,
    consent_text       text,
    confirmed_at       timestamptz,
    contact_id         uuid,                                -- set once the contact exists
    created_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (form_id, user_id) REFERENCES forms (id, user_id) ON DELETE SET NULL (form_id),
    FOREIGN KEY (contact_id, user_id) REFERENCES contacts (id, user_id) ON DELETE SET NULL (contact_id)
);
CREATE INDEX form_submissions_user_created_idx ON form_submissions (user_id, created_at DESC);
CREATE INDEX form_submissions_form_idx ON form_submissions (form_id, created_at DESC)
    WHERE form_id IS NOT NULL;
CREATE INDEX form_submissions_contact_idx ON form_submissions (contact_id) WHERE contact_id IS NOT NULL;
-- Purging unconfirmed sign-ups once their link has expired.
CREATE INDEX form_submissions_pending_expiry_idx ON form_submissions (expires_at) WHERE status = 'pending';

-- ---------------------------------------------------------------------------------------------------
-- Counters and rollups
-- ---------------------------------------------------------------------------------------------------

-- Per-tenant counts kept by triggers, so plan-limit checks and GET /contacts/count never count(*).
-- A row exists for every user from its creation (trigger on users below).
CREATE TABLE tenant_counters (
    user_id  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    contacts bigint NOT NULL DEFAULT 0
);

-- Daily per-tenant figures (day is the UTC date) for the analytics dashboard, maintained by whoever
-- records the events (worker, tracking flush, webhooks) with INSERT ... ON CONFLICT DO UPDATE.
CREATE TABLE daily_stats (
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    day          date NOT NULL,
    sent         bigint NOT NULL DEFAULT 0,
    delivered    bigint NOT NULL DEFAULT 0,
    opened       bigint NOT NULL DEFAULT 0,
    clicked      bigint NOT NULL DEFAULT 0,
    bounced      bigint NOT NULL DEFAULT 0,
    unsubscribed bigint NOT NULL DEFAULT 0,
    complained   bigint NOT NULL DEFAULT 0,
    failed       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);

-- The counter triggers are SECURITY DEFINER (owned by flowsend_owner, which bypasses RLS as the tables'
-- owner) so they work for flowsend_app, which may only read tenant_counters, and for flowsend_system.
-- They are statement-level with transition tables so a COPY import of 100,000 contacts costs one
-- update, not 100,000. search_path is pinned, as for every SECURITY DEFINER function.

CREATE FUNCTION flowsend_counters_user_created() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    INSERT INTO public.tenant_counters (user_id)
    SELECT id FROM new_rows
    ON CONFLICT (user_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE FUNCTION flowsend_counters_contacts_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    INSERT INTO public.tenant_counters AS c (user_id, contacts)
    SELECT user_id, count(*) FROM new_rows GROUP BY user_id
    ON CONFLICT (user_id) DO UPDATE SET contacts = c.contacts + EXCLUDED.contacts;
    RETURN NULL;
END
$$;

-- An UPDATE, not an upsert: when a user is deleted its counters row may already be gone, and
-- re-inserting it would violate the key to users.
CREATE FUNCTION flowsend_counters_contacts_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    UPDATE public.tenant_counters c
    SET contacts = c.contacts - d.n
    FROM (SELECT user_id, count(*) AS n FROM old_rows GROUP BY user_id) d
    WHERE c.user_id = d.user_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION flowsend_counters_members_inserted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    UPDATE public.contact_lists l
    SET contact_count = l.contact_count + d.n
    FROM (SELECT list_id, count(*) AS n FROM new_rows GROUP BY list_id) d
    WHERE l.id = d.list_id;
    RETURN NULL;
END
$$;

CREATE FUNCTION flowsend_counters_members_deleted() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public
AS $$
BEGIN
    UPDATE public.contact_lists l
    SET contact_count = l.contact_count - d.n
    FROM (SELECT list_id, count(*) AS n FROM old_rows GROUP BY list_id) d
    WHERE l.id = d.list_id;
    RETURN NULL;
END
$$;

-- Trigger functions cannot be called directly, but nobody else needs EXECUTE on them either.
REVOKE EXECUTE ON FUNCTION flowsend_counters_user_created(), flowsend_counters_contacts_inserted(),
    flowsend_counters_contacts_deleted(), flowsend_counters_members_inserted(),
    flowsend_counters_members_deleted() FROM PUBLIC;

CREATE TRIGGER users_counters_created AFTER INSERT ON users
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowsend_counters_user_created();
CREATE TRIGGER contacts_counters_inserted AFTER INSERT ON contacts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowsend_counters_contacts_inserted();
CREATE TRIGGER contacts_counters_deleted AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowsend_counters_contacts_deleted();
CREATE TRIGGER contact_list_members_counters_inserted AFTER INSERT ON contact_list_members
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowsend_counters_members_inserted();
CREATE TRIGGER contact_list_members_counters_deleted AFTER DELETE ON contact_list_members
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT
    EXECUTE FUNCTION flowsend_counters_members_deleted();

-- ---------------------------------------------------------------------------------------------------
-- Row-level security
-- ---------------------------------------------------------------------------------------------------
-- Policies are written for flowsend_app only. flowsend_owner bypasses them as owner (RLS is enabled, not
-- forced), flowsend_system through BYPASSRLS; any other role has no grants. An unset tenant matches
-- nothing (NULL = x is never true), so a query without the setting sees and writes no rows.

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON users FOR ALL TO flowsend_app
    USING (id = flowsend_current_user()) WITH CHECK (id = flowsend_current_user());

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'subscriptions', 'api_keys', 'refresh_tokens', 'password_reset_tokens', 'sender_domains',
        'contacts', 'contact_lists', 'contact_list_members', 'suppressions', 'email_templates',
        'campaigns', 'flows', 'flow_versions', 'flow_executions', 'outbox', 'email_events',
        'campaign_links', 'unsubscribes', 'forms', 'form_submissions', 'tenant_counters', 'daily_stats'
    ] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I FOR ALL TO flowsend_app '
                       'USING (user_id = flowsend_current_user()) '
                       'WITH CHECK (user_id = flowsend_current_user())', t);
    END LOOP;
END
$$;

-- Tenants also read the system templates. Permissive policies are OR-ed per command, so SELECT sees
-- own + system rows while INSERT/UPDATE/DELETE stay limited to own rows by tenant_isolation.
CREATE POLICY system_templates_read ON email_templates FOR SELECT TO flowsend_app
    USING (user_id IS NULL);

-- ---------------------------------------------------------------------------------------------------
-- Grants
-- ---------------------------------------------------------------------------------------------------
-- No sequences exist (every key is a UUID), so there is no sequence USAGE to grant. Later migrations
-- grant on their own tables explicitly: no default privileges, so a new table is never readable by a
-- role before its policy exists.

-- flowsend_app: the tenant's full read/write on its own rows (RLS does the scoping).
GRANT SELECT, INSERT, UPDATE, DELETE ON
    subscriptions, api_keys, refresh_tokens, password_reset_tokens, sender_domains,
    contacts, contact_lists, contact_list_members, suppressions, email_templates,
    campaigns, flows, flow_versions, flow_executions, outbox, email_events,
    campaign_links, unsubscribes, forms, form_submissions, daily_stats
    TO flowsend_app;
-- Users are created by register/provision as flowsend_system; a tenant reads, edits (profile, sender
-- settings, webhook secret, plan on checkout) and may delete only its own row.
GRANT SELECT, UPDATE, DELETE ON users TO flowsend_app;
-- Counters are written only by the triggers above.
GRANT SELECT ON tenant_counters TO flowsend_app;

-- flowsend_system: cross-tenant lookups, before a tenant is known. The pattern is "resolve or claim as
-- system, then act as the tenant": once the user_id is known, responders switch to flowsend_app with
-- flowsend.user_id set. Only the batch worker writes tenant data as system.

-- Login by email, provision by external_platform_id/email, platform webhook tenant resolution
-- (external_platform_id / external_store_id), Stripe webhook (stripe_customer_id), JWT user check,
-- and the worker reading sender settings and the webhook secret.
GRANT SELECT ON users TO flowsend_system;
-- Register and provision create a user before any tenant exists.
GRANT INSERT ON users TO flowsend_system;
-- Stripe webhook: resolve the tenant from stripe_subscription_id; worker: past_due check.
GRANT SELECT ON subscriptions TO flowsend_system;
-- X-API-Key authentication; provision issues the platform key; each use stamps last_used_at.
GRANT SELECT, INSERT ON api_keys TO flowsend_system;
GRANT UPDATE (last_used_at) ON api_keys TO flowsend_system;
-- Login and register issue refresh tokens; refresh looks one up by hash, rotates it (revoked_at,
-- replaced_by) and revokes a family on reuse; logout and reset-password revoke.
GRANT SELECT, INSERT ON refresh_tokens TO flowsend_system;
GRANT UPDATE (revoked_at, replaced_by) ON refresh_tokens TO flowsend_system;
-- forgot-password finds the user by email and stores a token; reset-password claims it by hash.
GRANT SELECT, INSERT ON password_reset_tokens TO flowsend_system;
GRANT UPDATE (used_at) ON password_reset_tokens TO flowsend_system;
-- Worker: the DKIM key of the sender's verified domain.
GRANT SELECT ON sender_domains TO flowsend_system;
-- Public form endpoints: POST /f/{form_id} resolves the form's tenant; GET /f/confirm/{token} finds
-- the pending sign-up by token hash. The writes that follow run as flowsend_app.
GRANT SELECT ON forms, form_submissions TO flowsend_system;

-- Batch worker: claims due work across tenants and records its outcome.
GRANT SELECT, UPDATE ON outbox, campaigns, flow_executions TO flowsend_system;
GRANT INSERT ON outbox, flow_executions TO flowsend_system;   -- campaign fan-out, flow steps, enrollment
-- Scheduled flows: find due ones and advance their next run. Nothing else of a flow is the worker's.
GRANT SELECT ON flows, flow_versions TO flowsend_system;
GRANT UPDATE (next_trigger_at) ON flows TO flowsend_system;
-- Recipients, rendering and the suppression check.
GRANT SELECT ON contacts, email_templates, contact_lists, contact_list_members, suppressions
    TO flowsend_system;
-- An SMTP 5xx or a provider bounce/complaint marks the contact so it is never mailed again.
GRANT UPDATE (is_subscribed, unsubscribed_at, bounced_at, updated_at) ON contacts TO flowsend_system;
GRANT INSERT ON suppressions, unsubscribes TO flowsend_system;
-- Sends, deliveries and the buffered tracking flush; SELECT for opened_previous conditions and
-- unique-open checks.
GRANT SELECT, INSERT ON email_events TO flowsend_system;
-- Link rewriting at render time and click counts from the tracking flush.
GRANT SELECT, INSERT, UPDATE ON campaign_links TO flowsend_system;
-- Daily rollup: INSERT ... ON CONFLICT DO UPDATE reads the current figures, hence SELECT too.
GRANT SELECT, INSERT, UPDATE ON daily_stats TO flowsend_system;
