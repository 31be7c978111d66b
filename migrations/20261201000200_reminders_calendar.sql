-- Issue 16: reminders before an event, and the families' calendar feeds.

-- What a student should bring, and the link of an online event; both optional.
-- `sequence` counts the changes families see (RFC 5545 SEQUENCE): every update,
-- reschedule or cancellation of a published event raises it.
ALTER TABLE events
    ADD COLUMN what_to_bring text,
    ADD COLUMN online_link   text,
    ADD COLUMN sequence      integer NOT NULL DEFAULT 0;

-- One reminder per event, offset and start time, raised in the transaction that writes
-- its domain event to the outbox: a second worker, or the same one after a crash, finds
-- the row and raises nothing. The sender compares `starts_at` with the event's start at
-- sending time, so a reminder for a start that has since moved is never sent.
CREATE TABLE event_reminders (
    event_id         uuid NOT NULL REFERENCES events (id),
    hours_before     smallint NOT NULL CHECK (hours_before IN (2, 24)),
    starts_at        timestamptz NOT NULL,
    outbox_event_id  uuid NOT NULL UNIQUE,
    raised_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, hours_before, starts_at)
);

-- A student's or parent's secret calendar subscription. The token is a keyed digest of
-- the account and `nonce` (so the account's own app can be shown it again), and only its
-- SHA-256 is kept for look-up: the database alone yields no working URL. One per
-- account; a new one replaces the old, and revoking deletes it.
CREATE TABLE calendar_feeds (
    account_id    uuid PRIMARY KEY REFERENCES accounts (id),
    nonce         bytea NOT NULL,
    token_digest  bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);
