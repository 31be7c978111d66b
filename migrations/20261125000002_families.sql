-- Accounts, device sessions, profiles with personal data encrypted at rest, family links,
-- consents, the access audit, and the outbox of domain events for the notification hub.
--
-- Encrypted columns (`*_enc`) hold `v1:<key id>:<base64>` envelopes (AES-256-GCM), never
-- clear values; `snils_registry` holds a keyed HMAC of each SNILS so that one SNILS
-- belongs to one profile without the number being stored in clear.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE accounts (
    id                 uuid PRIMARY KEY,
    email              citext NOT NULL,
    password_hash      text NOT NULL,
    role               text NOT NULL CHECK (role IN ('student', 'parent', 'organizer', 'admin')),
    organization_id    uuid REFERENCES organizations (id),
    email_verified_at  timestamptz,
    locale             text NOT NULL DEFAULT 'ru' CHECK (locale IN ('ru', 'en')),
    created_at         timestamptz NOT NULL DEFAULT now(),
    erased_at          timestamptz,
    CONSTRAINT accounts_email_key UNIQUE (email),
    CONSTRAINT accounts_organizer_has_organization
        CHECK ((role = 'organizer') = (organization_id IS NOT NULL))
);

-- A pending e-mail verification: the code is stored as a digest only.
CREATE TABLE email_verifications (
    account_id   uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    code_digest  bytea NOT NULL,
    expires_at   timestamptz NOT NULL,
    attempts     integer NOT NULL DEFAULT 0
);

-- One login on one device; its refresh tokens rotate within it, and reuse of a spent
-- one revokes the whole session.
CREATE TABLE device_sessions (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES accounts (id),
    device_name    text NOT NULL,
    platform       text NOT NULL CHECK (platform IN ('ios', 'android', 'web', 'other')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    revoke_reason  text
);
CREATE INDEX device_sessions_live ON device_sessions (account_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    digest      bytea PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES device_sessions (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE snils_registry (
    digest      bytea PRIMARY KEY,
    account_id  uuid NOT NULL UNIQUE REFERENCES accounts (id)
);

CREATE TABLE student_profiles (
    account_id      uuid PRIMARY KEY REFERENCES accounts (id),
    surname         text,
    given_name      text,
    patronymic      text,
    birth_date_enc  text,
    grade           smallint NOT NULL CHECK (grade BETWEEN 6 AND 11),
    school          text,
    region          text NOT NULL,
    city            text,
    phone_enc       text,
    snils_enc       text,
    document_kind   text CHECK (document_kind IN ('birth_certificate', 'passport')),
    document_enc    text,
    -- ОВЗ status, needs and details, kept only while health-data consent stands.
    health_enc      text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    erased_at       timestamptz
);

CREATE TABLE parent_profiles (
    account_id      uuid PRIMARY KEY REFERENCES accounts (id),
    surname         text NOT NULL,
    given_name      text NOT NULL,
    patronymic      text,
    birth_date_enc  text NOT NULL,
    snils_enc       text NOT NULL,
    phone_enc       text NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE family_links (
    parent_id   uuid NOT NULL REFERENCES accounts (id),
    student_id  uuid NOT NULL REFERENCES accounts (id),
    via         text NOT NULL CHECK (via IN ('code', 'invitation')),
    linked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (parent_id, student_id)
);
CREATE INDEX family_links_student ON family_links (student_id);

-- Codes a child's app shows for a parent to type; stored as digests, single use.
CREATE TABLE link_codes (
    digest      bytea PRIMARY KEY,
    student_id  uuid NOT NULL REFERENCES accounts (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX link_codes_student ON link_codes (student_id);

CREATE TABLE invitations (
    id             uuid PRIMARY KEY,
    parent_id      uuid NOT NULL REFERENCES accounts (id),
    student_email  citext NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    accepted_at    timestamptz,
    declined_at    timestamptz
);
CREATE INDEX invitations_email ON invitations (student_email) WHERE accepted_at IS NULL AND declined_at IS NULL;

CREATE TABLE consents (
    id                  uuid PRIMARY KEY,
    kind                text NOT NULL CHECK (kind IN ('personal_data', 'health_data', 'photo_video')),
    student_id          uuid NOT NULL REFERENCES accounts (id),
    parent_id           uuid NOT NULL REFERENCES accounts (id),
    text_version        text NOT NULL,
    given_at            timestamptz NOT NULL DEFAULT now(),
    client_address      text,
    user_agent          text,
    -- The parent's passport series and number, as identity proof.
    identity_proof_enc  text NOT NULL,
    superseded_at       timestamptz,
    withdrawn_at        timestamptz,
    withdrawn_by        uuid REFERENCES accounts (id)
);
CREATE UNIQUE INDEX consents_one_current ON consents (student_id, kind)
    WHERE superseded_at IS NULL AND withdrawn_at IS NULL;

-- A child's personal data to erase after personal-data consent was withdrawn.
CREATE TABLE erasures (
    student_id    uuid PRIMARY KEY REFERENCES accounts (id),
    requested_at  timestamptz NOT NULL DEFAULT now(),
    due_at        timestamptz NOT NULL,
    done_at       timestamptz
);
CREATE INDEX erasures_due ON erasures (due_at) WHERE done_at IS NULL;

-- Who read or changed whose personal data. `actor_id` NULL is the service itself.
CREATE TABLE access_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid REFERENCES accounts (id),
    actor_role  text NOT NULL,
    subject_id  uuid NOT NULL REFERENCES accounts (id),
    action      text NOT NULL,
    request_id  text
);
CREATE INDEX access_audit_subject ON access_audit (subject_id, at);

-- Domain events, written in the same transaction as the change they announce; the relay
-- moves them to Redis. Payloads carry ids and times, never personal data.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    relayed_at  timestamptz
);
CREATE INDEX outbox_unrelayed ON outbox (id) WHERE relayed_at IS NULL;
