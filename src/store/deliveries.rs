//! The delivery ledger and what the hub reads and writes around it: the audience of a
//! domain event, the recipients' devices and preferences, bulk writes of notifications and
//! deliveries (COPY), claiming due deliveries, recording outcomes, and the reconciler's
//! queries. The ledger is the truth; Redis only carries work.

use chrono::{DateTime, Utc};

use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use bilet_channels::ChannelKind;

use super::error::StoreResult;
use crate::domain::deliveries::DeliveryStatus;
use crate::domain::ids::{AccountId, DeliveryId, DomainEventId, EventId, NotificationId};
use crate::domain::roles::Role;

/// Who hears of a domain event, and as what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Relation {
    /// The account the event is about (a registering account, the signed-up student).
    Subject,
    /// A parent of the student the event is about.
    Parent,
}

/// Everything needed to decide how to reach one person.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecipientRow {
    pub account_id: AccountId,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub email_usable: bool,
    pub has_phone: bool,
    pub language: Option<String>,
    pub account_locale: String,
    pub time_zone: Option<String>,
    pub quiet_from: Option<i16>,
    pub quiet_to: Option<i16>,
    pub disabled: Option<Value>,
    pub device_tokens: Vec<String>,
    pub device_platforms: Vec<String>,
}

/// Which students of an event a notice reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Participants {
    /// Those whose sign-up is live (pending a parent, approved or waitlisted).
    Live,
    /// Those whose sign-up the event's cancellation ended.
    Cancelled,
    /// Those approved.
    Approved,
}

impl Participants {
    fn as_str(self) -> &'static str {
        match self {
            Participants::Live => "live",
            Participants::Cancelled => "cancelled",
            Participants::Approved => "approved",
        }
    }
}

/// The CTE `students`: the students of event `$1` that `$2` (a [`Participants`]) names.
const STUDENTS: &str = "students AS (
    SELECT DISTINCT student_id FROM signups
    WHERE event_id = $1 AND (
        ($2 = 'cancelled' AND status = 'cancelled' AND end_reason = 'event_cancelled')
        OR ($2 = 'live' AND status IN ('pending_parent', 'approved', 'waitlisted'))
        OR ($2 = 'approved' AND status = 'approved')))";

/// The students of an event (`which` of them), and their parents.
pub async fn event_audience(
    exec: impl PgExecutor<'_>,
    event_id: EventId,
    which: Participants,
) -> StoreResult<Vec<(AccountId, bool)>> {
    let rows: Vec<(Uuid, bool)> = sqlx::query_as(&format!(
        "WITH {STUDENTS}
         SELECT student_id, false FROM students
         UNION
         SELECT l.parent_id, true FROM students s JOIN family_links l ON l.student_id = s.student_id"
    ))
    .bind(event_id.0)
    .bind(which.as_str())
    .fetch_all(exec)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, parent)| (AccountId(id), parent))
        .collect())
}

/// The parents of a student.
pub async fn parents_of(
    exec: impl PgExecutor<'_>,
    student: AccountId,
) -> StoreResult<Vec<AccountId>> {
    let parents: Vec<Uuid> =
        sqlx::query_scalar("SELECT parent_id FROM family_links WHERE student_id = $1")
            .bind(student.0)
            .fetch_all(exec)
            .await?;
    Ok(parents.into_iter().map(AccountId).collect())
}

/// The columns of a [`RecipientRow`], over `accounts a` and its profiles, preferences and
/// active devices (grouped by the account).
const RECIPIENT_COLUMNS: &str = "a.id AS account_id, a.role,
    (a.email_verified_at IS NOT NULL) AS email_usable,
    (sp.phone_enc IS NOT NULL OR pp.phone_enc IS NOT NULL) AS has_phone,
    np.language, a.locale AS account_locale, np.time_zone, np.quiet_from, np.quiet_to, np.disabled,
    coalesce(array_agg(d.token ORDER BY d.token) FILTER (WHERE d.token IS NOT NULL), '{}') AS device_tokens,
    coalesce(array_agg(d.platform ORDER BY d.token) FILTER (WHERE d.token IS NOT NULL), '{}') AS device_platforms";
const RECIPIENT_JOINS: &str = "LEFT JOIN student_profiles sp ON sp.account_id = a.id
    LEFT JOIN parent_profiles pp ON pp.account_id = a.id
    LEFT JOIN notification_preferences np ON np.account_id = a.id
    LEFT JOIN devices d ON d.account_id = a.id AND d.deactivated_at IS NULL";

/// How to reach each of these accounts: devices, preferences, whether there is a phone
/// and a usable e-mail address. Erased accounts are left out.
pub async fn recipients(
    exec: impl PgExecutor<'_>,
    accounts: &[AccountId],
) -> StoreResult<Vec<RecipientRow>> {
    let accounts: Vec<Uuid> = accounts.iter().map(|a| a.0).collect();
    Ok(sqlx::query_as::<_, RecipientRow>(&format!(
        "SELECT {RECIPIENT_COLUMNS}
         FROM accounts a
         {RECIPIENT_JOINS}
         WHERE a.id = ANY($1) AND a.erased_at IS NULL
         GROUP BY a.id, sp.phone_enc, pp.phone_enc, np.account_id"
    ))
    .bind(&accounts)
    .fetch_all(exec)
    .await?)
}

/// The cursor [`open_event_recipients`] declares.
const EVENT_RECIPIENTS_CURSOR: &str = "fanout_event_recipients";

/// A recipient of a notice to an event's participants, with whether they hear of it as a
/// parent (a parent who is also a participant hears as the participant).
#[derive(Debug, sqlx::FromRow)]
pub struct EventRecipientRow {
    #[sqlx(flatten)]
    pub recipient: RecipientRow,
    pub is_parent: bool,
}

/// Opens, in the caller's transaction, a cursor over the audience of [`event_audience`]
/// with how to reach each (as [`recipients`]), so that a fan-out to a million families
/// reads it a page at a time ([`next_event_recipients`]) instead of holding it whole.
/// PostgreSQL deduplicates the audience; the cursor closes with the transaction.
pub async fn open_event_recipients(
    conn: &mut PgConnection,
    event_id: EventId,
    which: Participants,
) -> StoreResult<()> {
    // A cursor is planned for its first rows (cursor_tuple_fraction 0.1) unless told that
    // all of it will be read, as it will.
    sqlx::query("SET LOCAL cursor_tuple_fraction = 1.0")
        .execute(&mut *conn)
        .await?;
    sqlx::query(&format!(
        "DECLARE {EVENT_RECIPIENTS_CURSOR} NO SCROLL CURSOR FOR
         WITH {STUDENTS},
         heard AS (
             SELECT student_id AS account_id, false AS is_parent FROM students
             UNION ALL
             SELECT l.parent_id, true FROM students s JOIN family_links l ON l.student_id = s.student_id),
         audience AS (
             SELECT account_id, bool_and(is_parent) AS is_parent FROM heard GROUP BY account_id)
         SELECT {RECIPIENT_COLUMNS}, au.is_parent
         FROM audience au JOIN accounts a ON a.id = au.account_id
         {RECIPIENT_JOINS}
         WHERE a.erased_at IS NULL
         GROUP BY a.id, sp.phone_enc, pp.phone_enc, np.account_id, au.is_parent"
    ))
    .bind(event_id)
    .bind(which.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The next `page` recipients of the cursor [`open_event_recipients`] opened; empty at
/// the end.
pub async fn next_event_recipients(
    conn: &mut PgConnection,
    page: usize,
) -> StoreResult<Vec<EventRecipientRow>> {
    Ok(sqlx::query_as::<_, EventRecipientRow>(&format!(
        "FETCH FORWARD {page} FROM {EVENT_RECIPIENTS_CURSOR}"
    ))
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn mark_fanned_out(
    exec: impl PgExecutor<'_>,
    event_id: DomainEventId,
) -> StoreResult<()> {
    sqlx::query("UPDATE outbox SET fanned_out_at = now() WHERE event_id = $1")
        .bind(event_id.0)
        .execute(exec)
        .await?;
    Ok(())
}

/// A notification to write.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: NotificationId,
    /// The domain event it tells of.
    pub event_id: DomainEventId,
    pub account_id: AccountId,
    pub kind: String,
    pub urgent: bool,
    pub title: String,
    pub body: String,
    pub data: Value,
    pub link: Option<String>,
    pub inbox: bool,
    pub event_created_at: DateTime<Utc>,
}

/// A delivery to write.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: DeliveryId,
    pub notification_id: NotificationId,
    pub account_id: AccountId,
    pub channel: ChannelKind,
    pub device_token: Option<String>,
    pub escalation: bool,
    pub next_attempt_at: DateTime<Utc>,
    /// Set when the job goes to Redis right after the commit.
    pub queued_at: Option<DateTime<Utc>>,
}

/// COPY data goes to the server in pieces of about this size, as it is written: a large
/// fan-out never holds the text of all its rows at once (about 100 MB for a cancellation
/// reaching 100,000 people), and the server parses while the rest is written.
const COPY_PIECE: usize = 1 << 20;

/// Writes notifications with COPY (one statement for any number).
pub async fn copy_notifications(
    conn: &mut PgConnection,
    rows: &[NewNotification],
) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = conn
        .copy_in_raw(
            "COPY notifications (id, event_id, account_id, kind, urgent, title, body, data, link, inbox,
                 event_created_at) FROM STDIN",
        )
        .await?;
    let mut text = String::with_capacity(COPY_PIECE + 4096);
    for n in rows {
        let fields = [
            n.id.to_string(),
            n.event_id.to_string(),
            n.account_id.to_string(),
            copy_escape(&n.kind),
            n.urgent.to_string(),
            copy_escape(&n.title),
            copy_escape(&n.body),
            copy_escape(&n.data.to_string()),
            n.link
                .as_deref()
                .map(copy_escape)
                .unwrap_or_else(|| "\\N".to_owned()),
            n.inbox.to_string(),
            n.event_created_at.to_rfc3339(),
        ];
        text.push_str(&fields.join("\t"));
        text.push('\n');
        if text.len() >= COPY_PIECE {
            let piece = std::mem::replace(&mut text, String::with_capacity(COPY_PIECE + 4096));
            copy.send(piece.into_bytes()).await?;
        }
    }
    if !text.is_empty() {
        copy.send(text.into_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// Writes deliveries with COPY.
pub async fn copy_deliveries(conn: &mut PgConnection, rows: &[NewDelivery]) -> StoreResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut copy = conn
        .copy_in_raw(
            "COPY deliveries (id, notification_id, account_id, channel, device_token, escalation,
                 next_attempt_at, queued_at) FROM STDIN",
        )
        .await?;
    let mut text = String::with_capacity(COPY_PIECE + 4096);
    for d in rows {
        let fields = [
            d.id.to_string(),
            d.notification_id.to_string(),
            d.account_id.to_string(),
            d.channel.as_str().to_owned(),
            d.device_token
                .as_deref()
                .map(copy_escape)
                .unwrap_or_else(|| "\\N".to_owned()),
            d.escalation.to_string(),
            d.next_attempt_at.to_rfc3339(),
            d.queued_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "\\N".to_owned()),
        ];
        text.push_str(&fields.join("\t"));
        text.push('\n');
        if text.len() >= COPY_PIECE {
            let piece = std::mem::replace(&mut text, String::with_capacity(COPY_PIECE + 4096));
            copy.send(piece.into_bytes()).await?;
        }
    }
    if !text.is_empty() {
        copy.send(text.into_bytes()).await?;
    }
    copy.finish().await?;
    Ok(())
}

/// Escapes a value for COPY's text format.
fn copy_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// A claimed delivery with what its message is made of.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: DeliveryId,
    #[sqlx(try_from = "String")]
    pub channel: ChannelKind,
    pub device_token: Option<String>,
    pub attempts: i32,
    pub account_id: AccountId,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub email: String,
    pub phone_enc: Option<String>,
    pub notification_id: NotificationId,
    pub kind: String,
    pub urgent: bool,
    pub title: String,
    pub body: String,
    pub data: Value,
    pub link: Option<String>,
    pub event_created_at: DateTime<Utc>,
}

/// Claims the due, pending deliveries among `ids` for sending (a lease of `lease_secs`);
/// rows already sent, failed, held for later, or leased by another worker are skipped,
/// which is what makes a redelivered job harmless. Deliveries whose notice no longer
/// stands are marked skipped instead, right before they would go out: an escalation whose
/// notification was acknowledged; a request for a decision (`settled.by_signup`) whose
/// sign-up no longer awaits one or whose event was cancelled or has begun; a notice about
/// an event (`settled.by_event`) that was since cancelled or is over; a reminder
/// (`settled.by_start`) whose event was cancelled, moved or has begun.
///
/// Here and in [`record`], the rows are found by their ids alone: the status is checked in
/// a `CASE`, which the planner cannot match to the partial indexes on status
/// (`deliveries_due`, `deliveries_leased`). Their row estimates are wrong exactly when it
/// matters: a fan-out COPYs a few hundred thousand pending rows far faster than autovacuum
/// analyzes them, and `sending` rows are rare whenever statistics are taken. With
/// `status = 'pending'` written plainly, the claims after a 100,000-recipient cancellation
/// were planned as scans of every due delivery (up to 150 ms each instead of about 3), and
/// a recording of outcomes could nest-loop every leased row against every outcome (see
/// BENCHMARKS.md, "Notification hub").
pub async fn claim(
    conn: &mut PgConnection,
    ids: &[DeliveryId],
    lease_secs: i64,
    leased_by: &str,
    settled: Settled<'_>,
) -> StoreResult<Vec<ClaimedDelivery>> {
    let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    sqlx::query(
        "UPDATE deliveries d SET status = 'skipped', updated_at = now(),
             last_error = CASE WHEN d.escalation AND n.acked_at IS NOT NULL
                               THEN 'acknowledged before escalation'
                               ELSE 'settled before sending' END
         FROM notifications n
         LEFT JOIN signups s ON n.kind = ANY($2) AND s.id = (n.data->>'signup_id')::uuid
         LEFT JOIN events e ON (n.kind = ANY($2) OR n.kind = ANY($3) OR n.kind = ANY($4))
                            AND e.id = (n.data->>'event_id')::uuid
         LEFT JOIN event_reminders r ON n.kind = ANY($4) AND r.outbox_event_id = n.event_id
         WHERE d.id = ANY($1) AND CASE WHEN d.status = 'pending' THEN true ELSE false END
           AND n.id = d.notification_id
           AND ((d.escalation AND n.acked_at IS NOT NULL)
                OR (n.kind = ANY($2) AND (s.status IS DISTINCT FROM 'pending_parent'
                                          OR e.status = 'cancelled' OR e.starts_at <= now()))
                OR (n.kind = ANY($3) AND (e.status = 'cancelled' OR e.ends_at <= now()))
                OR (n.kind = ANY($4) AND (e.status IS DISTINCT FROM 'published'
                                          OR e.starts_at IS DISTINCT FROM r.starts_at
                                          OR e.starts_at <= now()
                                          OR NOT EXISTS (
                                              SELECT 1 FROM signups a
                                              WHERE a.event_id = e.id AND a.status = 'approved'
                                                AND (a.student_id = d.account_id
                                                     OR a.student_id IN (
                                                         SELECT l.student_id FROM family_links l
                                                         WHERE l.parent_id = d.account_id))))))",
    )
    .bind(&ids)
    .bind(settled.by_signup)
    .bind(settled.by_event)
    .bind(settled.by_start)
    .execute(&mut *conn)
    .await?;
    Ok(sqlx::query_as::<_, ClaimedDelivery>(
        "WITH claimed AS (
             UPDATE deliveries SET status = 'sending', attempts = attempts + 1,
                 lease_until = now() + $2 * interval '1 second', leased_by = $3, updated_at = now()
             WHERE id = ANY($1)
               AND CASE WHEN status = 'pending' THEN next_attempt_at <= now() ELSE false END
             RETURNING id, channel, device_token, attempts, account_id, notification_id)
         SELECT c.id, c.channel, c.device_token, c.attempts, c.account_id, a.role, a.email::text AS email,
                coalesce(sp.phone_enc, pp.phone_enc) AS phone_enc, c.notification_id, n.kind, n.urgent,
                n.title, n.body, n.data, n.link, n.event_created_at
         FROM claimed c
         JOIN notifications n ON n.id = c.notification_id
         JOIN accounts a ON a.id = c.account_id
         LEFT JOIN student_profiles sp ON sp.account_id = c.account_id
         LEFT JOIN parent_profiles pp ON pp.account_id = c.account_id",
    )
    .bind(ids)
    .bind(lease_secs as f64)
    .bind(leased_by)
    .fetch_all(&mut *conn)
    .await?)
}

/// Which kinds of notice stop standing when their subject is settled.
#[derive(Debug, Clone, Copy)]
pub struct Settled<'a> {
    /// Requests for a parent's decision on `data.signup_id` (of an event `data.event_id`).
    pub by_signup: &'a [&'a str],
    /// Notices about the event `data.event_id`.
    pub by_event: &'a [&'a str],
    /// Reminders of the event `data.event_id` for the start their `event_reminders` row
    /// names: they stand only while the event is published, still starts then, has not
    /// begun, and the recipient (or their child) is still approved for it.
    pub by_start: &'a [&'a str],
}

/// The outcome of one claimed delivery.
#[derive(Debug, Clone)]
pub enum Outcome {
    Delivered { provider_id: String },
    Retry { at: DateTime<Utc>, reason: String },
    Failed { reason: String },
    Dead { reason: String },
}

/// Records outcomes in one statement per kind. Only a row still `sending` under the same
/// attempt changes: a sender whose lease ran out (and whose row was claimed again) records
/// nothing over the newer attempt. Rows are found by id alone (see [`claim`]).
pub async fn record(
    conn: &mut PgConnection,
    outcomes: &[(DeliveryId, i32, &Outcome)],
) -> StoreResult<u64> {
    let mut recorded = 0;
    let mut delivered = (Vec::new(), Vec::new(), Vec::new());
    let mut retry = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut ended = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, attempt, outcome) in outcomes {
        match outcome {
            Outcome::Delivered { provider_id } => {
                delivered.0.push(id.0);
                delivered.1.push(*attempt);
                delivered.2.push(provider_id.clone());
            }
            Outcome::Retry { at, reason } => {
                retry.0.push(id.0);
                retry.1.push(*attempt);
                retry.2.push(*at);
                retry.3.push(reason.clone());
            }
            Outcome::Failed { reason } => {
                ended.0.push(id.0);
                ended.1.push(*attempt);
                ended.2.push("failed".to_owned());
                ended.3.push(reason.clone());
            }
            Outcome::Dead { reason } => {
                ended.0.push(id.0);
                ended.1.push(*attempt);
                ended.2.push("dead".to_owned());
                ended.3.push(reason.clone());
            }
        }
    }
    if !delivered.0.is_empty() {
        recorded += sqlx::query(
            "UPDATE deliveries d SET status = 'delivered', provider_id = u.provider_id, delivered_at = now(),
                 lease_until = NULL, updated_at = now()
             FROM UNNEST($1::uuid[], $2::int[], $3::text[]) AS u(id, attempt, provider_id)
             WHERE d.id = u.id AND CASE WHEN d.status = 'sending' THEN d.attempts = u.attempt ELSE false END",
        )
        .bind(&delivered.0)
        .bind(&delivered.1)
        .bind(&delivered.2)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    if !retry.0.is_empty() {
        recorded += sqlx::query(
            "UPDATE deliveries d SET status = 'pending', next_attempt_at = u.at, last_error = u.reason,
                 lease_until = NULL, updated_at = now()
             FROM UNNEST($1::uuid[], $2::int[], $3::timestamptz[], $4::text[]) AS u(id, attempt, at, reason)
             WHERE d.id = u.id AND CASE WHEN d.status = 'sending' THEN d.attempts = u.attempt ELSE false END",
        )
        .bind(&retry.0)
        .bind(&retry.1)
        .bind(&retry.2)
        .bind(&retry.3)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    if !ended.0.is_empty() {
        recorded += sqlx::query(
            "UPDATE deliveries d SET status = u.status, last_error = u.reason, lease_until = NULL, updated_at = now()
             FROM UNNEST($1::uuid[], $2::int[], $3::text[], $4::text[]) AS u(id, attempt, status, reason)
             WHERE d.id = u.id AND CASE WHEN d.status = 'sending' THEN d.attempts = u.attempt ELSE false END",
        )
        .bind(&ended.0)
        .bind(&ended.1)
        .bind(&ended.2)
        .bind(&ended.3)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    Ok(recorded)
}

/// Gives back at once the leases held by processes that are gone (not in `live`), so their
/// deliveries are sent again without waiting for the lease to run out. A lease taken in
/// the last `grace_secs` is left alone: its process may not have announced itself yet.
pub async fn release_leases_of_gone(
    exec: impl PgExecutor<'_>,
    live: &[String],
    grace_secs: i64,
) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'pending', lease_until = NULL, queued_at = NULL,
             last_error = 'the sending worker is gone', updated_at = now()
         WHERE status = 'sending' AND leased_by IS NOT NULL AND NOT (leased_by = ANY($1))
           AND updated_at < now() - $2 * interval '1 second'",
    )
    .bind(live)
    .bind(grace_secs as f64)
    .execute(exec)
    .await?;
    Ok(done.rows_affected())
}

/// Gives back the leases of deliveries whose worker died mid-send, so they are sent again.
pub async fn release_expired_leases(exec: impl PgExecutor<'_>) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE deliveries SET status = 'pending', lease_until = NULL, queued_at = NULL,
             last_error = 'the sending worker stopped before recording an outcome', updated_at = now()
         WHERE status = 'sending' AND lease_until < now()",
    )
    .execute(exec)
    .await?;
    Ok(done.rows_affected())
}

/// Pending deliveries that are due and not in a stream (never queued, queued before they
/// were rescheduled, or queued so long ago that the job must have been lost), marked queued.
///
/// `waiting` gives, per channel, how many seconds the oldest job still in its stream has
/// waited (channels whose stream is empty are left out). A job leaves its stream only once
/// handled, so a delivery queued less than `stale_secs` before that oldest job may well be
/// in the stream still, behind a backlog: it is not queued again. Without this, a backlog
/// that took longer than `stale_secs` to send was queued again in full every `stale_secs`
/// (one that takes ten minutes, 40 times over at the default 15 s).
pub async fn take_unqueued_due(
    exec: impl PgExecutor<'_>,
    stale_secs: i64,
    waiting: &[(ChannelKind, f64)],
    limit: i64,
    pass_started: DateTime<Utc>,
) -> StoreResult<Vec<UnqueuedDue>> {
    // Every channel, with how much longer than `stale_secs` its jobs may wait.
    let channels: Vec<&str> = ChannelKind::ALL.iter().map(|c| c.as_str()).collect();
    let extra: Vec<f64> = ChannelKind::ALL
        .iter()
        .map(|c| {
            waiting
                .iter()
                .find(|(w, _)| w == c)
                .map_or(0.0, |(_, age)| *age)
        })
        .collect();
    // Two questions, each answered from an index that holds only its candidates
    // (`deliveries_unqueued`, `deliveries_queued`), so a pass costs what it queues, not
    // the size of the backlog already in the streams.
    Ok(sqlx::query_as(
        "WITH fresh AS (
             SELECT d.id, false AS lost FROM deliveries d
             WHERE d.status = 'pending' AND (d.queued_at IS NULL OR d.queued_at < d.next_attempt_at)
               AND d.next_attempt_at <= now()
             ORDER BY d.next_attempt_at LIMIT $4 FOR UPDATE OF d SKIP LOCKED),
         lost AS (
             SELECT l.id, true AS lost
             FROM unnest($2::text[], $3::float8[]) AS c (channel, extra)
             CROSS JOIN LATERAL (
                 SELECT d.id FROM deliveries d
                 WHERE d.status = 'pending' AND d.queued_at >= d.next_attempt_at
                   AND d.channel = c.channel
                   AND d.queued_at < now() - ($1 + c.extra) * interval '1 second'
                   -- Queued earlier in this same pass: not stale, whatever the staleness.
                   AND d.queued_at < $5
                 ORDER BY d.queued_at LIMIT $4 FOR UPDATE OF d SKIP LOCKED) l),
         due AS (SELECT id, lost FROM fresh UNION ALL SELECT id, lost FROM lost)
         UPDATE deliveries SET queued_at = now() FROM due WHERE deliveries.id = due.id
         RETURNING deliveries.id, deliveries.channel, due.lost",
    )
    .bind(stale_secs as f64)
    .bind(&channels)
    .bind(&extra)
    .bind(limit)
    .bind(pass_started)
    .fetch_all(exec)
    .await?)
}

/// A delivery the reconciler queues: one falling due (a retry, an escalation, the end of
/// quiet hours), or one whose job Redis lost (`lost`: it had been queued for this attempt).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnqueuedDue {
    pub id: DeliveryId,
    #[sqlx(try_from = "String")]
    pub channel: ChannelKind,
    pub lost: bool,
}

/// Outbox events relayed long enough ago that their fan-out job must have been lost.
pub async fn stale_unfanned_events(
    exec: impl PgExecutor<'_>,
    stale_secs: i64,
    limit: i64,
) -> StoreResult<Vec<(i64, Uuid, String, Value)>> {
    Ok(sqlx::query_as(
        "SELECT id, event_id, kind, payload FROM outbox
         WHERE relayed_at IS NOT NULL AND fanned_out_at IS NULL
           AND relayed_at < now() - $1 * interval '1 second'
         ORDER BY id LIMIT $2",
    )
    .bind(stale_secs as f64)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// How many deliveries of one channel are in one state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryCount {
    #[sqlx(try_from = "String")]
    pub channel: ChannelKind,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub count: i64,
}

/// Counts by channel and status for one notice (or any domain event).
pub async fn counts_for_event(
    exec: impl PgExecutor<'_>,
    event_id: Uuid,
) -> StoreResult<Vec<DeliveryCount>> {
    Ok(sqlx::query_as(
        "SELECT d.channel, d.status, count(*) AS count FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE n.event_id = $1 GROUP BY d.channel, d.status ORDER BY d.channel, d.status",
    )
    .bind(event_id)
    .fetch_all(exec)
    .await?)
}

/// A failed or dead delivery, without personal data.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FailedDelivery {
    pub id: DeliveryId,
    pub notification_id: NotificationId,
    pub kind: String,
    #[sqlx(try_from = "String")]
    pub channel: ChannelKind,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub updated_at: DateTime<Utc>,
}

pub async fn failed_for_event(
    exec: impl PgExecutor<'_>,
    event_id: Uuid,
    limit: i64,
) -> StoreResult<Vec<FailedDelivery>> {
    Ok(sqlx::query_as::<_, FailedDelivery>(
        "SELECT d.id, d.notification_id, n.kind, d.channel, d.status, d.attempts, d.last_error, d.updated_at
         FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE n.event_id = $1 AND d.status IN ('failed', 'dead') ORDER BY d.updated_at DESC LIMIT $2",
    )
    .bind(event_id)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// The dead letters, newest first.
pub async fn dead_letters(
    exec: impl PgExecutor<'_>,
    limit: i64,
) -> StoreResult<Vec<FailedDelivery>> {
    Ok(sqlx::query_as::<_, FailedDelivery>(
        "SELECT d.id, d.notification_id, n.kind, d.channel, d.status, d.attempts, d.last_error, d.updated_at
         FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE d.status = 'dead' ORDER BY d.updated_at DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

/// Puts a dead letter back in line with a fresh retry budget, marked queued; its channel,
/// or `None` when it is not dead.
pub async fn replay(exec: impl PgExecutor<'_>, id: DeliveryId) -> StoreResult<Option<ChannelKind>> {
    #[derive(sqlx::FromRow)]
    struct Replayed {
        #[sqlx(try_from = "String")]
        channel: ChannelKind,
    }
    let replayed: Option<Replayed> = sqlx::query_as(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), queued_at = now(),
             last_error = NULL, updated_at = now()
         WHERE id = $1 AND status = 'dead'
         RETURNING channel",
    )
    .bind(id.0)
    .fetch_optional(exec)
    .await?;
    Ok(replayed.map(|r| r.channel))
}

/// Ledger totals by channel and status, for metrics.
pub async fn totals(exec: impl PgExecutor<'_>) -> StoreResult<Vec<(String, String, i64)>> {
    Ok(
        sqlx::query_as("SELECT channel, status, count(*) FROM deliveries GROUP BY channel, status")
            .fetch_all(exec)
            .await?,
    )
}

/// One channel's last hour in the ledger, for the admins' channel health page. Counted
/// over the deliveries recorded (`created_at`) in the window; latency is from the domain
/// event's commit (`notifications.event_created_at`) to the provider's acceptance
/// (`delivered_at`), over the window's delivered messages that were not escalations held
/// back on purpose.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct ChannelHealth {
    pub channel: String,
    /// Deliveries recorded in the whole window.
    pub messages: i64,
    /// Of those, recorded in the last quarter of an hour.
    pub recent: i64,
    pub delivered: i64,
    pub failed: i64,
    pub dead: i64,
    /// Pending or being sent.
    pub open: i64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
}

/// Errors of one channel in the window, by the provider's reason (its status and code as
/// the sender recorded it, without the "gave up after N attempts" wrapping).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChannelError {
    pub channel: String,
    pub reason: String,
    /// `failed`, `dead`, or `pending` (will be retried).
    pub status: String,
    pub count: i64,
}

/// The channels' health over the last `window_secs` (and, as `recent`, the last
/// `recent_secs`), channels without deliveries left out.
pub async fn channel_health(
    exec: impl PgExecutor<'_>,
    window_secs: i64,
    recent_secs: i64,
) -> StoreResult<Vec<ChannelHealth>> {
    Ok(sqlx::query_as::<_, ChannelHealth>(
        "SELECT d.channel,
                count(*) AS messages,
                count(*) FILTER (WHERE d.created_at > now() - make_interval(secs => $2)) AS recent,
                count(*) FILTER (WHERE d.status = 'delivered') AS delivered,
                count(*) FILTER (WHERE d.status = 'failed') AS failed,
                count(*) FILTER (WHERE d.status = 'dead') AS dead,
                count(*) FILTER (WHERE d.status IN ('pending', 'sending')) AS open,
                percentile_cont(0.5) WITHIN GROUP (
                    ORDER BY extract(epoch FROM d.delivered_at - n.event_created_at) * 1000)
                    FILTER (WHERE d.status = 'delivered' AND NOT d.escalation) AS latency_p50_ms,
                percentile_cont(0.95) WITHIN GROUP (
                    ORDER BY extract(epoch FROM d.delivered_at - n.event_created_at) * 1000)
                    FILTER (WHERE d.status = 'delivered' AND NOT d.escalation) AS latency_p95_ms
         FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE d.created_at > now() - make_interval(secs => $1)
         GROUP BY d.channel ORDER BY d.channel",
    )
    .bind(window_secs as f64)
    .bind(recent_secs as f64)
    .fetch_all(exec)
    .await?)
}

/// The errors of the last `window_secs` by channel and provider reason, most frequent first.
pub async fn channel_errors(
    exec: impl PgExecutor<'_>,
    window_secs: i64,
    limit: i64,
) -> StoreResult<Vec<ChannelError>> {
    Ok(sqlx::query_as::<_, ChannelError>(
        "SELECT d.channel,
                regexp_replace(d.last_error, '^gave up after [0-9]+ attempts: ', '') AS reason,
                d.status, count(*) AS count
         FROM deliveries d
         WHERE d.created_at > now() - make_interval(secs => $1) AND d.last_error IS NOT NULL
           AND d.status IN ('failed', 'dead', 'pending')
         GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2, 3 LIMIT $2",
    )
    .bind(window_secs as f64)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_is_escaped() {
        assert_eq!(copy_escape("a\tb\nc\\d\re"), "a\\tb\\nc\\\\d\\re");
    }
}

/// Deliveries to some accounts, counted by notification kind, channel and status; a
/// pending delivery not tried yet that falls due later (an escalation, a reminder) counts
/// as `later`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Tally {
    pub kind: String,
    pub channel: String,
    pub status: String,
    pub later: bool,
    pub count: i64,
}

pub async fn tally_for_accounts(
    exec: impl PgExecutor<'_>,
    accounts: &[Uuid],
) -> StoreResult<Vec<Tally>> {
    Ok(sqlx::query_as(
        "SELECT n.kind, d.channel, d.status,
                (d.status = 'pending' AND d.attempts = 0 AND d.next_attempt_at > now()) AS later, count(*) AS count
         FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE d.account_id = ANY($1)
         GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    )
    .bind(accounts)
    .fetch_all(exec)
    .await?)
}

/// Failed and dead deliveries of one domain event, counted by channel, status and reason.
pub async fn failures_by_reason(
    exec: impl PgExecutor<'_>,
    event_id: Uuid,
) -> StoreResult<Vec<(String, String, Option<String>, i64)>> {
    Ok(sqlx::query_as(
        "SELECT d.channel, d.status, d.last_error, count(*)
         FROM deliveries d JOIN notifications n ON n.id = d.notification_id
         WHERE n.event_id = $1 AND d.status IN ('failed', 'dead')
         GROUP BY 1, 2, 3 ORDER BY 4 DESC, 1, 2",
    )
    .bind(event_id)
    .fetch_all(exec)
    .await?)
}
