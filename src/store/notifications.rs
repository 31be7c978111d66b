//! Notifications (the inbox: one per domain event and recipient) and each person's
//! notification preferences.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;
use uuid::Uuid;

use bilet_channels::ChannelKind;

use super::error::StoreResult;
use crate::domain::deliveries::DeliveryStatus;
use crate::domain::ids::{AccountId, NotificationId};

/// An inbox item.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: NotificationId,
    pub kind: String,
    pub urgent: bool,
    pub title: String,
    pub body: String,
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub acked_at: Option<DateTime<Utc>>,
}

/// The inbox, newest first, after the cursor.
pub async fn inbox(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    before: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> StoreResult<Vec<NotificationRow>> {
    let (before_at, before_id) = before.unzip();
    Ok(sqlx::query_as::<_, NotificationRow>(
        "SELECT id, kind, urgent, title, body, data, created_at, read_at, acked_at FROM notifications
         WHERE account_id = $1 AND inbox
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4",
    )
    .bind(account.0)
    .bind(before_at)
    .bind(before_id)
    .bind(limit)
    .fetch_all(exec)
    .await?)
}

pub async fn unread_count(exec: impl PgExecutor<'_>, account: AccountId) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM notifications WHERE account_id = $1 AND inbox AND read_at IS NULL",
    )
    .bind(account.0)
    .fetch_one(exec)
    .await?)
}

/// Marks the caller's notification read (and so seen); false when it is not theirs.
pub async fn mark_read(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    id: Uuid,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE notifications SET read_at = coalesce(read_at, now()), acked_at = coalesce(acked_at, now())
         WHERE id = $1 AND account_id = $2",
    )
    .bind(id)
    .bind(account.0)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the caller's notification seen on a device, which stops its escalation.
pub async fn mark_acked(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    id: Uuid,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE notifications SET acked_at = coalesce(acked_at, now()) WHERE id = $1 AND account_id = $2",
    )
    .bind(id)
    .bind(account.0)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A person's preferences as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PreferencesRow {
    pub language: String,
    pub time_zone: String,
    pub quiet_from: Option<i16>,
    pub quiet_to: Option<i16>,
    pub disabled: Value,
}

pub async fn preferences(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Option<PreferencesRow>> {
    Ok(sqlx::query_as::<_, PreferencesRow>(
        "SELECT language, time_zone, quiet_from, quiet_to, disabled FROM notification_preferences
         WHERE account_id = $1",
    )
    .bind(account.0)
    .fetch_optional(exec)
    .await?)
}

pub async fn set_preferences(
    exec: impl PgExecutor<'_>,
    account: AccountId,
    p: &PreferencesRow,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO notification_preferences (account_id, language, time_zone, quiet_from, quiet_to, disabled)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (account_id) DO UPDATE SET language = $2, time_zone = $3, quiet_from = $4,
             quiet_to = $5, disabled = $6, updated_at = now()",
    )
    .bind(account.0)
    .bind(&p.language)
    .bind(&p.time_zone)
    .bind(p.quiet_from)
    .bind(p.quiet_to)
    .bind(&p.disabled)
    .execute(exec)
    .await?;
    Ok(())
}

/// Every notification of an account, in the inbox or not, newest first.
pub async fn all_of(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Vec<NotificationRow>> {
    Ok(sqlx::query_as::<_, NotificationRow>(
        "SELECT id, kind, urgent, title, body, data, created_at, read_at, acked_at FROM notifications
         WHERE account_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(account.0)
    .fetch_all(exec)
    .await?)
}

/// One delivery of a notification to a person, as the ledger holds it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub notification_id: NotificationId,
    #[sqlx(try_from = "String")]
    pub channel: ChannelKind,
    pub device_token: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// Every delivery to an account, newest first.
pub async fn deliveries_of(
    exec: impl PgExecutor<'_>,
    account: AccountId,
) -> StoreResult<Vec<DeliveryRecord>> {
    Ok(sqlx::query_as::<_, DeliveryRecord>(
        "SELECT notification_id, channel, device_token, status, attempts, created_at, delivered_at
         FROM deliveries WHERE account_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(account.0)
    .fetch_all(exec)
    .await?)
}
