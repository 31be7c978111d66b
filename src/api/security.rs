//! Who is calling: the bearer access token checked against a live device session, the
//! caller's role, and the client's address and user agent (for rate limits and consent
//! records).

use std::net::IpAddr;

use poem::web::RemoteAddr;
use poem::{FromRequest, Request, RequestBody};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;

use crate::domain::ids::{AccountId, OrganizationId, SessionId};
use crate::http::problem::{BEARER_REQUIRED, Problem};
use crate::http::request_id::RequestId;
use crate::state::AppState;
use crate::store;

pub use crate::domain::roles::Role;

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: AccountId,
    pub session: SessionId,
    pub role: Role,
    pub organization: Option<OrganizationId>,
}

impl Caller {
    /// The caller as the access audit records them.
    pub fn actor(&self) -> store::audit::Actor<'_> {
        store::audit::Actor::Person {
            id: self.account,
            role: self.role.as_str(),
        }
    }

    /// Refuses callers of other roles with 403.
    pub fn require(&self, role: Role) -> Result<(), Problem> {
        if self.role == role {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "only a {} may do this",
                role.as_str()
            )))
        }
    }
}

/// A bearer access token (JWT) from `/v1/auth/login`, `/v1/auth/verify` or `/v1/auth/refresh`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", bearer_format = "JWT", checker = "check_bearer")]
pub struct BearerAuth(pub Caller);

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Caller> {
    let state = req
        .data::<AppState>()
        .expect("the app state is attached to every route");
    let claims = state.tokens.verify(&bearer.token).map_err(|err| {
        tracing::debug!(cause = %err, "access token refused");
        Problem::unauthorized(BEARER_REQUIRED)
    })?;
    let account = AccountId(claims.sub);
    let session = SessionId(claims.sid);
    let live = store::sessions::live(&state.db, account, session)
        .await
        .map_err(Problem::from)?
        .ok_or_else(|| {
            tracing::debug!(session = %session, "access token of an ended session refused");
            Problem::unauthorized(BEARER_REQUIRED)
        })?;
    Ok(Caller {
        account,
        session,
        role: live.role,
        organization: live.organization_id,
    })
}

/// Where a request came from, for rate limits, consent records and the audit.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub address: Option<IpAddr>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

impl ClientInfo {
    /// The address as text, or `unknown`, for rate-limit keys.
    pub fn address_key(&self) -> String {
        self.address
            .map(|a| a.to_string())
            .unwrap_or_else(|| "unknown".to_owned())
    }
}

impl<'a> FromRequest<'a> for ClientInfo {
    async fn from_request(req: &'a Request, _body: &mut RequestBody) -> poem::Result<Self> {
        let trust_forwarded = req
            .data::<AppState>()
            .is_some_and(|s| s.settings.auth.trust_forwarded_for);
        let forwarded = trust_forwarded
            .then(|| req.headers().get("x-forwarded-for"))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        let peer = match req.remote_addr() {
            RemoteAddr(poem::Addr::SocketAddr(addr)) => Some(addr.ip()),
            _ => None,
        };
        let user_agent = req
            .headers()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        Ok(Self {
            address: forwarded.or(peer),
            user_agent,
            request_id: req.data::<RequestId>().map(|id| id.as_str().to_owned()),
        })
    }
}
