//! Reminders before an event: 24 hours and 2 hours before the start, each approved student
//! and their parents hear the time, the place and what to bring. A periodic pass raises
//! each reminder once per (event, offset, start time): the `event_reminders` row and the
//! outbox event are written in one transaction under the event's lock, and the row's key
//! refuses a second one, so two workers, or one restarted after a crash, raise it once. A
//! move gives the new start its own reminders; the sender drops one raised for an old start
//! (`store::deliveries::claim`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::Result;
use crate::domain::domain_events::{DomainEvent, EventReminder};
use crate::domain::events::EventStatus;
use crate::store::{self, Db};

/// How often the worker looks for due reminders.
const POLL: Duration = Duration::from_secs(1);
const BATCH: i64 = 100;

/// The reminders, as (hours before the start, hours before the start of the next one):
/// the day-before reminder is not raised once the two-hour one is due, so an event moved
/// to tomorrow morning at short notice does not get both at once.
pub const OFFSETS: [(i16, i16); 2] = [(24, 2), (2, 0)];

/// Raises every reminder due at `now`; returns how many.
pub async fn remind_due(db: &Db, now: DateTime<Utc>) -> Result<usize> {
    let mut total = 0;
    for (hours_before, until_hours) in OFFSETS {
        loop {
            let due = store::reminders::due(db, now, hours_before, until_hours, BATCH).await?;
            let mut raised = 0;
            for reminder in &due {
                let mut tx = db.begin().await?;
                // Under the event's lock: a move commits before or after, never between the
                // check of the start and the reminder's row.
                let current = store::events::lock(&mut *tx, reminder.event_id).await?;
                let still_due = current.is_some_and(|e| {
                    e.status == EventStatus::Published && e.starts_at == reminder.starts_at
                });
                if still_due {
                    let outbox_id = uuid::Uuid::now_v7();
                    if store::reminders::record(&mut *tx, reminder, outbox_id).await? {
                        let event = DomainEvent::EventReminder(EventReminder {
                            event_id: reminder.event_id,
                            starts_at: reminder.starts_at,
                            hours_before: reminder.hours_before as u16,
                        });
                        store::outbox::append_with_id(&mut *tx, outbox_id, &event).await?;
                        raised += 1;
                    }
                }
                tx.commit().await?;
            }
            total += raised;
            if due.len() < BATCH as usize {
                break;
            }
        }
    }
    Ok(total)
}

/// The background task.
pub async fn run(db: Db, shutdown: CancellationToken) -> anyhow::Result<()> {
    loop {
        remind_due(&db, Utc::now()).await?;
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
