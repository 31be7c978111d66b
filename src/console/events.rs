//! The organizer's events in the console: the list with seats and sign-ups by state, one
//! event with its announcements, creating, editing and publishing (through the API's own
//! rule functions in `api::events`, so the same rules refuse the same things), and the
//! roster with the minimal personal data the API's roster shows, each read audited.

use std::collections::{BTreeMap, HashMap};

use askama::Template;
use chrono::{Duration, Utc};
use poem::http::StatusCode;
use poem::web::{Data, Path, Redirect};
use poem::{Body, IntoResponse, Response, handler};
use uuid::Uuid;

use super::pages::{self, Answer, Choice, FormData, Frame, input_local, parse_local, shown_local};
use super::session::Ctx;
use crate::api::events::{self as rules, EventFormat, EventInput};
use crate::domain::events::{
    self as domain_events, ACCESSIBILITY_FEATURES, ProfessionArea, TIME_ZONES,
};
use crate::domain::ids::{EventId, OrganizationId};
use crate::domain::region::SUBJECTS;
use crate::http::problem::Problem;
use crate::state::AppState;
use crate::store::events::EventRow;
use crate::store::{self, audit::AuditAction};

/// One line of the events list.
struct EventLine {
    id: Uuid,
    title: String,
    status: &'static str,
    status_code: String,
    starts: String,
    until: String,
    taken: i32,
    free: i32,
    pending: i64,
    approved: i64,
    waitlisted: i64,
}

#[derive(Template)]
#[template(path = "events.html")]
struct EventsPage {
    f: Frame,
    rows: Vec<EventLine>,
}

/// Sign-ups of one event by state.
#[derive(Default, Clone, Copy)]
struct Counts {
    pending: i64,
    approved: i64,
    waitlisted: i64,
}

async fn counts(
    state: &AppState,
    organization: OrganizationId,
) -> Result<HashMap<Uuid, Counts>, store::StoreError> {
    let mut by_event: HashMap<Uuid, Counts> = HashMap::new();
    for (event, status, count) in
        store::signups::counts_for_organization(&state.db, organization).await?
    {
        let line = by_event.entry(event).or_default();
        match status.as_str() {
            "pending_parent" => line.pending = count,
            "approved" => line.approved = count,
            _ => line.waitlisted = count,
        }
    }
    Ok(by_event)
}

#[handler]
pub async fn list(state: Data<&AppState>, ctx: Data<&Ctx>) -> Response {
    list_page(&state, &ctx).await.unwrap_or_else(|page| page)
}

async fn list_page(state: &AppState, ctx: &Ctx) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let w = ctx.lang.words();
    let fail = |err: store::StoreError| pages::failed(ctx.lang, &err);
    let events = store::events::list_for_organization(&state.db, organization, None, 500)
        .await
        .map_err(fail)?;
    let counts = counts(state, organization).await.map_err(fail)?;
    let rows = events
        .into_iter()
        .map(|e| {
            let c = counts.get(&e.id.0).copied().unwrap_or_default();
            EventLine {
                id: e.id.0,
                status: w.status(e.status.as_str()),
                starts: shown_local(e.starts_at, &e.time_zone),
                until: format!(
                    "{} {}",
                    w.signup_deadline,
                    shown_local(e.signup_deadline, &e.time_zone)
                ),
                taken: e.seats_held,
                free: (e.capacity - e.seats_held).max(0),
                title: e.title,
                status_code: e.status.as_str().to_owned(),
                pending: c.pending,
                approved: c.approved,
                waitlisted: c.waitlisted,
            }
        })
        .collect();
    Ok(pages::render(
        StatusCode::OK,
        &EventsPage {
            f: Frame::new(ctx, w.events),
            rows,
        },
    ))
}

/// The form's values as typed, to show again beside the errors.
#[derive(Default)]
struct FormValues {
    title: String,
    description: String,
    city: String,
    address: String,
    online_link: String,
    what_to_bring: String,
    grade_min: String,
    grade_max: String,
    capacity: String,
    starts_at: String,
    ends_at: String,
    signup_deadline: String,
    approval_window_hours: String,
}

#[derive(Template)]
#[template(path = "event_form.html")]
struct EventFormPage {
    f: Frame,
    action: String,
    submit: &'static str,
    back_href: String,
    back_label: &'static str,
    v: FormValues,
    errors: BTreeMap<String, String>,
    alert: Option<String>,
    areas: Vec<Choice>,
    formats: Vec<Choice>,
    regions: Vec<Choice>,
    zones: Vec<Choice>,
    features: Vec<Choice>,
}

/// The selections of the form, as chosen.
struct Chosen {
    area: String,
    format: String,
    region: String,
    zone: String,
    features: Vec<String>,
}

fn form_page(
    ctx: &Ctx,
    editing: Option<Uuid>,
    v: FormValues,
    chosen: &Chosen,
    errors: BTreeMap<String, String>,
    alert: Option<String>,
) -> EventFormPage {
    let w = ctx.lang.words();
    let choice = |value: &str, label: &str, selected: bool| Choice {
        value: value.to_owned(),
        label: label.to_owned(),
        selected,
    };
    let mut regions = vec![choice("", "—", chosen.region.is_empty())];
    regions.extend(
        SUBJECTS
            .iter()
            .map(|(code, name)| choice(code, name, *code == chosen.region)),
    );
    EventFormPage {
        f: Frame::new(
            ctx,
            if editing.is_some() {
                w.edit_event
            } else {
                w.new_event
            },
        ),
        action: match editing {
            Some(id) => format!("/console/events/{id}/edit"),
            None => "/console/events/new".to_owned(),
        },
        submit: if editing.is_some() {
            w.save
        } else {
            w.create_draft
        },
        back_href: match editing {
            Some(id) => format!("/console/events/{id}"),
            None => "/console/events".to_owned(),
        },
        back_label: if editing.is_some() {
            w.back_to_event
        } else {
            w.back_to_events
        },
        v,
        errors,
        alert,
        areas: ProfessionArea::ALL
            .iter()
            .map(|a| a.as_str())
            .map(|a| choice(a, w.area(a), a == chosen.area))
            .collect(),
        formats: ["in_person", "online"]
            .iter()
            .map(|f| choice(f, w.format_name(f), *f == chosen.format))
            .collect(),
        regions,
        zones: TIME_ZONES
            .iter()
            .map(|(z, _)| choice(z, z, *z == chosen.zone))
            .collect(),
        features: ACCESSIBILITY_FEATURES
            .iter()
            .map(|f| choice(f, w.feature(f), chosen.features.iter().any(|c| c == f)))
            .collect(),
    }
}

#[handler]
pub async fn new(ctx: Data<&Ctx>) -> Response {
    if let Err(page) = pages::organizer(&ctx) {
        return page;
    }
    // A sensible start: in two weeks, 15:00–17:00 Moscow time, sign-ups closing a day before.
    let zone = "Europe/Moscow";
    let day =
        (Utc::now() + Duration::days(14)).with_timezone(&crate::domain::events::utc_offset(zone));
    let start =
        parse_local(&format!("{}T15:00", day.format("%Y-%m-%d")), zone).unwrap_or_else(Utc::now);
    let v = FormValues {
        grade_min: "6".into(),
        grade_max: "11".into(),
        capacity: "20".into(),
        starts_at: input_local(start, zone),
        ends_at: input_local(start + Duration::hours(2), zone),
        signup_deadline: input_local(start - Duration::days(1), zone),
        approval_window_hours: "48".into(),
        ..FormValues::default()
    };
    let chosen = Chosen {
        area: "it".into(),
        format: "in_person".into(),
        region: String::new(),
        zone: zone.into(),
        features: Vec::new(),
    };
    pages::render(
        StatusCode::OK,
        &form_page(&ctx, None, v, &chosen, BTreeMap::new(), None),
    )
}

/// Reads the form into the API's `EventInput`; what cannot even be read (a number, a time)
/// is refused here under the same field names, before the rules see the rest.
fn read_form(
    ctx: &Ctx,
    form: &FormData,
) -> (
    FormValues,
    Chosen,
    Result<EventInput, BTreeMap<String, String>>,
) {
    let w = ctx.lang.words();
    let v = FormValues {
        title: form.get("title"),
        description: form.get("description"),
        city: form.get("city"),
        address: form.get("address"),
        online_link: form.get("online_link"),
        what_to_bring: form.get("what_to_bring"),
        grade_min: form.get("grade_min"),
        grade_max: form.get("grade_max"),
        capacity: form.get("capacity"),
        starts_at: form.get("starts_at"),
        ends_at: form.get("ends_at"),
        signup_deadline: form.get("signup_deadline"),
        approval_window_hours: form.get("approval_window_hours"),
    };
    let chosen = Chosen {
        area: form.get("profession_area"),
        format: form.get("format"),
        region: form.get("region"),
        zone: form.get("time_zone"),
        features: form.all("accessibility"),
    };
    let mut errors = BTreeMap::new();
    let mut number = |name: &str, value: &str| -> i64 {
        value.parse().unwrap_or_else(|_| {
            errors.insert(name.to_owned(), w.enter_number.to_owned());
            0
        })
    };
    let grade_min = number("grade_min", &v.grade_min);
    let grade_max = number("grade_max", &v.grade_max);
    let capacity = number("capacity", &v.capacity);
    let window = number("approval_window_hours", &v.approval_window_hours);
    let mut time = |name: &str, value: &str| {
        parse_local(value, &chosen.zone).unwrap_or_else(|| {
            errors.insert(name.to_owned(), w.enter_date_time.to_owned());
            Utc::now()
        })
    };
    let starts_at = time("starts_at", &v.starts_at);
    let ends_at = time("ends_at", &v.ends_at);
    let signup_deadline = time("signup_deadline", &v.signup_deadline);
    let optional = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    let input = EventInput {
        title: v.title.clone(),
        description: v.description.clone(),
        profession_area: chosen.area.clone(),
        format: if chosen.format == "online" {
            EventFormat::Online
        } else {
            EventFormat::InPerson
        },
        region: optional(&chosen.region),
        city: optional(&v.city),
        address: optional(&v.address),
        grade_min,
        grade_max,
        capacity,
        starts_at,
        ends_at,
        time_zone: chosen.zone.clone(),
        accessibility: chosen.features.clone(),
        signup_deadline,
        approval_window_hours: window,
        what_to_bring: optional(&v.what_to_bring),
        online_link: optional(&v.online_link),
    };
    let result = if errors.is_empty() {
        Ok(input)
    } else {
        // The rules still judge the rest (the unreadable fields hold placeholders, whose
        // refusals the form's own ones above replace), so every refusal shows at once.
        if let Err(problem) = rules::parse_event_fields(&input, Some(Utc::now())) {
            let (rule_errors, _) = pages::field_errors(ctx, &problem);
            for (field, message) in rule_errors {
                errors.entry(field).or_insert(message);
            }
        }
        Err(errors)
    };
    (v, chosen, result)
}

/// The form again with the rules' refusals beside the fields (and the form's own, first).
fn refused(
    ctx: &Ctx,
    editing: Option<Uuid>,
    v: FormValues,
    chosen: &Chosen,
    mut errors: BTreeMap<String, String>,
    problem: Option<&Problem>,
) -> Response {
    let mut alert = None;
    if let Some(problem) = problem {
        if problem.status().is_server_error() {
            return pages::problem(ctx, problem);
        }
        if problem.status() == StatusCode::NOT_FOUND {
            return pages::not_found(ctx);
        }
        let (rule_errors, rule_alert) = pages::field_errors(ctx, problem);
        for (field, message) in rule_errors {
            errors.entry(field).or_insert(message);
        }
        alert = rule_alert;
    }
    pages::render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &form_page(ctx, editing, v, chosen, errors, alert),
    )
}

#[handler]
pub async fn create(state: Data<&AppState>, ctx: Data<&Ctx>, body: Body) -> Response {
    create_event(&state, &ctx, body)
        .await
        .unwrap_or_else(|page| page)
}

async fn create_event(state: &AppState, ctx: &Ctx, body: Body) -> Answer {
    let (staff, organization) = pages::organizer(ctx)?;
    let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
    let (v, chosen, input) = read_form(ctx, &form);
    let input = match input {
        Ok(input) => input,
        Err(errors) => return Err(refused(ctx, None, v, &chosen, errors, None)),
    };
    let row = rules::create(state, organization, staff.account, &input)
        .await
        .map_err(|p| refused(ctx, None, v, &chosen, BTreeMap::new(), Some(&p)))?;
    audit(state, ctx, AuditAction::CreateEvent, row.id.0).await?;
    Ok(Redirect::see_other(format!("/console/events/{}", row.id)).into_response())
}

/// Records an organizer's act on an event (subject: the organizer).
async fn audit(
    state: &AppState,
    ctx: &Ctx,
    action: AuditAction,
    object: Uuid,
) -> Result<(), Response> {
    let Some(staff) = &ctx.staff else {
        return Ok(());
    };
    store::audit::record_on(
        &state.db,
        staff.actor(),
        staff.account,
        action,
        Some(object),
        ctx.request_id.as_deref(),
    )
    .await
    .map_err(|err| pages::failed(ctx.lang, &err))
}

pub fn parse_id(ctx: &Ctx, id: &str) -> Result<Uuid, Response> {
    id.parse().map_err(|_| pages::not_found(ctx))
}

/// The event, if it is the organizer's; else the not-found page.
pub async fn own_event(
    state: &AppState,
    ctx: &Ctx,
    organization: OrganizationId,
    id: Uuid,
) -> Result<EventRow, Response> {
    rules::find_own(state, organization, EventId(id))
        .await
        .map_err(|p| pages::problem(ctx, &p))
}

struct EventFacts {
    id: Uuid,
    status: &'static str,
    status_code: String,
    starts: String,
    ends: String,
    deadline: String,
    place: String,
    area: &'static str,
    grades: String,
    taken: i32,
    free: i32,
    pending: i64,
    approved: i64,
    waitlisted: i64,
    cancel_reason: Option<String>,
}

pub struct AnnouncementLine {
    pub id: Uuid,
    pub when: String,
    pub kind: &'static str,
}

#[derive(Template)]
#[template(path = "event.html")]
struct EventPage {
    f: Frame,
    e: EventFacts,
    announcements: Vec<AnnouncementLine>,
    alert: Option<String>,
}

#[handler]
pub async fn show(state: Data<&AppState>, ctx: Data<&Ctx>, Path(id): Path<String>) -> Response {
    show_event(&state, &ctx, &id, None)
        .await
        .unwrap_or_else(|page| page)
}

async fn show_event(state: &AppState, ctx: &Ctx, id: &str, alert: Option<String>) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let id = parse_id(ctx, id)?;
    let e = own_event(state, ctx, organization, id).await?;
    let w = ctx.lang.words();
    let fail = |err: store::StoreError| pages::failed(ctx.lang, &err);
    let c = counts(state, organization)
        .await
        .map_err(fail)?
        .get(&id)
        .copied()
        .unwrap_or_default();
    let announcements = store::outbox::announcements(&state.db, organization.0, Some(id), 50)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|a| AnnouncementLine {
            id: a.id.0,
            when: shown_local(a.created_at, &e.time_zone),
            kind: w.kind(&a.kind),
        })
        .collect();
    let place = match (&e.city, &e.address) {
        (Some(city), Some(address)) if e.format != domain_events::EventFormat::Online => {
            format!("{}: {city}, {address}", w.format_name(e.format.as_str()))
        }
        _ => w.format_name(e.format.as_str()).to_owned(),
    };
    let status = if alert.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    let facts = EventFacts {
        id: e.id.0,
        status: w.status(e.status.as_str()),
        starts: shown_local(e.starts_at, &e.time_zone),
        ends: shown_local(e.ends_at, &e.time_zone),
        deadline: shown_local(e.signup_deadline, &e.time_zone),
        place,
        area: w.area(e.profession_area.as_str()),
        grades: format!("{}–{}", e.grade_min, e.grade_max),
        taken: e.seats_held,
        free: (e.capacity - e.seats_held).max(0),
        pending: c.pending,
        approved: c.approved,
        waitlisted: c.waitlisted,
        cancel_reason: e.cancel_reason.clone(),
        status_code: e.status.as_str().to_owned(),
    };
    Ok(pages::render(
        status,
        &EventPage {
            f: Frame::new(ctx, e.title),
            e: facts,
            announcements,
            alert,
        },
    ))
}

#[handler]
pub async fn edit(state: Data<&AppState>, ctx: Data<&Ctx>, Path(id): Path<String>) -> Response {
    edit_form(&state, &ctx, &id)
        .await
        .unwrap_or_else(|page| page)
}

async fn edit_form(state: &AppState, ctx: &Ctx, id: &str) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let id = parse_id(ctx, id)?;
    let e = own_event(state, ctx, organization, id).await?;
    let zone = e.time_zone.clone();
    let v = FormValues {
        title: e.title,
        description: e.description,
        city: e.city.unwrap_or_default(),
        address: e.address.unwrap_or_default(),
        online_link: e.online_link.unwrap_or_default(),
        what_to_bring: e.what_to_bring.unwrap_or_default(),
        grade_min: e.grade_min.to_string(),
        grade_max: e.grade_max.to_string(),
        capacity: e.capacity.to_string(),
        starts_at: input_local(e.starts_at, &zone),
        ends_at: input_local(e.ends_at, &zone),
        signup_deadline: input_local(e.signup_deadline, &zone),
        approval_window_hours: (e.approval_window_secs / 3600).to_string(),
    };
    let chosen = Chosen {
        area: e.profession_area.as_str().to_owned(),
        format: e.format.as_str().to_owned(),
        region: e.region.unwrap_or_default(),
        zone,
        features: e.accessibility,
    };
    Ok(pages::render(
        StatusCode::OK,
        &form_page(ctx, Some(id), v, &chosen, BTreeMap::new(), None),
    ))
}

#[handler]
pub async fn update(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    update_event(&state, &ctx, &id, body)
        .await
        .unwrap_or_else(|page| page)
}

async fn update_event(state: &AppState, ctx: &Ctx, id: &str, body: Body) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let id = parse_id(ctx, id)?;
    own_event(state, ctx, organization, id).await?;
    let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
    let (v, chosen, input) = read_form(ctx, &form);
    let input = match input {
        Ok(input) => input,
        Err(errors) => return Err(refused(ctx, Some(id), v, &chosen, errors, None)),
    };
    match rules::update(state, organization, EventId(id), &input).await {
        Ok(_) => {
            audit(state, ctx, AuditAction::UpdateEvent, id).await?;
            Ok(Redirect::see_other(format!("/console/events/{id}")).into_response())
        }
        Err(problem) => Err(refused(
            ctx,
            Some(id),
            v,
            &chosen,
            BTreeMap::new(),
            Some(&problem),
        )),
    }
}

#[handler]
pub async fn publish(state: Data<&AppState>, ctx: Data<&Ctx>, Path(id): Path<String>) -> Response {
    publish_event(&state, &ctx, &id)
        .await
        .unwrap_or_else(|page| page)
}

async fn publish_event(state: &AppState, ctx: &Ctx, id: &str) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let event = parse_id(ctx, id)?;
    match rules::publish(state, organization, EventId(event)).await {
        Ok(_) => {
            audit(state, ctx, AuditAction::PublishEvent, event).await?;
            Ok(Redirect::see_other(format!("/console/events/{event}")).into_response())
        }
        Err(problem)
            if problem.status().is_client_error() && problem.status() != StatusCode::NOT_FOUND =>
        {
            // Shown on the event's page: the schedule no longer holds, or it is cancelled.
            let (errors, alert) = pages::field_errors(ctx, &problem);
            let text = alert.unwrap_or_else(|| {
                errors
                    .iter()
                    .map(|(field, message)| format!("{field}: {message}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            });
            show_event(state, ctx, id, Some(text)).await
        }
        Err(problem) => Err(pages::problem(ctx, &problem)),
    }
}

struct RosterLine {
    n: usize,
    given_name: String,
    surname_initial: String,
    grade: String,
    status: &'static str,
    status_code: String,
    needs: String,
}

#[derive(Template)]
#[template(path = "roster.html")]
struct RosterPage {
    f: Frame,
    event_id: Uuid,
    rows: Vec<RosterLine>,
}

#[handler]
pub async fn roster(state: Data<&AppState>, ctx: Data<&Ctx>, Path(id): Path<String>) -> Response {
    roster_page(&state, &ctx, &id)
        .await
        .unwrap_or_else(|page| page)
}

async fn roster_page(state: &AppState, ctx: &Ctx, id: &str) -> Answer {
    let (staff, organization) = pages::organizer(ctx)?;
    let id = parse_id(ctx, id)?;
    let event = own_event(state, ctx, organization, id).await?;
    let entries = rules::roster(state, organization, EventId(id))
        .await
        .map_err(|p| pages::problem(ctx, &p))?;
    let students: Vec<Uuid> = entries.iter().map(|(student, _)| *student).collect();
    if !students.is_empty() {
        store::audit::record_many(
            &state.db,
            staff.actor(),
            &students,
            AuditAction::ReadRoster,
            Some(id),
            ctx.request_id.as_deref(),
        )
        .await
        .map_err(|err| pages::failed(ctx.lang, &err))?;
    }
    let w = ctx.lang.words();
    let rows = entries
        .into_iter()
        .enumerate()
        .map(|(i, (_, entry))| RosterLine {
            n: i + 1,
            given_name: entry.given_name.unwrap_or_else(|| "—".into()),
            surname_initial: entry.surname_initial.unwrap_or_default(),
            grade: entry.grade.map(|g| g.to_string()).unwrap_or_default(),
            status: w.status(&entry.status),
            status_code: entry.status,
            needs: entry.accessibility_needs.unwrap_or_default().join(", "),
        })
        .collect();
    Ok(pages::render(
        StatusCode::OK,
        &RosterPage {
            f: Frame::new(ctx, format!("{} — {}", w.roster, event.title)),
            event_id: id,
            rows,
        },
    ))
}
