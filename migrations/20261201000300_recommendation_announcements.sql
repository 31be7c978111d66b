-- Recommended events a family has been told of by a `recommendations_ready` notice, so
-- that a notice is raised only when something new appears (after an event's attendance,
-- assessment or feedback), once, however many facts arrive or requests race.
CREATE TABLE recommendation_announcements (
    student_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    event_id uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    announced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, event_id)
);
