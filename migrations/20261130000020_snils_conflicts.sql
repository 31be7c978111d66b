-- Someone tried to save a SNILS another profile holds. The SNILS is kept only as its
-- blind-index digest. An administrator settles it: `keep_holder` refuses the claimant for
-- good, `reassign` removes the SNILS from the holder so the claimant may save it.
CREATE TABLE snils_conflicts (
    id               uuid PRIMARY KEY,
    digest           bytea NOT NULL,
    claimant_id      uuid NOT NULL REFERENCES accounts (id),
    holder_id        uuid NOT NULL REFERENCES accounts (id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_attempt_at  timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 1,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'settled')),
    decision         text CHECK (decision IN ('keep_holder', 'reassign')),
    decided_by       uuid REFERENCES accounts (id),
    decided_at       timestamptz,
    CONSTRAINT snils_conflicts_decided CHECK ((status = 'settled') = (decision IS NOT NULL))
);
-- One open conflict per claimant and SNILS; repeated tries count on it.
CREATE UNIQUE INDEX snils_conflicts_one_open ON snils_conflicts (claimant_id, digest)
    WHERE status = 'open';
CREATE INDEX snils_conflicts_listing ON snils_conflicts (status, created_at, id);
CREATE INDEX snils_conflicts_holder ON snils_conflicts (holder_id);

-- A SNILS reassigned away from a parent leaves the profile without one until re-entered.
ALTER TABLE parent_profiles ALTER COLUMN snils_enc DROP NOT NULL;
