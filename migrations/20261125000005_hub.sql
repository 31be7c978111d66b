-- The notification hub: devices and preferences, one notification per domain event and
-- recipient (the inbox), and the delivery ledger, one row per notification, channel and
-- device: the truth that Redis streams are refilled from.

ALTER TABLE outbox ADD COLUMN fanned_out_at timestamptz;
CREATE INDEX outbox_awaiting_fanout ON outbox (id) WHERE relayed_at IS NOT NULL AND fanned_out_at IS NULL;

CREATE TABLE devices (
    token                text PRIMARY KEY,
    account_id           uuid NOT NULL REFERENCES accounts (id),
    platform             text NOT NULL CHECK (platform IN ('ios', 'android-fcm', 'android-rustore')),
    app_version          text NOT NULL,
    locale               text NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deactivated_at       timestamptz,
    deactivation_reason  text
);
CREATE INDEX devices_account_active ON devices (account_id) WHERE deactivated_at IS NULL;

CREATE TABLE notification_preferences (
    account_id   uuid PRIMARY KEY REFERENCES accounts (id),
    language     text NOT NULL DEFAULT 'ru' CHECK (language IN ('ru', 'en')),
    time_zone    text NOT NULL DEFAULT 'Europe/Moscow',
    -- Quiet hours in local minutes after midnight; non-urgent notices wait until they end.
    quiet_from   smallint CHECK (quiet_from BETWEEN 0 AND 1439),
    quiet_to     smallint CHECK (quiet_to BETWEEN 0 AND 1439),
    -- Channels switched off per kind: {"event_rescheduled": ["email"], …}.
    disabled     jsonb NOT NULL DEFAULT '{}',
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    id                uuid PRIMARY KEY,
    event_id          uuid NOT NULL,
    account_id        uuid NOT NULL REFERENCES accounts (id),
    kind              text NOT NULL,
    urgent            boolean NOT NULL,
    title             text NOT NULL,
    body              text NOT NULL,
    -- Ids only; they travel in push payloads.
    data              jsonb NOT NULL,
    -- A signed approval link for SMS and e-mail; never in push payloads.
    link              text,
    inbox             boolean NOT NULL DEFAULT true,
    event_created_at  timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    read_at           timestamptz,
    acked_at          timestamptz,
    CONSTRAINT notifications_once UNIQUE (event_id, account_id)
);
CREATE INDEX notifications_inbox ON notifications (account_id, created_at DESC, id DESC) WHERE inbox;

CREATE TABLE deliveries (
    id               uuid PRIMARY KEY,
    notification_id  uuid NOT NULL REFERENCES notifications (id),
    account_id       uuid NOT NULL REFERENCES accounts (id),
    channel          text NOT NULL CHECK (channel IN ('apns', 'fcm', 'rustore', 'sms', 'email')),
    -- The device for push; phone numbers and addresses are looked up when sending.
    device_token     text,
    status           text NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'sending', 'delivered', 'failed', 'dead', 'skipped')),
    -- Sent only if the notification is still unacknowledged when it falls due.
    escalation       boolean NOT NULL DEFAULT false,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    queued_at        timestamptz,
    lease_until      timestamptz,
    provider_id      text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    CONSTRAINT deliveries_once UNIQUE NULLS NOT DISTINCT (notification_id, channel, device_token)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_leased ON deliveries (lease_until) WHERE status = 'sending';
CREATE INDEX deliveries_notification ON deliveries (notification_id);
CREATE INDEX deliveries_dead_letters ON deliveries (updated_at) WHERE status IN ('dead', 'failed');

-- Free-text notices an organizer sends to an event's participants and their parents.
CREATE TABLE notices (
    id               uuid PRIMARY KEY,
    event_id         uuid NOT NULL REFERENCES events (id),
    created_by       uuid NOT NULL REFERENCES accounts (id),
    text             text NOT NULL,
    -- The domain event announcing it, whose deliveries the organizer can follow.
    outbox_event_id  uuid NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Single-use approval links for parents without the app.
CREATE TABLE approval_links (
    id          uuid PRIMARY KEY,
    signup_id   uuid NOT NULL REFERENCES signups (id),
    parent_id   uuid NOT NULL REFERENCES accounts (id),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
