//! Cancelling and moving an event in the console, each with a preview first (who will be
//! told, by which channels, whether urgently, and the exact texts: `notify::preview`, the
//! fan-out's own steps), then live delivery progress per channel (server-sent events over
//! the deliveries ledger, the counts of the API's delivery report), the report with
//! failures by reason, and the organization's history of announcements.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use askama::Template;
use chrono::Utc;
use futures_util::StreamExt as _;
use poem::http::StatusCode;
use poem::web::sse::{Event, SSE};
use poem::web::{Data, Path, Redirect};
use poem::{Body, IntoResponse, Request, Response, handler};
use uuid::Uuid;

use super::events::{own_event, parse_id};
use super::pages::{self, Answer, FormData, Frame, input_local, parse_local, shown_local};
use super::session::{self, Ctx};
use super::words::Words;
use crate::api::events::{self as rules, RescheduleRequest};
use crate::api::notices::{ChannelCounts, delivery_report};
use crate::domain::events::EventStatus;
use crate::domain::ids::{EventId, OrganizationId};
use crate::http::problem::Problem;
use crate::notify::preview::{self, Change, Preview};
use crate::state::AppState;
use crate::store::outbox::Announcement;
use crate::store::{self, audit::AuditAction};

/// Which change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    Cancel,
    Reschedule,
}

impl What {
    fn path(self) -> &'static str {
        match self {
            What::Cancel => "cancel",
            What::Reschedule => "reschedule",
        }
    }
}

struct TimeField {
    name: String,
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "change_form.html")]
struct ChangeForm {
    f: Frame,
    event_id: Uuid,
    action: String,
    cancel: bool,
    reason: String,
    zone: String,
    times: Vec<TimeField>,
    errors: BTreeMap<String, String>,
    alert: Option<String>,
}

#[derive(Template)]
#[template(path = "preview.html")]
struct PreviewPage {
    f: Frame,
    event_id: Uuid,
    p: Preview,
    confirm_action: String,
    confirm_label: &'static str,
    hidden: Vec<(&'static str, String)>,
    change_href: String,
}

#[handler]
pub async fn cancel_form(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
) -> Response {
    form(&state, &ctx, &id, What::Cancel)
        .await
        .unwrap_or_else(|p| p)
}

#[handler]
pub async fn reschedule_form(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
) -> Response {
    form(&state, &ctx, &id, What::Reschedule)
        .await
        .unwrap_or_else(|p| p)
}

async fn form(state: &AppState, ctx: &Ctx, id: &str, what: What) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let id = parse_id(ctx, id)?;
    let event = own_event(state, ctx, organization, id).await?;
    let values = FormData::parse(b"");
    Ok(change_form(
        ctx,
        &event,
        what,
        &values,
        BTreeMap::new(),
        None,
        StatusCode::OK,
    ))
}

fn change_form(
    ctx: &Ctx,
    event: &store::events::EventRow,
    what: What,
    form: &FormData,
    errors: BTreeMap<String, String>,
    alert: Option<String>,
    status: StatusCode,
) -> Response {
    let w = ctx.lang.words();
    let zone = &event.time_zone;
    let or = |name: &str, default: String| {
        let given = form.get(name);
        if given.is_empty() { default } else { given }
    };
    let times = vec![
        TimeField {
            name: "starts_at".to_owned(),
            label: w.new_starts,
            value: or("starts_at", input_local(event.starts_at, zone)),
        },
        TimeField {
            name: "ends_at".to_owned(),
            label: w.new_ends,
            value: or("ends_at", input_local(event.ends_at, zone)),
        },
        TimeField {
            name: "signup_deadline".to_owned(),
            label: w.new_deadline,
            value: form.get("signup_deadline"),
        },
    ];
    let title = match what {
        What::Cancel => w.cancel_event,
        What::Reschedule => w.reschedule,
    };
    pages::render(
        status,
        &ChangeForm {
            f: Frame::new(ctx, format!("{title}: {}", event.title)),
            event_id: event.id.0,
            action: format!("/console/events/{}/{}/preview", event.id, what.path()),
            cancel: what == What::Cancel,
            reason: form.get("reason"),
            zone: zone.clone(),
            times,
            errors,
            alert,
        },
    )
}

/// The move the form asks for, as the API's request; times that cannot be read are
/// refused under their field names.
fn read_move(
    ctx: &Ctx,
    event: &store::events::EventRow,
    form: &FormData,
) -> Result<RescheduleRequest, BTreeMap<String, String>> {
    let w = ctx.lang.words();
    let mut errors = BTreeMap::new();
    let mut time = |name: &str| {
        let value = form.get(name);
        match parse_local(&value, &event.time_zone) {
            Some(at) => Some(at),
            None => {
                errors.insert(name.to_owned(), w.enter_date_time.to_owned());
                None
            }
        }
    };
    let starts_at = time("starts_at");
    let ends_at = time("ends_at");
    let deadline_text = form.get("signup_deadline");
    let signup_deadline = if deadline_text.is_empty() {
        None
    } else {
        time("signup_deadline")
    };
    match (starts_at, ends_at) {
        (Some(starts_at), Some(ends_at)) if errors.is_empty() => Ok(RescheduleRequest {
            starts_at,
            ends_at,
            signup_deadline,
            time_zone: None,
            format: None,
            region: None,
            city: None,
            address: None,
        }),
        _ => Err(errors),
    }
}

fn refused(
    ctx: &Ctx,
    event: &store::events::EventRow,
    what: What,
    form: &FormData,
    problem: &Problem,
) -> Response {
    if problem.status().is_server_error() || problem.status() == StatusCode::NOT_FOUND {
        return pages::problem(ctx, problem);
    }
    let (errors, alert) = pages::field_errors(ctx, problem);
    change_form(
        ctx,
        event,
        what,
        form,
        errors,
        alert,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
}

#[handler]
pub async fn cancel_preview(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    show_preview(&state, &ctx, &id, body, What::Cancel)
        .await
        .unwrap_or_else(|p| p)
}

#[handler]
pub async fn reschedule_preview(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    show_preview(&state, &ctx, &id, body, What::Reschedule)
        .await
        .unwrap_or_else(|p| p)
}

async fn show_preview(state: &AppState, ctx: &Ctx, id: &str, body: Body, what: What) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let id = parse_id(ctx, id)?;
    let event = own_event(state, ctx, organization, id).await?;
    let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
    let w = ctx.lang.words();
    let not_open = || {
        Problem::conflict(
            "event-not-open",
            "Event not open",
            "only a published event can be cancelled or moved here",
        )
    };
    if event.status != EventStatus::Published {
        return Err(refused(ctx, &event, what, &form, &not_open()));
    }
    // The same checks the change itself will make, so the preview never shows a change
    // that confirming would refuse.
    let (change_hidden, p) = match what {
        What::Cancel => {
            let reason = rules::parse_cancel_reason(&form.get("reason"))
                .map_err(|p| refused(ctx, &event, what, &form, &p))?;
            let p = preview::preview(
                &state.db,
                &state.templates,
                state.settings.hub.escalation_delay,
                &event,
                Change::Cancel {
                    reason: reason.as_str(),
                },
            )
            .await
            .map_err(|err| pages::failed(ctx.lang, &err))?;
            (vec![("reason", reason.as_str().to_owned())], p)
        }
        What::Reschedule => {
            let request = read_move(ctx, &event, &form).map_err(|errors| {
                change_form(
                    ctx,
                    &event,
                    what,
                    &form,
                    errors,
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            })?;
            let planned = rules::plan_move(&event, &request)
                .map_err(|p| refused(ctx, &event, what, &form, &p))?;
            if event.starts_at <= Utc::now() {
                return Err(refused(ctx, &event, what, &form, &not_open()));
            }
            let p = preview::preview(
                &state.db,
                &state.templates,
                state.settings.hub.escalation_delay,
                &event,
                Change::Reschedule {
                    new_starts_at: planned.starts_at,
                },
            )
            .await
            .map_err(|err| pages::failed(ctx.lang, &err))?;
            let zone = &event.time_zone;
            let mut hidden = vec![
                ("starts_at", input_local(planned.starts_at, zone)),
                ("ends_at", input_local(planned.ends_at, zone)),
            ];
            if !form.get("signup_deadline").is_empty() {
                hidden.push((
                    "signup_deadline",
                    input_local(planned.signup_deadline, zone),
                ));
            }
            (hidden, p)
        }
    };
    let (title, confirm_label) = match what {
        What::Cancel => (w.preview_of_cancel, w.confirm_cancel),
        What::Reschedule => (w.preview_of_reschedule, w.confirm_reschedule),
    };
    Ok(pages::render(
        StatusCode::OK,
        &PreviewPage {
            f: Frame::new(ctx, format!("{title}: {}", event.title)),
            event_id: id,
            p,
            confirm_action: format!("/console/events/{id}/{}", what.path()),
            confirm_label,
            hidden: change_hidden,
            change_href: format!("/console/events/{id}/{}", what.path()),
        },
    ))
}

#[handler]
pub async fn cancel(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    confirm(&state, &ctx, &id, body, What::Cancel)
        .await
        .unwrap_or_else(|p| p)
}

#[handler]
pub async fn reschedule(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    confirm(&state, &ctx, &id, body, What::Reschedule)
        .await
        .unwrap_or_else(|p| p)
}

/// Makes the change through the API's rule functions, then shows its delivery progress.
async fn confirm(state: &AppState, ctx: &Ctx, id: &str, body: Body, what: What) -> Answer {
    let (staff, organization) = pages::organizer(ctx)?;
    let id = parse_id(ctx, id)?;
    let event = own_event(state, ctx, organization, id).await?;
    let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
    let done = match what {
        What::Cancel => rules::cancel(state, organization, EventId(id), &form.get("reason"))
            .await
            .map(|_| AuditAction::CancelEvent),
        What::Reschedule => {
            let request = read_move(ctx, &event, &form).map_err(|errors| {
                change_form(
                    ctx,
                    &event,
                    what,
                    &form,
                    errors,
                    None,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
            })?;
            rules::reschedule(state, organization, EventId(id), &request)
                .await
                .map(|_| AuditAction::RescheduleEvent)
        }
    };
    let action = done.map_err(|p| refused(ctx, &event, what, &form, &p))?;
    store::audit::record_on(
        &state.db,
        staff.actor(),
        staff.account,
        action,
        Some(id),
        ctx.request_id.as_deref(),
    )
    .await
    .map_err(|err| pages::failed(ctx.lang, &err))?;
    // The announcement just written is the event's newest of its kind.
    let kind = match what {
        What::Cancel => "event_cancelled",
        What::Reschedule => "event_rescheduled",
    };
    let latest = store::outbox::announcements(&state.db, organization.0, Some(id), 20)
        .await
        .map_err(|err| pages::failed(ctx.lang, &err))?
        .into_iter()
        .find(|a| a.kind == kind);
    Ok(match latest {
        Some(a) => Redirect::see_other(format!("/console/announcements/{}", a.id)).into_response(),
        // A draft cancelled tells nobody, so there is nothing to follow.
        None => Redirect::see_other(format!("/console/events/{id}")).into_response(),
    })
}

/// One channel's line of the progress table and the report.
pub struct ChannelLine {
    pub channel: String,
    pub label: &'static str,
    pub queued: i64,
    pub sending: i64,
    pub delivered: i64,
    pub failed: i64,
    pub dead: i64,
}

/// Where an announcement's deliveries stand.
pub struct Progress {
    pub channels: Vec<ChannelLine>,
    pub fanned_out: bool,
    /// Fanned out and nothing queued or with a provider: every message is out.
    pub done: bool,
}

fn progress_of(w: &Words, announcement: &Announcement, counts: Vec<ChannelCounts>) -> Progress {
    let fanned_out = announcement.fanned_out_at.is_some();
    let busy = counts.iter().any(|c| c.queued > 0 || c.sent > 0);
    Progress {
        done: fanned_out && !busy,
        fanned_out,
        channels: counts
            .into_iter()
            .map(|c| ChannelLine {
                label: w.channel(&c.channel),
                channel: c.channel,
                queued: c.queued,
                sending: c.sent,
                delivered: c.delivered,
                failed: c.failed,
                dead: c.dead,
            })
            .collect(),
    }
}

/// The announcement, if it is about one of the organization's events.
async fn own_announcement(
    state: &AppState,
    ctx: &Ctx,
    organization: OrganizationId,
    id: &str,
) -> Result<Announcement, Response> {
    let id = parse_id(ctx, id)?;
    store::outbox::announcement(&state.db, id)
        .await
        .map_err(|err| pages::failed(ctx.lang, &err))?
        .filter(|a| a.organization_id == organization)
        .ok_or_else(|| pages::not_found(ctx))
}

#[derive(Template)]
#[template(path = "progress.html")]
struct ProgressPage {
    f: Frame,
    id: Uuid,
    event_id: Uuid,
    event_title: String,
    kind: &'static str,
    r: Progress,
}

#[handler]
pub async fn progress(state: Data<&AppState>, ctx: Data<&Ctx>, Path(id): Path<String>) -> Response {
    progress_page(&state, &ctx, &id).await.unwrap_or_else(|p| p)
}

async fn progress_page(state: &AppState, ctx: &Ctx, id: &str) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let a = own_announcement(state, ctx, organization, id).await?;
    let (counts, _) = delivery_report(state, a.id.0)
        .await
        .map_err(|p| pages::problem(ctx, &p))?;
    let w = ctx.lang.words();
    let r = progress_of(w, &a, counts);
    let mut f = Frame::new(ctx, w.progress);
    f.refresh = !r.done;
    Ok(pages::render(
        StatusCode::OK,
        &ProgressPage {
            f,
            id: a.id.0,
            event_id: a.event_id.0,
            event_title: a.event_title.clone(),
            kind: w.kind(&a.kind),
            r,
        },
    ))
}

/// How often the live progress reads the ledger.
const TICK: Duration = Duration::from_millis(500);
/// How often an open progress stream checks that its session still stands.
const SESSION_CHECK: Duration = Duration::from_secs(5);

/// Server-sent events: one `progress` event per change of the counts, until every message
/// is out. There is no time limit: a slow channel (retries, rate limits) keeps the stream
/// open as long as messages are still going out. It also ends when the client leaves (the
/// keep-alive write fails) or when the session no longer stands (signed out, the account
/// disabled, its absolute expiry); watching counts as use of the session.
#[handler]
pub async fn stream(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    req: &Request,
    Path(id): Path<String>,
) -> Response {
    let (_, organization) = match pages::organizer(&ctx) {
        Ok(found) => found,
        Err(page) => return page,
    };
    let announcement = match own_announcement(&state, &ctx, organization, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let state = state.clone();
    let headers = req.headers().clone();
    let w = ctx.lang.words();
    let events = futures_util::stream::unfold(
        (String::new(), false, Instant::now()),
        move |(last, finished, mut checked)| {
            let state = state.clone();
            let headers = headers.clone();
            let id = announcement.id;
            async move {
                if finished {
                    return None;
                }
                loop {
                    if checked.elapsed() >= SESSION_CHECK {
                        if !session::still_live(&state, &headers).await.ok()? {
                            return None;
                        }
                        checked = Instant::now();
                    }
                    let a = store::outbox::announcement(&state.db, id.0)
                        .await
                        .ok()
                        .flatten()?;
                    let counts = delivery_report(&state, id.0).await.ok()?.0;
                    let p = progress_of(w, &a, counts);
                    let json = progress_json(w, &p);
                    if json != last || p.done {
                        let done = p.done;
                        let event = Event::message(json.clone()).event_type("progress");
                        return Some((event, (json, done, checked)));
                    }
                    tokio::time::sleep(TICK).await;
                }
            }
        },
    )
    .boxed();
    SSE::new(events)
        .keep_alive(Duration::from_secs(15))
        .into_response()
}

/// One `progress` event's data: the counts per channel and what to say of them.
fn progress_json(w: &Words, p: &Progress) -> String {
    serde_json::json!({
        "done": p.done,
        "message": if p.done { w.all_out } else if p.fanned_out { w.in_progress } else { w.preparing },
        "channels": p.channels.iter().map(|c| serde_json::json!({
            "channel": c.channel, "label": c.label, "queued": c.queued,
            "sending": c.sending, "delivered": c.delivered, "failed": c.failed,
            "dead": c.dead,
        })).collect::<Vec<_>>(),
    })
    .to_string()
}

struct FailureLine {
    channel: &'static str,
    status: &'static str,
    reason: String,
    count: i64,
}

#[derive(Template)]
#[template(path = "report.html")]
struct ReportPage {
    f: Frame,
    event_id: Uuid,
    event_title: String,
    kind: &'static str,
    when: String,
    r: Progress,
    failures: Vec<FailureLine>,
}

#[handler]
pub async fn report(state: Data<&AppState>, ctx: Data<&Ctx>, Path(id): Path<String>) -> Response {
    report_page(&state, &ctx, &id).await.unwrap_or_else(|p| p)
}

async fn report_page(state: &AppState, ctx: &Ctx, id: &str) -> Answer {
    let (staff, organization) = pages::organizer(ctx)?;
    let a = own_announcement(state, ctx, organization, id).await?;
    let (counts, _) = delivery_report(state, a.id.0)
        .await
        .map_err(|p| pages::problem(ctx, &p))?;
    let fail = |err: store::StoreError| pages::failed(ctx.lang, &err);
    let w = ctx.lang.words();
    let failures = store::deliveries::failures_by_reason(&state.db, a.id.0)
        .await
        .map_err(fail)?
        .into_iter()
        .map(|(channel, status, reason, count)| FailureLine {
            channel: w.channel(&channel),
            status: if status == "dead" { w.dead } else { w.failed },
            reason: reason.unwrap_or_else(|| w.no_reason.to_owned()),
            count,
        })
        .collect();
    store::audit::record_on(
        &state.db,
        staff.actor(),
        staff.account,
        AuditAction::ReadDeliveryReport,
        Some(a.id.0),
        ctx.request_id.as_deref(),
    )
    .await
    .map_err(fail)?;
    let zone = own_event(state, ctx, organization, a.event_id.0)
        .await
        .map(|e| e.time_zone)
        .unwrap_or_else(|_| "Europe/Moscow".to_owned());
    Ok(pages::render(
        StatusCode::OK,
        &ReportPage {
            f: Frame::new(ctx, w.report),
            event_id: a.event_id.0,
            event_title: a.event_title.clone(),
            kind: w.kind(&a.kind),
            when: shown_local(a.created_at, &zone),
            r: progress_of(w, &a, counts),
            failures,
        },
    ))
}

struct HistoryLine {
    id: Uuid,
    when: String,
    kind: &'static str,
    event_id: Uuid,
    event_title: String,
    delivered: i64,
    total: i64,
    failed: i64,
    dead: i64,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    f: Frame,
    rows: Vec<HistoryLine>,
}

#[handler]
pub async fn history(state: Data<&AppState>, ctx: Data<&Ctx>) -> Response {
    history_page(&state, &ctx).await.unwrap_or_else(|p| p)
}

async fn history_page(state: &AppState, ctx: &Ctx) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let w = ctx.lang.words();
    let announcements = store::outbox::announcements(&state.db, organization.0, None, 200)
        .await
        .map_err(|err| pages::failed(ctx.lang, &err))?;
    let mut rows = Vec::with_capacity(announcements.len());
    for a in announcements {
        let (counts, _) = delivery_report(state, a.id.0)
            .await
            .map_err(|p| pages::problem(ctx, &p))?;
        let sum = |f: fn(&ChannelCounts) -> i64| counts.iter().map(f).sum::<i64>();
        rows.push(HistoryLine {
            id: a.id.0,
            when: shown_local(a.created_at, "Europe/Moscow"),
            kind: w.kind(&a.kind),
            event_id: a.event_id.0,
            delivered: sum(|c| c.delivered),
            total: sum(|c| c.queued + c.sent + c.delivered + c.failed + c.dead),
            failed: sum(|c| c.failed),
            dead: sum(|c| c.dead),
            event_title: a.event_title,
        });
    }
    Ok(pages::render(
        StatusCode::OK,
        &HistoryPage {
            f: Frame::new(ctx, w.history_title),
            rows,
        },
    ))
}
