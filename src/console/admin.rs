//! The admins' page of the console: dead letters across organizations, newest first, each
//! with its kind, channel, attempts and last error (no personal data), and a replay button
//! that puts it back in line through the API's own `replay_dead_letter`.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Path, Redirect};
use poem::{IntoResponse, Response, handler};
use uuid::Uuid;

use super::events::parse_id;
use super::pages::{self, Answer, Frame, shown_local};
use super::session::Ctx;
use crate::api::admin::replay_dead_letter;
use crate::state::AppState;
use crate::store;

struct DeadLine {
    id: Uuid,
    when: String,
    kind: String,
    channel: &'static str,
    attempts: i32,
    reason: String,
}

#[derive(Template)]
#[template(path = "dead_letters.html")]
struct DeadLettersPage {
    f: Frame,
    rows: Vec<DeadLine>,
}

#[handler]
pub async fn dead_letters(state: Data<&AppState>, ctx: Data<&Ctx>) -> Response {
    list(&state, &ctx).await.unwrap_or_else(|p| p)
}

async fn list(state: &AppState, ctx: &Ctx) -> Answer {
    pages::admin(ctx)?;
    let w = ctx.lang.words();
    let rows = store::deliveries::dead_letters(&state.db, 200)
        .await
        .map_err(|err| pages::failed(ctx.lang, &err))?
        .into_iter()
        .map(|d| DeadLine {
            id: d.id.0,
            when: shown_local(d.updated_at, "Europe/Moscow"),
            kind: d.kind,
            channel: w.channel(d.channel.as_str()),
            attempts: d.attempts,
            reason: d.last_error.unwrap_or_else(|| w.no_reason.to_owned()),
        })
        .collect();
    Ok(pages::render(
        StatusCode::OK,
        &DeadLettersPage {
            f: Frame::new(ctx, w.dead_letters),
            rows,
        },
    ))
}

#[handler]
pub async fn replay(state: Data<&AppState>, ctx: Data<&Ctx>, Path(id): Path<String>) -> Response {
    async {
        pages::admin(&ctx)?;
        let id = parse_id(&ctx, &id)?;
        replay_dead_letter(&state, id)
            .await
            .map_err(|p| pages::problem(&ctx, &p))?;
        Ok(Redirect::see_other("/console/admin/dead-letters").into_response())
    }
    .await
    .unwrap_or_else(|page: Response| page)
}
