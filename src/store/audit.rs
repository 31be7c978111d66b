//! The access audit: who read or changed whose personal data, when, in which request.

use sqlx::PgExecutor;

use super::error::StoreResult;
use crate::domain::ids::AccountId;

/// What was done to someone's personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    ReadProfile,
    UpdateProfile,
    Export,
    ReadConsents,
    ReadResults,
    EraseHealthData,
    /// Someone tried to save a SNILS this person's profile holds.
    SnilsConflict,
    /// An administrator settled a SNILS conflict this person is part of.
    SnilsConflictResolved,
    /// An administrator removed this person's SNILS so its rightful owner may save it.
    SnilsRemoved,
    /// An organizer read an event's roster in the console (one row per student on it).
    ReadRoster,
    /// A staff member signed in to, or out of, the console (subject: themselves).
    ConsoleSignIn,
    ConsoleSignOut,
    /// An organizer acted on an event in the console (subject: themselves; the event as
    /// object).
    CreateEvent,
    UpdateEvent,
    PublishEvent,
    CancelEvent,
    RescheduleEvent,
    SendNotice,
    /// A staff member opened a delivery report (the announcement as object).
    ReadDeliveryReport,
    /// An admin created, disabled or re-enabled a staff account (subject: that account).
    CreateStaff,
    DisableStaff,
    EnableStaff,
}

impl AuditAction {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ReadProfile => "read_profile",
            AuditAction::UpdateProfile => "update_profile",
            AuditAction::Export => "export",
            AuditAction::ReadConsents => "read_consents",
            AuditAction::ReadResults => "read_results",
            AuditAction::EraseHealthData => "erase_health_data",
            AuditAction::SnilsConflict => "snils_conflict",
            AuditAction::SnilsConflictResolved => "snils_conflict_resolved",
            AuditAction::SnilsRemoved => "snils_removed",
            AuditAction::ReadRoster => "read_roster",
            AuditAction::ConsoleSignIn => "console_sign_in",
            AuditAction::ConsoleSignOut => "console_sign_out",
            AuditAction::CreateEvent => "create_event",
            AuditAction::UpdateEvent => "update_event",
            AuditAction::PublishEvent => "publish_event",
            AuditAction::CancelEvent => "cancel_event",
            AuditAction::RescheduleEvent => "reschedule_event",
            AuditAction::SendNotice => "send_notice",
            AuditAction::ReadDeliveryReport => "read_delivery_report",
            AuditAction::CreateStaff => "create_staff",
            AuditAction::DisableStaff => "disable_staff",
            AuditAction::EnableStaff => "enable_staff",
        }
    }
}

/// Who acted: a person (with their role) or the service itself.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    Person { id: AccountId, role: &'a str },
    System,
}

pub async fn record(
    exec: impl PgExecutor<'_>,
    actor: Actor<'_>,
    subject: AccountId,
    action: AuditAction,
    request_id: Option<&str>,
) -> StoreResult<()> {
    record_on(exec, actor, subject, action, None, request_id).await
}

/// Records an action on a thing (an event, an announcement) as well as on a person.
pub async fn record_on(
    exec: impl PgExecutor<'_>,
    actor: Actor<'_>,
    subject: AccountId,
    action: AuditAction,
    object: Option<uuid::Uuid>,
    request_id: Option<&str>,
) -> StoreResult<()> {
    record_many(exec, actor, &[subject.0], action, object, request_id).await
}

/// One row per subject, in one statement (a roster read audits every student on it).
pub async fn record_many(
    exec: impl PgExecutor<'_>,
    actor: Actor<'_>,
    subjects: &[uuid::Uuid],
    action: AuditAction,
    object: Option<uuid::Uuid>,
    request_id: Option<&str>,
) -> StoreResult<()> {
    let (actor_id, actor_role) = match actor {
        Actor::Person { id, role } => (Some(id.0), role),
        Actor::System => (None, "system"),
    };
    sqlx::query(
        "INSERT INTO access_audit (actor_id, actor_role, subject_id, action, object_id, request_id)
         SELECT $1, $2, s, $4, $5, $6 FROM UNNEST($3::uuid[]) AS t(s)",
    )
    .bind(actor_id)
    .bind(actor_role)
    .bind(subjects)
    .bind(action.as_str())
    .bind(object)
    .bind(request_id)
    .execute(exec)
    .await?;
    Ok(())
}

/// One audit row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRow {
    pub actor_id: Option<uuid::Uuid>,
    pub actor_role: String,
    pub subject_id: uuid::Uuid,
    pub action: String,
    pub request_id: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The audit trail of one person's data, oldest first.
pub async fn for_subject(
    exec: impl PgExecutor<'_>,
    subject: AccountId,
) -> StoreResult<Vec<AuditRow>> {
    Ok(sqlx::query_as::<_, AuditRow>(
        "SELECT actor_id, actor_role, subject_id, action, request_id, at FROM access_audit
         WHERE subject_id = $1 ORDER BY id",
    )
    .bind(subject.0)
    .fetch_all(exec)
    .await?)
}

/// What a person did to others' data, oldest first.
pub async fn by_actor(exec: impl PgExecutor<'_>, actor: AccountId) -> StoreResult<Vec<AuditRow>> {
    Ok(sqlx::query_as::<_, AuditRow>(
        "SELECT actor_id, actor_role, subject_id, action, request_id, at FROM access_audit
         WHERE actor_id = $1 ORDER BY id",
    )
    .bind(actor.0)
    .fetch_all(exec)
    .await?)
}
