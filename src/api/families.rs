//! Family links: a parent links a child with the one-time code the child's app shows, or
//! the child accepts the parent's invitation. At most two parents per child.

use chrono::{Duration as ChronoDuration, Utc};
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use rand::Rng as _;
use serde::Deserialize;
use uuid::Uuid;

use super::ApiTag;
use super::auth::NoContentResponse;
use super::body::JsonBody;
use super::fields::Fields;
use super::problem::Problem;
use super::security::{BearerAuth, Role};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, InvitationId};
use crate::security::rate_limit;
use crate::startup::AppState;
use crate::store;

/// Linked parents or legal representatives a child may have.
pub const MAX_PARENTS: i64 = 2;
/// How long a link code is valid.
const CODE_TTL_MINUTES: i64 = 15;
/// How long an invitation stays open.
const INVITATION_TTL_DAYS: i64 = 14;
/// Link codes use letters and digits that cannot be confused (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LEN: usize = 8;

pub struct FamiliesApi;

/// A code for a parent to type into their app.
#[derive(Debug, Object)]
pub struct LinkCode {
    /// 8 characters; single use.
    pub code: String,
    pub expires_at: chrono::DateTime<Utc>,
}

#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkChildRequest {
    /// The code the child's app shows.
    pub code: String,
}

#[derive(Debug, Object, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// The e-mail address the child registered (or will register) with.
    pub child_email: String,
}

/// A linked child or parent as the other side sees them.
#[derive(Debug, Object)]
pub struct FamilyMember {
    pub account_id: Uuid,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    /// For children.
    pub grade: Option<i16>,
    pub linked_at: chrono::DateTime<Utc>,
}

/// An open invitation, as the child sees it.
#[derive(Debug, Object)]
pub struct Invitation {
    pub id: Uuid,
    pub parent_account_id: Uuid,
    pub parent_given_name: Option<String>,
    pub parent_surname: Option<String>,
    pub created_at: chrono::DateTime<Utc>,
    pub expires_at: chrono::DateTime<Utc>,
}

/// Acknowledges an invitation without saying whether the address has an account.
#[derive(Debug, Object)]
pub struct InvitationSent {
    /// Always `sent`.
    pub status: String,
}

#[derive(ApiResponse)]
pub enum LinkCodeResponse {
    /// Show this code to the parent; earlier unused codes stop working.
    #[oai(status = 201)]
    Created(Json<LinkCode>),
}

#[derive(ApiResponse)]
pub enum LinkedResponse {
    /// The child is linked.
    #[oai(status = 201)]
    Linked(Json<FamilyMember>),
}

#[derive(ApiResponse)]
pub enum MembersResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<FamilyMember>>),
}

#[derive(ApiResponse)]
pub enum InviteResponse {
    /// If the address belongs (or comes to belong) to a student, they will see it.
    #[oai(status = 202)]
    Accepted(Json<InvitationSent>),
}

#[derive(ApiResponse)]
pub enum InvitationsResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<Invitation>>),
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTag::Families")]
impl FamiliesApi {
    /// A student asks for a code to show their parent (8 characters, 15 minutes, single use).
    #[oai(
        path = "/me/link-codes",
        method = "post",
        operation_id = "create_link_code"
    )]
    async fn create_link_code(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<LinkCodeResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let code = new_link_code();
        let expires_at = Utc::now() + ChronoDuration::minutes(CODE_TTL_MINUTES);
        let digest = state.index.digest("link-code", &code);
        store::families::replace_link_code(&state.db, caller.account, &digest, expires_at).await?;
        Ok(LinkCodeResponse::Created(Json(LinkCode {
            code,
            expires_at,
        })))
    }

    /// A parent links a child by the code from the child's app. Guesses are rate-limited.
    #[oai(path = "/me/children", method = "post", operation_id = "link_child")]
    async fn link_child(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<LinkChildRequest>,
    ) -> Result<LinkedResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Parent)?;
        rate_limit::hit(
            &state.redis,
            "link-code",
            &caller.account.to_string(),
            state.settings.auth.link_code_guesses,
        )
        .await
        .map_err(Problem::rate_limited)?;
        let code: String = body
            .code
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_uppercase();
        let digest = state.index.digest("link-code", &code);
        let mut tx = state.db.begin().await?;
        let Some(child) = store::families::redeem_link_code(&mut *tx, &digest).await? else {
            return Err(Problem::validation(vec![super::problem::FieldError::new(
                "code",
                "is wrong, already used or expired; ask the child for a new one",
            )]));
        };
        link(&mut tx, caller.account, child, "code").await?;
        tx.commit().await?;
        let member = store::families::children(&state.db, caller.account)
            .await?
            .into_iter()
            .find(|m| m.account_id == child.0)
            .ok_or_else(Problem::internal)?;
        Ok(LinkedResponse::Linked(Json(member_view(member))))
    }

    /// The caller's linked children.
    #[oai(path = "/me/children", method = "get", operation_id = "list_children")]
    async fn list_children(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<MembersResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Parent)?;
        let rows = store::families::children(&state.db, caller.account).await?;
        Ok(MembersResponse::Ok(Json(
            rows.into_iter().map(member_view).collect(),
        )))
    }

    /// Unlink a child.
    #[oai(
        path = "/me/children/:child_id",
        method = "delete",
        operation_id = "unlink_child"
    )]
    async fn unlink_child(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        child_id: Path<Uuid>,
    ) -> Result<NoContentResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Parent)?;
        if store::families::unlink(&state.db, caller.account, AccountId(child_id.0)).await? {
            Ok(NoContentResponse::Done)
        } else {
            Err(Problem::not_found("no such child"))
        }
    }

    /// The caller's linked parents.
    #[oai(path = "/me/parents", method = "get", operation_id = "list_parents")]
    async fn list_parents(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<MembersResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let rows = store::families::parents(&state.db, caller.account).await?;
        Ok(MembersResponse::Ok(Json(
            rows.into_iter().map(member_view).collect(),
        )))
    }

    /// A parent invites a child by e-mail. Always 202, whether or not the address has an
    /// account; the child sees it under their invitations.
    #[oai(
        path = "/me/invitations",
        method = "post",
        operation_id = "invite_child"
    )]
    async fn invite_child(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: JsonBody<InviteRequest>,
    ) -> Result<InviteResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Parent)?;
        let mut fields = Fields::new();
        let email = fields.check("child_email", Email::parse(&body.child_email));
        fields.finish()?;
        let email = email.ok_or_else(Problem::internal)?;
        store::families::create_invitation(
            &state.db,
            InvitationId::new(),
            caller.account,
            email.as_str(),
            Utc::now() + ChronoDuration::days(INVITATION_TTL_DAYS),
        )
        .await?;
        Ok(InviteResponse::Accepted(Json(InvitationSent {
            status: "sent".to_owned(),
        })))
    }

    /// The invitations addressed to the calling student.
    #[oai(
        path = "/me/invitations",
        method = "get",
        operation_id = "list_invitations"
    )]
    async fn list_invitations(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<InvitationsResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let rows = store::families::open_invitations(&state.db, caller.account).await?;
        Ok(InvitationsResponse::Ok(Json(
            rows.into_iter()
                .map(|row| Invitation {
                    id: row.id,
                    parent_account_id: row.parent_id,
                    parent_given_name: row.parent_given_name,
                    parent_surname: row.parent_surname,
                    created_at: row.created_at,
                    expires_at: row.expires_at,
                })
                .collect(),
        )))
    }

    /// The child accepts an invitation: the parent is linked.
    #[oai(
        path = "/invitations/:invitation_id/accept",
        method = "post",
        operation_id = "accept_invitation"
    )]
    async fn accept_invitation(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        invitation_id: Path<Uuid>,
    ) -> Result<LinkedResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        let mut tx = state.db.begin().await?;
        let parent = store::families::close_invitation(
            &mut *tx,
            InvitationId(invitation_id.0),
            caller.account,
            true,
        )
        .await?
        .ok_or_else(|| Problem::not_found("no such open invitation"))?;
        link(&mut tx, parent, caller.account, "invitation").await?;
        tx.commit().await?;
        let member = store::families::parents(&state.db, caller.account)
            .await?
            .into_iter()
            .find(|m| m.account_id == parent.0)
            .ok_or_else(Problem::internal)?;
        Ok(LinkedResponse::Linked(Json(member_view(member))))
    }

    /// The child declines an invitation.
    #[oai(
        path = "/invitations/:invitation_id/decline",
        method = "post",
        operation_id = "decline_invitation"
    )]
    async fn decline_invitation(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        invitation_id: Path<Uuid>,
    ) -> Result<NoContentResponse, Problem> {
        let caller = auth.0;
        caller.require(Role::Student)?;
        store::families::close_invitation(
            &state.db,
            InvitationId(invitation_id.0),
            caller.account,
            false,
        )
        .await?
        .ok_or_else(|| Problem::not_found("no such open invitation"))?;
        Ok(NoContentResponse::Done)
    }
}

/// Links parent and child within the caller's transaction, holding the child's row lock
/// so two parents linking at once cannot make three.
async fn link(
    tx: &mut sqlx::PgConnection,
    parent: AccountId,
    child: AccountId,
    via: &str,
) -> Result<(), Problem> {
    if !store::families::lock_student(&mut *tx, child).await? {
        return Err(Problem::not_found("no such child"));
    }
    if store::families::is_linked(&mut *tx, parent, child).await? {
        return Ok(());
    }
    if store::families::parent_count(&mut *tx, child).await? >= MAX_PARENTS {
        return Err(Problem::conflict(
            "too-many-parents",
            "Too many parents",
            "a child can have at most two linked parents or legal representatives",
        ));
    }
    store::families::link(&mut *tx, parent, child, via).await?;
    Ok(())
}

fn member_view(row: store::families::LinkedPerson) -> FamilyMember {
    FamilyMember {
        account_id: row.account_id,
        given_name: row.given_name,
        surname: row.surname,
        grade: row.grade,
        linked_at: row.linked_at,
    }
}

fn new_link_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_codes_are_eight_unambiguous_characters() {
        for _ in 0..200 {
            let code = new_link_code();
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)));
            assert!(!code.contains('0') && !code.contains('O') && !code.contains('I'));
        }
    }
}
