//! Organizer notices: a free-text message to an event's participants and their parents,
//! and how the deliveries of an event's announcements (its notices, cancellation and
//! moves) are going, per channel, without personal data.

use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::body::JsonBody;
use super::fields::Fields;
use super::security::{BearerAuth, Role};
use crate::domain::deliveries::DeliveryStatus;
use crate::domain::domain_events::{self, DomainEvent, Kind};
use crate::domain::events::EventStatus;
use crate::domain::ids::{AccountId, EventId, NoticeId, OrganizationId};
use crate::domain::names::ShortText;
use crate::http::problem::Problem;
use crate::state::AppState;
use crate::store::deliveries::{DeliveryCount, FailedDelivery};
use crate::store::{self};

pub struct NoticesApi;

/// The longest notice, in characters; the API document states the same.
pub const TEXT_CHARS: usize = 1000;

#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeInput {
    /// 1–1000 characters, shown as is to students and parents; no personal data.
    pub text: String,
}

#[derive(Debug, Object)]
pub struct NoticeCreated {
    pub notice_id: Uuid,
    pub event_id: Uuid,
}

/// Deliveries of one channel by status.
#[derive(Debug, Clone, Object, Default)]
pub struct ChannelCounts {
    pub channel: String,
    /// Waiting to be sent (including retries and escalations not yet due).
    pub queued: i64,
    /// With the provider right now.
    pub sent: i64,
    /// Accepted by the provider.
    pub delivered: i64,
    /// Refused for good (e.g. a dead device) or not needed (acknowledged before escalation).
    pub failed: i64,
    /// Dead-lettered after the retry limit or a permanent error.
    pub dead: i64,
}

/// A delivery that did not go through; ids and reasons only.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct FailedDeliveryView {
    pub delivery_id: Uuid,
    pub notification_id: Uuid,
    pub channel: String,
    /// `failed` (refused for good, or not needed) or `dead` (dead-lettered).
    pub status: String,
    pub attempts: i32,
    pub reason: Option<String>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Object)]
pub struct NoticeDeliveries {
    pub notice_id: Uuid,
    pub channels: Vec<ChannelCounts>,
    /// The most recent failed and dead deliveries (at most 100).
    pub failed: Vec<FailedDeliveryView>,
}

/// An announcement to an event's families (its cancellation, a move or a notice) and how
/// its deliveries are going.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AnnouncementReport {
    /// The announcement's own id (a notice's is not its `notice_id`).
    pub id: Uuid,
    /// `event_cancelled`, `event_rescheduled` or `organizer_notice`.
    pub kind: String,
    pub event_id: Uuid,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When the hub put its deliveries in the ledger; absent until then, and so are the
    /// counts.
    pub fanned_out_at: Option<chrono::DateTime<chrono::Utc>>,
    pub channels: Vec<ChannelCounts>,
    /// The most recent failed and dead deliveries (at most 100).
    pub failed: Vec<FailedDeliveryView>,
}

/// An event's announcements, newest first.
#[derive(Debug, Object)]
pub struct AnnouncementReports {
    /// At most 20.
    pub items: Vec<AnnouncementReport>,
}

/// The most announcements of one event listed, newest first.
pub const ANNOUNCEMENTS_LISTED: i64 = 20;

/// The kinds of announcement, as `store::outbox` selects them.
pub const ANNOUNCEMENT_KINDS: [Kind; 3] = [
    Kind::EventCancelled,
    Kind::EventRescheduled,
    Kind::OrganizerNotice,
];

#[derive(ApiResponse)]
pub enum AnnouncementReportsResponse {
    /// The event's announcements, newest first; none before its first.
    #[oai(status = 200)]
    Ok(Json<AnnouncementReports>),
}

#[derive(ApiResponse)]
pub enum NoticeCreatedResponse {
    /// Queued for every participant and their parents.
    #[oai(status = 201)]
    Created(Json<NoticeCreated>),
}

#[derive(ApiResponse)]
pub enum NoticeDeliveriesResponse {
    #[oai(status = 200)]
    Ok(Json<NoticeDeliveries>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Notifications")]
impl NoticesApi {
    /// Send a notice to everyone signed up for the organizer's event and their parents.
    /// Accepts an `Idempotency-Key`.
    #[oai(
        path = "/events/:event_id/notices",
        method = "post",
        operation_id = "send_notice"
    )]
    async fn send_notice(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
        #[oai(name = "Idempotency-Key")] _idempotency_key: Header<Option<String>>,
        body: JsonBody<NoticeInput>,
    ) -> Result<NoticeCreatedResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Organizer)?;
        let organization = caller.organization.ok_or_else(Problem::internal)?;
        let created = send(
            &state,
            organization,
            caller.account,
            EventId(event_id.0),
            &body.text,
        )
        .await?;
        Ok(NoticeCreatedResponse::Created(Json(created)))
    }

    /// How a notice's deliveries are going, per channel, and which failed.
    #[oai(
        path = "/notices/:notice_id/deliveries",
        method = "get",
        operation_id = "get_notice_deliveries"
    )]
    async fn deliveries(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        notice_id: Path<Uuid>,
    ) -> Result<NoticeDeliveriesResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Organizer)?;
        let (organization, outbox_event) = store::notices::owner(&state.db, notice_id.0)
            .await?
            .filter(|(org, _)| caller.organization.is_some_and(|o| o.0 == *org))
            .ok_or_else(|| Problem::not_found("no such notice"))?;
        let _ = organization;
        let (channels, failed) = delivery_report(&state, outbox_event).await?;
        Ok(NoticeDeliveriesResponse::Ok(Json(NoticeDeliveries {
            notice_id: notice_id.0,
            channels,
            failed,
        })))
    }

    /// An event's announcements (its cancellation, moves and notices), newest first, at
    /// most 20, each with how its deliveries are going per channel and which failed.
    #[oai(
        path = "/events/:event_id/announcements",
        method = "get",
        operation_id = "list_event_announcements"
    )]
    async fn announcements(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
    ) -> Result<AnnouncementReportsResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Organizer)?;
        let organization = caller.organization.ok_or_else(Problem::internal)?;
        let event = store::events::find(&state.db, EventId(event_id.0))
            .await?
            .filter(|e| e.organization_id == organization)
            .ok_or_else(|| Problem::not_found("no such event"))?;
        let announcements = store::outbox::announcements(
            &state.db,
            organization.0,
            Some(event.id.0),
            ANNOUNCEMENTS_LISTED,
        )
        .await?;
        let mut items = Vec::with_capacity(announcements.len());
        for announcement in announcements {
            let (channels, failed) = delivery_report(&state, announcement.id.0).await?;
            items.push(AnnouncementReport {
                id: announcement.id.0,
                kind: announcement.kind,
                event_id: announcement.event_id.0,
                created_at: announcement.created_at,
                fanned_out_at: announcement.fanned_out_at,
                channels,
                failed,
            });
        }
        Ok(AnnouncementReportsResponse::Ok(Json(AnnouncementReports {
            items,
        })))
    }
}

/// The notice text, checked.
pub fn parse_text(text: &str) -> Result<ShortText, Problem> {
    let mut fields = Fields::new();
    let text = fields.check("text", ShortText::parse(text, TEXT_CHARS));
    fields.finish()?;
    text.ok_or_else(Problem::internal)
}

/// Sends a notice to everyone signed up for a published (or cancelled) event of the
/// organization and their parents; shared by the API and the console.
pub async fn send(
    state: &AppState,
    organization: OrganizationId,
    by: AccountId,
    event_id: EventId,
    text: &str,
) -> Result<NoticeCreated, Problem> {
    let text = parse_text(text)?;
    let event = store::events::find(&state.db, event_id)
        .await?
        .filter(|e| organization == e.organization_id && e.status != EventStatus::Draft)
        .ok_or_else(|| Problem::not_found("no such event"))?;
    let notice_id = Uuid::now_v7();
    let outbox_event = Uuid::now_v7();
    let mut tx = state.db.begin().await?;
    store::notices::insert(
        &mut *tx,
        notice_id,
        event.id,
        by,
        text.as_str(),
        outbox_event,
    )
    .await?;
    store::outbox::append_with_id(
        &mut *tx,
        outbox_event,
        &DomainEvent::OrganizerNotice(domain_events::OrganizerNotice {
            notice_id: NoticeId(notice_id),
            event_id: event.id,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(NoticeCreated {
        notice_id,
        event_id: event.id.0,
    })
}

/// How the deliveries of one announcement (a notice, a cancellation, a move: its outbox
/// event id) are going per channel, and the most recent failures (at most 100).
pub async fn delivery_report(
    state: &AppState,
    outbox_event: Uuid,
) -> Result<(Vec<ChannelCounts>, Vec<FailedDeliveryView>), Problem> {
    let counts = store::deliveries::counts_for_event(&state.db, outbox_event).await?;
    let failed = store::deliveries::failed_for_event(&state.db, outbox_event, 100).await?;
    Ok((
        channel_counts(counts),
        failed.into_iter().map(failed_view).collect(),
    ))
}

/// Folds the counts by channel and status into one line per channel.
pub fn channel_counts(rows: Vec<DeliveryCount>) -> Vec<ChannelCounts> {
    let mut by_channel: Vec<ChannelCounts> = Vec::new();
    for row in rows {
        let channel = row.channel.as_str();
        let index = match by_channel.iter().position(|c| c.channel == channel) {
            Some(i) => i,
            None => {
                by_channel.push(ChannelCounts {
                    channel: channel.to_owned(),
                    ..ChannelCounts::default()
                });
                by_channel.len() - 1
            }
        };
        let line = &mut by_channel[index];
        match row.status {
            DeliveryStatus::Pending => line.queued += row.count,
            DeliveryStatus::Sending => line.sent += row.count,
            DeliveryStatus::Delivered => line.delivered += row.count,
            DeliveryStatus::Dead => line.dead += row.count,
            // The report has no line for a notice not sent because its subject was
            // settled first; it has always counted those with the failures.
            DeliveryStatus::Failed | DeliveryStatus::Skipped => line.failed += row.count,
        }
    }
    by_channel
}

pub fn failed_view(row: FailedDelivery) -> FailedDeliveryView {
    FailedDeliveryView {
        delivery_id: row.id.0,
        notification_id: row.notification_id.0,
        channel: row.channel.as_str().to_owned(),
        status: row.status.as_str().to_owned(),
        attempts: row.attempts,
        reason: row.last_error,
        updated_at: row.updated_at,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_announcement_kinds_are_those_the_store_selects() {
        let quoted: Vec<String> = super::ANNOUNCEMENT_KINDS
            .iter()
            .map(|kind| format!("'{}'", kind.as_str()))
            .collect();
        let selected = format!("o.kind IN ({})", quoted.join(", "));
        assert!(
            include_str!("../store/outbox.rs").contains(&selected),
            "store::outbox does not select {selected}"
        );
    }
}
