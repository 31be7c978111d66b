//! The inbox and notification preferences: every notice a person received, newest first,
//! with the unread count; marking read; acknowledging that a push was seen (which stops
//! its escalation to SMS); channels per kind, quiet hours and language.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::ApiTag;
use super::auth::NoContentResponse;
use super::body::JsonBody;
use super::document::LANGUAGES;
use super::fields::Fields;
use super::security::BearerAuth;
use crate::domain::domain_events::Kind;
use crate::domain::events::parse_time_zone;
use crate::http::problem::Problem;
use crate::notify::policy;
use crate::state::AppState;
use crate::store::{self, notifications::PreferencesRow};

pub struct NotificationsApi;

/// Notices per inbox page when the app does not say, and at most.
pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// One notice.
#[derive(Debug, Object)]
pub struct NotificationView {
    pub id: Uuid,
    /// E.g. `event_cancelled`, `signup_requested`.
    pub kind: String,
    pub urgent: bool,
    pub title: String,
    pub body: String,
    /// Ids to fetch details with (`event_id`, `signup_id`, …).
    pub data: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

/// A page of the inbox.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Inbox {
    pub items: Vec<NotificationView>,
    pub unread_count: i64,
    /// Pass as `cursor` for older notices; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A channel group a person can switch off per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ChannelGroup {
    Push,
    Sms,
    Email,
}

/// Notification preferences.
#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
#[oai(skip_serializing_if_is_none)]
pub struct Preferences {
    /// `ru` or `en`.
    pub language: String,
    /// IANA time zone for quiet hours, e.g. `Europe/Moscow`.
    pub time_zone: String,
    /// Local start of quiet hours, `HH:MM`; with `quiet_to`, non-urgent notices wait.
    #[serde(default)]
    pub quiet_from: Option<String>,
    #[serde(default)]
    pub quiet_to: Option<String>,
    /// Channels switched off per kind, e.g. `{"results_ready": ["sms", "email"]}`. Urgent
    /// cancellations and moves still arrive on at least one channel.
    #[serde(default)]
    #[oai(default)]
    pub disabled: BTreeMap<String, Vec<ChannelGroup>>,
}

#[derive(ApiResponse)]
pub enum InboxResponse {
    #[oai(status = 200)]
    Ok(Json<Inbox>),
}

#[derive(ApiResponse)]
pub enum PreferencesResponse {
    #[oai(status = 200)]
    Ok(Json<Preferences>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Notifications")]
impl NotificationsApi {
    /// The caller's notices, newest first, with the unread count.
    #[oai(
        path = "/notifications",
        method = "get",
        operation_id = "list_notifications"
    )]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        cursor: Query<Option<String>>,
        limit: Query<Option<i64>>,
    ) -> Result<InboxResponse, Problem> {
        let caller = auth.0;
        let mut fields = Fields::new();
        let limit = limit.0.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            fields.reject("limit", format!("must be from 1 to {MAX_LIMIT}"));
        }
        let before = match cursor.0.as_deref() {
            None => None,
            Some(text) => {
                let position = super::cursor::decode(text);
                if position.is_none() {
                    fields.reject("cursor", "is not a cursor from a previous page");
                }
                position
            }
        };
        fields.finish()?;
        let mut rows =
            store::notifications::inbox(&state.db, caller.account, before, limit + 1).await?;
        let more = rows.len() as i64 > limit;
        rows.truncate(limit as usize);
        let next_cursor = more
            .then(|| {
                rows.last()
                    .map(|r| super::cursor::encode(r.created_at, r.id.0))
            })
            .flatten();
        let unread_count = store::notifications::unread_count(&state.db, caller.account).await?;
        Ok(InboxResponse::Ok(Json(Inbox {
            items: rows
                .into_iter()
                .map(|row| NotificationView {
                    id: row.id.0,
                    kind: row.kind,
                    urgent: row.urgent,
                    title: row.title,
                    body: row.body,
                    data: crate::notify::sender::data_of(&row.data),
                    created_at: row.created_at,
                    read: row.read_at.is_some(),
                })
                .collect(),
            unread_count,
            next_cursor,
        })))
    }

    /// Mark a notice read.
    #[oai(
        path = "/notifications/:notification_id/read",
        method = "post",
        operation_id = "read_notification"
    )]
    async fn read(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        notification_id: Path<Uuid>,
    ) -> Result<NoContentResponse, Problem> {
        if store::notifications::mark_read(&state.db, auth.0.account, notification_id.0).await? {
            Ok(NoContentResponse::Done)
        } else {
            Err(Problem::not_found("no such notification"))
        }
    }

    /// Acknowledge that a push was seen on a device: it stops escalating to other channels.
    #[oai(
        path = "/notifications/:notification_id/ack",
        method = "post",
        operation_id = "ack_notification"
    )]
    async fn ack(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        notification_id: Path<Uuid>,
    ) -> Result<NoContentResponse, Problem> {
        if store::notifications::mark_acked(&state.db, auth.0.account, notification_id.0).await? {
            Ok(NoContentResponse::Done)
        } else {
            Err(Problem::not_found("no such notification"))
        }
    }

    /// The caller's notification preferences.
    #[oai(
        path = "/me/notification-preferences",
        method = "get",
        operation_id = "get_notification_preferences"
    )]
    async fn get_preferences(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<PreferencesResponse, Problem> {
        let row = store::notifications::preferences(&state.db, auth.0.account).await?;
        let account = store::accounts::find(&state.db, auth.0.account).await?;
        let row = row.unwrap_or_else(|| PreferencesRow {
            language: account.map(|a| a.locale).unwrap_or_else(|| "ru".to_owned()),
            time_zone: "Europe/Moscow".to_owned(),
            quiet_from: None,
            quiet_to: None,
            disabled: Value::Object(Default::default()),
        });
        Ok(PreferencesResponse::Ok(Json(to_view(&row))))
    }

    /// Replace the caller's notification preferences.
    #[oai(
        path = "/me/notification-preferences",
        method = "put",
        operation_id = "put_notification_preferences"
    )]
    async fn put_preferences(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<Preferences>,
    ) -> Result<PreferencesResponse, Problem> {
        let mut fields = Fields::new();
        if !LANGUAGES.contains(&body.language.as_str()) {
            fields.reject(
                "language",
                format!("must be one of {}", LANGUAGES.join(", ")),
            );
        }
        let zone = fields.check("time_zone", parse_time_zone(&body.time_zone));
        let quiet_from = body
            .quiet_from
            .as_deref()
            .and_then(|t| fields.check("quiet_from", parse_hhmm(t)));
        let quiet_to = body
            .quiet_to
            .as_deref()
            .and_then(|t| fields.check("quiet_to", parse_hhmm(t)));
        if body.quiet_from.is_some() != body.quiet_to.is_some() {
            fields.reject("quiet_to", "quiet hours need both quiet_from and quiet_to");
        }
        for kind in body.disabled.keys() {
            if kind
                .parse::<Kind>()
                .map_or(true, |kind| !configurable_kinds().any(|k| k == kind))
            {
                fields.reject(
                    &format!("disabled.{kind}"),
                    "is not a kind of notice that can be configured",
                );
            }
        }
        fields.finish()?;
        let disabled: serde_json::Map<String, Value> = body
            .disabled
            .iter()
            .map(|(kind, groups)| {
                let names: Vec<Value> =
                    groups.iter().map(|g| Value::from(group_name(*g))).collect();
                (kind.clone(), Value::Array(names))
            })
            .collect();
        let row = PreferencesRow {
            language: body.language.clone(),
            time_zone: zone.unwrap_or("Europe/Moscow").to_owned(),
            quiet_from,
            quiet_to,
            disabled: Value::Object(disabled),
        };
        store::notifications::set_preferences(&state.db, auth.0.account, &row).await?;
        Ok(PreferencesResponse::Ok(Json(to_view(&row))))
    }
}

fn group_name(group: ChannelGroup) -> &'static str {
    match group {
        ChannelGroup::Push => "push",
        ChannelGroup::Sms => "sms",
        ChannelGroup::Email => "email",
    }
}

/// A local time of day as the preferences take it.
pub const HHMM_PATTERN: &str = "^([01][0-9]|2[0-3]):[0-5][0-9]$";

/// The kinds of notice a person may switch channels off for: those in the inbox.
pub fn configurable_kinds() -> impl Iterator<Item = Kind> {
    Kind::ALL
        .iter()
        .copied()
        .filter(|kind| policy::policy(*kind).inbox)
}

fn parse_hhmm(text: &str) -> Result<i16, String> {
    let invalid = || "must be a time as HH:MM".to_owned();
    let two_digits = |part: &str| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit());
    let (h, m) = text
        .split_once(':')
        .filter(|(h, m)| two_digits(h) && two_digits(m))
        .ok_or_else(invalid)?;
    let (h, m): (i16, i16) = (
        h.parse().map_err(|_| invalid())?,
        m.parse().map_err(|_| invalid())?,
    );
    if (0..24).contains(&h) && (0..60).contains(&m) {
        Ok(h * 60 + m)
    } else {
        Err(invalid())
    }
}

fn to_view(row: &PreferencesRow) -> Preferences {
    let hhmm = |m: Option<i16>| m.map(|m| format!("{:02}:{:02}", m / 60, m % 60));
    let disabled = row
        .disabled
        .as_object()
        .map(|map| {
            map.iter()
                .map(|(kind, groups)| {
                    let groups = groups
                        .as_array()
                        .map(|list| {
                            list.iter()
                                .filter_map(|g| match g.as_str() {
                                    Some("push") => Some(ChannelGroup::Push),
                                    Some("sms") => Some(ChannelGroup::Sms),
                                    Some("email") => Some(ChannelGroup::Email),
                                    _ => None,
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (kind.clone(), groups)
                })
                .collect()
        })
        .unwrap_or_default();
    Preferences {
        language: row.language.clone(),
        time_zone: row.time_zone.clone(),
        quiet_from: hhmm(row.quiet_from),
        quiet_to: hhmm(row.quiet_to),
        disabled,
    }
}
