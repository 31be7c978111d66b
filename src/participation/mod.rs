//! Taking part in practical events: signing up (a seat held, or a place on the waitlist),
//! a parent's decision, withdrawal, expiry of undecided requests, promotion from the
//! waitlist, and the organizer's cancel and reschedule. Every change that someone must
//! hear about writes its domain event to the outbox in the same transaction.
//!
//! Locks are always taken in the order student → event → sign-up, so concurrent sign-ups,
//! decisions, withdrawals, expiries and cancellations cannot deadlock.

pub mod attendance;
pub mod deadlines;
pub mod organizer;
pub mod reminders;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::domain_events::{DomainEvent, SignupChange};
use crate::domain::events::{EventStatus, SignupStatus};
use crate::domain::ids::{AccountId, EventId, SignupId};
use crate::store::events::EventRow;
use crate::store::signups::{SignupRow, Wait};
use crate::store::{self, StoreError};

/// Why a participation step was refused.
#[derive(Debug, thiserror::Error)]
pub enum ParticipationError {
    #[error("no such event")]
    EventNotFound,
    #[error("the event is not open for sign-up")]
    EventNotOpen,
    #[error("the sign-up deadline has passed")]
    DeadlinePassed,
    #[error("the event is for grades {min}–{max}")]
    GradeOutOfRange { min: i16, max: i16 },
    #[error("the student's profile is not filled in")]
    ProfileRequired,
    #[error("no linked parent has given personal-data consent")]
    ConsentRequired,
    #[error("the student is already signed up")]
    AlreadySignedUp,
    #[error("the student holds a seat at an overlapping event")]
    Overlapping,
    #[error("no such sign-up")]
    SignupNotFound,
    #[error("no such child")]
    ChildNotFound,
    #[error("a parent already decided: {0}")]
    AlreadyDecided(SignupStatus),
    #[error("the sign-up is not waiting for a decision (it is {0})")]
    NotAwaitingDecision(SignupStatus),
    #[error("the sign-up has already ended (it is {0})")]
    AlreadyEnded(SignupStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ParticipationError {
    fn from(err: sqlx::Error) -> Self {
        ParticipationError::Store(err.into())
    }
}

pub type Result<T> = std::result::Result<T, ParticipationError>;

/// A parent's answer to a sign-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Decline,
}

impl Decision {
    fn status(self) -> SignupStatus {
        match self {
            Decision::Approve => SignupStatus::Approved,
            Decision::Decline => SignupStatus::Declined,
        }
    }
}

/// Who is acting on a sign-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Student(AccountId),
    Parent(AccountId),
}

/// The wait for a parent starting now: the approval window, cut at the event's start, with
/// a reminder at half of it.
pub fn wait_from(now: DateTime<Utc>, event: &EventRow) -> Wait {
    let window = chrono::Duration::seconds(event.approval_window_secs);
    let expires_at = (now + window).min(event.starts_at);
    Wait {
        requested_at: now,
        expires_at,
        reminder_due_at: now + (expires_at - now) / 2,
    }
}

/// A student signs up: a seat is held while a parent decides, or the student joins the
/// waitlist when the event is full.
pub async fn sign_up(
    tx: &mut PgConnection,
    event_id: EventId,
    student: AccountId,
) -> Result<SignupRow> {
    sign_up_as(tx, event_id, student, None).await
}

/// A linked parent signs their child up. The parent is the one who decides, so a seat is
/// approved at once (the child hears `signup_approved`); when the event is full the child
/// joins the waitlist and is approved the moment a seat is theirs. Every other rule is the
/// student's own sign-up's. A parent not linked to the child gets `ChildNotFound`, and
/// nothing changes.
pub async fn sign_up_for_child(
    tx: &mut PgConnection,
    event_id: EventId,
    child: AccountId,
    parent: AccountId,
) -> Result<SignupRow> {
    if !store::families::is_linked(&mut *tx, parent, child).await? {
        return Err(ParticipationError::ChildNotFound);
    }
    sign_up_as(tx, event_id, child, Some(parent)).await
}

/// The one path of a sign-up, by the student (`by_parent` is `None`) or a linked parent.
async fn sign_up_as(
    tx: &mut PgConnection,
    event_id: EventId,
    student: AccountId,
    by_parent: Option<AccountId>,
) -> Result<SignupRow> {
    if !store::families::lock_student(&mut *tx, student).await? {
        return Err(ParticipationError::ProfileRequired);
    }
    let event = store::events::lock(&mut *tx, event_id)
        .await?
        .filter(|e| e.status != EventStatus::Draft)
        .ok_or(ParticipationError::EventNotFound)?;
    let now = Utc::now();
    if event.status != EventStatus::Published || event.starts_at <= now {
        return Err(ParticipationError::EventNotOpen);
    }
    if event.signup_deadline <= now {
        return Err(ParticipationError::DeadlinePassed);
    }
    let profile = store::profiles::student(&mut *tx, student)
        .await?
        .filter(|p| p.erased_at.is_none())
        .ok_or(ParticipationError::ProfileRequired)?;
    if profile.grade < event.grade_min || profile.grade > event.grade_max {
        return Err(ParticipationError::GradeOutOfRange {
            min: event.grade_min,
            max: event.grade_max,
        });
    }
    let has_parent = !store::families::parent_ids(&mut *tx, student)
        .await?
        .is_empty();
    if !has_parent || !store::consents::is_current(&mut *tx, student, "personal_data").await? {
        return Err(ParticipationError::ConsentRequired);
    }
    if store::signups::has_live(&mut *tx, event_id, student).await? {
        return Err(ParticipationError::AlreadySignedUp);
    }
    if store::signups::holds_overlapping(&mut *tx, student, event.starts_at, event.ends_at).await? {
        return Err(ParticipationError::Overlapping);
    }
    let seat = store::events::take_seat(&mut *tx, event_id).await?;
    let wait = seat.then(|| wait_from(now, &event));
    let signup = match store::signups::insert(
        &mut *tx,
        SignupId::new(),
        event_id,
        student,
        wait,
        by_parent,
    )
    .await
    {
        Ok(row) => row,
        Err(err) if err.is_conflict_on("signups_one_live") => {
            return Err(ParticipationError::AlreadySignedUp);
        }
        Err(err) => return Err(err.into()),
    };
    match signup.status {
        SignupStatus::PendingParent => {
            announce(
                &mut *tx,
                DomainEvent::SignupRequested(change(&signup, &event)),
            )
            .await?;
        }
        SignupStatus::Approved => {
            announce(
                &mut *tx,
                DomainEvent::SignupApproved(SignupChange {
                    by: by_parent,
                    ..change(&signup, &event)
                }),
            )
            .await?;
        }
        _ => {}
    }
    Ok(signup)
}

/// A linked parent approves or declines. The first decision wins; the same decision again
/// returns the sign-up as it is; a different one is refused.
pub async fn decide(
    tx: &mut PgConnection,
    signup_id: SignupId,
    parent: AccountId,
    decision: Decision,
    comment: Option<&str>,
) -> Result<SignupRow> {
    let seen = store::signups::find(&mut *tx, signup_id)
        .await?
        .ok_or(ParticipationError::SignupNotFound)?;
    if !store::families::is_linked(&mut *tx, parent, seen.student_id).await? {
        return Err(ParticipationError::SignupNotFound);
    }
    let (event, signup) = lock_in_order(tx, &seen).await?;
    match signup.status {
        SignupStatus::PendingParent => {}
        SignupStatus::Approved | SignupStatus::Declined if signup.status == decision.status() => {
            return Ok(signup);
        }
        SignupStatus::Approved | SignupStatus::Declined => {
            return Err(ParticipationError::AlreadyDecided(signup.status));
        }
        other => return Err(ParticipationError::NotAwaitingDecision(other)),
    }
    let decided =
        store::signups::decide(&mut *tx, signup_id, decision.status(), parent, comment).await?;
    match decision {
        Decision::Approve => {
            announce(
                &mut *tx,
                DomainEvent::SignupApproved(change(&decided, &event)),
            )
            .await?;
        }
        Decision::Decline => {
            announce(
                &mut *tx,
                DomainEvent::SignupDeclined(change(&decided, &event)),
            )
            .await?;
            release_and_promote(&mut *tx, &event).await?;
        }
    }
    Ok(decided)
}

/// The student, or a linked parent, withdraws. Withdrawing twice is harmless.
pub async fn withdraw(
    tx: &mut PgConnection,
    signup_id: SignupId,
    actor: Actor,
) -> Result<SignupRow> {
    let seen = store::signups::find(&mut *tx, signup_id)
        .await?
        .ok_or(ParticipationError::SignupNotFound)?;
    let student = seen.student_id;
    let (by, allowed) = match actor {
        Actor::Student(id) => (id, id == student),
        Actor::Parent(id) => (id, store::families::is_linked(&mut *tx, id, student).await?),
    };
    if !allowed {
        return Err(ParticipationError::SignupNotFound);
    }
    end_live(
        tx,
        signup_id,
        Some(by),
        SignupStatus::Withdrawn,
        "withdrawn",
    )
    .await
}

/// Locks a sign-up's event, then the sign-up itself: the order every change takes (after
/// the student's row), so concurrent changes cannot deadlock. Returns both as they are now.
async fn lock_in_order(tx: &mut PgConnection, seen: &SignupRow) -> Result<(EventRow, SignupRow)> {
    let event = store::events::lock(&mut *tx, seen.event_id)
        .await?
        .ok_or(ParticipationError::EventNotFound)?;
    let signup = store::signups::lock(&mut *tx, seen.id)
        .await?
        .ok_or(ParticipationError::SignupNotFound)?;
    Ok((event, signup))
}

/// Ends a live sign-up (releasing its seat to the waitlist) and announces it.
async fn end_live(
    tx: &mut PgConnection,
    signup_id: SignupId,
    by: Option<AccountId>,
    status: SignupStatus,
    reason: &str,
) -> Result<SignupRow> {
    let seen = store::signups::find(&mut *tx, signup_id)
        .await?
        .ok_or(ParticipationError::SignupNotFound)?;
    let (event, signup) = lock_in_order(tx, &seen).await?;
    if !matches!(
        signup.status,
        SignupStatus::PendingParent | SignupStatus::Approved | SignupStatus::Waitlisted
    ) {
        return if signup.status == status {
            Ok(signup)
        } else {
            Err(ParticipationError::AlreadyEnded(signup.status))
        };
    }
    let held = signup.holds_seat();
    let ended = store::signups::end(&mut *tx, signup_id, status, by, reason).await?;
    let facts = SignupChange {
        reason: Some(reason.to_owned()),
        by,
        ..change(&ended, &event)
    };
    let announced = if status == SignupStatus::Expired {
        DomainEvent::SignupExpired(facts)
    } else {
        DomainEvent::SignupWithdrawn(facts)
    };
    announce(&mut *tx, announced).await?;
    if held {
        release_and_promote(&mut *tx, &event).await?;
    }
    Ok(ended)
}

/// Personal-data consent was withdrawn: the child's live sign-ups for events that have not
/// ended stop, releasing their seats.
pub async fn end_for_withdrawn_consent(
    tx: &mut PgConnection,
    student: AccountId,
    by: AccountId,
) -> Result<usize> {
    let live = store::signups::live_upcoming_for_student(&mut *tx, student).await?;
    for signup in &live {
        end_live(
            tx,
            signup.id,
            Some(by),
            SignupStatus::Withdrawn,
            "consent_withdrawn",
        )
        .await?;
    }
    Ok(live.len())
}

/// Gives a released seat back and moves the first waitlisted students onto free seats.
/// The caller holds the event's lock.
async fn release_and_promote(tx: &mut PgConnection, event: &EventRow) -> Result<()> {
    store::events::release_seat(&mut *tx, event.id).await?;
    promote_waitlist(tx, event.id).await
}

/// Fills free seats from the waitlist, in order, while the event is open. The caller holds
/// the event's lock.
pub async fn promote_waitlist(tx: &mut PgConnection, event_id: EventId) -> Result<()> {
    loop {
        let Some(event) = store::events::find(&mut *tx, event_id).await? else {
            return Ok(());
        };
        let now = Utc::now();
        if event.status != EventStatus::Published
            || event.starts_at <= now
            || event.seats_held >= event.capacity
        {
            return Ok(());
        }
        let Some(next) = store::signups::first_waitlisted(&mut *tx, event_id).await? else {
            return Ok(());
        };
        if !store::events::take_seat(&mut *tx, event_id).await? {
            return Ok(());
        }
        // A parent who signed the child up already decided: the seat is approved at once,
        // while that parent is still linked.
        let parent = match next.signed_up_by {
            Some(parent)
                if store::families::is_linked(&mut *tx, parent, next.student_id).await? =>
            {
                Some(parent)
            }
            _ => None,
        };
        let announced = match parent {
            Some(parent) => {
                let promoted = store::signups::promote_approved(&mut *tx, next.id, parent).await?;
                DomainEvent::SignupApproved(SignupChange {
                    by: Some(parent),
                    ..change(&promoted, &event)
                })
            }
            None => {
                let promoted =
                    store::signups::promote(&mut *tx, next.id, wait_from(now, &event)).await?;
                DomainEvent::WaitlistPromoted(change(&promoted, &event))
            }
        };
        announce(&mut *tx, announced).await?;
    }
}

/// What a sign-up's domain event says of it: ids and times only, never personal data.
fn change(signup: &SignupRow, event: &EventRow) -> SignupChange {
    SignupChange {
        signup_id: signup.id,
        event_id: event.id,
        student_id: signup.student_id,
        status: signup.status.as_str().to_owned(),
        expires_at: signup.expires_at,
        event_starts_at: event.starts_at,
        reason: None,
        by: None,
    }
}

/// Writes a sign-up's domain event, in the transaction of the change.
async fn announce(tx: &mut PgConnection, event: DomainEvent) -> Result<()> {
    store::outbox::append(&mut *tx, &event).await?;
    Ok(())
}
