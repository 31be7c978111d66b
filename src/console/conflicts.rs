//! The admins' SNILS conflicts page: conflicts awaiting a decision (who tried, whose
//! profile holds it, when, how many tries; never the SNILS), each settled with the API's
//! own `settle_snils_conflict` (keep it with the holder, or reassign it).

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Path, Redirect};
use poem::{Body, IntoResponse, Response, handler};

use super::events::parse_id;
use super::pages::{self, Answer, FormData, Frame, shown_local};
use super::session::Ctx;
use crate::api::admin::{MAX_LIMIT, SnilsDecision, settle_snils_conflict};
use crate::domain::ids::SnilsConflictId;
use crate::state::AppState;
use crate::store;

/// Where admin times are shown: the program runs on Moscow time.
const ADMIN_ZONE: &str = "Europe/Moscow";

struct ConflictLine {
    id: String,
    claimant: String,
    holder: String,
    first: String,
    last: String,
    attempts: i32,
}

#[derive(Template)]
#[template(path = "snils_conflicts.html")]
struct ConflictsPage {
    f: Frame,
    rows: Vec<ConflictLine>,
}

#[handler]
pub async fn list(state: Data<&AppState>, ctx: Data<&Ctx>) -> Response {
    open_conflicts(&state, &ctx).await.unwrap_or_else(|p| p)
}

async fn open_conflicts(state: &AppState, ctx: &Ctx) -> Answer {
    pages::admin(ctx)?;
    let w = ctx.lang.words();
    let rows = store::snils_conflicts::list(&state.db, MAX_LIMIT)
        .await
        .map_err(|err| pages::failed(ctx.lang, &err))?
        .into_iter()
        .filter(|c| c.status == "open")
        .map(|c| ConflictLine {
            id: c.id.to_string(),
            claimant: c.claimant_id.to_string(),
            holder: c.holder_id.to_string(),
            first: shown_local(c.created_at, ADMIN_ZONE),
            last: shown_local(c.last_attempt_at, ADMIN_ZONE),
            attempts: c.attempts,
        })
        .collect();
    Ok(pages::render(
        StatusCode::OK,
        &ConflictsPage {
            f: Frame::new(ctx, w.snils_conflicts),
            rows,
        },
    ))
}

#[handler]
pub async fn settle(
    state: Data<&AppState>,
    ctx: Data<&Ctx>,
    Path(id): Path<String>,
    body: Body,
) -> Response {
    async {
        let admin = pages::admin(&ctx)?;
        let id = SnilsConflictId(parse_id(&ctx, &id)?);
        let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
        let decision = match form.get("decision").as_str() {
            "keep_holder" => SnilsDecision::KeepHolder,
            "reassign" => SnilsDecision::Reassign,
            _ => return Err(pages::not_found(&ctx)),
        };
        settle_snils_conflict(
            &state,
            admin.account,
            admin.actor(),
            id,
            decision,
            ctx.request_id.as_deref(),
        )
        .await
        .map_err(|p| pages::problem(&ctx, &p))?;
        Ok(Redirect::see_other("/console/admin/snils-conflicts").into_response())
    }
    .await
    .unwrap_or_else(|page: Response| page)
}
