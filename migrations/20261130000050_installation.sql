-- This database's identity. A Redis key prefix belongs to one installation: every process
-- claims the prefix with this id, so two deployments that share a Redis never take each
-- other's jobs.
CREATE TABLE installation (
    id          uuid PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    one_row     boolean NOT NULL DEFAULT true UNIQUE CHECK (one_row)
);
INSERT INTO installation (id) VALUES (gen_random_uuid());
