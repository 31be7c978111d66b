-- Erasure that leaves no trace of the child.
--
-- After erasure only what proves that processing was lawful is kept, pseudonymised: the
-- consent records (kind, text version, times) under a random pseudonym of the child and a
-- keyed digest of the parent who gave them, and counts of erased students by grade and
-- region. Nothing in these tables leads back to the child's account.

CREATE TABLE erased_subjects (
    -- Random, drawn at erasure; it is not derived from the account id.
    pseudonym     uuid PRIMARY KEY,
    requested_at  timestamptz NOT NULL,
    erased_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE erased_consents (
    id                 uuid PRIMARY KEY,
    subject_pseudonym  uuid NOT NULL REFERENCES erased_subjects (pseudonym),
    -- HMAC of the parent's account id under the index key: provable for a named parent on
    -- demand, not readable from the table.
    giver_digest       bytea NOT NULL,
    kind               text NOT NULL,
    text_version       text NOT NULL,
    given_at           timestamptz NOT NULL,
    superseded_at      timestamptz,
    withdrawn_at       timestamptz
);
CREATE INDEX erased_consents_subject ON erased_consents (subject_pseudonym);

-- Statistics only: how many erased students there were per grade and region.
CREATE TABLE erasure_statistics (
    grade   smallint NOT NULL,
    region  text NOT NULL,
    erased  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (grade, region)
);
