-- Practical events (профессиональные пробы), sign-ups that hold seats and wait for a
-- parent's decision, waitlists, and the idempotency keys of non-idempotent requests.

CREATE TABLE events (
    id                uuid PRIMARY KEY,
    organization_id   uuid NOT NULL REFERENCES organizations (id),
    created_by        uuid NOT NULL REFERENCES accounts (id),
    title             text NOT NULL,
    description       text NOT NULL,
    profession_area   text NOT NULL CHECK (profession_area IN (
        'it', 'engineering', 'industry', 'medicine', 'science', 'arts_design', 'services',
        'agriculture', 'transport', 'education', 'construction', 'energy', 'media',
        'sports', 'public_service', 'finance')),
    format            text NOT NULL CHECK (format IN ('in_person', 'online')),
    region            text,
    city              text,
    address           text,
    grade_min         smallint NOT NULL CHECK (grade_min BETWEEN 6 AND 11),
    grade_max         smallint NOT NULL CHECK (grade_max BETWEEN 6 AND 11),
    capacity          integer NOT NULL CHECK (capacity > 0),
    -- Seats held by sign-ups that are pending a parent or approved.
    seats_held        integer NOT NULL DEFAULT 0,
    starts_at         timestamptz NOT NULL,
    ends_at           timestamptz NOT NULL,
    time_zone         text NOT NULL,
    -- Features such as 'step_free', 'visual', 'hearing' (see domain::events).
    accessibility     text[] NOT NULL DEFAULT '{}',
    signup_deadline   timestamptz NOT NULL,
    approval_window   interval NOT NULL,
    status            text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published', 'cancelled')),
    published_at      timestamptz,
    cancelled_at      timestamptz,
    cancel_reason     text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_grades_ordered CHECK (grade_min <= grade_max),
    CONSTRAINT events_ends_after_start CHECK (ends_at > starts_at),
    CONSTRAINT events_seats_within_capacity CHECK (seats_held BETWEEN 0 AND capacity),
    CONSTRAINT events_place_for_in_person
        CHECK (format = 'online' OR (region IS NOT NULL AND city IS NOT NULL AND address IS NOT NULL))
);
-- Students browse published, upcoming events by start, with a cursor on (starts_at, id).
CREATE INDEX events_listing ON events (starts_at, id) WHERE status = 'published';
CREATE INDEX events_organization ON events (organization_id, starts_at);

-- The order in which students joined waitlists.
CREATE SEQUENCE signup_queue;

CREATE TABLE signups (
    id                uuid PRIMARY KEY,
    event_id          uuid NOT NULL REFERENCES events (id),
    student_id        uuid NOT NULL REFERENCES accounts (id),
    status            text NOT NULL CHECK (status IN (
        'pending_parent', 'approved', 'declined', 'expired', 'withdrawn', 'waitlisted', 'cancelled')),
    queue_position    bigint NOT NULL DEFAULT nextval('signup_queue'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- When the current wait for a parent began (sign-up, or promotion from the waitlist).
    requested_at      timestamptz,
    expires_at        timestamptz,
    reminder_due_at   timestamptz,
    reminded_at       timestamptz,
    decided_at        timestamptz,
    decided_by        uuid REFERENCES accounts (id),
    decision_comment  text,
    ended_at          timestamptz,
    ended_by          uuid REFERENCES accounts (id),
    end_reason        text
);
-- One live sign-up per student and event.
CREATE UNIQUE INDEX signups_one_live ON signups (event_id, student_id)
    WHERE status IN ('pending_parent', 'approved', 'waitlisted');
CREATE INDEX signups_student ON signups (student_id, status);
CREATE INDEX signups_waitlist ON signups (event_id, queue_position) WHERE status = 'waitlisted';
CREATE INDEX signups_expiring ON signups (expires_at) WHERE status = 'pending_parent';
CREATE INDEX signups_reminders ON signups (reminder_due_at) WHERE status = 'pending_parent' AND reminded_at IS NULL;
CREATE INDEX signups_event_live ON signups (event_id) WHERE status IN ('pending_parent', 'approved', 'waitlisted');

-- A retried non-idempotent request gets the first response back.
CREATE TABLE idempotency_keys (
    account_id       uuid NOT NULL REFERENCES accounts (id),
    key              text NOT NULL,
    operation        text NOT NULL,
    request_digest   bytea NOT NULL,
    response_status  smallint,
    response_type    text,
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    PRIMARY KEY (account_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);
