//! Practical events: organizers create, edit, publish, cancel and reschedule them and see
//! their rosters; students list the published, upcoming events for their grade near home,
//! with filters and a cursor that stays correct while events are added.

use chrono::{DateTime, SubsecRound as _, Utc};
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::body::JsonBody;
use super::fields::Fields;
use super::security::{BearerAuth, Caller, Role};
use crate::domain::events::{self as rules, EventStatus, ProfessionArea, Schedule};
use crate::domain::ids::{AccountId, EventId, OrganizationId};
use crate::domain::names::ShortText;
use crate::domain::region::Region;
use crate::http::problem::{FieldError, Problem};
use crate::participation::{self, organizer};
use crate::state::AppState;
use crate::store::events::{EventFields, EventFilter, EventRow, NewSchedule, Position};
use crate::store::{self};

/// Page size when the client does not ask for one, and the largest allowed.
/// An event's texts, in characters; the API document states the same bounds.
pub const TITLE_CHARS: std::ops::RangeInclusive<usize> = 3..=200;
pub const DESCRIPTION_CHARS: usize = 5000;
pub const CITY_CHARS: usize = 100;
pub const ADDRESS_CHARS: usize = 300;
pub const REASON_CHARS: std::ops::RangeInclusive<usize> = 3..=500;
pub const WHAT_TO_BRING_CHARS: usize = 500;
pub const ONLINE_LINK_CHARS: usize = 500;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

pub struct EventsApi;

/// Where an event happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum EventFormat {
    InPerson,
    Online,
}

impl EventFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::InPerson => "in_person",
            EventFormat::Online => "online",
        }
    }
}

/// An event as an organizer writes it.
#[derive(Debug, Clone, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// 3–200 characters.
    pub title: String,
    /// Up to 5000 characters.
    pub description: String,
    /// One of: it, engineering, industry, medicine, science, arts_design, services,
    /// agriculture, transport, education, construction, energy, media, sports,
    /// public_service, finance.
    pub profession_area: String,
    pub format: EventFormat,
    /// Required in person: ISO 3166-2 code of the subject (e.g. `RU-TA`).
    #[serde(default)]
    pub region: Option<String>,
    /// Required in person.
    #[serde(default)]
    pub city: Option<String>,
    /// Required in person.
    #[serde(default)]
    pub address: Option<String>,
    /// 6–11.
    pub grade_min: i64,
    /// 6–11, not below `grade_min`.
    pub grade_max: i64,
    /// Seats, 1–10000.
    pub capacity: i64,
    /// RFC 3339 with offset.
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// IANA time zone of the place, for showing local times (e.g. `Europe/Moscow`).
    pub time_zone: String,
    /// Any of: step_free, visual, hearing, sign_language, quiet_space.
    #[serde(default)]
    #[oai(default)]
    pub accessibility: Vec<String>,
    /// Sign-ups close at this moment; not after the start.
    pub signup_deadline: DateTime<Utc>,
    /// How long parents have to approve a sign-up, in hours (1–168).
    pub approval_window_hours: i64,
    /// What the student should bring (up to 500 characters); told in the reminders.
    #[serde(default)]
    pub what_to_bring: Option<String>,
    /// Online only: the `https://` link to join, told in the reminders (up to 500
    /// characters).
    #[serde(default)]
    pub online_link: Option<String>,
}

/// An event.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventView {
    pub id: Uuid,
    pub organization_id: Uuid,
    pub organization_name: String,
    pub title: String,
    pub description: String,
    pub profession_area: String,
    pub format: String,
    pub region: Option<String>,
    pub region_name: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
    pub grade_min: i16,
    pub grade_max: i16,
    pub capacity: i32,
    /// Free seats; when 0, a sign-up joins the waitlist.
    pub seats_left: i32,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub time_zone: String,
    pub accessibility: Vec<String>,
    pub signup_deadline: DateTime<Utc>,
    pub approval_window_hours: i64,
    /// `draft`, `published` or `cancelled`.
    pub status: String,
    pub cancel_reason: Option<String>,
    pub what_to_bring: Option<String>,
    pub online_link: Option<String>,
}

/// One page of events, sorted by start.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct EventPage {
    pub items: Vec<EventView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// True when "accessible for me" narrowed the list (needs ОВЗ needs on the profile and
    /// a parent's health-data consent).
    pub accessibility_filter_applied: bool,
}

#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// Shown to families; 3–500 characters, no personal data.
    pub reason: String,
}

/// New times, and optionally a new place; omitted place fields stay as they are.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleRequest {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Defaults to the old deadline, moved no later than the new start.
    #[serde(default)]
    pub signup_deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    pub time_zone: Option<String>,
    #[serde(default)]
    pub format: Option<EventFormat>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
}

/// One student on a roster: no documents, no contacts.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct RosterEntry {
    pub signup_id: Uuid,
    pub given_name: Option<String>,
    /// The first letter of the surname, e.g. `С.`.
    pub surname_initial: Option<String>,
    pub grade: Option<i16>,
    /// `pending_parent`, `approved` or `waitlisted`.
    pub status: String,
    /// ОВЗ needs to prepare for; present only while health-data consent stands.
    pub accessibility_needs: Option<Vec<String>>,
}

#[derive(ApiResponse)]
pub enum EventResponse {
    #[oai(status = 200)]
    Ok(Json<EventView>),
}

#[derive(ApiResponse)]
pub enum CreatedEventResponse {
    /// Created as a draft; publish it to open sign-ups.
    #[oai(status = 201)]
    Created(Json<EventView>),
}

#[derive(ApiResponse)]
pub enum EventPageResponse {
    #[oai(status = 200)]
    Ok(Json<EventPage>),
}

#[derive(ApiResponse)]
pub enum RosterResponse {
    /// Seat holders in sign-up order, then the waitlist in order.
    #[oai(status = 200)]
    Ok(Json<Vec<RosterEntry>>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Events")]
impl EventsApi {
    /// An organizer creates an event for their organization, as a draft.
    #[oai(path = "/events", method = "post", operation_id = "create_event")]
    async fn create_event(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<EventInput>,
    ) -> Result<CreatedEventResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let row = create(&state, organization, auth.0.account, &body).await?;
        Ok(CreatedEventResponse::Created(Json(event_view(row))))
    }

    /// Edit an event. A draft may change freely; a published event may change its title,
    /// description, accessibility, capacity (not below the seats held), deadline and
    /// approval window; times and place change through `reschedule`.
    #[oai(
        path = "/events/:event_id",
        method = "put",
        operation_id = "update_event"
    )]
    async fn update_event(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
        body: JsonBody<EventInput>,
    ) -> Result<EventResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let row = update(&state, organization, EventId(event_id.0), &body).await?;
        Ok(EventResponse::Ok(Json(event_view(row))))
    }

    /// Publish a draft: students can find it and sign up.
    #[oai(
        path = "/events/:event_id/publish",
        method = "post",
        operation_id = "publish_event"
    )]
    async fn publish_event(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
    ) -> Result<EventResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let row = publish(&state, organization, EventId(event_id.0)).await?;
        Ok(EventResponse::Ok(Json(event_view(row))))
    }

    /// Cancel an event: every live sign-up ends and every student and parent is told.
    #[oai(
        path = "/events/:event_id/cancel",
        method = "post",
        operation_id = "cancel_event"
    )]
    async fn cancel_event(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
        body: JsonBody<CancelRequest>,
    ) -> Result<EventResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let row = cancel(&state, organization, EventId(event_id.0), &body.reason).await?;
        Ok(EventResponse::Ok(Json(event_view(row))))
    }

    /// Move an event to new times (and optionally a new place). Sign-ups stay; families are
    /// told (urgently within 48 hours of the start) and may withdraw.
    #[oai(
        path = "/events/:event_id/reschedule",
        method = "post",
        operation_id = "reschedule_event"
    )]
    async fn reschedule_event(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
        body: JsonBody<RescheduleRequest>,
    ) -> Result<EventResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let row = reschedule(&state, organization, EventId(event_id.0), &body).await?;
        Ok(EventResponse::Ok(Json(event_view(row))))
    }

    /// The organizer's events, every status, by start.
    #[oai(
        path = "/organizer/events",
        method = "get",
        operation_id = "list_organizer_events"
    )]
    async fn list_organizer_events(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        cursor: Query<Option<String>>,
        limit: Query<Option<i64>>,
    ) -> Result<EventPageResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let mut fields = Fields::new();
        let (after, limit) = page_params(&mut fields, cursor.0.as_deref(), limit.0);
        fields.finish()?;
        let rows =
            store::events::list_for_organization(&state.db, organization, after, limit + 1).await?;
        Ok(EventPageResponse::Ok(Json(page(rows, limit, false))))
    }

    /// The live sign-ups of the organizer's event: first name, surname initial, grade,
    /// status and, with health-data consent, accessibility needs.
    #[oai(
        path = "/events/:event_id/roster",
        method = "get",
        operation_id = "get_event_roster"
    )]
    async fn get_roster(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
    ) -> Result<RosterResponse, Problem> {
        let organization = organizer_of(&auth.0)?;
        let entries = roster(&state, organization, EventId(event_id.0))
            .await?
            .into_iter()
            .map(|(_, entry)| entry)
            .collect();
        Ok(RosterResponse::Ok(Json(entries)))
    }

    /// Published, upcoming events for the calling student's grade, sorted by start.
    /// Filters narrow it; `accessible_for_me` keeps events suited to the student's ОВЗ
    /// needs (only while a parent's health-data consent stands).
    #[allow(clippy::too_many_arguments)]
    #[oai(path = "/events", method = "get", operation_id = "list_events")]
    async fn list_events(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        region: Query<Option<String>>,
        city: Query<Option<String>>,
        profession_area: Query<Option<String>>,
        format: Query<Option<EventFormat>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        accessible_for_me: Query<Option<bool>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<i64>>,
    ) -> Result<EventPageResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let query = StudentEventQuery {
            region: region.0,
            city: city.0,
            profession_area: profession_area.0,
            format: format.0,
            from: from.0,
            to: to.0,
            accessible: accessible_for_me.0.unwrap_or(false),
            cursor: cursor.0,
            limit: limit.0,
        };
        let page = list_for_student(&state, caller.account, query).await?;
        Ok(EventPageResponse::Ok(Json(page)))
    }

    /// The events that suit a linked child, exactly as the child's own `list_events` shows
    /// them (their grade, the filters, `accessible_for_child` for their ОВЗ needs while a
    /// health-data consent stands). Sign the child up with `sign_up_child`.
    #[allow(clippy::too_many_arguments)]
    #[oai(
        path = "/children/:child_id/events",
        method = "get",
        operation_id = "list_child_events"
    )]
    async fn list_child_events(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        child_id: Path<Uuid>,
        region: Query<Option<String>>,
        city: Query<Option<String>>,
        profession_area: Query<Option<String>>,
        format: Query<Option<EventFormat>>,
        from: Query<Option<DateTime<Utc>>>,
        to: Query<Option<DateTime<Utc>>>,
        accessible_for_child: Query<Option<bool>>,
        cursor: Query<Option<String>>,
        limit: Query<Option<i64>>,
    ) -> Result<EventPageResponse, Problem> {
        let child = crate::api::profiles::linked_child(&state, &auth.0, child_id.0).await?;
        let query = StudentEventQuery {
            region: region.0,
            city: city.0,
            profession_area: profession_area.0,
            format: format.0,
            from: from.0,
            to: to.0,
            accessible: accessible_for_child.0.unwrap_or(false),
            cursor: cursor.0,
            limit: limit.0,
        };
        let page = list_for_student(&state, child, query).await?;
        Ok(EventPageResponse::Ok(Json(page)))
    }

    /// One event with its free seats. Drafts are visible only to their organization.
    #[oai(path = "/events/:event_id", method = "get", operation_id = "get_event")]
    async fn get_event(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        event_id: Path<Uuid>,
    ) -> Result<EventResponse, Problem> {
        let caller = auth.0;
        let row = store::events::find(&state.db, EventId(event_id.0))
            .await?
            .filter(|e| {
                e.status != EventStatus::Draft
                    || caller.organization.is_some_and(|o| o == e.organization_id)
            })
            .ok_or_else(|| Problem::not_found("no such event"))?;
        Ok(EventResponse::Ok(Json(event_view(row))))
    }
}

// The rules of the organizer's operations, shared by the API handlers above and the
// console (`src/console/`), so that no rule is written twice.

/// The filters of a student's event listing, as the query string gave them.
#[derive(Debug, Default)]
pub struct StudentEventQuery {
    pub region: Option<String>,
    pub city: Option<String>,
    pub profession_area: Option<String>,
    pub format: Option<EventFormat>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// Keep events suited to the student's ОВЗ needs (while health-data consent stands).
    pub accessible: bool,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

/// Published, upcoming events for a student's grade with the filters applied: what the
/// student sees in `list_events` and their linked parents in `list_child_events`.
pub async fn list_for_student(
    state: &AppState,
    student: AccountId,
    query: StudentEventQuery,
) -> Result<EventPage, Problem> {
    let profile = crate::api::profiles::load_student(state, student)
        .await?
        .filter(|p| !p.erased)
        .ok_or_else(|| {
            Problem::conflict(
                "profile-required",
                "Profile required",
                "fill in your profile to see events for your grade",
            )
        })?;
    let mut fields = Fields::new();
    let region = match query.region.as_deref() {
        Some(code) => fields
            .check("region", Region::parse(code))
            .map(|r| Some(r.code().to_owned())),
        None => Some(None),
    };
    let area = match query.profession_area.as_deref() {
        Some(area) => fields
            .check("profession_area", ProfessionArea::parse(area))
            .map(|a| Some(a.as_str().to_owned())),
        None => Some(None),
    };
    let (after, limit) = page_params(&mut fields, query.cursor.as_deref(), query.limit);
    fields.finish()?;
    let mut features = Vec::new();
    let mut applied = false;
    if query.accessible
        && let Some(health) = &profile.health
        && store::consents::is_current(&state.db, student, "health_data").await?
    {
        features = health
            .needs
            .iter()
            .filter_map(|need| rules::feature_for_need(need))
            .map(str::to_owned)
            .collect();
        applied = true;
    }
    let filter = EventFilter {
        grade: i16::from(profile.grade),
        region: region.flatten(),
        city: query
            .city
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty()),
        profession_area: area.flatten(),
        format: query.format.map(|f| f.as_str().to_owned()),
        from: query.from,
        to: query.to,
        features,
    };
    let rows = store::events::list_published(&state.db, &filter, after, limit + 1).await?;
    Ok(page(rows, limit, applied))
}

/// Creates a draft event from `input`: every field checked, starting after now.
pub async fn create(
    state: &AppState,
    organization: OrganizationId,
    by: AccountId,
    input: &EventInput,
) -> Result<EventRow, Problem> {
    let fields = parse_event_fields(input, Some(Utc::now()))?;
    let id = EventId::new();
    store::events::insert(&state.db, id, organization, by, &fields).await?;
    store::events::find(&state.db, id)
        .await?
        .ok_or_else(Problem::internal)
}

/// Edits an event of the organization: a draft freely, a published one within
/// [`check_published_change`]; a cancelled one not at all.
pub async fn update(
    state: &AppState,
    organization: OrganizationId,
    id: EventId,
    input: &EventInput,
) -> Result<EventRow, Problem> {
    let mut tx = state.db.begin().await?;
    let current = own_event(store::events::lock(&mut *tx, id).await?, organization)?;
    let fields = match current.status.as_str() {
        "draft" => parse_event_fields(input, Some(Utc::now()))?,
        "published" => {
            let fields = parse_event_fields(input, None)?;
            check_published_change(&current, &fields)?;
            fields
        }
        _ => {
            return Err(Problem::conflict(
                "event-cancelled",
                "Event cancelled",
                "a cancelled event cannot change",
            ));
        }
    };
    store::events::update(&mut *tx, id, &fields).await?;
    if current.status == EventStatus::Published && fields.capacity > current.capacity {
        participation::promote_waitlist(&mut tx, id)
            .await
            .map_err(participation_problem)?;
    }
    let row = store::events::find(&mut *tx, id)
        .await?
        .ok_or_else(Problem::internal)?;
    tx.commit().await?;
    Ok(row)
}

/// Publishes a draft of the organization whose schedule still holds; publishing twice
/// changes nothing.
pub async fn publish(
    state: &AppState,
    organization: OrganizationId,
    id: EventId,
) -> Result<EventRow, Problem> {
    let mut tx = state.db.begin().await?;
    let current = own_event(store::events::lock(&mut *tx, id).await?, organization)?;
    match current.status.as_str() {
        "draft" => {
            let schedule = Schedule {
                starts_at: current.starts_at,
                ends_at: current.ends_at,
                signup_deadline: current.signup_deadline,
            };
            let problems = rules::check_schedule(&schedule, Some(Utc::now()));
            if !problems.is_empty() {
                return Err(Problem::validation(
                    problems
                        .into_iter()
                        .map(|(f, r)| FieldError::new(f, r))
                        .collect(),
                ));
            }
            store::events::publish(&mut *tx, id).await?;
        }
        "published" => {}
        _ => {
            return Err(Problem::conflict(
                "event-cancelled",
                "Event cancelled",
                "a cancelled event cannot be published",
            ));
        }
    }
    let row = store::events::find(&mut *tx, id)
        .await?
        .ok_or_else(Problem::internal)?;
    tx.commit().await?;
    Ok(row)
}

/// The reason families are shown for a cancellation, checked.
pub fn parse_cancel_reason(reason: &str) -> Result<ShortText, Problem> {
    let mut fields = Fields::new();
    let reason = fields.check(
        "reason",
        ShortText::parse(reason, *REASON_CHARS.end()).and_then(min_len(*REASON_CHARS.start())),
    );
    fields.finish()?;
    reason.ok_or_else(Problem::internal)
}

/// Cancels an event of the organization: every live sign-up ends, everyone is told.
pub async fn cancel(
    state: &AppState,
    organization: OrganizationId,
    id: EventId,
    reason: &str,
) -> Result<EventRow, Problem> {
    let reason = parse_cancel_reason(reason)?;
    let mut tx = state.db.begin().await?;
    let row = organizer::cancel_event(&mut tx, id, organization, reason.as_str())
        .await
        .map_err(participation_problem)?;
    tx.commit().await?;
    Ok(row)
}

/// New times and place of an event, checked and owned, before they are applied.
#[derive(Debug, Clone)]
pub struct PlannedMove {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub signup_deadline: DateTime<Utc>,
    pub time_zone: String,
    pub format: String,
    pub region: Option<String>,
    pub city: Option<String>,
    pub address: Option<String>,
}

impl PlannedMove {
    pub fn schedule(&self) -> NewSchedule<'_> {
        NewSchedule {
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            signup_deadline: self.signup_deadline,
            time_zone: &self.time_zone,
            format: &self.format,
            region: self.region.as_deref(),
            city: self.city.as_deref(),
            address: self.address.as_deref(),
        }
    }
}

/// Checks a move of `current`: omitted place fields and zone stay, the deadline defaults
/// to the old one, moved no later than the new start.
pub fn plan_move(current: &EventRow, body: &RescheduleRequest) -> Result<PlannedMove, Problem> {
    let mut fields = Fields::new();
    let time_zone = match &body.time_zone {
        Some(zone) => fields
            .check("time_zone", rules::parse_time_zone(zone))
            .map(str::to_owned),
        None => Some(current.time_zone.clone()),
    };
    let format = body
        .format
        .map(EventFormat::as_str)
        .unwrap_or(current.format.as_str())
        .to_owned();
    let place = parse_place(
        &mut fields,
        &format,
        body.region.clone().or(current.region.clone()),
        body.city.clone().or(current.city.clone()),
        body.address.clone().or(current.address.clone()),
    );
    let starts_at = body.starts_at.trunc_subsecs(6);
    let ends_at = body.ends_at.trunc_subsecs(6);
    let signup_deadline = body
        .signup_deadline
        .unwrap_or(current.signup_deadline)
        .trunc_subsecs(6)
        .min(starts_at);
    let schedule = Schedule {
        starts_at,
        ends_at,
        signup_deadline,
    };
    for (field, reason) in rules::check_schedule(&schedule, Some(Utc::now())) {
        fields.reject(field, reason);
    }
    fields.finish()?;
    let (Some(time_zone), Some((region, city, address))) = (time_zone, place) else {
        return Err(Problem::internal());
    };
    Ok(PlannedMove {
        starts_at,
        ends_at,
        signup_deadline,
        time_zone,
        format,
        region,
        city,
        address,
    })
}

/// Moves an event of the organization; sign-ups stay and families are told.
pub async fn reschedule(
    state: &AppState,
    organization: OrganizationId,
    id: EventId,
    body: &RescheduleRequest,
) -> Result<EventRow, Problem> {
    let current = find_own(state, organization, id).await?;
    let planned = plan_move(&current, body)?;
    let mut tx = state.db.begin().await?;
    let row = organizer::reschedule_event(&mut tx, id, organization, &planned.schedule())
        .await
        .map_err(participation_problem)?;
    tx.commit().await?;
    Ok(row)
}

/// An event of the organization; anyone else's is 404.
pub async fn find_own(
    state: &AppState,
    organization: OrganizationId,
    id: EventId,
) -> Result<EventRow, Problem> {
    own_event(store::events::find(&state.db, id).await?, organization)
}

/// The roster of an event of the organization, with each entry's student id (for the
/// access audit; the API does not show it): first name, surname initial, grade, status
/// and, while health-data consent stands, accessibility needs.
pub async fn roster(
    state: &AppState,
    organization: OrganizationId,
    id: EventId,
) -> Result<Vec<(Uuid, RosterEntry)>, Problem> {
    find_own(state, organization, id).await?;
    let rows = store::signups::roster(&state.db, id).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let needs = match (&row.health_enc, row.health_consent) {
            (Some(sealed), true) => {
                let json = state
                    .vault
                    .open(
                        crate::privacy::vault::fields::STUDENT_HEALTH,
                        row.student_id.0,
                        sealed,
                    )
                    .map_err(Problem::internal_from)?;
                let health: crate::privacy::vault::Health =
                    serde_json::from_str(&json).map_err(Problem::internal_from)?;
                Some(health.needs)
            }
            _ => None,
        };
        entries.push((
            row.student_id.0,
            RosterEntry {
                signup_id: row.signup_id.0,
                given_name: row.given_name,
                surname_initial: row
                    .surname
                    .and_then(|s| s.chars().next())
                    .map(|c| format!("{c}.")),
                grade: row.grade,
                status: row.status.as_str().to_owned(),
                accessibility_needs: needs,
            },
        ));
    }
    Ok(entries)
}

/// The caller's organization; only organizers manage events.
fn organizer_of(caller: &Caller) -> Result<OrganizationId, Problem> {
    caller.require(Role::Organizer)?;
    caller.organization.ok_or_else(Problem::internal)
}

/// The event if it belongs to the organization; anyone else's is 404.
fn own_event(row: Option<EventRow>, organization: OrganizationId) -> Result<EventRow, Problem> {
    row.filter(|e| e.organization_id == organization)
        .ok_or_else(|| Problem::not_found("no such event"))
}

fn min_len(min: usize) -> impl Fn(ShortText) -> Result<ShortText, String> {
    move |text| {
        if text.as_str().chars().count() >= min {
            Ok(text)
        } else {
            Err(format!("must be at least {min} characters"))
        }
    }
}

/// Region, city and address: required in person, dropped online.
type Place = (Option<String>, Option<String>, Option<String>);

fn parse_place(
    fields: &mut Fields,
    format: &str,
    region: Option<String>,
    city: Option<String>,
    address: Option<String>,
) -> Option<Place> {
    if format == "online" {
        return Some((None, None, None));
    }
    let mut required =
        |field: &str, value: Option<String>, parse: &dyn Fn(&str) -> Result<String, String>| {
            match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
                None => {
                    fields.reject(field, "is required for an event in person");
                    None
                }
                Some(v) => fields.check(field, parse(v)),
            }
        };
    let region = required("region", region, &|v| {
        Region::parse(v).map(|r| r.code().to_owned())
    });
    let city = required("city", city, &|v| {
        ShortText::parse(v, CITY_CHARS).map(|t| t.as_str().to_owned())
    });
    let address = required("address", address, &|v| {
        ShortText::parse(v, ADDRESS_CHARS).map(|t| t.as_str().to_owned())
    });
    Some((Some(region?), Some(city?), Some(address?)))
}

/// Every field checked; with `now`, the event must also start after it. Times are kept to
/// the microsecond, as the database stores them.
pub fn parse_event_fields(
    input: &EventInput,
    now: Option<DateTime<Utc>>,
) -> Result<EventFields, Problem> {
    let mut fields = Fields::new();
    let title = fields.check(
        "title",
        ShortText::parse(&input.title, *TITLE_CHARS.end()).and_then(min_len(*TITLE_CHARS.start())),
    );
    let description = fields.check(
        "description",
        ShortText::parse(&input.description, DESCRIPTION_CHARS),
    );
    let area = fields.check(
        "profession_area",
        ProfessionArea::parse(&input.profession_area),
    );
    let place = parse_place(
        &mut fields,
        input.format.as_str(),
        input.region.clone(),
        input.city.clone(),
        input.address.clone(),
    );
    let grade_min = fields.check(
        "grade_min",
        crate::domain::student::Grade::parse(input.grade_min),
    );
    let grade_max = fields.check(
        "grade_max",
        crate::domain::student::Grade::parse(input.grade_max),
    );
    if let (Some(min), Some(max)) = (grade_min, grade_max)
        && min > max
    {
        fields.reject("grade_max", "must not be below grade_min");
    }
    if !(1..=rules::MAX_CAPACITY).contains(&input.capacity) {
        fields.reject(
            "capacity",
            format!("must be from 1 to {}", rules::MAX_CAPACITY),
        );
    }
    let time_zone = fields.check("time_zone", rules::parse_time_zone(&input.time_zone));
    let mut accessibility = Vec::new();
    for (i, feature) in input.accessibility.iter().enumerate() {
        if let Some(f) = fields.check(
            &format!("accessibility[{i}]"),
            rules::parse_feature(feature),
        ) {
            accessibility.push(f.to_owned());
        }
    }
    accessibility.sort();
    accessibility.dedup();
    let what_to_bring = match input.what_to_bring.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => fields
            .check("what_to_bring", ShortText::parse(text, WHAT_TO_BRING_CHARS))
            .map(|t| t.as_str().to_owned()),
    };
    let online_link = match input.online_link.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(_) if input.format.as_str() != "online" => {
            fields.reject("online_link", "is only for an online event");
            None
        }
        Some(link) => fields.check("online_link", parse_online_link(link)),
    };
    if !rules::APPROVAL_WINDOW_HOURS.contains(&input.approval_window_hours) {
        fields.reject("approval_window_hours", "must be from 1 to 168");
    }
    let schedule = Schedule {
        starts_at: input.starts_at.trunc_subsecs(6),
        ends_at: input.ends_at.trunc_subsecs(6),
        signup_deadline: input.signup_deadline.trunc_subsecs(6),
    };
    for (field, reason) in rules::check_schedule(&schedule, now) {
        fields.reject(field, reason);
    }
    fields.finish()?;
    match (
        title,
        description,
        area,
        place,
        grade_min,
        grade_max,
        time_zone,
    ) {
        (
            Some(title),
            Some(description),
            Some(area),
            Some((region, city, address)),
            Some(min),
            Some(max),
            Some(zone),
        ) => Ok(EventFields {
            title: title.as_str().to_owned(),
            description: description.as_str().to_owned(),
            profession_area: area.as_str().to_owned(),
            format: input.format.as_str().to_owned(),
            region,
            city,
            address,
            grade_min: i16::from(min.value()),
            grade_max: i16::from(max.value()),
            capacity: input.capacity as i32,
            starts_at: schedule.starts_at,
            ends_at: schedule.ends_at,
            time_zone: zone.to_owned(),
            accessibility,
            signup_deadline: schedule.signup_deadline,
            approval_window_secs: input.approval_window_hours * 3600,
            what_to_bring,
            online_link,
        }),
        _ => Err(Problem::internal()),
    }
}

/// An `https://` link without spaces, up to [`ONLINE_LINK_CHARS`].
fn parse_online_link(link: &str) -> Result<String, String> {
    if link.chars().count() > ONLINE_LINK_CHARS {
        return Err(format!("must be at most {ONLINE_LINK_CHARS} characters"));
    }
    let rest = link
        .strip_prefix("https://")
        .ok_or("must start with https://")?;
    if rest.is_empty() || link.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be a link without spaces".into());
    }
    Ok(link.to_owned())
}

/// What may change once students can sign up.
fn check_published_change(current: &EventRow, next: &EventFields) -> Result<(), Problem> {
    let moved = current.starts_at != next.starts_at
        || current.ends_at != next.ends_at
        || current.time_zone != next.time_zone
        || current.format.as_str() != next.format
        || current.region != next.region
        || current.city != next.city
        || current.address != next.address;
    if moved {
        return Err(Problem::conflict(
            "use-reschedule",
            "Use reschedule",
            "times and place of a published event change through /reschedule, so families are told",
        ));
    }
    if current.grade_min != next.grade_min
        || current.grade_max != next.grade_max
        || current.profession_area.as_str() != next.profession_area
    {
        return Err(Problem::conflict(
            "immutable-after-publish",
            "Cannot change after publishing",
            "grades and profession area are fixed once students can sign up",
        ));
    }
    if next.capacity < current.seats_held {
        return Err(Problem::conflict(
            "capacity-below-seats",
            "Capacity below seats held",
            format!(
                "{} seats are held; capacity cannot go below that",
                current.seats_held
            ),
        ));
    }
    Ok(())
}

/// The cursor and the page size; refusals go into `fields`.
fn page_params(
    fields: &mut Fields,
    cursor: Option<&str>,
    limit: Option<i64>,
) -> (Option<Position>, i64) {
    let mut limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        fields.reject("limit", format!("must be from 1 to {MAX_LIMIT}"));
        limit = DEFAULT_LIMIT;
    }
    let after = cursor.and_then(|text| {
        let position = super::cursor::decode(text);
        if position.is_none() {
            fields.reject("cursor", "is not a cursor from a previous page");
        }
        position
    });
    (after, limit)
}

/// A page from rows fetched with one extra row to tell whether more follow.
fn page(mut rows: Vec<EventRow>, limit: i64, applied: bool) -> EventPage {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            rows.last()
                .map(|last| super::cursor::encode(last.starts_at, last.id.0))
        })
        .flatten();
    EventPage {
        items: rows.into_iter().map(event_view).collect(),
        next_cursor,
        accessibility_filter_applied: applied,
    }
}

pub fn event_view(row: EventRow) -> EventView {
    EventView {
        id: row.id.0,
        organization_id: row.organization_id.0,
        organization_name: row.organization_name,
        title: row.title,
        description: row.description,
        profession_area: row.profession_area.as_str().to_owned(),
        format: row.format.as_str().to_owned(),
        region_name: row
            .region
            .as_deref()
            .and_then(|r| Region::parse(r).ok())
            .map(|r| r.name().to_owned()),
        region: row.region,
        city: row.city,
        address: row.address,
        grade_min: row.grade_min,
        grade_max: row.grade_max,
        capacity: row.capacity,
        seats_left: (row.capacity - row.seats_held).max(0),
        starts_at: row.starts_at,
        ends_at: row.ends_at,
        time_zone: row.time_zone,
        accessibility: row.accessibility,
        signup_deadline: row.signup_deadline,
        approval_window_hours: row.approval_window_secs / 3600,
        status: row.status.as_str().to_owned(),
        cancel_reason: row.cancel_reason,
        what_to_bring: row.what_to_bring,
        online_link: row.online_link,
    }
}

/// Participation refusals as problems, each with its own type.
pub fn participation_problem(err: participation::ParticipationError) -> Problem {
    use participation::ParticipationError as E;
    let detail = err.to_string();
    match err {
        E::EventNotFound => Problem::not_found("no such event"),
        E::SignupNotFound => Problem::not_found("no such sign-up"),
        E::ChildNotFound => Problem::not_found("no such child"),
        E::EventNotOpen => Problem::conflict("event-not-open", "Event not open", detail),
        E::DeadlinePassed => Problem::conflict("signup-closed", "Sign-up closed", detail),
        E::GradeOutOfRange { .. } => {
            Problem::conflict("grade-out-of-range", "Grade out of range", detail)
        }
        E::ProfileRequired => Problem::conflict("profile-required", "Profile required", detail),
        E::ConsentRequired => Problem::conflict("consent-required", "Consent required", detail),
        E::AlreadySignedUp => Problem::conflict("already-signed-up", "Already signed up", detail),
        E::Overlapping => Problem::conflict("overlapping-event", "Overlapping event", detail),
        E::AlreadyDecided(_) => Problem::conflict("already-decided", "Already decided", detail),
        E::NotAwaitingDecision(_) => {
            Problem::conflict("not-awaiting-decision", "Not awaiting a decision", detail)
        }
        E::AlreadyEnded(_) => Problem::conflict("signup-ended", "Sign-up ended", detail),
        E::Store(err) => err.into(),
    }
}
