//! Free-text notices to everyone signed up for an event and their parents: the form shows
//! the SMS segments and the push payload size (counted on the server by the SMS fitting
//! and the APNs sender's own payload builder; the script refreshes the count as one types),
//! then the preview, then sending through `api::notices::send` and the live progress.

use std::collections::BTreeMap;

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Json, Path, Query, Redirect};
use poem::{Body, IntoResponse, Response, handler};
use serde::Deserialize;
use uuid::Uuid;

use super::events::{own_event, parse_id};
use super::pages::{self, Answer, FormData, Frame};
use super::session::Ctx;
use crate::api::notices::{self as rules};
use crate::domain::events::EventStatus;
use crate::notify::preview::{self, Change, NoticeSize, Preview, notice_size};
use crate::state::AppState;
use crate::store::{self, audit::AuditAction};

#[derive(Template)]
#[template(path = "notice_form.html")]
struct NoticeForm {
    f: Frame,
    event_id: Uuid,
    text: String,
    size: NoticeSize,
    errors: BTreeMap<String, String>,
}

#[derive(Template)]
#[template(path = "preview.html")]
struct NoticePreview {
    f: Frame,
    event_id: Uuid,
    p: Preview,
    confirm_action: String,
    confirm_label: &'static str,
    hidden: Vec<(&'static str, String)>,
    change_href: String,
}

fn form_page(
    state: &AppState,
    ctx: &Ctx,
    event: &store::events::EventRow,
    text: String,
    errors: BTreeMap<String, String>,
    status: StatusCode,
) -> Response {
    let w = ctx.lang.words();
    let size = notice_size(&state.templates, event, &text, ctx.lang.code());
    pages::render(
        status,
        &NoticeForm {
            f: Frame::new(ctx, format!("{}: {}", w.send_notice, event.title)),
            event_id: event.id.0,
            text,
            size,
            errors,
        },
    )
}

#[handler]
pub async fn show_form(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
) -> Response {
    async {
        let (_, organization) = pages::organizer(&ctx)?;
        let id = parse_id(&ctx, &id)?;
        let event = own_event(&state, &ctx, organization, id).await?;
        Ok(form_page(
            &state,
            &ctx,
            &event,
            String::new(),
            BTreeMap::new(),
            StatusCode::OK,
        ))
    }
    .await
    .unwrap_or_else(|page: Response| page)
}

#[derive(Debug, Deserialize)]
pub struct SizeQuery {
    #[serde(default)]
    text: String,
}

/// The live count the form's script asks for as one types.
#[handler]
pub async fn show_size(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
    Query(query): Query<SizeQuery>,
) -> Response {
    async {
        let (_, organization) = pages::organizer(&ctx)?;
        let id = parse_id(&ctx, &id)?;
        let event = own_event(&state, &ctx, organization, id).await?;
        let w = ctx.lang.words();
        let size = notice_size(&state.templates, &event, &query.text, ctx.lang.code());
        let shown = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_else(|| "—".into());
        Ok(Json(serde_json::json!({
            "size": size,
            "message": format!(
                "{} {} · {} {} · {} {} {})",
                size.chars, w.chars, shown(size.sms_segments), w.sms_segments,
                shown(size.push_bytes), w.push_bytes, size.push_limit
            ),
        }))
        .into_response())
    }
    .await
    .unwrap_or_else(|page: Response| page)
}

#[handler]
pub async fn preview_notice(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    show_preview(&state, &ctx, &id, body)
        .await
        .unwrap_or_else(|p| p)
}

async fn show_preview(state: &AppState, ctx: &Ctx, id: &str, body: Body) -> Answer {
    let (_, organization) = pages::organizer(ctx)?;
    let id = parse_id(ctx, id)?;
    let event = own_event(state, ctx, organization, id).await?;
    let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
    let text = form.get("text");
    let checked = rules::parse_text(&text).map_err(|problem| {
        let (errors, _) = pages::field_errors(ctx, &problem);
        form_page(
            state,
            ctx,
            &event,
            text.clone(),
            errors,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    })?;
    if event.status == EventStatus::Draft {
        return Err(pages::not_found(ctx));
    }
    let p = preview::preview(
        &state.db,
        &state.templates,
        state.settings.hub.escalation_delay,
        &event,
        Change::Notice {
            text: checked.as_str(),
        },
    )
    .await
    .map_err(|err| pages::failed(ctx.lang, &err))?;
    let w = ctx.lang.words();
    Ok(pages::render(
        StatusCode::OK,
        &NoticePreview {
            f: Frame::new(ctx, format!("{}: {}", w.preview_of_notice, event.title)),
            event_id: id,
            p,
            confirm_action: format!("/console/events/{id}/notice"),
            confirm_label: w.confirm_notice,
            hidden: vec![("text", checked.as_str().to_owned())],
            change_href: format!("/console/events/{id}/notice"),
        },
    ))
}

#[handler]
pub async fn send(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    send_notice(&state, &ctx, &id, body)
        .await
        .unwrap_or_else(|p| p)
}

async fn send_notice(state: &AppState, ctx: &Ctx, id: &str, body: Body) -> Answer {
    let (staff, organization) = pages::organizer(ctx)?;
    let id = parse_id(ctx, id)?;
    let event = own_event(state, ctx, organization, id).await?;
    let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
    let text = form.get("text");
    let created = match rules::send(
        state,
        organization,
        staff.account,
        crate::domain::ids::EventId(id),
        &text,
    )
    .await
    {
        Ok(created) => created,
        Err(problem) if problem.status() == StatusCode::UNPROCESSABLE_ENTITY => {
            let (errors, _) = pages::field_errors(ctx, &problem);
            return Err(form_page(
                state,
                ctx,
                &event,
                text,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
        Err(problem) => return Err(pages::problem(ctx, &problem)),
    };
    let fail = |err: store::StoreError| pages::failed(ctx.lang, &err);
    store::audit::record_on(
        &state.db,
        staff.actor(),
        staff.account,
        AuditAction::SendNotice,
        Some(created.notice_id),
        ctx.request_id.as_deref(),
    )
    .await
    .map_err(fail)?;
    let (_, announcement) = store::notices::owner(&state.db, created.notice_id)
        .await
        .map_err(fail)?
        .ok_or_else(|| pages::not_found(ctx))?;
    Ok(Redirect::see_other(format!("/console/announcements/{announcement}")).into_response())
}
