-- Accounts and sign-in, after the security review.
--
-- Push devices belong to the device session that registered them: ending the session
-- (logout, revocation, a password change or reset, a reused refresh token) unregisters
-- them. Devices registered before this migration have no session and are left alone.
ALTER TABLE devices
    ADD COLUMN session_id uuid REFERENCES device_sessions (id) ON DELETE SET NULL;
CREATE INDEX devices_session ON devices (session_id) WHERE deactivated_at IS NULL;

-- A pending password reset: the e-mailed code is stored as a keyed digest only; it works
-- once, for a short time, with a few guesses.
CREATE TABLE password_resets (
    account_id   uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    code_digest  bytea NOT NULL,
    expires_at   timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Verification codes were written in clear into the inbox (notification title and body).
-- Put the placeholder back: the e-mail sender now fills it from the sealed outbox payload.
UPDATE notifications
SET title = regexp_replace(title, '[0-9]{6}', '{code}', 'g'),
    body = regexp_replace(body, '[0-9]{6}', '{code}', 'g')
WHERE kind = 'email_verification_requested';
