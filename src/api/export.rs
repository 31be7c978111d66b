//! `GET /v1/me/export`: everything held about the caller (and, for a parent, their
//! children), as one JSON document, as 152-ФЗ (art. 14) entitles them to. Every table that
//! holds rows about an account has its section here; `tests/api/export.rs` fails when a
//! table is added without one.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::ApiTag;
use super::families::{LinkRequestView, link_request_view};
use super::profiles::{
    Disclosure, ParentProfileView, StudentProfileView, load_parent, load_student, parent_view,
    student_view,
};
use super::security::{BearerAuth, Caller, ClientInfo, Role};
use crate::domain::ids::AccountId;
use crate::http::problem::Problem;
use crate::privacy::vault::fields;
use crate::state::AppState;
use crate::store;
use crate::store::accounts::MailedCode;
use crate::store::audit::{self, AuditAction};
use crate::store::consents::ConsentRow;

pub struct ExportApi;

/// The account itself.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AccountExport {
    pub account_id: Uuid,
    pub email: String,
    pub role: String,
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub email_verified_at: Option<DateTime<Utc>>,
    /// When the pending e-mail verification code expires (the code is kept as a digest).
    pub verification_pending_until: Option<DateTime<Utc>>,
    /// When the pending password-reset code expires (the code is kept as a digest).
    pub password_reset_pending_until: Option<DateTime<Utc>>,
}

/// A device session (one login on one device), live or ended.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SessionExport {
    pub id: Uuid,
    pub device_name: String,
    pub platform: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoke_reason: Option<String>,
}

/// One access to the person's data.
#[derive(Debug, Object)]
pub struct AccessExport {
    pub at: DateTime<Utc>,
    /// `parent`, `admin`, `system`, or `erased` (the account that acted no longer exists).
    pub actor_role: String,
    pub action: String,
}

/// One thing the person did to someone else's data (recorded in the access audit).
#[derive(Debug, Object)]
pub struct ActionExport {
    pub at: DateTime<Utc>,
    pub subject_account_id: Uuid,
    pub action: String,
}

/// A consent record, in full for the parent who gave it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ConsentExport {
    pub id: Uuid,
    pub kind: String,
    pub child_account_id: Uuid,
    pub given_by_account_id: Uuid,
    pub text_version: String,
    pub given_at: DateTime<Utc>,
    /// `current`, `superseded` or `withdrawn`.
    pub status: String,
    pub superseded_at: Option<DateTime<Utc>>,
    pub withdrawn_at: Option<DateTime<Utc>>,
    pub withdrawn_by_account_id: Option<Uuid>,
    /// The address the consent was given from; only to the parent who gave it.
    pub client_address: Option<String>,
    /// The app or browser it was given from; only to the parent who gave it.
    pub user_agent: Option<String>,
    /// The parent's passport series and number: in full to the parent who gave it, masked
    /// to the other parent, absent for the child.
    pub identity_proof: Option<String>,
}

/// A test result, as held.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ResultExport {
    pub attempt_id: Uuid,
    pub test_id: String,
    pub test_version: String,
    pub finished_at: Option<DateTime<Utc>>,
    pub summary: String,
    /// Per-scale scores, bands and the top types or code.
    pub scores: serde_json::Value,
}

/// One saved answer of a test attempt.
#[derive(Debug, Object)]
pub struct AnswerExport {
    pub question_id: String,
    pub value: serde_json::Value,
    pub seq: i32,
    pub client_time: DateTime<Utc>,
    pub saved_at: DateTime<Utc>,
}

/// A test attempt, open, finished or abandoned, with its answers.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct AttemptExport {
    pub id: Uuid,
    pub test_id: String,
    pub test_version: String,
    /// `in_progress`, `finished` or `abandoned`.
    pub status: String,
    pub started_at: DateTime<Utc>,
    pub deadline: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub last_activity_at: DateTime<Utc>,
    pub answers: Vec<AnswerExport>,
}

/// A sign-up for a practical event.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SignupExport {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event_title: String,
    pub event_starts_at: DateTime<Utc>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by_account_id: Option<Uuid>,
    pub end_reason: Option<String>,
    /// Attendance, the mentor's assessment and the student's feedback, once there are any.
    pub outcome: Option<super::attendance::SignupOutcome>,
}

/// An invitation a parent sent to a child's e-mail address.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct InvitationExport {
    pub id: Uuid,
    pub parent_account_id: Uuid,
    pub student_email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
    pub declined_at: Option<DateTime<Utc>>,
}

/// A code the child's app showed for a parent to type (the code itself is not kept).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LinkCodeExport {
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// A single-use approval link sent to a parent without the app.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ApprovalLinkExport {
    pub id: Uuid,
    pub signup_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// A device registered for push notifications.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeviceExport {
    pub token: String,
    pub platform: String,
    pub app_version: String,
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deactivated_at: Option<DateTime<Utc>>,
    pub deactivation_reason: Option<String>,
}

/// Notification preferences.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct PreferencesExport {
    pub language: String,
    pub time_zone: String,
    pub quiet_from: Option<i16>,
    pub quiet_to: Option<i16>,
    /// Channels switched off per kind.
    pub disabled: serde_json::Value,
}

/// One delivery of a notification: which channel, which device, what became of it.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct DeliveryExport {
    pub channel: String,
    pub device_token: Option<String>,
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A notification with its deliveries.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NotificationExport {
    pub id: Uuid,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    pub acked_at: Option<DateTime<Utc>>,
    pub deliveries: Vec<DeliveryExport>,
}

/// A stored first response to a retried request (kept 24 hours).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct IdempotencyKeyExport {
    pub key: String,
    pub operation: String,
    pub created_at: DateTime<Utc>,
    pub response_status: Option<i16>,
    /// The stored response body, as sent.
    pub response_body: Option<String>,
}

/// A SNILS conflict the person is part of (the SNILS itself is kept only as a digest).
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SnilsConflictExport {
    pub id: Uuid,
    /// `claimant` (the person tried to save a SNILS another profile holds), `holder`, or
    /// `decided` (the administrator who settled it).
    pub role: String,
    pub created_at: DateTime<Utc>,
    pub last_attempt_at: DateTime<Utc>,
    pub attempts: i32,
    pub status: String,
    pub decision: Option<String>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// A scheduled erasure of the person's data (personal-data consent was withdrawn).
#[derive(Debug, Object)]
pub struct ErasureExport {
    pub requested_at: DateTime<Utc>,
    pub due_at: DateTime<Utc>,
}

/// A child's data, in a parent's export.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ChildExport {
    pub account_id: Uuid,
    pub profile: Option<StudentProfileView>,
    pub consents: Vec<ConsentExport>,
    pub signups: Vec<SignupExport>,
    pub test_attempts: Vec<AttemptExport>,
    pub test_results: Vec<ResultExport>,
}

/// All personal data held about the caller.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ExportDocument {
    pub generated_at: DateTime<Utc>,
    pub account: AccountExport,
    pub student_profile: Option<StudentProfileView>,
    pub parent_profile: Option<ParentProfileView>,
    /// For a student: consents given for them; for a parent: consents they gave.
    pub consents: Vec<ConsentExport>,
    pub sessions: Vec<SessionExport>,
    pub linked_accounts: Vec<Uuid>,
    /// For a student: the link codes their app showed; for a parent: those they made for
    /// another adult.
    pub link_codes: Vec<LinkCodeExport>,
    /// For a parent: invitations they sent; for a student: those addressed to them.
    pub invitations: Vec<InvitationExport>,
    /// Requests to join a family: those the person made, those about their children, and
    /// for a student those about them.
    pub link_requests: Vec<LinkRequestView>,
    /// For a student: their sign-ups.
    pub signups: Vec<SignupExport>,
    /// For a parent: approval links sent to them.
    pub approval_links: Vec<ApprovalLinkExport>,
    /// For a student: every test attempt with its answers.
    pub test_attempts: Vec<AttemptExport>,
    /// For a student: their test results.
    pub test_results: Vec<ResultExport>,
    pub devices: Vec<DeviceExport>,
    pub notification_preferences: Option<PreferencesExport>,
    pub notifications: Vec<NotificationExport>,
    pub idempotency_keys: Vec<IdempotencyKeyExport>,
    pub snils_conflicts: Vec<SnilsConflictExport>,
    /// For a student: the erasure scheduled after personal-data consent was withdrawn.
    pub erasure: Option<ErasureExport>,
    pub children: Vec<ChildExport>,
    /// Who read or changed the person's data.
    pub access_log: Vec<AccessExport>,
    /// What the person read or changed of others' data.
    pub access_actions: Vec<ActionExport>,
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
        let db = &state.db;
        let account = store::accounts::find(db, me)
            .await?
            .ok_or_else(|| Problem::unauthorized("the account no longer exists"))?;
        let mut document = ExportDocument {
            generated_at: Utc::now(),
            account: AccountExport {
                account_id: account.id.0,
                email: account.email,
                role: account.role.as_str().to_owned(),
                locale: account.locale,
                created_at: account.created_at,
                email_verified_at: account.email_verified_at,
                verification_pending_until: store::accounts::code_pending_until(
                    db,
                    MailedCode::Verification,
                    me,
                )
                .await?,
                password_reset_pending_until: store::accounts::code_pending_until(
                    db,
                    MailedCode::PasswordReset,
                    me,
                )
                .await?,
            },
            student_profile: None,
            parent_profile: None,
            consents: Vec::new(),
            sessions: store::sessions::history(db, me)
                .await?
                .into_iter()
                .map(|s| SessionExport {
                    id: s.id.0,
                    device_name: s.device_name,
                    platform: s.platform,
                    created_at: s.created_at,
                    last_seen_at: s.last_seen_at,
                    revoked_at: s.revoked_at,
                    revoke_reason: s.revoke_reason,
                })
                .collect(),
            linked_accounts: Vec::new(),
            link_codes: store::families::link_codes_of(db, me)
                .await?
                .into_iter()
                .map(|c| LinkCodeExport {
                    created_at: c.created_at,
                    expires_at: c.expires_at,
                    used_at: c.used_at,
                })
                .collect(),
            invitations: store::families::invitations_involving(db, me)
                .await?
                .into_iter()
                .map(|i| InvitationExport {
                    id: i.id.0,
                    parent_account_id: i.parent_id.0,
                    student_email: i.student_email,
                    created_at: i.created_at,
                    expires_at: i.expires_at,
                    accepted_at: i.accepted_at,
                    declined_at: i.declined_at,
                })
                .collect(),
            link_requests: store::families::link_requests_for(db, me)
                .await?
                .into_iter()
                .map(|r| link_request_view(r, false, Utc::now()))
                .collect(),
            signups: Vec::new(),
            approval_links: Vec::new(),
            test_attempts: Vec::new(),
            test_results: Vec::new(),
            devices: store::devices::of_account(db, me)
                .await?
                .into_iter()
                .map(|d| DeviceExport {
                    token: d.token,
                    platform: d.platform,
                    app_version: d.app_version,
                    locale: d.locale,
                    created_at: d.created_at,
                    updated_at: d.updated_at,
                    deactivated_at: d.deactivated_at,
                    deactivation_reason: d.deactivation_reason,
                })
                .collect(),
            notification_preferences: store::notifications::preferences(db, me).await?.map(|p| {
                PreferencesExport {
                    language: p.language,
                    time_zone: p.time_zone,
                    quiet_from: p.quiet_from,
                    quiet_to: p.quiet_to,
                    disabled: p.disabled,
                }
            }),
            notifications: notifications_of(&state, me).await?,
            idempotency_keys: store::idempotency::of_account(db, me)
                .await?
                .into_iter()
                .map(|k| IdempotencyKeyExport {
                    key: k.key,
                    operation: k.operation,
                    created_at: k.created_at,
                    response_status: k.response_status,
                    response_body: k
                        .response_body
                        .map(|b| String::from_utf8_lossy(&b).into_owned()),
                })
                .collect(),
            snils_conflicts: store::snils_conflicts::involving(db, me)
                .await?
                .into_iter()
                .map(|c| SnilsConflictExport {
                    id: c.id.0,
                    role: if c.claimant_id == me {
                        "claimant"
                    } else if c.holder_id == me {
                        "holder"
                    } else {
                        "decided"
                    }
                    .to_owned(),
                    created_at: c.created_at,
                    last_attempt_at: c.last_attempt_at,
                    attempts: c.attempts,
                    status: c.status,
                    decision: c.decision,
                    decided_at: c.decided_at,
                })
                .collect(),
            erasure: None,
            children: Vec::new(),
            access_log: Vec::new(),
            access_actions: Vec::new(),
        };
        match caller.role {
            Role::Student => {
                document.student_profile = load_student(&state, me)
                    .await?
                    .map(|p| student_view(p, Disclosure::Full));
                document.consents = store::consents::history(db, me)
                    .await?
                    .into_iter()
                    .map(|r| consent_export(&state, &caller, r))
                    .collect();
                document.linked_accounts = store::families::parent_ids(db, me)
                    .await?
                    .iter()
                    .map(|p| p.0)
                    .collect();
                document.signups = signups_of(&state, me).await?;
                document.test_attempts = attempts_of(&state, me).await?;
                document.test_results = results_of(&state, me).await?;
                document.erasure =
                    store::consents::erasure_of(db, me)
                        .await?
                        .map(|e| ErasureExport {
                            requested_at: e.requested_at,
                            due_at: e.due_at,
                        });
            }
            Role::Parent => {
                document.parent_profile = load_parent(&state, me)
                    .await?
                    .map(|p| parent_view(me, p, Disclosure::Full));
                document.consents = store::consents::given_by(db, me)
                    .await?
                    .into_iter()
                    .map(|r| consent_export(&state, &caller, r))
                    .collect();
                document.approval_links = store::approval_links::for_parent(db, me.0)
                    .await?
                    .into_iter()
                    .map(|l| ApprovalLinkExport {
                        id: l.id,
                        signup_id: l.signup_id.0,
                        expires_at: l.expires_at,
                        used_at: l.used_at,
                    })
                    .collect();
                for child in store::families::children(db, me).await? {
                    let id = AccountId(child.account_id.0);
                    document.linked_accounts.push(id.0);
                    audit::record(
                        db,
                        caller.actor(),
                        id,
                        AuditAction::Export,
                        client.request_id.as_deref(),
                    )
                    .await?;
                    document.children.push(ChildExport {
                        account_id: id.0,
                        profile: load_student(&state, id)
                            .await?
                            .map(|p| student_view(p, Disclosure::Full)),
                        consents: store::consents::history(db, id)
                            .await?
                            .into_iter()
                            .map(|r| consent_export(&state, &caller, r))
                            .collect(),
                        signups: signups_of(&state, id).await?,
                        test_attempts: attempts_of(&state, id).await?,
                        test_results: results_of(&state, id).await?,
                    });
                }
            }
            Role::Organizer | Role::Admin => {}
        }
        document.access_log = audit::for_subject(db, me)
            .await?
            .into_iter()
            .map(|a| AccessExport {
                at: a.at,
                actor_role: a.actor_role,
                action: a.action,
            })
            .collect();
        document.access_actions = audit::by_actor(db, me)
            .await?
            .into_iter()
            .map(|a| ActionExport {
                at: a.at,
                subject_account_id: a.subject_id,
                action: a.action,
            })
            .collect();
        Ok(ExportResponse::Ok(Json(document)))
    }
}

/// A consent record as the caller may see it: the giver's address, user agent and passport
/// only to the parent who gave it (the passport masked to the other parent).
fn consent_export(state: &AppState, caller: &Caller, row: ConsentRow) -> ConsentExport {
    let status = if row.withdrawn_at.is_some() {
        "withdrawn"
    } else if row.superseded_at.is_some() {
        "superseded"
    } else {
        "current"
    };
    let mine = row.parent_id == caller.account;
    let passport = || {
        state
            .vault
            .open(
                fields::CONSENT_IDENTITY_PROOF,
                row.id.0,
                &row.identity_proof_enc,
            )
            .ok()
            .and_then(|p| crate::domain::documents::Passport::parse(&p).ok())
    };
    let identity_proof = match caller.role {
        Role::Parent if mine => Some(
            passport()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_else(|| "***".to_owned()),
        ),
        Role::Parent => Some(
            passport()
                .map(|p| p.masked())
                .unwrap_or_else(|| "***".to_owned()),
        ),
        _ => None,
    };
    ConsentExport {
        id: row.id.0,
        kind: row.kind,
        child_account_id: row.student_id.0,
        given_by_account_id: row.parent_id.0,
        text_version: row.text_version,
        given_at: row.given_at,
        status: status.to_owned(),
        superseded_at: row.superseded_at,
        withdrawn_at: row.withdrawn_at,
        withdrawn_by_account_id: row.withdrawn_by,
        client_address: if mine { row.client_address } else { None },
        user_agent: if mine { row.user_agent } else { None },
        identity_proof,
    }
}

async fn notifications_of(
    state: &AppState,
    account: AccountId,
) -> Result<Vec<NotificationExport>, Problem> {
    let mut deliveries = store::notifications::deliveries_of(&state.db, account).await?;
    Ok(store::notifications::all_of(&state.db, account)
        .await?
        .into_iter()
        .map(|n| {
            let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut deliveries)
                .into_iter()
                .partition(|d| d.notification_id == n.id);
            deliveries = rest;
            NotificationExport {
                id: n.id.0,
                kind: n.kind,
                title: n.title,
                body: n.body,
                data: n.data,
                created_at: n.created_at,
                read_at: n.read_at,
                acked_at: n.acked_at,
                deliveries: mine
                    .into_iter()
                    .map(|d| DeliveryExport {
                        channel: d.channel.as_str().to_owned(),
                        device_token: d.device_token,
                        status: d.status.as_str().to_owned(),
                        attempts: d.attempts,
                        created_at: d.created_at,
                        delivered_at: d.delivered_at,
                    })
                    .collect(),
            }
        })
        .collect())
}

async fn signups_of(state: &AppState, student: AccountId) -> Result<Vec<SignupExport>, Problem> {
    let mut signups = Vec::new();
    for s in store::signups::for_student(&state.db, student).await? {
        let outcome = super::attendance::outcome_of(&state.db, s.id).await?;
        let any = outcome.attendance.is_some()
            || outcome.assessment.is_some()
            || outcome.feedback.is_some();
        signups.push(SignupExport {
            id: s.id.0,
            event_id: s.event_id.0,
            event_title: s.event_title,
            event_starts_at: s.event_starts_at,
            status: s.status.as_str().to_owned(),
            created_at: s.created_at,
            expires_at: s.expires_at,
            decided_at: s.decided_at,
            decided_by_account_id: s.decided_by,
            end_reason: s.end_reason,
            outcome: any.then_some(outcome),
        });
    }
    Ok(signups)
}

async fn attempts_of(state: &AppState, student: AccountId) -> Result<Vec<AttemptExport>, Problem> {
    let mut attempts = Vec::new();
    for a in store::diagnostics::attempts_of(&state.db, student).await? {
        let answers = store::diagnostics::answers(&state.db, a.id.0)
            .await?
            .into_iter()
            .map(|x| AnswerExport {
                question_id: x.question_id,
                value: x.value,
                seq: x.seq,
                client_time: x.client_time,
                saved_at: x.saved_at,
            })
            .collect();
        attempts.push(AttemptExport {
            id: a.id.0,
            test_id: a.test_id,
            test_version: a.test_version,
            status: a.status,
            started_at: a.started_at,
            deadline: a.deadline,
            finished_at: a.finished_at,
            last_activity_at: a.last_activity_at,
            answers,
        });
    }
    Ok(attempts)
}

async fn results_of(state: &AppState, student: AccountId) -> Result<Vec<ResultExport>, Problem> {
    Ok(store::diagnostics::results_of(&state.db, student)
        .await?
        .into_iter()
        .map(|r| ResultExport {
            attempt_id: r.attempt_id.0,
            test_id: r.test_id,
            test_version: r.test_version,
            finished_at: r.finished_at,
            summary: r.summary,
            scores: r.scores,
        })
        .collect())
}
