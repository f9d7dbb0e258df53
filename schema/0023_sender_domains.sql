-- Sender domains (issue 16): the DKIM private key is kept sealed (libsodium
-- secretbox under FLOWSEND_SECRET_KEY, "v1:" + base64 of nonce and box),
-- never as PEM text, and each domain remembers its last DNS check. No release
-- wrote sender_domains rows (the API arrives with this migration), so the
-- table is empty here; a row would make the NOT NULL column fail loudly
-- rather than lose a key.
ALTER TABLE sender_domains DROP COLUMN dkim_private_key_pem;
ALTER TABLE sender_domains
    ADD COLUMN dkim_private_key_sealed text NOT NULL CHECK (dkim_private_key_sealed LIKE 'v1:%'),
    ADD COLUMN last_checked_at timestamptz,
    ADD COLUMN last_check_error text;

-- What the API accepts (services/domains.c), checked again where it is kept:
-- lower-case LDH labels, room for "<selector>._domainkey." in front.
ALTER TABLE sender_domains
    ADD CONSTRAINT sender_domains_domain_shape
        CHECK (length(domain) <= 229 AND domain ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$'),
    ADD CONSTRAINT sender_domains_selector_shape
        CHECK (dkim_selector ~ '^[a-z0-9]{1,63}$'),
    ADD CONSTRAINT sender_domains_verified_at
        CHECK (verified = (verified_at IS NOT NULL));

-- The worker finds a tenant's verified domain for a From address by
-- (user_id, domain): the UNIQUE (user_id, domain) index serves it.
