-- Signup forms with double opt-in (issue 24). The tables exist since 0001;
-- this adds what confirming needs and the "subscribed" activity entry.
--
-- A pending sign-up remembers the list its form pointed at when it was made,
-- so a form edited or deleted before the person confirms still puts them on
-- the list they asked for (or on none, when the list itself is gone).
ALTER TABLE form_submissions ADD COLUMN list_id uuid;
ALTER TABLE form_submissions ADD CONSTRAINT form_submissions_list_fk
    FOREIGN KEY (list_id, user_id) REFERENCES contact_lists (id, user_id) ON DELETE SET NULL (list_id);
-- Whether the confirmation mail went out with this sign-up (at most one per
-- address every 10 minutes: a second sign-up inside the window is kept, and
-- confirmed by the link already mailed).
ALTER TABLE form_submissions ADD COLUMN mailed boolean NOT NULL DEFAULT false;
-- The 10-minute check reads the tenant's recent mailed sign-ups to an address.
CREATE INDEX form_submissions_mailed_idx ON form_submissions (user_id, lower(email), created_at DESC)
    WHERE mailed;

-- The consent record shows in the contact's activity as a "subscribed" event.
ALTER TABLE email_events DROP CONSTRAINT email_events_event_type_check;
ALTER TABLE email_events ADD CONSTRAINT email_events_event_type_check
    CHECK (event_type IN ('sent', 'delivered', 'opened', 'clicked', 'bounced', 'unsubscribed',
                          'complained', 'failed', 'subscribed'));
