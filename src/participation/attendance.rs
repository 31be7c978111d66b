//! After the sign-up: check-in at the door (a scanned code), attendance marked by hand,
//! the mentor's assessment and the student's feedback. The parents hear that their child
//! arrived through `child_checked_in`, written to the outbox with the change.
//!
//! Locks follow the order of every participation change: the event, then the sign-up.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::attendance::{
    self as rules, AssessmentLevel, AttendanceMethod, AttendanceStatus,
};
use crate::domain::domain_events::{ChildCheckedIn, DomainEvent};
use crate::domain::events::{EventStatus, SignupStatus};
use crate::domain::ids::{AccountId, EventId, OrganizationId, SignupId};
use crate::security::blind_index::BlindIndex;
use crate::security::check_in::{self, CodeError};
use crate::store::attendance::{AssessmentRow, AttendanceRow, FeedbackRow, Mark, NewFeedback};
use crate::store::events::EventRow;
use crate::store::signups::SignupAtEvent;
use crate::store::{self, StoreError};

/// Why a step after the sign-up was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttendanceError {
    #[error("no such event")]
    EventNotFound,
    #[error("no such sign-up")]
    SignupNotFound,
    #[error("the check-in code was not issued by this service")]
    CodeForged,
    #[error("the check-in code has expired; ask the student to show a fresh one")]
    CodeExpired,
    #[error("this check-in code was already used at another event")]
    CodeUsed,
    #[error("the student has no approved sign-up for this event")]
    NotApproved,
    #[error("check-in is open from an hour before the start to the end of the event")]
    CheckInClosed,
    #[error("attendance can be marked from an hour before the start to 7 days after the end")]
    AttendanceClosed,
    #[error("the student was not marked present at this event")]
    NotAttended,
    #[error("an assessment can be recorded only within 7 days after the event ended")]
    AssessmentClosed,
    #[error("feedback can be given once the event has ended")]
    EventNotOver,
    #[error("feedback on this event was already given")]
    FeedbackGiven,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for AttendanceError {
    fn from(err: sqlx::Error) -> Self {
        AttendanceError::Store(err.into())
    }
}

pub type Result<T> = std::result::Result<T, AttendanceError>;

/// An organizer's device submits a scanned code at the door. The same student scanned again
/// (with this code or a fresh one) gets the same attendance back, and the parents are told
/// only once.
pub async fn check_in(
    tx: &mut PgConnection,
    index: &BlindIndex,
    event_id: EventId,
    organization: OrganizationId,
    by: AccountId,
    code: &str,
    now: DateTime<Utc>,
) -> Result<AttendanceRow> {
    let event = own_event(tx, event_id, organization).await?;
    let scanned = check_in::read(index, code, now).map_err(|err| match err {
        CodeError::Forged => AttendanceError::CodeForged,
        CodeError::Expired => AttendanceError::CodeExpired,
    })?;
    if event.status != EventStatus::Published
        || !rules::check_in_open(event.starts_at, event.ends_at, now)
    {
        return Err(AttendanceError::CheckInClosed);
    }
    if let Some((used_at, _)) = store::attendance::code_used_at(&mut *tx, &scanned.digest).await?
        && used_at != event_id
    {
        return Err(AttendanceError::CodeUsed);
    }
    let seen = store::signups::approved_for(&mut *tx, event_id, scanned.student)
        .await?
        .ok_or(AttendanceError::NotApproved)?;
    store::signups::lock(&mut *tx, seen.id)
        .await?
        .filter(|s| s.status == SignupStatus::Approved)
        .ok_or(AttendanceError::NotApproved)?;
    store::attendance::remember_code(&mut *tx, &scanned.digest, event_id, scanned.student).await?;
    record(
        tx,
        &event,
        Mark {
            signup_id: seen.id,
            event_id,
            student_id: scanned.student,
            status: AttendanceStatus::Present,
            method: AttendanceMethod::Scan,
            by,
        },
    )
    .await
}

/// The organizer marks a student present or absent by hand, from an hour before the start
/// to 7 days after the end. Marking present the first time tells the parents.
pub async fn mark(
    tx: &mut PgConnection,
    event_id: EventId,
    organization: OrganizationId,
    by: AccountId,
    signup_id: SignupId,
    status: AttendanceStatus,
    now: DateTime<Utc>,
) -> Result<AttendanceRow> {
    let event = own_event(tx, event_id, organization).await?;
    let signup = store::signups::lock(&mut *tx, signup_id)
        .await?
        .filter(|s| s.event_id == event_id)
        .ok_or(AttendanceError::SignupNotFound)?;
    if signup.status != SignupStatus::Approved {
        return Err(AttendanceError::NotApproved);
    }
    let opens = event.starts_at - rules::CHECK_IN_OPENS_BEFORE;
    let closes = event.ends_at + rules::ASSESSMENT_WINDOW;
    if event.status != EventStatus::Published || now < opens || now > closes {
        return Err(AttendanceError::AttendanceClosed);
    }
    record(
        tx,
        &event,
        Mark {
            signup_id,
            event_id,
            student_id: signup.student_id,
            status,
            method: AttendanceMethod::Manual,
            by,
        },
    )
    .await
}

/// Records attendance unless it already says the same; the first time a student is present,
/// their parents hear of it.
async fn record(tx: &mut PgConnection, event: &EventRow, mark: Mark) -> Result<AttendanceRow> {
    let before = store::attendance::find(&mut *tx, mark.signup_id).await?;
    if let Some(row) = &before
        && row.status == mark.status
    {
        return Ok(row.clone());
    }
    let row = store::attendance::record(&mut *tx, mark).await?;
    let first_arrival =
        row.status == AttendanceStatus::Present && before.is_none_or(|b| b.checked_in_at.is_none());
    if first_arrival {
        let announced = DomainEvent::ChildCheckedIn(ChildCheckedIn {
            signup_id: mark.signup_id,
            event_id: event.id,
            student_id: mark.student_id,
            event_starts_at: event.starts_at,
            checked_in_at: row.checked_in_at.unwrap_or_else(Utc::now),
        });
        store::outbox::append(&mut *tx, &announced).await?;
    }
    Ok(row)
}

/// The mentor (an organizer of the event's organization) records the level the student
/// reached and a comment, within 7 days after the end, for a student who attended. A second
/// call replaces the first.
pub async fn assess(
    tx: &mut PgConnection,
    signup_id: SignupId,
    organization: OrganizationId,
    by: AccountId,
    level: AssessmentLevel,
    comment: Option<&str>,
    now: DateTime<Utc>,
) -> Result<AssessmentRow> {
    let signup = store::signups::at_event(&mut *tx, signup_id)
        .await?
        .filter(|s| s.organization_id == organization)
        .ok_or(AttendanceError::SignupNotFound)?;
    attended(tx, &signup).await?;
    if !rules::assessment_open(signup.ends_at, now) {
        return Err(AttendanceError::AssessmentClosed);
    }
    Ok(store::attendance::put_assessment(
        &mut *tx,
        signup_id,
        signup.event_id,
        signup.student_id,
        level,
        comment,
        by,
    )
    .await?)
}

/// What the student says of an event they attended, once it has ended: given once.
#[derive(Debug, Clone, Copy)]
pub struct Opinion<'a> {
    pub rating: i16,
    pub wants_to_continue: bool,
    pub comment: Option<&'a str>,
}

/// The student of the sign-up gives their feedback; anyone else's sign-up is not found.
pub async fn give_feedback(
    tx: &mut PgConnection,
    signup_id: SignupId,
    student: AccountId,
    opinion: Opinion<'_>,
    now: DateTime<Utc>,
) -> Result<FeedbackRow> {
    let signup = store::signups::at_event(&mut *tx, signup_id)
        .await?
        .filter(|s| s.student_id == student)
        .ok_or(AttendanceError::SignupNotFound)?;
    if now < signup.ends_at {
        return Err(AttendanceError::EventNotOver);
    }
    attended(tx, &signup).await?;
    if store::attendance::feedback(&mut *tx, signup_id)
        .await?
        .is_some()
    {
        return Err(AttendanceError::FeedbackGiven);
    }
    let new = NewFeedback {
        signup_id,
        event_id: signup.event_id,
        student_id: student,
        rating: opinion.rating,
        wants_to_continue: opinion.wants_to_continue,
        comment: opinion.comment,
    };
    match store::attendance::insert_feedback(&mut *tx, &new).await {
        Ok(row) => Ok(row),
        Err(err) if err.is_conflict_on("feedback_pkey") => Err(AttendanceError::FeedbackGiven),
        Err(err) => Err(err.into()),
    }
}

async fn attended(tx: &mut PgConnection, signup: &SignupAtEvent) -> Result<()> {
    let present = store::attendance::find(&mut *tx, signup.id)
        .await?
        .is_some_and(|a| a.status == AttendanceStatus::Present);
    if present {
        Ok(())
    } else {
        Err(AttendanceError::NotAttended)
    }
}

/// The organization's event, locked; a draft or anyone else's is not found.
async fn own_event(
    tx: &mut PgConnection,
    event_id: EventId,
    organization: OrganizationId,
) -> Result<EventRow> {
    store::events::lock(&mut *tx, event_id)
        .await?
        .filter(|e| e.organization_id == organization && e.status != EventStatus::Draft)
        .ok_or(AttendanceError::EventNotFound)
}
