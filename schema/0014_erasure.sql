-- Erasure finds every copy of a person's address (issue 12, defect 5). Mail
-- to an address that is not a contact (test sends) and sign-ups held apart
-- from contacts are found by address; campaign fan-out rows carry a
-- contact_id and stay out of the outbox index, so sends do not pay for it.
CREATE INDEX outbox_loose_address_idx ON outbox (user_id, lower(to_email))
    WHERE contact_id IS NULL;
CREATE INDEX form_submissions_address_idx ON form_submissions (user_id, lower(email));
CREATE INDEX unsubscribes_hash_idx ON unsubscribes (user_id, email_hash);
