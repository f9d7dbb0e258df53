-- Opens and clicks (issue 17). Every hit is an email_events row (is_bot for
-- scanners), written by the tracking responder's flush with the id the hit
-- got when it arrived, so a batch written twice is stored once. The figures
-- count each contact once, humans only: a hit counts when it is the first of
-- its kind for (campaign, contact) here, a row this table takes exactly once
-- however many flushes race for it.
CREATE TABLE tracking_firsts (
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    campaign_id uuid NOT NULL,
    contact_id  uuid NOT NULL,
    -- 'opened' and 'clicked' for the campaign's counts (link_id is the zero
    -- uuid), 'link' for one link's unique clicks.
    kind        text NOT NULL CHECK (kind IN ('opened', 'clicked', 'link')),
    link_id     uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    created_at  timestamptz NOT NULL DEFAULT flowsend_now(),
    PRIMARY KEY (campaign_id, contact_id, kind, link_id),
    FOREIGN KEY (campaign_id, user_id) REFERENCES campaigns (id, user_id) ON DELETE CASCADE,
    FOREIGN KEY (contact_id, user_id) REFERENCES contacts (id, user_id) ON DELETE CASCADE
);
CREATE INDEX tracking_firsts_user_idx ON tracking_firsts (user_id);
CREATE INDEX tracking_firsts_contact_idx ON tracking_firsts (contact_id);

ALTER TABLE tracking_firsts ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tracking_firsts FOR ALL TO flowsend_app
    USING (user_id = flowsend_current_user()) WITH CHECK (user_id = flowsend_current_user());
GRANT SELECT, DELETE ON tracking_firsts TO flowsend_app;
-- The tracking flush runs as the system role: hits name an outbox row, not a tenant.
GRANT SELECT, INSERT ON tracking_firsts TO flowsend_system;

-- A link's figures: click_count counts contacts (each once, humans only),
-- total_clicks every human click.
ALTER TABLE campaign_links ADD COLUMN total_clicks bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN campaign_links.click_count IS 'contacts who clicked (each once, is_bot excluded)';
COMMENT ON COLUMN campaign_links.total_clicks IS 'every human click (is_bot excluded)';
