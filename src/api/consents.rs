//! Consents: a linked parent gives, for their child, consent to the processing of personal
//! data, of health data (ОВЗ) and to photo and video; each record keeps who, which text
//! version, when, from where, and the parent's passport as identity proof (encrypted).
//! Withdrawal of personal-data consent ends participation and schedules erasure of the
//! child's data; withdrawal of health-data consent erases ОВЗ details at once.

use chrono::Utc;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi};
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::body::JsonBody;
use super::fields::Fields;
use super::profiles::linked_child;
use super::security::{BearerAuth, Caller, ClientInfo, Role};
use crate::domain::documents::Passport;
use crate::domain::domain_events::{ConsentChange, DomainEvent};
use crate::domain::ids::{AccountId, ConsentId};
use crate::http::problem::Problem;
use crate::privacy::consent_texts::{self, ConsentKind};
use crate::privacy::vault::fields;
use crate::state::AppState;
use crate::store::audit::{self, AuditAction};
use crate::store::{self, consents::ConsentRow};

pub struct ConsentsApi;

/// What a consent covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum ConsentKindParam {
    /// The child's personal data; required to take part in practical events.
    PersonalData,
    /// ОВЗ status and needs (a special category of personal data).
    HealthData,
    PhotoVideo,
}

impl From<ConsentKindParam> for ConsentKind {
    fn from(kind: ConsentKindParam) -> Self {
        match kind {
            ConsentKindParam::PersonalData => ConsentKind::PersonalData,
            ConsentKindParam::HealthData => ConsentKind::HealthData,
            ConsentKindParam::PhotoVideo => ConsentKind::PhotoVideo,
        }
    }
}

/// A consent text parents agree to.
#[derive(Debug, Object)]
pub struct ConsentTextView {
    pub kind: String,
    /// Send this back when giving consent.
    pub version: String,
    pub title: String,
    /// Markdown, in Russian.
    pub text: String,
}

/// Giving consent for a linked child.
#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GiveConsentRequest {
    pub kind: ConsentKindParam,
    /// The version of the text the parent was shown; must be the current one.
    pub text_version: String,
    /// The parent's passport series (4 digits), as identity proof.
    pub passport_series: String,
    /// The parent's passport number (6 digits).
    pub passport_number: String,
}

/// A consent record.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct ConsentView {
    pub id: Uuid,
    pub kind: String,
    pub child_account_id: Uuid,
    pub given_by_account_id: Uuid,
    pub text_version: String,
    pub given_at: chrono::DateTime<Utc>,
    /// `current`, `superseded` (a newer record replaced it) or `withdrawn`.
    pub status: String,
    pub withdrawn_at: Option<chrono::DateTime<Utc>>,
    /// The parent's passport, masked; only for the parents of the child.
    pub identity_proof: Option<String>,
}

#[derive(ApiResponse)]
pub enum TextsResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<ConsentTextView>>),
}

#[derive(ApiResponse)]
pub enum GiveConsentResponse {
    /// Recorded; it supersedes the previous record of its kind.
    #[oai(status = 201)]
    Created(Json<ConsentView>),
}

#[derive(ApiResponse)]
pub enum ConsentsResponse {
    /// Every record, newest first.
    #[oai(status = 200)]
    Ok(Json<Vec<ConsentView>>),
}

#[derive(ApiResponse)]
pub enum WithdrawResponse {
    /// The withdrawn record.
    #[oai(status = 200)]
    Ok(Json<ConsentView>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Consents")]
impl ConsentsApi {
    /// The current consent texts.
    #[oai(
        path = "/consent-texts",
        method = "get",
        operation_id = "list_consent_texts"
    )]
    async fn list_texts(&self) -> TextsResponse {
        TextsResponse::Ok(Json(
            ConsentKind::ALL
                .iter()
                .map(|kind| {
                    let text = consent_texts::current(*kind);
                    ConsentTextView {
                        kind: kind.as_str().to_owned(),
                        version: text.version.to_owned(),
                        title: consent_texts::title(text).to_owned(),
                        text: text.text.to_owned(),
                    }
                })
                .collect(),
        ))
    }

    /// A linked parent gives consent for their child, proving identity with their passport.
    #[oai(
        path = "/children/:child_id/consents",
        method = "post",
        operation_id = "give_consent"
    )]
    async fn give(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientInfo,
        child_id: Path<Uuid>,
        body: JsonBody<GiveConsentRequest>,
    ) -> Result<GiveConsentResponse, Problem> {
        let caller = auth.0;
        let child = linked_child(&state, &caller, child_id.0).await?;
        let kind = ConsentKind::from(body.kind);
        let mut fields = Fields::new();
        let passport = fields.check(
            "passport_number",
            Passport::from_parts(&body.passport_series, &body.passport_number),
        );
        let current = consent_texts::current(kind);
        if body.text_version != current.version {
            fields.reject(
                "text_version",
                format!(
                    "the current text is {}; show it and ask again",
                    current.version
                ),
            );
        }
        fields.finish()?;
        let passport = passport.ok_or_else(Problem::internal)?;
        if store::profiles::parent(&state.db, caller.account)
            .await?
            .is_none()
        {
            return Err(Problem::conflict(
                "profile-required",
                "Profile required",
                "fill in your parent profile before giving consent",
            ));
        }
        let id = ConsentId::new();
        let proof = state
            .vault
            .seal(fields::CONSENT_IDENTITY_PROOF, id.0, passport.as_str());
        let address = client.address.map(|a| a.to_string());
        let mut tx = state.db.begin().await?;
        store::consents::give(
            &mut tx,
            &store::consents::NewConsent {
                id,
                kind: kind.as_str(),
                student: child,
                parent: caller.account,
                text_version: current.version,
                client_address: address.as_deref(),
                user_agent: client.user_agent.as_deref(),
                identity_proof_enc: &proof,
            },
        )
        .await?;
        if kind == ConsentKind::PersonalData {
            store::consents::cancel_erasure(&mut *tx, child).await?;
        }
        store::outbox::append(
            &mut *tx,
            &DomainEvent::ConsentGiven(ConsentChange {
                student_id: child,
                kind,
                actor_id: caller.account,
                erasure_due_at: None,
            }),
        )
        .await?;
        tx.commit().await?;
        let record = store::consents::history(&state.db, child)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(Problem::internal)?;
        Ok(GiveConsentResponse::Created(Json(consent_view(
            &state, record, true,
        ))))
    }

    /// Every consent record for a linked child (current and history).
    #[oai(
        path = "/children/:child_id/consents",
        method = "get",
        operation_id = "list_child_consents"
    )]
    async fn list_for_child(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientInfo,
        child_id: Path<Uuid>,
    ) -> Result<ConsentsResponse, Problem> {
        let caller = auth.0;
        let child = linked_child(&state, &caller, child_id.0).await?;
        let rows = store::consents::history(&state.db, child).await?;
        audit::record(
            &state.db,
            caller.actor(),
            child,
            AuditAction::ReadConsents,
            client.request_id.as_deref(),
        )
        .await?;
        Ok(ConsentsResponse::Ok(Json(
            rows.into_iter()
                .map(|r| consent_view(&state, r, true))
                .collect(),
        )))
    }

    /// The consents given for the calling student.
    #[oai(
        path = "/me/consents",
        method = "get",
        operation_id = "list_my_consents"
    )]
    async fn list_mine(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<ConsentsResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let rows = store::consents::history(&state.db, caller.account).await?;
        Ok(ConsentsResponse::Ok(Json(
            rows.into_iter()
                .map(|r| consent_view(&state, r, false))
                .collect(),
        )))
    }

    /// Withdraw a consent. `personal_data`: the child's participation ends and their
    /// personal data is erased within 30 days. `health_data`: ОВЗ details are erased now.
    #[oai(
        path = "/children/:child_id/consents/:kind",
        method = "delete",
        operation_id = "withdraw_consent"
    )]
    async fn withdraw(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        client: ClientInfo,
        child_id: Path<Uuid>,
        kind: Path<ConsentKindParam>,
    ) -> Result<WithdrawResponse, Problem> {
        let caller = auth.0;
        let child = linked_child(&state, &caller, child_id.0).await?;
        let kind = ConsentKind::from(kind.0);
        let mut tx = state.db.begin().await?;
        let record = store::consents::withdraw(&mut *tx, child, kind.as_str(), caller.account)
            .await?
            .ok_or_else(|| Problem::not_found("there is no current consent of this kind"))?;
        on_withdrawn(
            &state,
            &mut tx,
            &caller,
            child,
            kind,
            client.request_id.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(WithdrawResponse::Ok(Json(consent_view(
            &state, record, true,
        ))))
    }
}

/// What withdrawing a consent sets in motion, in the same transaction as the withdrawal.
async fn on_withdrawn(
    state: &AppState,
    tx: &mut sqlx::PgConnection,
    caller: &Caller,
    child: AccountId,
    kind: ConsentKind,
    request_id: Option<&str>,
) -> Result<(), Problem> {
    match kind {
        ConsentKind::PersonalData => {
            crate::participation::end_for_withdrawn_consent(&mut *tx, child, caller.account)
                .await
                .map_err(super::events::participation_problem)?;
            let delay = chrono::Duration::from_std(state.settings.privacy.erasure_delay)
                .unwrap_or(chrono::Duration::days(1));
            let due_at =
                store::consents::schedule_erasure(&mut *tx, child, Utc::now() + delay).await?;
            // The other parent learns of it at once and has until `due_at` to object by
            // giving consent again, which cancels the erasure.
            store::outbox::append(
                &mut *tx,
                &DomainEvent::PersonalDataConsentWithdrawn(ConsentChange {
                    student_id: child,
                    kind,
                    actor_id: caller.account,
                    erasure_due_at: Some(due_at),
                }),
            )
            .await?;
            return Ok(());
        }
        ConsentKind::HealthData => {
            store::profiles::set_student_health(&mut *tx, child, None).await?;
            audit::record(
                &mut *tx,
                caller.actor(),
                child,
                AuditAction::EraseHealthData,
                request_id,
            )
            .await?;
        }
        ConsentKind::PhotoVideo => {}
    }
    store::outbox::append(
        &mut *tx,
        &DomainEvent::ConsentWithdrawn(ConsentChange {
            student_id: child,
            kind,
            actor_id: caller.account,
            erasure_due_at: None,
        }),
    )
    .await?;
    Ok(())
}

pub fn consent_view(state: &AppState, row: ConsentRow, with_proof: bool) -> ConsentView {
    let status = if row.withdrawn_at.is_some() {
        "withdrawn"
    } else if row.superseded_at.is_some() {
        "superseded"
    } else {
        "current"
    };
    let identity_proof = with_proof.then(|| {
        state
            .vault
            .open(
                fields::CONSENT_IDENTITY_PROOF,
                row.id.0,
                &row.identity_proof_enc,
            )
            .ok()
            .and_then(|p| Passport::parse(&p).ok())
            .map(|p| p.masked())
            .unwrap_or_else(|| "***".to_owned())
    });
    ConsentView {
        id: row.id.0,
        kind: row.kind,
        child_account_id: row.student_id.0,
        given_by_account_id: row.parent_id.0,
        text_version: row.text_version,
        given_at: row.given_at,
        status: status.to_owned(),
        withdrawn_at: row.withdrawn_at,
        identity_proof,
    }
}
