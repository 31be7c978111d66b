-- Online diagnostics: attempts at the tests of the catalog (`src/diagnostics/catalog/`),
-- the answers saved during an attempt, and the scored result of each finished attempt.
-- Test definitions live in the repository, not here: an attempt records the id and the
-- version of the definition it was started under.

CREATE TABLE test_attempts (
    id                uuid PRIMARY KEY,
    student_id        uuid NOT NULL REFERENCES accounts (id),
    test_id           text NOT NULL,
    -- `<test id>/<version>`, e.g. `klimov-ddo/1`.
    test_version      text NOT NULL,
    status            text NOT NULL DEFAULT 'in_progress'
        CHECK (status IN ('in_progress', 'finished', 'abandoned')),
    started_at        timestamptz NOT NULL DEFAULT now(),
    -- Timed tests only: fixed by the server when the attempt starts.
    deadline          timestamptz,
    finished_at       timestamptz,
    last_activity_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT test_attempts_finished_when_finished
        CHECK ((status = 'finished') = (finished_at IS NOT NULL))
);
-- At most one open attempt per student and test; starting again returns it.
CREATE UNIQUE INDEX test_attempts_one_open ON test_attempts (student_id, test_id)
    WHERE status = 'in_progress';
CREATE INDEX test_attempts_student ON test_attempts (student_id, test_id, started_at);
-- The deadline worker's two scans.
CREATE INDEX test_attempts_due ON test_attempts (deadline)
    WHERE status = 'in_progress' AND deadline IS NOT NULL;
CREATE INDEX test_attempts_idle ON test_attempts (last_activity_at)
    WHERE status = 'in_progress' AND deadline IS NULL;

-- The latest answer to each question of an attempt. `seq` is the client's per-question
-- sequence number: a lower or equal one never overwrites a stored answer.
CREATE TABLE test_answers (
    attempt_id   uuid NOT NULL REFERENCES test_attempts (id) ON DELETE CASCADE,
    question_id  text NOT NULL,
    value        jsonb NOT NULL,
    seq          integer NOT NULL CHECK (seq > 0),
    client_time  timestamptz NOT NULL,
    saved_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (attempt_id, question_id)
);

-- One scored result per finished attempt, written in the transaction that finishes it
-- (together with the `results_ready` outbox event).
CREATE TABLE test_results (
    attempt_id  uuid PRIMARY KEY REFERENCES test_attempts (id) ON DELETE CASCADE,
    scores      jsonb NOT NULL,
    summary     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
