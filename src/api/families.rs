//! Family links: a parent links a child with the one-time code the child's app shows, or
//! the child accepts the parent's invitation. At most two parents per child. Once a child
//! has a parent, another adult joins only with that parent's consent: by a code the parent
//! created, or by a request the parent confirms. Every change is announced to the other
//! linked parents through the hub.

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
use super::profiles::linked_child;
use super::security::{BearerAuth, Role};
use crate::domain::domain_events::{
    DomainEvent, FamilyLinkAdded, FamilyLinkDeclined, FamilyLinkRemoved, FamilyLinkRequested,
};
use crate::domain::email::Email;
use crate::domain::ids::{AccountId, InvitationId, LinkRequestId};
use crate::http::problem::Problem;
use crate::security::rate_limit;
use crate::state::AppState;
use crate::store;
use crate::store::families::{LinkRequestRow, LinkVia};

/// Linked parents or legal representatives a child may have.
pub const MAX_PARENTS: i64 = 2;
/// How long a link code is valid.
const CODE_TTL_MINUTES: i64 = 15;
/// How long an invitation stays open.
const INVITATION_TTL_DAYS: i64 = 14;
/// How long a request to join a family waits for a linked parent's decision.
const LINK_REQUEST_TTL_DAYS: i64 = 7;
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
    /// The code the child's app (or a linked parent's) shows: 8 letters and digits, case
    /// and spaces or hyphens between them ignored.
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
#[oai(skip_serializing_if_is_none)]
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
#[oai(skip_serializing_if_is_none)]
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

/// Where a request to join a child's family stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum)]
#[oai(rename_all = "snake_case")]
pub enum LinkRequestStatus {
    /// Waiting for a linked parent to confirm or decline.
    Pending,
    /// A linked parent confirmed: the adult is linked.
    Confirmed,
    /// A linked parent declined.
    Declined,
    /// Nobody decided within 7 days.
    Expired,
}

/// A request by an adult to join a child's family, which a parent already linked to the
/// child confirms or declines.
#[derive(Debug, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct LinkRequestView {
    pub id: Uuid,
    pub child_account_id: Uuid,
    /// The adult asking to be linked.
    pub requester_account_id: Uuid,
    /// From the requester's parent profile, when there is one.
    pub requester_given_name: Option<String>,
    pub requester_surname: Option<String>,
    /// `code` (the child's code) or `invitation` (the child accepted an invitation).
    pub via: String,
    pub status: LinkRequestStatus,
    /// True when the caller is a linked parent who can confirm or decline it now.
    pub awaiting_me: bool,
    pub created_at: chrono::DateTime<Utc>,
    pub expires_at: chrono::DateTime<Utc>,
    pub decided_at: Option<chrono::DateTime<Utc>>,
}

#[derive(ApiResponse)]
pub enum LinkRequestsResponse {
    #[oai(status = 200)]
    Ok(Json<Vec<LinkRequestView>>),
}

#[derive(ApiResponse)]
pub enum LinkRequestDecisionResponse {
    /// The decision is recorded (or was already, the same way).
    #[oai(status = 200)]
    Ok(Json<LinkRequestView>),
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
    /// The child already has a parent, who must confirm first: they are told now, and
    /// the link is made when they confirm.
    #[oai(status = 202)]
    AwaitingParent(Json<LinkRequestView>),
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
        store::families::replace_link_code(&state.db, caller.account, None, &digest, expires_at)
            .await?;
        Ok(LinkCodeResponse::Created(Json(LinkCode {
            code,
            expires_at,
        })))
    }

    /// A linked parent asks for a code for another adult (the other parent or legal
    /// representative) to type: it links them at once, as this parent's confirmation
    /// (8 characters, 15 minutes, single use).
    #[oai(
        path = "/children/:child_id/link-codes",
        method = "post",
        operation_id = "create_parent_link_code"
    )]
    async fn create_parent_link_code(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        child_id: Path<Uuid>,
    ) -> Result<LinkCodeResponse, Problem> {
        let caller = auth.0;
        let child = linked_child(&state, &caller, child_id.0).await?;
        let code = new_link_code();
        let expires_at = Utc::now() + ChronoDuration::minutes(CODE_TTL_MINUTES);
        let digest = state.index.digest("link-code", &code);
        store::families::replace_link_code(
            &state.db,
            child,
            Some(caller.account),
            &digest,
            expires_at,
        )
        .await?;
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
        let Some(redeemed) = store::families::redeem_link_code(&mut *tx, &digest).await? else {
            return Err(Problem::validation(vec![
                crate::http::problem::FieldError::new(
                    "code",
                    "is wrong, already used or expired; ask the child for a new one",
                ),
            ]));
        };
        let child = redeemed.student;
        let (via, confirmed_by) = match redeemed.created_by {
            Some(parent) => (LinkVia::ParentCode, Some(parent)),
            None => (LinkVia::Code, None),
        };
        let outcome = link(
            &mut tx,
            Joining {
                parent: caller.account,
                child,
                via,
                confirmed_by,
                actor: caller.account,
            },
        )
        .await?;
        tx.commit().await?;
        linked_response(&state, outcome, caller.account, child, true).await
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
        let child = AccountId(child_id.0);
        let mut tx = state.db.begin().await?;
        if !store::families::unlink(&mut *tx, caller.account, child).await? {
            return Err(Problem::not_found("no such child"));
        }
        store::outbox::append(
            &mut *tx,
            &DomainEvent::FamilyLinkRemoved(FamilyLinkRemoved {
                student_id: child,
                actor_id: caller.account,
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(NoContentResponse::Done)
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
                    id: row.id.0,
                    parent_account_id: row.parent_id.0,
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
        let outcome = link(
            &mut tx,
            Joining {
                parent,
                child: caller.account,
                via: LinkVia::Invitation,
                confirmed_by: None,
                actor: caller.account,
            },
        )
        .await?;
        tx.commit().await?;
        linked_response(&state, outcome, parent, caller.account, false).await
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

    /// Requests to join a family the caller can see: those they made, those about their
    /// linked children (`awaiting_me` when they can decide), and a student's own.
    #[oai(
        path = "/me/link-requests",
        method = "get",
        operation_id = "list_link_requests"
    )]
    async fn list_link_requests(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> Result<LinkRequestsResponse, Problem> {
        let caller = auth.0;
        if !matches!(caller.role, Role::Parent | Role::Student) {
            return Err(Problem::forbidden("only families have link requests"));
        }
        let rows = store::families::link_requests_for(&state.db, caller.account).await?;
        let children: Vec<AccountId> = if caller.role == Role::Parent {
            store::families::children(&state.db, caller.account)
                .await?
                .into_iter()
                .map(|c| c.account_id)
                .collect()
        } else {
            Vec::new()
        };
        let now = Utc::now();
        Ok(LinkRequestsResponse::Ok(Json(
            rows.into_iter()
                .map(|row| {
                    let awaiting =
                        children.contains(&row.student_id) && row.requester_id != caller.account;
                    link_request_view(row, awaiting, now)
                })
                .collect(),
        )))
    }

    /// A linked parent confirms another adult's request: they are linked to the child.
    #[oai(
        path = "/link-requests/:request_id/confirm",
        method = "post",
        operation_id = "confirm_link_request"
    )]
    async fn confirm_link_request(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        request_id: Path<Uuid>,
    ) -> Result<LinkRequestDecisionResponse, Problem> {
        decide(&state, auth, LinkRequestId(request_id.0), true).await
    }

    /// A linked parent declines another adult's request: nothing is linked.
    #[oai(
        path = "/link-requests/:request_id/decline",
        method = "post",
        operation_id = "decline_link_request"
    )]
    async fn decline_link_request(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        request_id: Path<Uuid>,
    ) -> Result<LinkRequestDecisionResponse, Problem> {
        decide(&state, auth, LinkRequestId(request_id.0), false).await
    }
}

/// An adult joining a child's family.
struct Joining {
    parent: AccountId,
    child: AccountId,
    via: LinkVia,
    /// The linked parent whose code this was, if any.
    confirmed_by: Option<AccountId>,
    /// Who made it happen (the adult, or the child accepting an invitation).
    actor: AccountId,
}

/// What came of it.
enum LinkOutcome {
    Linked,
    AwaitingParent(LinkRequestId),
}

/// Links parent and child within the caller's transaction, holding the child's row lock
/// so two parents linking at once cannot make three. A child who already has a parent is
/// linked to another adult only with that parent's code; otherwise a request is opened
/// for the linked parents to decide, and they are told.
async fn link(tx: &mut sqlx::PgConnection, joining: Joining) -> Result<LinkOutcome, Problem> {
    let Joining {
        parent,
        child,
        via,
        confirmed_by,
        actor,
    } = joining;
    if !store::families::lock_student(&mut *tx, child).await? {
        return Err(Problem::not_found("no such child"));
    }
    if store::families::is_linked(&mut *tx, parent, child).await? {
        return Ok(LinkOutcome::Linked);
    }
    let parents = store::families::parent_ids(&mut *tx, child).await?;
    if parents.len() as i64 >= MAX_PARENTS {
        return Err(too_many_parents());
    }
    let vouched = confirmed_by.filter(|p| parents.contains(p));
    if !parents.is_empty() && vouched.is_none() {
        let (id, opened) = store::families::open_link_request(
            &mut *tx,
            LinkRequestId::new(),
            child,
            parent,
            via,
            Utc::now() + ChronoDuration::days(LINK_REQUEST_TTL_DAYS),
        )
        .await?;
        if opened {
            store::outbox::append(
                &mut *tx,
                &DomainEvent::FamilyLinkRequested(FamilyLinkRequested {
                    student_id: child,
                    request_id: id,
                    actor_id: parent,
                }),
            )
            .await?;
        }
        return Ok(LinkOutcome::AwaitingParent(id));
    }
    // A parent's code used after that parent left the family vouches for nothing.
    let via = if confirmed_by.is_some() && vouched.is_none() {
        LinkVia::Code
    } else {
        via
    };
    store::families::link(&mut *tx, parent, child, via, vouched).await?;
    store::outbox::append(
        &mut *tx,
        &DomainEvent::FamilyLinkAdded(FamilyLinkAdded {
            student_id: child,
            subject_id: parent,
            actor_id: actor,
            request_id: None,
        }),
    )
    .await?;
    Ok(LinkOutcome::Linked)
}

fn too_many_parents() -> Problem {
    Problem::conflict(
        "too-many-parents",
        "Too many parents",
        "a child can have at most two linked parents or legal representatives",
    )
}

/// The answer to linking: the new family member as the caller sees them, or the request
/// awaiting a linked parent.
async fn linked_response(
    state: &AppState,
    outcome: LinkOutcome,
    parent: AccountId,
    child: AccountId,
    caller_is_parent: bool,
) -> Result<LinkedResponse, Problem> {
    match outcome {
        LinkOutcome::Linked => {
            let (members, wanted) = if caller_is_parent {
                (store::families::children(&state.db, parent).await?, child)
            } else {
                (store::families::parents(&state.db, child).await?, parent)
            };
            let member = members
                .into_iter()
                .find(|m| m.account_id == wanted)
                .ok_or_else(Problem::internal)?;
            Ok(LinkedResponse::Linked(Json(member_view(member))))
        }
        LinkOutcome::AwaitingParent(id) => {
            let row = store::families::link_request(&state.db, id)
                .await?
                .ok_or_else(Problem::internal)?;
            Ok(LinkedResponse::AwaitingParent(Json(link_request_view(
                row,
                false,
                Utc::now(),
            ))))
        }
    }
}

/// A linked parent's decision on a request to join the family. Deciding again the same
/// way answers the same; the other way is 409.
async fn decide(
    state: &AppState,
    auth: BearerAuth,
    id: LinkRequestId,
    confirm: bool,
) -> Result<LinkRequestDecisionResponse, Problem> {
    let caller = auth.0;
    caller.require(Role::Parent)?;
    let not_found = || Problem::not_found("no such link request");
    let request = store::families::link_request(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    let child = AccountId(request.student_id.0);
    let mut tx = state.db.begin().await?;
    // The child's row first, as every link change takes it, then the request.
    if !store::families::lock_student(&mut *tx, child).await?
        || !store::families::is_linked(&mut *tx, caller.account, child).await?
    {
        return Err(not_found());
    }
    let request = store::families::lock_link_request(&mut *tx, id)
        .await?
        .ok_or_else(not_found)?;
    let now = Utc::now();
    let wanted = if confirm { "confirmed" } else { "declined" };
    match request.decision.as_deref() {
        Some(done) if done == wanted => {
            return Ok(LinkRequestDecisionResponse::Ok(Json(link_request_view(
                request, false, now,
            ))));
        }
        Some(_) => {
            return Err(Problem::conflict(
                "link-request-decided",
                "Already decided",
                "this request was already decided the other way",
            ));
        }
        None if request.expires_at <= now => {
            return Err(Problem::conflict(
                "link-request-expired",
                "Request expired",
                "this request expired; the adult can ask again",
            ));
        }
        None => {}
    }
    let requester = AccountId(request.requester_id.0);
    if confirm {
        if store::families::parent_count(&mut *tx, child).await? >= MAX_PARENTS {
            return Err(too_many_parents());
        }
        let via = if request.via == "invitation" {
            LinkVia::Invitation
        } else {
            LinkVia::Code
        };
        store::families::link(&mut *tx, requester, child, via, Some(caller.account)).await?;
    }
    store::families::decide_link_request(&mut *tx, id, caller.account, confirm).await?;
    let event = if confirm {
        DomainEvent::FamilyLinkAdded(FamilyLinkAdded {
            student_id: child,
            subject_id: requester,
            actor_id: caller.account,
            request_id: Some(id),
        })
    } else {
        DomainEvent::FamilyLinkDeclined(FamilyLinkDeclined {
            student_id: child,
            subject_id: requester,
            actor_id: caller.account,
            request_id: id,
        })
    };
    store::outbox::append(&mut *tx, &event).await?;
    tx.commit().await?;
    let row = store::families::link_request(&state.db, id)
        .await?
        .ok_or_else(Problem::internal)?;
    Ok(LinkRequestDecisionResponse::Ok(Json(link_request_view(
        row,
        false,
        Utc::now(),
    ))))
}

pub(super) fn link_request_view(
    row: LinkRequestRow,
    awaiting_me: bool,
    now: chrono::DateTime<Utc>,
) -> LinkRequestView {
    let status = match row.decision.as_deref() {
        Some("confirmed") => LinkRequestStatus::Confirmed,
        Some(_) => LinkRequestStatus::Declined,
        None if row.expires_at <= now => LinkRequestStatus::Expired,
        None => LinkRequestStatus::Pending,
    };
    LinkRequestView {
        id: row.id.0,
        child_account_id: row.student_id.0,
        requester_account_id: row.requester_id.0,
        requester_given_name: row.requester_given_name,
        requester_surname: row.requester_surname,
        via: row.via,
        status,
        awaiting_me: awaiting_me && status == LinkRequestStatus::Pending,
        created_at: row.created_at,
        expires_at: row.expires_at,
        decided_at: row.decided_at,
    }
}

fn member_view(row: store::families::LinkedPerson) -> FamilyMember {
    FamilyMember {
        account_id: row.account_id.0,
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
