-- The staff's optional second factor (TOTP, RFC 6238). The secret is encrypted at rest
-- like other secrets (the data key, bound to the account and field); it is on once the
-- owner confirmed it with a first code (`enabled_at`). `last_step` is the newest time
-- step whose code was used: a code is never accepted twice.
CREATE TABLE staff_second_factors (
    account_id  uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    secret_enc  text NOT NULL,
    enabled_at  timestamptz,
    last_step   bigint,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A console sign-in whose password was right and which waits for the second factor's
-- code: only a keyed digest of the browser's token is kept, for a few minutes.
CREATE TABLE console_second_steps (
    token_digest  bytea PRIMARY KEY,
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    expires_at    timestamptz NOT NULL
);
