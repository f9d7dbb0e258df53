-- Review fixes (issue 12): a reset link proves only the address it was
-- mailed to, and a refresh token lives only as long as the session epoch it
-- was issued under, so a refresh that races a claim or a reset cannot keep a
-- session alive.
ALTER TABLE password_reset_tokens ADD COLUMN email text;
ALTER TABLE refresh_tokens ADD COLUMN session_epoch integer NOT NULL DEFAULT 0;
UPDATE refresh_tokens t SET session_epoch = u.session_epoch FROM users u WHERE u.id = t.user_id;
