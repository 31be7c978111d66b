//! The admins' staff page: every organizer and admin account (e-mail, role, organization,
//! created, last sign-in, enabled or disabled), creating one exactly as `bilet admin
//! create-user` does (its generated password shown once), and disabling or re-enabling one
//! through `admin::set_staff_enabled`, which ends its sessions at once.

use std::collections::BTreeMap;

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Path, Redirect};
use poem::{Body, IntoResponse, Response, handler};

use super::events::parse_id;
use super::pages::{self, Answer, FormData, Frame, shown_local};
use super::session::Ctx;
use crate::admin::{AdminError, StaffRole, create_user, set_staff_enabled};
use crate::domain::ids::AccountId;
use crate::state::AppState;
use crate::store::{self, audit::AuditAction};

/// Where staff times are shown: the program runs on Moscow time.
const STAFF_ZONE: &str = "Europe/Moscow";

struct StaffLine {
    id: String,
    email: String,
    role: &'static str,
    organization: String,
    created: String,
    last_sign_in: String,
    disabled: bool,
    /// The admin looking at the page: they cannot disable themself.
    own: bool,
}

/// What the creation form holds (again, when refused).
#[derive(Default)]
struct NewStaff {
    role: String,
    email: String,
    organization: String,
}

#[derive(Template)]
#[template(path = "staff.html")]
struct StaffPage {
    f: Frame,
    rows: Vec<StaffLine>,
    v: NewStaff,
    errors: BTreeMap<String, String>,
    /// The account just created and its generated password, shown this once.
    created: Option<(String, String)>,
}

#[handler]
pub async fn list(state: Data<&AppState>, ctx: Data<&Ctx>) -> Response {
    page(
        &state,
        &ctx,
        StatusCode::OK,
        NewStaff::default(),
        BTreeMap::new(),
        None,
    )
    .await
    .unwrap_or_else(|p| p)
}

async fn page(
    state: &AppState,
    ctx: &Ctx,
    status: StatusCode,
    v: NewStaff,
    errors: BTreeMap<String, String>,
    created: Option<(String, String)>,
) -> Answer {
    let me = pages::admin(ctx)?.account;
    let w = ctx.lang.words();
    let rows = store::accounts::staff(&state.db)
        .await
        .map_err(|err| pages::failed(ctx.lang, &err))?
        .into_iter()
        .map(|s| StaffLine {
            id: s.id.to_string(),
            email: s.email,
            role: w.role(s.role.as_str()),
            organization: s.organization_name.unwrap_or_else(|| "—".to_owned()),
            created: shown_local(s.created_at, STAFF_ZONE),
            last_sign_in: s
                .last_sign_in_at
                .map(|at| shown_local(at, STAFF_ZONE))
                .unwrap_or_else(|| w.never.to_owned()),
            disabled: s.disabled_at.is_some(),
            own: s.id == me,
        })
        .collect();
    Ok(pages::render(
        status,
        &StaffPage {
            f: Frame::new(ctx, w.staff),
            rows,
            v,
            errors,
            created,
        },
    ))
}

#[handler]
pub async fn create(state: Data<&AppState>, ctx: Data<&Ctx>, body: Body) -> Response {
    async {
        let admin = pages::admin(&ctx)?.clone();
        let w = ctx.lang.words();
        let form = FormData::parse(&body.into_bytes().await.unwrap_or_default());
        let v = NewStaff {
            role: form.get("role"),
            email: form.get("email"),
            organization: form.get("organization"),
        };
        let mut errors = BTreeMap::new();
        let role = match v.role.as_str() {
            "organizer" => Some(StaffRole::Organizer),
            "admin" => Some(StaffRole::Admin),
            _ => {
                errors.insert(
                    "role".to_owned(),
                    w.reason("must be one of organizer, admin"),
                );
                None
            }
        };
        let Some(role) = role else {
            return page(
                &state,
                &ctx,
                StatusCode::UNPROCESSABLE_ENTITY,
                v,
                errors,
                None,
            )
            .await;
        };
        // An admin belongs to no organization: what was typed there is not theirs.
        let organization = (role == StaffRole::Organizer && !v.organization.is_empty())
            .then_some(v.organization.as_str());
        match create_user(&state, role, &v.email, organization, None).await {
            Ok(made) => {
                store::audit::record(
                    &state.db,
                    admin.actor(),
                    made.account_id,
                    AuditAction::CreateStaff,
                    ctx.request_id.as_deref(),
                )
                .await
                .map_err(|err| pages::failed(ctx.lang, &err))?;
                let password = made.generated_password.unwrap_or_default();
                let shown = (v.email.clone(), password);
                page(
                    &state,
                    &ctx,
                    StatusCode::CREATED,
                    NewStaff::default(),
                    BTreeMap::new(),
                    Some(shown),
                )
                .await
            }
            Err(AdminError::Invalid { field, reason }) => {
                let field = field.trim_start_matches("--").to_owned();
                errors.insert(field, w.reason(&reason));
                page(
                    &state,
                    &ctx,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    v,
                    errors,
                    None,
                )
                .await
            }
            Err(AdminError::EmailTaken) => {
                errors.insert("email".to_owned(), w.email_taken.to_owned());
                page(&state, &ctx, StatusCode::CONFLICT, v, errors, None).await
            }
            Err(err) => Err(pages::failed(ctx.lang, &err)),
        }
    }
    .await
    .unwrap_or_else(|p: Response| p)
}

#[handler]
pub async fn disable(state: Data<&AppState>, ctx: Data<&Ctx>, Path(id): Path<String>) -> Response {
    set_enabled(&state, &ctx, &id, false).await
}

#[handler]
pub async fn enable(state: Data<&AppState>, ctx: Data<&Ctx>, Path(id): Path<String>) -> Response {
    set_enabled(&state, &ctx, &id, true).await
}

async fn set_enabled(state: &AppState, ctx: &Ctx, id: &str, enabled: bool) -> Response {
    async {
        let admin = pages::admin(ctx)?;
        let target = AccountId(parse_id(ctx, id)?);
        match set_staff_enabled(
            state,
            admin.account,
            target,
            enabled,
            ctx.request_id.as_deref(),
        )
        .await
        {
            Ok(()) => Ok(Redirect::see_other("/console/admin/staff").into_response()),
            Err(AdminError::NoSuchStaff) => Err(pages::not_found(ctx)),
            Err(AdminError::OwnAccount) => {
                Err(pages::forbidden(ctx, ctx.lang.words().cannot_disable_self))
            }
            Err(err) => Err(pages::failed(ctx.lang, &err)),
        }
    }
    .await
    .unwrap_or_else(|p: Response| p)
}
