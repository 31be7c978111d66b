//! `GET /v1/me/export`: everything held about the caller (and, for a parent, their
//! children), as one JSON document, as 152-ФЗ entitles them to.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTag;
use super::consents::{ConsentView, consent_view};
use super::problem::Problem;
use super::profiles::{
    Disclosure, ParentProfileView, StudentProfileView, load_parent, load_student, parent_view,
    student_view,
};
use super::security::{BearerAuth, ClientInfo, Role};
use crate::domain::ids::AccountId;
use crate::startup::AppState;
use crate::store;
use crate::store::audit::{self, AuditAction};

pub struct ExportApi;

/// The account itself.
#[derive(Debug, Object)]
pub struct AccountExport {
    pub account_id: Uuid,
    pub email: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub email_verified_at: Option<DateTime<Utc>>,
}

/// A device session, as held.
#[derive(Debug, Object)]
pub struct SessionExport {
    pub id: Uuid,
    pub device_name: String,
    pub platform: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// One access to the person's data by someone else.
#[derive(Debug, Object)]
pub struct AccessExport {
    pub at: DateTime<Utc>,
    /// `parent`, `admin` or `system`.
    pub actor_role: String,
    pub action: String,
}

/// A test result, as held.
#[derive(Debug, Object)]
pub struct ResultExport {
    pub attempt_id: Uuid,
    pub test_id: String,
    pub test_version: String,
    pub finished_at: Option<DateTime<Utc>>,
    pub summary: String,
    /// Per-scale scores, bands and the top types or code.
    pub scores: serde_json::Value,
}

/// A child's data, in a parent's export.
#[derive(Debug, Object)]
pub struct ChildExport {
    pub account_id: Uuid,
    pub profile: Option<StudentProfileView>,
    pub consents: Vec<ConsentView>,
    pub test_results: Vec<ResultExport>,
}

/// All personal data held about the caller.
#[derive(Debug, Object)]
pub struct ExportDocument {
    pub generated_at: DateTime<Utc>,
    pub account: AccountExport,
    pub student_profile: Option<StudentProfileView>,
    pub parent_profile: Option<ParentProfileView>,
    /// For a student: consents given for them; for a parent: consents they gave.
    pub consents: Vec<ConsentView>,
    pub sessions: Vec<SessionExport>,
    pub linked_accounts: Vec<Uuid>,
    /// For a student: their test results.
    pub test_results: Vec<ResultExport>,
    pub children: Vec<ChildExport>,
    pub access_log: Vec<AccessExport>,
}

#[derive(ApiResponse)]
pub enum ExportResponse {
    #[oai(status = 200)]
    Ok(Json<ExportDocument>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Profiles")]
impl ExportApi {
    /// Everything held about the caller, and for a parent about their children, in full.
    #[oai(path = "/me/export", method = "get", operation_id = "export_my_data")]
    async fn export(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientInfo,
    ) -> Result<ExportResponse, Problem> {
        let caller = auth.0;
        let me = caller.account;
        let account = store::accounts::find(&state.db, me)
            .await?
            .ok_or_else(|| Problem::unauthorized("the account no longer exists"))?;
        let (consents, linked, children) = match caller.role {
            Role::Student => {
                let consents = store::consents::history(&state.db, me).await?;
                let parents = store::families::parent_ids(&state.db, me).await?;
                (consents, parents.iter().map(|p| p.0).collect(), Vec::new())
            }
            Role::Parent => {
                let consents = store::consents::given_by(&state.db, me).await?;
                let mut children = Vec::new();
                let mut linked = Vec::new();
                for child in store::families::children(&state.db, me).await? {
                    let id = AccountId(child.account_id);
                    linked.push(id.0);
                    audit::record(
                        &state.db,
                        caller.actor(),
                        id,
                        AuditAction::Export,
                        client.request_id.as_deref(),
                    )
                    .await?;
                    children.push(ChildExport {
                        account_id: id.0,
                        profile: load_student(&state, id)
                            .await?
                            .map(|p| student_view(p, Disclosure::Full)),
                        consents: store::consents::history(&state.db, id)
                            .await?
                            .into_iter()
                            .map(|r| consent_view(&state, r, true))
                            .collect(),
                        test_results: results_of(&state, id).await?,
                    });
                }
                (consents, linked, children)
            }
            Role::Organizer | Role::Admin => (Vec::new(), Vec::new(), Vec::new()),
        };
        let student_profile = match caller.role {
            Role::Student => load_student(&state, me)
                .await?
                .map(|p| student_view(p, Disclosure::Full)),
            _ => None,
        };
        let parent_profile = match caller.role {
            Role::Parent => load_parent(&state, me)
                .await?
                .map(|p| parent_view(me, p, Disclosure::Full)),
            _ => None,
        };
        let test_results = match caller.role {
            Role::Student => results_of(&state, me).await?,
            _ => Vec::new(),
        };
        let sessions = store::sessions::list_live(&state.db, me).await?;
        let access_log = store::audit::for_subject(&state.db, me).await?;
        Ok(ExportResponse::Ok(Json(ExportDocument {
            generated_at: Utc::now(),
            account: AccountExport {
                account_id: account.id,
                email: account.email,
                role: account.role,
                created_at: account.created_at,
                email_verified_at: account.email_verified_at,
            },
            student_profile,
            parent_profile,
            consents: consents
                .into_iter()
                .map(|r| consent_view(&state, r, caller.role == Role::Parent))
                .collect(),
            sessions: sessions
                .into_iter()
                .map(|s| SessionExport {
                    id: s.id,
                    device_name: s.device_name,
                    platform: s.platform,
                    created_at: s.created_at,
                    last_seen_at: s.last_seen_at,
                })
                .collect(),
            linked_accounts: linked,
            test_results,
            children,
            access_log: access_log
                .into_iter()
                .map(|a| AccessExport {
                    at: a.at,
                    actor_role: a.actor_role,
                    action: a.action,
                })
                .collect(),
        })))
    }
}

async fn results_of(state: &AppState, student: AccountId) -> Result<Vec<ResultExport>, Problem> {
    Ok(store::diagnostics::results_of(&state.db, student)
        .await?
        .into_iter()
        .map(|r| ResultExport {
            attempt_id: r.attempt_id,
            test_id: r.test_id,
            test_version: r.test_version,
            finished_at: r.finished_at,
            summary: r.summary,
            scores: r.scores,
        })
        .collect())
}
