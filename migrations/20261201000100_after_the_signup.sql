-- After the sign-up (issue 16): a parent signing a child up, check-in at the door,
-- attendance, the mentor's assessment and the student's feedback. Recommendations,
-- reminders and the calendar read these tables through store::attendance.

-- The linked parent who signed the child up, when a parent did (approved at once; a
-- waitlisted one is approved at once when a seat frees up).
ALTER TABLE signups ADD COLUMN signed_up_by uuid REFERENCES accounts (id);

-- Whether the student came: one row per sign-up, by a scanned code or marked by hand.
CREATE TABLE attendance (
    signup_id      uuid PRIMARY KEY REFERENCES signups (id),
    event_id       uuid NOT NULL REFERENCES events (id),
    student_id     uuid NOT NULL REFERENCES accounts (id),
    status         text NOT NULL CHECK (status IN ('present', 'absent')),
    method         text NOT NULL CHECK (method IN ('scan', 'manual')),
    marked_by      uuid NOT NULL REFERENCES accounts (id),
    -- When the student was first marked present (kept if later corrected to absent and back).
    checked_in_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attendance_student ON attendance (student_id);
CREATE INDEX attendance_event ON attendance (event_id);

-- Check-in codes already presented at the door (the HMAC of the code, never the code):
-- the same code at another event is a replay.
CREATE TABLE check_in_codes_used (
    code_digest  bytea PRIMARY KEY,
    event_id     uuid NOT NULL REFERENCES events (id),
    student_id   uuid NOT NULL REFERENCES accounts (id),
    used_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX check_in_codes_used_age ON check_in_codes_used (used_at);

-- The mentor's assessment of what the student reached, within 7 days of the event's end.
CREATE TABLE assessments (
    signup_id    uuid PRIMARY KEY REFERENCES signups (id),
    event_id     uuid NOT NULL REFERENCES events (id),
    student_id   uuid NOT NULL REFERENCES accounts (id),
    level        text NOT NULL CHECK (level IN ('beginner', 'confident', 'advanced')),
    comment      text CHECK (char_length(comment) <= 500),
    assessed_by  uuid NOT NULL REFERENCES accounts (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX assessments_student ON assessments (student_id);

-- The student's own opinion of the event: given once.
CREATE TABLE feedback (
    signup_id          uuid PRIMARY KEY REFERENCES signups (id),
    event_id           uuid NOT NULL REFERENCES events (id),
    student_id         uuid NOT NULL REFERENCES accounts (id),
    rating             smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    wants_to_continue  boolean NOT NULL,
    comment            text CHECK (char_length(comment) <= 500),
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX feedback_student ON feedback (student_id);
CREATE INDEX feedback_event ON feedback (event_id);
