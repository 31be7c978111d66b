-- The organizer console (`/console`): cookie sessions of staff accounts. Only a keyed
-- digest of the session token is kept; a session ends at sign-out, when idle too long,
-- or at its absolute expiry, and is replaced (rotated) at each sign-in.
CREATE TABLE console_sessions (
    token_digest  bytea PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz
);
CREATE INDEX console_sessions_account ON console_sessions (account_id) WHERE ended_at IS NULL;

-- Staff actions in the console that touch no one's personal data (creating, publishing,
-- cancelling an event, sending a notice) are audited with the staff member as subject and
-- the thing acted on here.
ALTER TABLE access_audit ADD COLUMN object_id uuid;
