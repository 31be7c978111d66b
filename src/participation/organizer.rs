//! An organizer cancels or reschedules an event; everyone signed up must hear of it, so
//! each change writes its domain event (with the old and new times and whether it is
//! urgent) in the same transaction.

use chrono::Utc;
use sqlx::PgConnection;

use super::{ParticipationError, Result};
use crate::domain::domain_events::{DomainEvent, EventCancelled, EventRescheduled};
use crate::domain::events::{EventStatus, is_urgent};
use crate::domain::ids::{EventId, OrganizationId};
use crate::store::events::{EventRow, NewSchedule};
use crate::store::{self};

/// The event, locked, if it belongs to the organization.
async fn lock_own(
    tx: &mut PgConnection,
    event_id: EventId,
    organization: OrganizationId,
) -> Result<EventRow> {
    store::events::lock(&mut *tx, event_id)
        .await?
        .filter(|e| e.organization_id == organization)
        .ok_or(ParticipationError::EventNotFound)
}

/// Cancels an event and every live sign-up; cancelling twice changes nothing more.
pub async fn cancel_event(
    tx: &mut PgConnection,
    event_id: EventId,
    organization: OrganizationId,
    reason: &str,
) -> Result<EventRow> {
    let event = lock_own(tx, event_id, organization).await?;
    if event.status == EventStatus::Cancelled {
        return Ok(event);
    }
    let was_published = event.status == EventStatus::Published;
    let affected = store::signups::cancel_all_live(&mut *tx, event_id).await?;
    store::events::cancel(&mut *tx, event_id, reason).await?;
    if was_published {
        store::outbox::append(
            &mut *tx,
            &DomainEvent::EventCancelled(EventCancelled {
                event_id,
                starts_at: event.starts_at,
                ends_at: event.ends_at,
                urgent: is_urgent(event.starts_at, Utc::now()),
                signups_cancelled: affected,
            }),
        )
        .await?;
    }
    store::events::find(&mut *tx, event_id)
        .await?
        .ok_or(ParticipationError::EventNotFound)
}

/// Moves a published event to new times (and optionally a new place). Sign-ups stay;
/// families are told, urgently when the old or the new start is within 48 hours.
pub async fn reschedule_event(
    tx: &mut PgConnection,
    event_id: EventId,
    organization: OrganizationId,
    schedule: &NewSchedule<'_>,
) -> Result<EventRow> {
    let event = lock_own(tx, event_id, organization).await?;
    if event.status != EventStatus::Published || event.starts_at <= Utc::now() {
        return Err(ParticipationError::EventNotOpen);
    }
    let place_changed = event.format.as_str() != schedule.format
        || event.region.as_deref() != schedule.region
        || event.city.as_deref() != schedule.city
        || event.address.as_deref() != schedule.address;
    store::events::reschedule(&mut *tx, event_id, schedule).await?;
    let now = Utc::now();
    store::outbox::append(
        &mut *tx,
        &DomainEvent::EventRescheduled(EventRescheduled {
            event_id,
            old_starts_at: event.starts_at,
            old_ends_at: event.ends_at,
            new_starts_at: schedule.starts_at,
            new_ends_at: schedule.ends_at,
            place_changed,
            urgent: is_urgent(event.starts_at, now) || is_urgent(schedule.starts_at, now),
        }),
    )
    .await?;
    store::events::find(&mut *tx, event_id)
        .await?
        .ok_or(ParticipationError::EventNotFound)
}
